using HyperLock.Emulator.Cpu.Decode;
using Iced.Intel;

namespace HyperLock.Emulator.Cpu.Instructions;

/// <summary>
/// x87 transcendental instructions: FSIN, FCOS, FSINCOS, FPTAN, FPATAN, F2XM1, FYL2X, FYL2XP1.
/// <para>
/// Precision caveat: the functions are evaluated in IEEE double precision (System.Math, then
/// widened exactly), so results carry about 53 significant bits instead of the x87's 64 and
/// may differ from hardware in the last 11+ bits; the multiplications by Y in FYL2X/FYL2XP1
/// are done in extended precision. Argument reduction for FSIN/FCOS/FPTAN is the host's exact
/// reduction, not the x87's 66-bit pi, so large arguments differ more. Results are deterministic
/// for a given .NET runtime and C library; special cases (NaN, infinities, zeros, the
/// |x| ≥ 2^63 out-of-range rule with C2 = 1, invalid operands) follow the SDM exactly.
/// </para>
/// </summary>
internal static unsafe partial class X87
{
    private static void RegisterTranscendental()
    {
        Set(Code.Fsin, &Fsin);
        Set(Code.Fcos, &Fsin);
        Set(Code.Fptan, &Fsin);
        Set(Code.Fsincos, &Fsincos);
        Set(Code.Fpatan, &Fpatan);
        Set(Code.F2xm1, &F2xm1);
        Set(Code.Fyl2x, &Fyl2x);
        Set(Code.Fyl2xp1, &Fyl2x);
    }

    /// <summary>|x| &lt; 2^63: the operand range of FSIN, FCOS, FSINCOS, FPTAN.</summary>
    private static bool InTrigRange(Float80 x) => x.Exponent < Float80.Bias + 63;

    /// <summary>
    /// Pre-checks a one-operand transcendental: NaN/unsupported/infinity produce their results
    /// here (returns false with <paramref name="special"/> set); denormals flag #D.
    /// </summary>
    private static bool TrigOperand(Float80 x, ref FpContext ctx, out Float80 special)
    {
        special = default;
        var u = Fp.Unpack(x);
        switch (u.Kind)
        {
            case Fp.Class.Unsupported:
            case Fp.Class.Infinity:
                ctx.Flags |= Fp.IE;
                special = Float80.Indefinite;
                return false;
            case Fp.Class.QNaN:
            case Fp.Class.SNaN:
                special = Fp.PropagateNaN(x, x, ref ctx);
                return false;
        }
        if (u.Denormal) ctx.Flags |= Fp.DE;
        return true;
    }

    /// <summary>A double result rounded into the destination precision; inexact unless exact by construction.</summary>
    private static Float80 FromResult(double d, ref FpContext ctx)
    {
        var v = Fp.FromHostDouble(d);
        var u = Fp.Unpack(v);
        if (u.Kind != Fp.Class.Finite) return v;
        var r = Fp.RoundPack(u.Sign, u.Exp, (UInt128)u.Sig << 64, ref ctx);
        ctx.Flags |= Fp.PE;
        return r;
    }

    /// <summary>FSIN, FCOS, FPTAN (FPTAN pushes 1.0 after the tangent).</summary>
    private static void Fsin(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        Note(c, ref i);
        bool tan = i.Code == Code.Fptan;
        if (c.StEmpty(0) || (tan && !c.StEmpty(7)))
        {
            // Stack faults clear C2 (observed on the host, AMD EPYC); FPTAN's masked response
            // fills both ST(0) and the pushed register with the indefinite.
            c.FpuSw &= unchecked((ushort)~Cpu.FswC2);
            if (tan) TwoResultStackFault(c);
            else if (StackUnderflow(c)) SetSt(c, 0, Float80.Indefinite);
            return;
        }
        Float80 x = c.St(0);
        var ctx = Ctx(c);
        c.FpuSw &= unchecked((ushort)~Cpu.FswC2);
        Float80 r;
        bool regular = TrigOperand(x, ref ctx, out var special);
        if (regular)
        {
            if (!InTrigRange(x))
            {
                OutOfRange(c);
                return;
            }
            if (x.IsZero) r = i.Code == Code.Fcos ? Float80.One : x; // exact: no #P
            else if (IsTiny(x)) r = i.Code switch { Code.Fcos => TinyCos(x, ref ctx), Code.Fptan => TinyOdd(x, +1, ref ctx), _ => TinyOdd(x, -1, ref ctx) };
            else
            {
                double d = Fp.ToHostDouble(x);
                r = FromResult(i.Code switch { Code.Fcos => Math.Cos(d), Code.Fptan => Math.Tan(d), _ => Math.Sin(d) }, ref ctx);
            }
        }
        else r = special;
        bool ok = MayCommit(ctx, PreRegister);
        Record(c, ctx, ok);
        if (!ok) return;
        c.St(0) = r;
        // FPTAN pushes 1.0; for a NaN, infinite or unsupported operand the host (AMD EPYC) pushes
        // the NaN result again (both registers hold it).
        if (tan) c.FpuPush(regular ? Float80.One : r);
    }

