using HyperLock.Emulator.Processor.Decode;
using Iced.Intel;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>
/// x87 comparisons: FCOM/FCOMP/FCOMPP, FUCOM/FUCOMP/FUCOMPP, FICOM/FICOMP, FTST (condition codes
/// C3, C2, C0), FCOMI/FCOMIP/FUCOMI/FUCOMIP (ZF, PF, CF), and FXAM.
/// </summary>
internal static unsafe partial class X87
{
    private static void RegisterCompare()
    {
        foreach (var c in new[] { Code.Fcom_m32fp, Code.Fcomp_m32fp }) Set(c, &FcomM32);
        foreach (var c in new[] { Code.Fcom_m64fp, Code.Fcomp_m64fp }) Set(c, &FcomM64);
        foreach (var c in new[] { Code.Ficom_m16int, Code.Ficomp_m16int, Code.Ficom_m32int, Code.Ficomp_m32int }) Set(c, &Ficom);
        foreach (var c in new[] { Code.Fcom_st0_sti, Code.Fcom_st0_sti_DCD0, Code.Fcomp_st0_sti, Code.Fcomp_st0_sti_DCD8,
                     Code.Fcomp_st0_sti_DED0, Code.Fucom_st0_sti, Code.Fucomp_st0_sti, Code.Fcompp, Code.Fucompp })
            Set(c, &FcomSt);
        Set(Code.Ftst, &Ftst);
        foreach (var c in new[] { Code.Fcomi_st0_sti, Code.Fcomip_st0_sti, Code.Fucomi_st0_sti, Code.Fucomip_st0_sti })
            Set(c, &Fcomi);
        Set(Code.Fxam, &Fxam);
    }

    /// <summary>How many registers the comparison pops.</summary>
    private static int ComparePops(Code code) => code switch
    {
        Code.Fcomp_m32fp or Code.Fcomp_m64fp or Code.Ficomp_m16int or Code.Ficomp_m32int or Code.Fcomp_st0_sti
            or Code.Fcomp_st0_sti_DCD8 or Code.Fcomp_st0_sti_DED0 or Code.Fucomp_st0_sti or Code.Fcomip_st0_sti
            or Code.Fucomip_st0_sti => 1,
        Code.Fcompp or Code.Fucompp => 2,
        _ => 0,
    };

    private static ushort ConditionBits(int result) => result switch
    {
        Fp.Greater => 0,
        Fp.Less => Cpu.FswC0,
        Fp.Equal => Cpu.FswC3,
        _ => Cpu.FswC0 | Cpu.FswC2 | Cpu.FswC3,
    };

    /// <summary>Compares ST(0) with <paramref name="b"/>, sets C3/C2/C0 (C1 = 0) and pops.</summary>
    private static void CompareSt0(Cpu c, Float80 b, bool otherEmpty, bool quiet, int pops, ref FpContext ctx)
    {
        int result;
        if (c.StEmpty(0) || otherEmpty)
        {
            if (!StackUnderflow(c)) return;
            result = Fp.Unordered;
        }
        else
        {
            result = Fp.Compare(c.St(0), b, quiet, ref ctx);
            bool ok = MayCommit(ctx, Fp.IE | Fp.DE);
            if (ctx.Flags != 0) c.FpuRecordExceptions(ctx.Flags);
            if (!ok) return;
        }
        c.FpuSw = (ushort)((c.FpuSw & ~Cpu.FswCc) | ConditionBits(result));
        for (int k = 0; k < pops; k++) c.FpuPop();
    }

    private static void FcomM32(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        uint bits = c.ReadMem32(c.Ea(ref i));
        if (c.Faulted) return;
        NoteMem(c, ref i);
        var ctx = Ctx(c);
        var b = ConvertOperand(bits, single: true, ref ctx, out bool denormal);
        if (denormal && !c.StEmpty(0)) MemoryDenormal(c.St(0), OpAdd, ref ctx);
        CompareSt0(c, b, false, false, ComparePops(i.Code), ref ctx);
    }

