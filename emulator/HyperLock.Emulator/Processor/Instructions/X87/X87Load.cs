using HyperLock.Emulator.Processor.Decode;
using Iced.Intel;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>x87 data transfer: FLD/FST/FSTP (m32, m64, m80, ST(i)), FILD/FIST/FISTP/FISTTP, FBLD/FBSTP, the constants, FXCH, FCMOVcc.</summary>
internal static unsafe partial class X87
{
    private static void RegisterLoadStore()
    {
        Set(Code.Fld_m32fp, &FldM32);
        Set(Code.Fld_m64fp, &FldM64);
        Set(Code.Fld_m80fp, &FldM80);
        Set(Code.Fld_sti, &FldSt);
        Set(Code.Fst_m32fp, &FstM32);
        Set(Code.Fstp_m32fp, &FstM32);
        Set(Code.Fst_m64fp, &FstM64);
        Set(Code.Fstp_m64fp, &FstM64);
        Set(Code.Fstp_m80fp, &FstpM80);
        Set(Code.Fst_sti, &FstSt);
        Set(Code.Fstp_sti, &FstSt);
        Set(Code.Fstp_sti_DFD0, &FstSt); // undocumented aliases of FSTP ST(i)
        Set(Code.Fstp_sti_DFD8, &FstSt);
        Set(Code.Fstpnce_sti, &Fstpnce); // D9 D8+i: see Fstpnce

        Set(Code.Fild_m16int, &Fild);
        Set(Code.Fild_m32int, &Fild);
        Set(Code.Fild_m64int, &Fild);
        foreach (var c in new[] { Code.Fist_m16int, Code.Fist_m32int, Code.Fistp_m16int, Code.Fistp_m32int, Code.Fistp_m64int,
                     Code.Fisttp_m16int, Code.Fisttp_m32int, Code.Fisttp_m64int })
            Set(c, &Fist);
        Set(Code.Fbld_m80bcd, &Fbld);
        Set(Code.Fbstp_m80bcd, &Fbstp);

        Set(Code.Fld1, &FldConst);
        Set(Code.Fldz, &FldConst);
        Set(Code.Fldpi, &FldConst);
        Set(Code.Fldl2e, &FldConst);
        Set(Code.Fldl2t, &FldConst);
        Set(Code.Fldlg2, &FldConst);
        Set(Code.Fldln2, &FldConst);

        Set(Code.Fxch_st0_sti, &Fxch);
        Set(Code.Fxch_st0_sti_DDC8, &Fxch);
        Set(Code.Fxch_st0_sti_DFC8, &Fxch);

        foreach (var c in new[] { Code.Fcmovb_st0_sti, Code.Fcmove_st0_sti, Code.Fcmovbe_st0_sti, Code.Fcmovu_st0_sti,
                     Code.Fcmovnb_st0_sti, Code.Fcmovne_st0_sti, Code.Fcmovnbe_st0_sti, Code.Fcmovnu_st0_sti })
            Set(c, &Fcmov);
    }

    private static bool IsPop(Code code) => code switch
    {
        Code.Fstp_m32fp or Code.Fstp_m64fp or Code.Fstp_m80fp or Code.Fstp_sti or Code.Fstp_sti_DFD0 or Code.Fstp_sti_DFD8
            or Code.Fstpnce_sti or Code.Fistp_m16int or Code.Fistp_m32int or Code.Fistp_m64int or Code.Fisttp_m16int
            or Code.Fisttp_m32int or Code.Fisttp_m64int or Code.Fbstp_m80bcd => true,
        _ => false,
    };

    // ---- loads --------------------------------------------------------------------------------

    /// <summary>Pushes a loaded value after the checks shared by every load.</summary>
    private static void PushLoaded(Cpu c, Float80 v, in FpContext ctx)
    {
        if (!c.StEmpty(7))
        {
            StackOverflow(c);
            return;
        }
        bool ok = MayCommit(ctx, PreRegister);
        Record(c, ctx, ok);
        if (ok) c.FpuPush(v);
    }