    /// <summary>|x| ≥ 2^63: C2 = 1, C1 = 0, the operand is left unchanged (C1 as observed on the host, AMD EPYC).</summary>
    private static void OutOfRange(Cpu c)
    {
        c.FpuSw = (ushort)((c.FpuSw | Cpu.FswC2) & ~Cpu.FswC1);
    }

    /// <summary>
    /// |x| &lt; 2^-33: sin x = x - x³/6, tan x = x + x³/3 and cos x = 1 - x²/2 differ from x
    /// (from 1) by less than half an ulp of the 64-bit significand, so the result is x (1)
    /// nudged by a sticky bit in the right direction and rounded per RC and PC — computed exactly
    /// here rather than through double precision, which would flush denormals to zero. This
    /// matches the host (AMD EPYC) for FSIN and FCOS in every rounding mode; its FPTAN differs in
    /// the last bit for some such inputs. Denormal operands follow the host: FSIN/FPTAN return x
    /// unchanged and FCOS returns 1.0, with #P (and #U for x), C1 = 0, in every rounding mode.
    /// </summary>
    private static bool IsTiny(Float80 x) => x.Exponent < Float80.Bias - 33;

    /// <summary>sin (direction -1) or tan (+1) of a tiny non-zero x.</summary>
    private static Float80 TinyOdd(Float80 x, int direction, ref FpContext ctx)
    {
        if (x.IsDenormal)
        {
            ctx.Flags |= Fp.UE | Fp.PE;
            return x;
        }
        var u = Fp.Unpack(x);
        UInt128 v = (UInt128)u.Sig << 64;
        v = direction < 0 ? v - UInt128.One : v + UInt128.One;
        return Fp.RoundPack(u.Sign, u.Exp, v, ref ctx);
    }

    /// <summary>cos of a tiny non-zero x: just below 1.</summary>
    private static Float80 TinyCos(Float80 x, ref FpContext ctx)
    {
        if (x.IsDenormal)
        {
            ctx.Flags |= Fp.PE;
            return Float80.One;
        }
        return Fp.RoundPack(false, Float80.Bias, ((UInt128)Float80.JBit << 64) - UInt128.One, ref ctx);
    }

    /// <summary>FSINCOS: ST(0) ← sine, then push the cosine.</summary>
    private static void Fsincos(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        Note(c, ref i);
        if (c.StEmpty(0) || !c.StEmpty(7))
        {
            c.FpuSw &= unchecked((ushort)~Cpu.FswC2); // as on the host (AMD EPYC)
            TwoResultStackFault(c);
            return;
        }
        Float80 x = c.St(0);
        var ctx = Ctx(c);
        c.FpuSw &= unchecked((ushort)~Cpu.FswC2);
        Float80 s, co;
        if (TrigOperand(x, ref ctx, out var special))
        {
            if (!InTrigRange(x))
            {
                OutOfRange(c);
                return;
            }
            if (x.IsZero)
            {
                s = x;
                co = Float80.One;
            }
            else if (IsTiny(x))
            {
                s = TinyOdd(x, -1, ref ctx);
                co = TinyCos(x, ref ctx);
            }
            else
            {
                double d = Fp.ToHostDouble(x);
                s = FromResult(Math.Sin(d), ref ctx);
                co = FromResult(Math.Cos(d), ref ctx);
            }
        }
        else s = co = special;
        bool ok = MayCommit(ctx, PreRegister);
        Record(c, ctx, ok);
        if (!ok) return;
        c.St(0) = s;
        c.FpuPush(co);
    }