    private static void FcomM64(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        ulong bits = c.ReadMem64(c.Ea(ref i));
        if (c.Faulted) return;
        NoteMem(c, ref i);
        var ctx = Ctx(c);
        var b = ConvertOperand(bits, single: false, ref ctx, out bool denormal);
        if (denormal && !c.StEmpty(0)) MemoryDenormal(c.St(0), OpAdd, ref ctx);
        CompareSt0(c, b, false, false, ComparePops(i.Code), ref ctx);
    }

    private static void Ficom(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        ulong lin = c.Ea(ref i);
        long v = i.OpSize == 2 ? (short)c.ReadMem16(lin) : (int)c.ReadMem32(lin);
        if (c.Faulted) return;
        NoteMem(c, ref i);
        var ctx = Ctx(c);
        CompareSt0(c, Fp.FromInt64(v), false, false, ComparePops(i.Code), ref ctx);
    }

    private static void FcomSt(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        Note(c, ref i);
        int r = i.Code is Code.Fcompp or Code.Fucompp ? 1 : i.R0 | i.R1;
        bool quiet = i.Code is Code.Fucom_st0_sti or Code.Fucomp_st0_sti or Code.Fucompp;
        var ctx = Ctx(c);
        CompareSt0(c, c.St(r), c.StEmpty(r), quiet, ComparePops(i.Code), ref ctx);
    }

    private static void Ftst(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        Note(c, ref i);
        var ctx = Ctx(c);
        CompareSt0(c, Float80.Zero, false, false, 0, ref ctx);
    }

    /// <summary>FCOMI/FUCOMI(P): ZF, PF, CF from the comparison; OF, SF, AF cleared; C1 = 0 only on underflow.</summary>
    private static void Fcomi(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        Note(c, ref i);
        int r = i.R1;
        bool quiet = i.Code is Code.Fucomi_st0_sti or Code.Fucomip_st0_sti;
        int pops = ComparePops(i.Code);
        int result;
        if (c.StEmpty(0) || c.StEmpty(r))
        {
            if (!StackUnderflow(c)) return;
            result = Fp.Unordered;
        }
        else
        {
            var ctx = Ctx(c);
            result = Fp.Compare(c.St(0), c.St(r), quiet, ref ctx);
            bool ok = MayCommit(ctx, Fp.IE | Fp.DE);
            if (ctx.Flags != 0) c.FpuRecordExceptions(ctx.Flags);
            if (!ok) return;
            // C1 stays unchanged without underflow (the SDM only defines C1 = 0 on underflow;
            // observed on the host, AMD EPYC).
        }
        ulong f = result switch
        {
            Fp.Greater => 0,
            Fp.Less => Bits.Cf,
            Fp.Equal => Bits.Zf,
            _ => Bits.Zf | Bits.Pf | Bits.Cf,
        };
        c.SetArithFlags(f);
        for (int k = 0; k < pops; k++) c.FpuPop();
    }

    /// <summary>FXAM: classifies ST(0) into C3, C2, C0; C1 = sign. Works on an empty register.</summary>
    private static void Fxam(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        Note(c, ref i);
        Float80 v = c.St(0);
        int cc; // C3 C2 C0 as bits 2, 1, 0
        if (c.StEmpty(0)) cc = 0b101;
        else
        {
            cc = Fp.Unpack(v).Kind switch
            {
                Fp.Class.Unsupported => 0b000,
                Fp.Class.QNaN or Fp.Class.SNaN => 0b001,
                Fp.Class.Infinity => 0b011,
                Fp.Class.Zero => 0b100,
                _ => v.IsDenormal ? 0b110 : 0b010,
            };
        }
        int bits = ((cc & 4) != 0 ? Cpu.FswC3 : 0) | ((cc & 2) != 0 ? Cpu.FswC2 : 0) | ((cc & 1) != 0 ? Cpu.FswC0 : 0)
            | (v.Sign ? Cpu.FswC1 : 0);
        c.FpuSw = (ushort)((c.FpuSw & ~Cpu.FswCc) | bits);
    }
}
