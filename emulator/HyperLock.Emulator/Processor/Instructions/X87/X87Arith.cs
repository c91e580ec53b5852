using HyperLock.Emulator.Processor.Decode;
using Iced.Intel;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>
/// x87 arithmetic: FADD/FSUB/FSUBR/FMUL/FDIV/FDIVR in every operand form (m32, m64, ST(0)←ST(i),
/// ST(i)←ST(0), the popping forms, FIxxx m16/m32), and FCHS, FABS, FSQRT, FPREM, FPREM1,
/// FRNDINT, FSCALE, FXTRACT.
/// </summary>
internal static unsafe partial class X87
{
    private const byte OpAdd = 0, OpMul = 1, OpSub = 4, OpSubr = 5, OpDiv = 6, OpDivr = 7;

    private static void RegisterArith()
    {
        Arith(Mnemonic.Fadd, Mnemonic.Faddp, Mnemonic.Fiadd, OpAdd);
        Arith(Mnemonic.Fmul, Mnemonic.Fmulp, Mnemonic.Fimul, OpMul);
        Arith(Mnemonic.Fsub, Mnemonic.Fsubp, Mnemonic.Fisub, OpSub);
        Arith(Mnemonic.Fsubr, Mnemonic.Fsubrp, Mnemonic.Fisubr, OpSubr);
        Arith(Mnemonic.Fdiv, Mnemonic.Fdivp, Mnemonic.Fidiv, OpDiv);
        Arith(Mnemonic.Fdivr, Mnemonic.Fdivrp, Mnemonic.Fidivr, OpDivr);

        Set(Code.Fchs, &Fchs);
        Set(Code.Fabs, &Fabs);
        Set(Code.Fsqrt, &Fsqrt);
        Set(Code.Fprem, &Fprem);
        Set(Code.Fprem1, &Fprem);
        Set(Code.Frndint, &Frndint);
        Set(Code.Fscale, &Fscale);
        Set(Code.Fxtract, &Fxtract);
    }

    private static void Arith(Mnemonic plain, Mnemonic pop, Mnemonic integer, byte op)
    {
        foreach (var c in FormTable.Legacy(plain))
        {
            ArithOp[(int)c] = op;
            var s = c.ToString();
            if (s.EndsWith("m32fp", StringComparison.Ordinal)) Set(c, &ArithM32);
            else if (s.EndsWith("m64fp", StringComparison.Ordinal)) Set(c, &ArithM64);
            else if (s.EndsWith("st0_sti", StringComparison.Ordinal)) Set(c, &ArithSt0Sti);
            else Set(c, &ArithStiSt0);
        }
        foreach (var c in FormTable.Legacy(pop))
        {
            ArithOp[(int)c] = op;
            Set(c, &ArithPop);
        }
        foreach (var c in FormTable.Legacy(integer))
        {
            ArithOp[(int)c] = op;
            Set(c, &ArithInt);
        }
    }

    /// <summary>a op b for the six basic operations.</summary>
    private static Float80 Compute(int op, Float80 a, Float80 b, ref FpContext ctx) => op switch
    {
        OpAdd => Fp.Add(a, b, false, ref ctx),
        OpMul => Fp.Mul(a, b, ref ctx),
        OpSub => Fp.Add(a, b, true, ref ctx),
        OpSubr => Fp.Add(b, a, true, ref ctx),
        OpDiv => Fp.Div(a, b, ref ctx),
        _ => Fp.Div(b, a, ref ctx),
    };

    /// <summary>
    /// Converts a memory operand (m32/m64) with the x87's exception priorities: an SNaN stays
    /// signaling (the operation raises #IA and picks the NaN by the unquieted significands); a
    /// denormal is only reported through <paramref name="denormal"/>, because #D is not raised
    /// when the register operand is a NaN or unsupported (or is a zero divisor).
    /// </summary>
    private static Float80 ConvertOperand(ulong bits, bool single, ref FpContext ctx, out bool denormal)
    {
        var conv = ctx;
        conv.Flags = 0;
        var v = single ? Fp.FromSingle((uint)bits, ref conv, keepSignaling: true) : Fp.FromDouble(bits, ref conv, keepSignaling: true);
        ctx.Flags |= conv.Flags & Fp.IE;
        denormal = (conv.Flags & Fp.DE) != 0;
        return v;
    }

