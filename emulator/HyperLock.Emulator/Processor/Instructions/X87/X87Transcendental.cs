using HyperLock.Emulator.Processor.Decode;
using Iced.Intel;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>
/// x87 transcendental instructions: FSIN, FCOS, FSINCOS, FPTAN, FPATAN, F2XM1, FYL2X, FYL2XP1.
/// <para>
/// The functions are evaluated in software with a 128-bit significand (<see cref="X87Math"/>)
/// and rounded once to the 64-bit significand per the rounding control, so results are within
/// one ulp of the true value (SDM Vol. 1 8.3.10 promises less than one ulp in round-to-nearest)
/// and C1 reports whether the magnitude was rounded up. Precision control does not apply to
/// these instructions (SDM Vol. 1 8.1.5.2). FSIN/FCOS/FSINCOS/FPTAN reduce their argument
/// modulo the x87's 66-bit π exactly as the hardware does, so large arguments give the
/// hardware's results, not the mathematically exact ones. Special operands (NaN, infinities,
/// zeros, the |x| ≥ 2^63 out-of-range rule with C2 = 1, invalid operands, #Z of FYL2X) follow
/// the SDM's tables; denormal operands raise #D and are computed with their full value.
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

    /// <summary>An unmasked #D (or #IA, #Z) stops the instruction before it computes anything (no #P, no result).</summary>
    private static bool Faulted(in FpContext ctx) => !MayCommit(ctx, PreRegister);

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
            else if (Faulted(ctx)) r = x;
            else if (IsTiny(x)) r = i.Code switch { Code.Fcos => TinyCos(x, ref ctx), Code.Fptan => TinyOdd(x, +1, ref ctx), _ => TinyOdd(x, -1, ref ctx) };
            else
            {
                X87Math.SinCos(Fp.Unpack(x), out var sin, out var cos);
                r = i.Code switch
                {
                    Code.Fcos => cos.Round(ref ctx),
                    Code.Fptan => (sin / cos).Inexact().Round(ref ctx),
                    _ => sin.Round(ref ctx),
                };
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
    /// unchanged and FCOS returns 1.0, with #P (and #U for x), C1 = 0, in every rounding mode;
    /// pseudo-denormals give the normalized result with #D and #P.
    /// </summary>
    private static bool IsTiny(Float80 x) => x.Exponent < Float80.Bias - 33;

    /// <summary>sin (direction -1) or tan (+1) of a tiny non-zero x.</summary>
    private static Float80 TinyOdd(Float80 x, int direction, ref FpContext ctx)
    {
        // A pseudo-denormal (J set) is computed like the smallest normals it equals, as on the host.
        if (x.IsDenormal && (x.Mantissa & Float80.JBit) == 0)
        {
            ctx.Flags |= Fp.UE | Fp.PE;
            return x;
        }
        var u = Fp.Unpack(x);
        UInt128 v = (UInt128)u.Sig << 64;
        v = direction < 0 ? v - UInt128.One : v + UInt128.One;
        return new WideFloat(u.Sign, u.Exp - Float80.Bias, v).Round(ref ctx);
    }

    /// <summary>cos of a tiny non-zero x: just below 1.</summary>
    private static Float80 TinyCos(Float80 x, ref FpContext ctx)
    {
        if (x.IsDenormal)
        {
            ctx.Flags |= Fp.PE;
            return Float80.One;
        }
        return new WideFloat(false, 0, ((UInt128)Float80.JBit << 64) - UInt128.One).Round(ref ctx);
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
            else if (Faulted(ctx)) s = co = x;
            else if (IsTiny(x))
            {
                s = TinyOdd(x, -1, ref ctx);
                co = TinyCos(x, ref ctx);
            }
            else
            {
                X87Math.SinCos(Fp.Unpack(x), out var sin, out var cos);
                s = sin.Round(ref ctx);
                // C1 reports the sine's rounding, as on the host (AMD EPYC); the cosine adds only its flags.
                var cosCtx = ctx;
                co = cos.Round(ref cosCtx);
                ctx.Flags |= cosCtx.Flags & ~Fp.C1;
            }
        }
        else s = co = special;
        bool ok = MayCommit(ctx, PreRegister);
        Record(c, ctx, ok);
        if (!ok) return;
        c.St(0) = s;
        c.FpuPush(co);
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
            r = Faulted(ctx) ? y : ArcTangent(ux, uy, ref ctx);
        }
        bool ok = MayCommit(ctx, PreRegister);
        Record(c, ctx, ok);
        if (!ok) return;
        c.St(1) = r;
        c.FpuPop();
    }

    /// <summary>
    /// atan2(y, x) per SDM Table 3-29: zeros and infinities give 0, ±π/4, ±π/2, ±3π/4 or ±π
    /// (every one but the exact zeros inexact); finite operands are computed in
    /// <see cref="X87Math.Atan2"/>.
    /// </summary>
    private static Float80 ArcTangent(in Fp.Unpacked ux, in Fp.Unpacked uy, ref FpContext ctx)
    {
        bool xInf = ux.Kind == Fp.Class.Infinity, yInf = uy.Kind == Fp.Class.Infinity;
        // +0 or -0 for y = ±0 (or finite y against x = +∞) with x not negative: exact.
        if ((uy.Kind == Fp.Class.Zero || (!yInf && xInf)) && !ux.Sign) return new Float80(uy.Sign ? (ushort)0x8000 : (ushort)0, 0);
        WideFloat a;
        if (yInf && xInf) a = ux.Sign ? X87Math.Pi - X87Math.Pi.Scale(-2) : X87Math.Pi.Scale(-2);
        else if (yInf) a = X87Math.HalfPi;
        else if (xInf) a = X87Math.Pi; // x = -∞, y finite
        else return X87Math.Atan2(WideFloat.FromUnpacked(uy), WideFloat.FromUnpacked(ux)).Round(ref ctx);
        return a.WithSign(uy.Sign).Inexact().Round(ref ctx);
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
                var w = WideFloat.FromUnpacked(u);
                if (Faulted(ctx)) r = x;
                else if (w.Exp < 0) r = X87Math.Exp2M1(w).Round(ref ctx);
                else
                {
                    // |x| ≥ 1. ±1 give the exact 1 and -0.5; beyond, the SDM leaves the result undefined
                    // and the host (AMD EPYC) returns the operand unchanged. All report #P as on the host,
                    // which also sets C1 for +1 only.
                    bool one = WideFloat.CompareMagnitude(w, WideFloat.One) == 0;
                    r = one ? (u.Sign ? new Float80(0xBFFE, Float80.JBit) : Float80.One) : x;
                    ctx.Flags |= Fp.PE | (one && !u.Sign ? Fp.C1 : 0);
                }
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
        else
        {
            r = Log2Times(ux, uy, p1, ref ctx);
            // #IA and #Z outrank #D (SDM Vol. 1 4.9.2); the host reports only the higher one.
            if ((ctx.Flags & (Fp.IE | Fp.ZE)) != 0) ctx.Flags &= ~Fp.DE;
        }
        bool ok = MayCommit(ctx, PreRegister);
        Record(c, ctx, ok);
        if (!ok) return;
        c.St(1) = r;
        c.FpuPop();
    }

    private static Float80 SignedInfinity(bool negative) => new((ushort)(negative ? 0xFFFF : 0x7FFF), Float80.JBit);

    private static Float80 SignedZero(bool negative) => new(negative ? (ushort)0x8000 : (ushort)0, 0);

    /// <summary>
    /// y · log2(x) (FYL2X) or y · log2(1 + x) (FYL2XP1) per SDM Tables 3-50 and 3-51: the
    /// logarithm and the product are formed in 128 bits and rounded once.
    /// </summary>
    private static Float80 Log2Times(in Fp.Unpacked ux, in Fp.Unpacked uy, bool plusOne, ref FpContext ctx)
    {
        if (ux.Denormal || uy.Denormal) ctx.Flags |= Fp.DE;
        bool yZero = uy.Kind == Fp.Class.Zero, yInf = uy.Kind == Fp.Class.Infinity;
        WideFloat l; // the logarithm, finite
        if (!plusOne)
        {
            if (ux.Sign && ux.Kind != Fp.Class.Zero) { ctx.Flags |= Fp.IE; return Float80.Indefinite; }
            if (ux.Kind == Fp.Class.Zero)
            {
                // log2(±0) = -∞: y · -∞, #Z for finite non-zero y.
                if (yZero) { ctx.Flags |= Fp.IE; return Float80.Indefinite; }
                if (!yInf) ctx.Flags |= Fp.ZE;
                return SignedInfinity(!uy.Sign);
            }
            if (ux.Kind == Fp.Class.Infinity)
            {
                if (yZero) { ctx.Flags |= Fp.IE; return Float80.Indefinite; }
                return SignedInfinity(uy.Sign);
            }
            l = X87Math.Log2(WideFloat.FromUnpacked(ux));
        }
        else
        {
            if (ux.Kind == Fp.Class.Infinity)
            {
                if (ux.Sign || yZero) { ctx.Flags |= Fp.IE; return Float80.Indefinite; }
                return SignedInfinity(uy.Sign);
            }
            if (ux.Kind == Fp.Class.Zero)
            {
                // log2(1 ± 0) = ±0: y · ±0, invalid for infinite y.
                if (yInf) { ctx.Flags |= Fp.IE; return Float80.Indefinite; }
                return SignedZero(ux.Sign ^ uy.Sign);
            }
            var wx = WideFloat.FromUnpacked(ux);
            if (ux.Sign && WideFloat.CompareMagnitude(wx, WideFloat.One) >= 0)
            {
                // x ≤ -1: undefined in the SDM. The host (AMD EPYC) returns x for finite non-zero y
                // (with #P), and the signed zero or infinity of y times a negative value otherwise.
                if (yZero) return SignedZero(!uy.Sign);
                if (yInf) return SignedInfinity(!uy.Sign);
                if (Faulted(ctx)) return Float80.Indefinite;
                ctx.Flags |= Fp.PE;
                return new Float80((ushort)(0x8000 | ux.Exp), ux.Sig);
            }
            l = X87Math.Log2OnePlus(wx);
        }
        if (l.IsZero)
        {
            // log2(1) = +0 exactly: y · +0, invalid for infinite y.
            if (yInf) { ctx.Flags |= Fp.IE; return Float80.Indefinite; }
            return SignedZero(uy.Sign);
        }
        if (Faulted(ctx)) return Float80.Indefinite; // unmasked #D: nothing is written
        if (yZero) return SignedZero(uy.Sign ^ l.Neg);
        if (yInf) return SignedInfinity(uy.Sign ^ l.Neg);
        // #P even when the product is exact (x a power of two, or 1 + x = 1/2), as on the host (AMD EPYC).
        var r = (WideFloat.FromUnpacked(uy) * l).Round(ref ctx);
        ctx.Flags |= Fp.PE;
        if (r.Exponent == 0) ctx.Flags |= Fp.UE; // tiny and (so reported) inexact
        return r;
    }
}