    private static void FldM32(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        uint bits = c.ReadMem32(c.Ea(ref i));
        if (c.Faulted) return;
        NoteMem(c, ref i);
        var ctx = Ctx(c);
        var v = Fp.FromSingle(bits, ref ctx);
        PushLoaded(c, v, ctx);
    }

    private static void FldM64(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        ulong bits = c.ReadMem64(c.Ea(ref i));
        if (c.Faulted) return;
        NoteMem(c, ref i);
        var ctx = Ctx(c);
        var v = Fp.FromDouble(bits, ref ctx);
        PushLoaded(c, v, ctx);
    }

    /// <summary>FLD m80: bit-exact (no exceptions for SNaNs or denormals in extended format).</summary>
    private static void FldM80(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        ulong lin = c.Ea(ref i);
        ulong m = c.ReadMem64(lin);
        if (c.Faulted) return;
        ushort se = c.ReadMem16(lin + 8);
        if (c.Faulted) return;
        NoteMem(c, ref i);
        PushLoaded(c, new Float80(se, m), default(FpContext) with { Masks = 0x3F });
    }

    /// <summary>
    /// FLD ST(i). An empty source is checked before the push slot: with both conditions the
    /// host (AMD EPYC) reports underflow (C1 = 0) and, masked, pushes the indefinite over the
    /// full slot.
    /// </summary>
    private static void FldSt(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        Note(c, ref i);
        if (c.StEmpty(i.R0))
        {
            if (StackUnderflow(c)) c.FpuPush(Float80.Indefinite);
            return;
        }
        if (!c.StEmpty(7))
        {
            StackOverflow(c);
            return;
        }
        c.FpuSetC1(false);
        c.FpuPush(c.St(i.R0));
    }

    private static void Fild(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        ulong lin = c.Ea(ref i);
        long v = i.Code switch
        {
            Code.Fild_m16int => (short)c.ReadMem16(lin),
            Code.Fild_m32int => (int)c.ReadMem32(lin),
            _ => (long)c.ReadMem64(lin),
        };
        if (c.Faulted) return;
        NoteMem(c, ref i);
        PushLoaded(c, Fp.FromInt64(v), default(FpContext) with { Masks = 0x3F });
    }

    private static void Fbld(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        ulong lin = c.Ea(ref i);
        ulong lo = c.ReadMem64(lin);
        if (c.Faulted) return;
        ushort hi = c.ReadMem16(lin + 8);
        if (c.Faulted) return;
        NoteMem(c, ref i);
        PushLoaded(c, Fp.FromBcd(lo, hi), default(FpContext) with { Masks = 0x3F });
    }

    // ---- constants ------------------------------------------------------------------------------

    // 66-bit internal constants (SDM 8.3.8: rounded to 64 bits per RC since the Pentium): the
    // 64-bit truncation and whether the rounding bits beyond it are above one half (they are
    // never exactly one half). Values of pi, log2(10), log2(e), log10(2), ln(2).
    private static Float80 Constant(Code code, int rc)
    {
        ushort exp;
        ulong trunc;
        bool aboveHalf;
        switch (code)
        {
            case Code.Fld1: return Float80.One;
            case Code.Fldz: return Float80.Zero;
            case Code.Fldpi: exp = 0x4000; trunc = 0xC90FDAA22168C234; aboveHalf = true; break;
            case Code.Fldl2t: exp = 0x4000; trunc = 0xD49A784BCD1B8AFE; aboveHalf = false; break;
            case Code.Fldl2e: exp = 0x3FFF; trunc = 0xB8AA3B295C17F0BB; aboveHalf = true; break;
            case Code.Fldlg2: exp = 0x3FFD; trunc = 0x9A209A84FBCFF798; aboveHalf = true; break;
            default: exp = 0x3FFE; trunc = 0xB17217F7D1CF79AB; aboveHalf = true; break; // ln 2
        }
        // All constants are positive: up rounds up, down and toward-zero truncate.
        bool up = rc switch { 0 => aboveHalf, 2 => true, _ => false };
        return new Float80(exp, up ? trunc + 1 : trunc);
    }