    /// <summary>#D for a denormal memory operand, unless the register operand takes priority.</summary>
    private static void MemoryDenormal(Float80 reg, int op, ref FpContext ctx)
    {
        var k = Fp.Unpack(reg).Kind;
        if (k is Fp.Class.Unsupported or Fp.Class.QNaN or Fp.Class.SNaN) return;
        if (op == OpDivr && k == Fp.Class.Zero) return;
        ctx.Flags |= Fp.DE;
    }

    /// <summary>ST(dst) ← ST(dst) op src, then an optional pop; handles an empty destination.</summary>
    private static void ArithInto(Cpu c, int dst, Float80 src, int op, ref FpContext ctx, bool pop, bool srcDenormal = false)
    {
        if (c.StEmpty(dst))
        {
            if (StackUnderflow(c))
            {
                SetSt(c, dst, Float80.Indefinite);
                if (pop) c.FpuPop();
            }
            return;
        }
        if (srcDenormal) MemoryDenormal(c.St(dst), op, ref ctx);
        var r = Compute(op, c.St(dst), src, ref ctx);
        bool ok = MayCommit(ctx, PreRegister);
        Record(c, ctx, ok);
        if (!ok) return;
        c.St(dst) = r;
        if (pop) c.FpuPop();
    }

    private static void ArithM32(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        uint bits = c.ReadMem32(c.Ea(ref i));
        if (c.Faulted) return;
        NoteMem(c, ref i);
        var ctx = Ctx(c);
        var src = ConvertOperand(bits, single: true, ref ctx, out bool denormal);
        ArithInto(c, 0, src, ArithOp[(int)i.Code], ref ctx, pop: false, denormal);
    }

    private static void ArithM64(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        ulong bits = c.ReadMem64(c.Ea(ref i));
        if (c.Faulted) return;
        NoteMem(c, ref i);
        var ctx = Ctx(c);
        var src = ConvertOperand(bits, single: false, ref ctx, out bool denormal);
        ArithInto(c, 0, src, ArithOp[(int)i.Code], ref ctx, pop: false, denormal);
    }

    private static void ArithInt(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        ulong lin = c.Ea(ref i);
        long v = i.OpSize == 2 ? (short)c.ReadMem16(lin) : (int)c.ReadMem32(lin);
        if (c.Faulted) return;
        NoteMem(c, ref i);
        var ctx = Ctx(c);
        ArithInto(c, 0, Fp.FromInt64(v), ArithOp[(int)i.Code], ref ctx, pop: false);
    }

    /// <summary>ST(0) ← ST(0) op ST(i).</summary>
    private static void ArithSt0Sti(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        Note(c, ref i);
        int r = i.R1;
        if (c.StEmpty(r))
        {
            if (StackUnderflow(c)) SetSt(c, 0, Float80.Indefinite);
            return;
        }
        var ctx = Ctx(c);
        ArithInto(c, 0, c.St(r), ArithOp[(int)i.Code], ref ctx, pop: false);
    }

    /// <summary>ST(i) ← ST(i) op ST(0).</summary>
    private static void ArithStiSt0(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        Note(c, ref i);
        if (c.StEmpty(0))
        {
            if (StackUnderflow(c)) SetSt(c, i.R0, Float80.Indefinite);
            return;
        }
        var ctx = Ctx(c);
        ArithInto(c, i.R0, c.St(0), ArithOp[(int)i.Code], ref ctx, pop: false);
    }

    /// <summary>ST(i) ← ST(i) op ST(0), then pop.</summary>
    private static void ArithPop(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        Note(c, ref i);
        if (c.StEmpty(0))
        {
            if (StackUnderflow(c))
            {
                SetSt(c, i.R0, Float80.Indefinite);
                c.FpuPop();
            }
            return;
        }
        var ctx = Ctx(c);
        ArithInto(c, i.R0, c.St(0), ArithOp[(int)i.Code], ref ctx, pop: true);
    }

    // ---- one-operand operations -----------------------------------------------------------------