    /// <summary>Scales two finite values by a common power of two into double range (for atan2).</summary>
    private static double ScaledDouble(Float80 v, int shift)
    {
        var u = Fp.Unpack(v);
        if (u.Kind != Fp.Class.Finite) return Fp.ToHostDouble(v);
        int e = Math.Clamp(u.Exp - shift, -2000, 0x7FFE);
        return Fp.ToHostDouble(new Float80((ushort)((u.Sign ? 0x8000 : 0) | Math.Max(e, 0)), e > 0 ? u.Sig : 0));
    }

    /// <summary>FPATAN: ST(1) ← atan2(ST(1), ST(0)), pop.</summary>
    private static void Fpatan(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        Note(c, ref i);
        if (c.StEmpty(0) || c.StEmpty(1))
        {
            if (StackUnderflow(c))
            {
                SetSt(c, 1, Float80.Indefinite);
                c.FpuPop();
            }
            return;
        }
        Float80 x = c.St(0), y = c.St(1);
        var ctx = Ctx(c);
        var ux = Fp.Unpack(x);
        var uy = Fp.Unpack(y);
        Float80 r;
        if (ux.Kind == Fp.Class.Unsupported || uy.Kind == Fp.Class.Unsupported) { ctx.Flags |= Fp.IE; r = Float80.Indefinite; }
        else if (Fp.IsNaNClass(ux.Kind) || Fp.IsNaNClass(uy.Kind)) r = Fp.PropagateNaN(y, x, ref ctx);
        else
        {
            if (ux.Denormal || uy.Denormal) ctx.Flags |= Fp.DE;
            int shift = 0;
            if (ux.Kind == Fp.Class.Finite && uy.Kind == Fp.Class.Finite) shift = Math.Max(ux.Exp, uy.Exp) - Float80.Bias;
            double dy = ScaledDouble(y, shift), dx = ScaledDouble(x, shift);
            double a = Math.Atan2(dy, dx);
            r = uy.Kind == Fp.Class.Zero && !ux.Sign ? y : FromResult(a, ref ctx);
        }
        bool ok = MayCommit(ctx, PreRegister);
        Record(c, ctx, ok);
        if (!ok) return;
        c.St(1) = r;
        c.FpuPop();
    }

    /// <summary>expm1 without a library expm1: Kahan's correction of exp(y) - 1.</summary>
    private static double ExpM1(double y)
    {
        double u = Math.Exp(y);
        if (u == 1.0) return y;
        double um1 = u - 1.0;
        if (um1 == -1.0) return -1.0;
        return um1 * y / Math.Log(u);
    }

    /// <summary>log1p without a library log1p: Kahan's correction of log(1 + x).</summary>
    private static double Log1P(double x)
    {
        double u = 1.0 + x;
        if (u == 1.0) return x;
        return Math.Log(u) * x / (u - 1.0);
    }

    /// <summary>F2XM1: ST(0) ← 2^ST(0) - 1 (defined for -1 ≤ ST(0) ≤ 1).</summary>
    private static void F2xm1(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        Note(c, ref i);
        if (!St0Present(c)) return;
        Float80 x = c.St(0);
        var ctx = Ctx(c);
        var u = Fp.Unpack(x);
        Float80 r;
        switch (u.Kind)
        {
            case Fp.Class.Unsupported: ctx.Flags |= Fp.IE; r = Float80.Indefinite; break;
            case Fp.Class.QNaN:
            case Fp.Class.SNaN: r = Fp.PropagateNaN(x, x, ref ctx); break;
            case Fp.Class.Zero: r = x; break;
            case Fp.Class.Infinity: r = u.Sign ? Float80.One.Negate() : x; break;
            default:
                if (u.Denormal) ctx.Flags |= Fp.DE;
                r = FromResult(ExpM1(Fp.ToHostDouble(x) * Math.Log(2.0)), ref ctx);
                break;
        }
        CommitSt0(c, r, ctx);
    }