    private static void FldConst(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        Note(c, ref i);
        if (!c.StEmpty(7))
        {
            StackOverflow(c);
            return;
        }
        c.FpuSetC1(false);
        c.FpuPush(Constant(i.Code, (c.FpuControl >> 10) & 3));
    }

    // ---- stores ---------------------------------------------------------------------------------

    private static void FstM32(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        ulong lin = c.Ea(ref i);
        bool pop = IsPop(i.Code);
        if (c.StEmpty(0))
        {
            if ((c.FpuControl & Fp.IE) != 0)
            {
                c.WriteMem32(lin, 0xFFC00000u);
                if (c.Faulted) return;
            }
            NoteMem(c, ref i);
            if (StackUnderflow(c) && pop) c.FpuPop();
            return;
        }
        var ctx = Ctx(c);
        uint bits = Fp.ToSingle(c.St(0), ref ctx);
        bool ok = MayCommit(ctx, PreMemory);
        if (ok)
        {
            c.WriteMem32(lin, bits);
            if (c.Faulted) return;
        }
        NoteMem(c, ref i);
        Record(c, ctx, ok);
        if (ok && pop) c.FpuPop();
    }

    private static void FstM64(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        ulong lin = c.Ea(ref i);
        bool pop = IsPop(i.Code);
        if (c.StEmpty(0))
        {
            if ((c.FpuControl & Fp.IE) != 0)
            {
                c.WriteMem64(lin, 0xFFF8000000000000UL);
                if (c.Faulted) return;
            }
            NoteMem(c, ref i);
            if (StackUnderflow(c) && pop) c.FpuPop();
            return;
        }
        var ctx = Ctx(c);
        ulong bits = Fp.ToDouble(c.St(0), ref ctx);
        bool ok = MayCommit(ctx, PreMemory);
        if (ok)
        {
            c.WriteMem64(lin, bits);
            if (c.Faulted) return;
        }
        NoteMem(c, ref i);
        Record(c, ctx, ok);
        if (ok && pop) c.FpuPop();
    }

    /// <summary>Writes 10 bytes all-or-nothing.</summary>
    private static bool Write80(Cpu c, ulong lin, ulong lo, ushort hi)
    {
        if (!c.ProbeWrite(lin, 10, c.Cpl == 3)) return false;
        c.WriteMem64(lin, lo);
        if (c.Faulted) return false;
        c.WriteMem16(lin + 8, hi);
        return !c.Faulted;
    }

    /// <summary>FSTP m80: bit-exact.</summary>
    private static void FstpM80(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        ulong lin = c.Ea(ref i);
        if (c.StEmpty(0))
        {
            if ((c.FpuControl & Fp.IE) != 0 && !Write80(c, lin, Float80.Indefinite.Mantissa, Float80.Indefinite.SignExp)) return;
            NoteMem(c, ref i);
            if (StackUnderflow(c)) c.FpuPop();
            return;
        }
        Float80 v = c.St(0);
        if (!Write80(c, lin, v.Mantissa, v.SignExp)) return;
        NoteMem(c, ref i);
        c.FpuSetC1(false);
        c.FpuPop();
    }

    /// <summary>FST/FSTP ST(i): a bit-exact register copy.</summary>
    private static void FstSt(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        Note(c, ref i);
        bool pop = IsPop(i.Code);
        if (c.StEmpty(0))
        {
            if (StackUnderflow(c))
            {
                SetSt(c, i.R0, Float80.Indefinite);
                if (pop) c.FpuPop();
            }
            return;
        }
        c.FpuSetC1(false);
        SetSt(c, i.R0, c.St(0));
        if (pop) c.FpuPop();
    }