    /// <summary>Checks ST(0) for a one-operand instruction; on underflow delivers the masked response.</summary>
    private static bool St0Present(Cpu c)
    {
        if (!c.StEmpty(0)) return true;
        if (StackUnderflow(c)) SetSt(c, 0, Float80.Indefinite);
        return false;
    }

    private static void Fchs(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        Note(c, ref i);
        if (!St0Present(c)) return;
        c.FpuSetC1(false);
        c.St(0) = c.St(0).Negate();
    }

    private static void Fabs(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        Note(c, ref i);
        if (!St0Present(c)) return;
        c.FpuSetC1(false);
        c.St(0) = c.St(0).Abs();
    }

    /// <summary>Writes a one-operand result to ST(0) per the exception rules.</summary>
    private static void CommitSt0(Cpu c, Float80 r, in FpContext ctx)
    {
        bool ok = MayCommit(ctx, PreRegister);
        Record(c, ctx, ok);
        if (ok) c.St(0) = r;
    }

    private static void Fsqrt(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        Note(c, ref i);
        if (!St0Present(c)) return;
        var ctx = Ctx(c);
        CommitSt0(c, Fp.Sqrt(c.St(0), ref ctx), ctx);
    }

    private static void Frndint(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        Note(c, ref i);
        if (!St0Present(c)) return;
        var ctx = Ctx(c);
        CommitSt0(c, Fp.RoundToIntegral(c.St(0), ctx.Rc, ref ctx), ctx);
    }

    /// <summary>Both ST(0) and ST(1) must be present; on underflow ST(0) gets the indefinite.</summary>
    private static bool St0St1Present(Cpu c)
    {
        if (!c.StEmpty(0) && !c.StEmpty(1)) return true;
        if (StackUnderflow(c)) SetSt(c, 0, Float80.Indefinite);
        return false;
    }

    private static void Fscale(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        Note(c, ref i);
        if (!St0St1Present(c)) return;
        var ctx = Ctx(c);
        CommitSt0(c, Fp.Scale(c.St(0), c.St(1), ref ctx), ctx);
    }

    /// <summary>FPREM / FPREM1: C2 = incomplete reduction; C0, C3, C1 = quotient bits 2, 1, 0.</summary>
    private static void Fprem(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        Note(c, ref i);
        if (!St0St1Present(c))
        {
            // Underflow: C1 = 0 (StackUnderflow) and C2 = 0; C0 and C3 unchanged (as on the host, AMD EPYC).
            c.FpuSw &= unchecked((ushort)~Cpu.FswC2);
            return;
        }
        var ctx = Ctx(c);
        var r = Fp.Remainder(c.St(0), c.St(1), i.Code == Code.Fprem1, ref ctx, out int q, out bool incomplete);
        bool ok = MayCommit(ctx, PreRegister);
        if (ctx.Flags != 0) c.FpuRecordExceptions(ctx.Flags);
        if (!ok) return;
        c.St(0) = r;
        if (r.IsNaN)
        {
            // A NaN result (invalid operand or NaN propagation): C1 = C2 = 0, C0 and C3
            // unchanged (observed on the host, AMD EPYC).
            c.FpuSw &= unchecked((ushort)~(Cpu.FswC1 | Cpu.FswC2));
            return;
        }
        int cc = 0;
        if (incomplete) cc = Cpu.FswC2;
        else
        {
            if ((q & 4) != 0) cc |= Cpu.FswC0;
            if ((q & 2) != 0) cc |= Cpu.FswC3;
            if ((q & 1) != 0) cc |= Cpu.FswC1;
        }
        c.FpuSw = (ushort)((c.FpuSw & ~Cpu.FswCc) | cc);
    }

    /// <summary>FXTRACT: ST(0) ← exponent, then push the significand (stack faults: <see cref="TwoResultStackFault"/>).</summary>
    private static void Fxtract(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        Note(c, ref i);
        if (c.StEmpty(0) || !c.StEmpty(7))
        {
            TwoResultStackFault(c);
            return;
        }
        var ctx = Ctx(c);
        Fp.Extract(c.St(0), ref ctx, out var exponent, out var significand);
        bool ok = MayCommit(ctx, PreRegister);
        Record(c, ctx, ok);
        if (!ok) return;
        c.St(0) = exponent;
        c.FpuPush(significand);
    }
}