    /// <summary>FYL2X: ST(1) ← ST(1) * log2(ST(0)); FYL2XP1: ST(1) ← ST(1) * log2(ST(0) + 1); pop.</summary>
    private static void Fyl2x(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        Note(c, ref i);
        if (c.StEmpty(0) || c.StEmpty(1))
        {
            if (StackUnderflow(c))
            {
                SetSt(c, 1, Float80.Indefinite);
                c.FpuPop();
            }
            return;
        }
        bool p1 = i.Code == Code.Fyl2xp1;
        Float80 x = c.St(0), y = c.St(1);
        var ctx = Ctx(c);
        var ux = Fp.Unpack(x);
        var uy = Fp.Unpack(y);
        Float80 r;
        if (ux.Kind == Fp.Class.Unsupported || uy.Kind == Fp.Class.Unsupported) { ctx.Flags |= Fp.IE; r = Float80.Indefinite; }
        else if (Fp.IsNaNClass(ux.Kind) || Fp.IsNaNClass(uy.Kind)) r = Fp.PropagateNaN(x, y, ref ctx);
        else r = Log2Times(x, y, ux, uy, p1, ref ctx);
        bool ok = MayCommit(ctx, PreRegister);
        Record(c, ctx, ok);
        if (!ok) return;
        c.St(1) = r;
        c.FpuPop();
    }

    private static Float80 Log2Times(Float80 x, Float80 y, in Fp.Unpacked ux, in Fp.Unpacked uy, bool plusOne, ref FpContext ctx)
    {
        if (ux.Denormal || uy.Denormal) ctx.Flags |= Fp.DE;
        // log2 of the argument as a register value (exact for the special points).
        Float80 l;
        if (!plusOne)
        {
            if (ux.Sign && ux.Kind != Fp.Class.Zero) { ctx.Flags |= Fp.IE; return Float80.Indefinite; }
            if (ux.Kind == Fp.Class.Zero)
            {
                if (uy.Kind == Fp.Class.Zero) { ctx.Flags |= Fp.IE; return Float80.Indefinite; }
                if (uy.Kind != Fp.Class.Infinity) ctx.Flags |= Fp.ZE;
                return new Float80((ushort)(uy.Sign ? 0x7FFF : 0xFFFF), Float80.JBit); // -inf * y
            }
            if (ux.Kind == Fp.Class.Infinity)
            {
                if (uy.Kind == Fp.Class.Zero) { ctx.Flags |= Fp.IE; return Float80.Indefinite; }
                return new Float80((ushort)(uy.Sign ? 0xFFFF : 0x7FFF), Float80.JBit);
            }
            if (x == Float80.One) l = Float80.Zero;
            else
            {
                // log2(Sig * 2^(e-63)) = (e) + log2(Sig / 2^63), Sig / 2^63 in [1, 2).
                int e = ux.Exp - Float80.Bias;
                double m = Fp.ToHostDouble(new Float80(Float80.Bias, ux.Sig));
                l = FromResult(e + Math.Log2(m), ref ctx);
            }
        }
        else
        {
            if (ux.Kind == Fp.Class.Infinity)
            {
                if (ux.Sign || uy.Kind == Fp.Class.Zero) { ctx.Flags |= Fp.IE; return Float80.Indefinite; }
                return new Float80((ushort)(uy.Sign ? 0xFFFF : 0x7FFF), Float80.JBit);
            }
            double dx = Fp.ToHostDouble(x);
            if (dx <= -1.0) { ctx.Flags |= Fp.IE; return Float80.Indefinite; }
            if (ux.Kind == Fp.Class.Zero) l = x;
            else l = FromResult(Log1P(dx) / Math.Log(2.0), ref ctx);
        }
        if (uy.Kind == Fp.Class.Infinity && l.IsZero) { ctx.Flags |= Fp.IE; return Float80.Indefinite; }
        int flags = ctx.Flags;
        var r = Fp.Mul(y, l, ref ctx);
        ctx.Flags |= flags;
        return r;
    }
}