    /// <summary>
    /// FSTPNCE ST(i) (D9 D8+i, "store and pop, no check for empty"; undocumented, reserved in
    /// current SDMs). As observed on the host (AMD EPYC): never raises an exception; with ST(0)
    /// present it copies ST(0) to ST(i); with ST(0) empty ST(i) keeps its tag and contents; then
    /// it pops and clears C1. Intel processors may treat the form as a plain FSTP ST(i) (which
    /// raises #IS on an empty ST(0)); the model follows the host.
    /// </summary>
    private static void Fstpnce(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        Note(c, ref i);
        if (!c.StEmpty(0)) SetSt(c, i.R0, c.St(0));
        c.FpuSetC1(false);
        c.FpuPop();
    }

    /// <summary>FIST, FISTP, FISTTP at 16, 32 and 64 bits.</summary>
    private static void Fist(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        ulong lin = c.Ea(ref i);
        int size = i.OpSize;
        bool pop = IsPop(i.Code);
        bool truncate = i.Code is Code.Fisttp_m16int or Code.Fisttp_m32int or Code.Fisttp_m64int;
        if (c.StEmpty(0))
        {
            if ((c.FpuControl & Fp.IE) != 0)
            {
                c.WriteMem(lin, size, 1UL << (size * 8 - 1));
                if (c.Faulted) return;
            }
            NoteMem(c, ref i);
            if (StackUnderflow(c) && pop) c.FpuPop();
            return;
        }
        var ctx = Ctx(c);
        long v = Fp.ToInt(c.St(0), size * 8, truncate ? 3 : ctx.Rc, ref ctx);
        bool ok = MayCommit(ctx, PreMemory);
        if (ok)
        {
            c.WriteMem(lin, size, (ulong)v);
            if (c.Faulted) return;
        }
        NoteMem(c, ref i);
        Record(c, ctx, ok);
        if (ok && pop) c.FpuPop();
    }

    private static void Fbstp(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        ulong lin = c.Ea(ref i);
        ulong lo;
        ushort hi;
        var ctx = Ctx(c);
        bool empty = c.StEmpty(0);
        if (empty)
        {
            lo = 0xC000000000000000UL;
            hi = 0xFFFF;
            ctx.Flags |= Fp.IE | Fp.SF;
        }
        else Fp.ToBcd(c.St(0), ref ctx, out lo, out hi);
        bool ok = MayCommit(ctx, PreMemory);
        if (ok && !Write80(c, lin, lo, hi)) return;
        NoteMem(c, ref i);
        Record(c, ctx, ok && !empty);
        if (empty) c.FpuSetC1(false);
        if (ok) c.FpuPop();
    }

    // ---- register exchange and conditional moves ------------------------------------------------

    private static void Fxch(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        Note(c, ref i);
        int r = i.R0 | i.R1;
        if (c.StEmpty(0) || c.StEmpty(r))
        {
            if (!StackUnderflow(c)) return;
            if (c.StEmpty(0)) SetSt(c, 0, Float80.Indefinite);
            if (c.StEmpty(r)) SetSt(c, r, Float80.Indefinite);
        }
        else c.FpuSetC1(false);
        (c.St(0), c.St(r)) = (c.St(r), c.St(0));
    }

    private static void Fcmov(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        Note(c, ref i);
        int r = i.R1;
        if (c.StEmpty(0) || c.StEmpty(r))
        {
            if (StackUnderflow(c)) SetSt(c, 0, Float80.Indefinite);
            return;
        }
        // C1 is left unchanged without underflow (SDM: "set to 0 if stack underflow occurred";
        // the host, AMD EPYC, keeps it).
        bool cond = i.Code switch
        {
            Code.Fcmovb_st0_sti => c.CF,
            Code.Fcmove_st0_sti => c.ZF,
            Code.Fcmovbe_st0_sti => c.CF || c.ZF,
            Code.Fcmovu_st0_sti => c.PF,
            Code.Fcmovnb_st0_sti => !c.CF,
            Code.Fcmovne_st0_sti => !c.ZF,
            Code.Fcmovnbe_st0_sti => !c.CF && !c.ZF,
            _ => !c.PF,
        };
        if (cond) c.St(0) = c.St(r);
    }
}
