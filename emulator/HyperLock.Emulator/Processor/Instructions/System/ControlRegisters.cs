using HyperLock.Emulator.Processor.Decode;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>MOV to/from CRn and DRn, CLTS, LMSW, SMSW, INVLPG, WBINVD/INVD, HLT.</summary>
internal static unsafe partial class SystemOps
{
    private static void RegisterControlRegisters()
    {
        OpTable.SetBranch(Code.Mov_cr_r32, &MovToCr);
        OpTable.SetBranch(Code.Mov_cr_r64, &MovToCr);
        OpTable.Set(Code.Mov_r32_cr, &MovFromCr);
        OpTable.Set(Code.Mov_r64_cr, &MovFromCr);
        OpTable.SetBranch(Code.Mov_dr_r32, &MovToDr);
        OpTable.SetBranch(Code.Mov_dr_r64, &MovToDr);
        OpTable.Set(Code.Mov_r32_dr, &MovFromDr);
        OpTable.Set(Code.Mov_r64_dr, &MovFromDr);
        OpTable.SetBranch(Code.Clts, &Clts);
        OpTable.SetBranch(Code.Lmsw_rm16, &Lmsw);
        OpTable.SetBranch(Code.Lmsw_r32m16, &Lmsw);
        OpTable.SetBranch(Code.Lmsw_r64m16, &Lmsw);
        OpTable.Set(Code.Smsw_rm16, &Smsw);
        OpTable.Set(Code.Smsw_r32m16, &Smsw);
        OpTable.Set(Code.Smsw_r64m16, &Smsw);
        OpTable.SetBranch(Code.Invlpg_m, &Invlpg);
        OpTable.Set(Code.Wbinvd, &CacheFlush);
        OpTable.Set(Code.Invd, &CacheFlush);
        OpTable.SetBranch(Code.Hlt, &Hlt);
    }

    /// <summary>#GP(0) unless at CPL 0 (real mode counts as CPL 0). Returns true when allowed.</summary>
    private static bool RequireCpl0(Cpu c)
    {
        if (c.Cpl == 0) return true;
        c.RaiseGp(0);
        return false;
    }

    /// <summary>#UD unless in protected mode (the descriptor-table instructions in real and V86 mode).</summary>
    private static bool RequireProtected(Cpu c)
    {
        if (c.ProtectedMode) return true;
        c.RaiseUd();
        return false;
    }

    private static bool ValidCr(Cpu c, int n)
    {
        bool ok = n is 0 or 2 or 3 or 4 || (n == 8 && c.In64BitMode);
        if (!ok) c.RaiseUd();
        return ok;
    }

    private static void MovToCr(Cpu c, ref Insn i)
    {
        int n = i.R0;
        if (!ValidCr(c, n) || !RequireCpl0(c)) return;
        ulong v = c.In64BitMode ? c.R(i.R1) : (uint)c.R(i.R1);
        if (c.InNonRoot && c.VmxInterceptMovToCr(ref i, n, i.R1, ref v)) return;
        bool ok = n switch
        {
            0 => c.WriteCr0(v),
            2 => SetCr2(c, v),
            3 => c.WriteCr3(v),
            4 => c.WriteCr4(v),
            _ => c.WriteCr8(v),
        };
        if (ok) c.Rip += i.Len;
    }

    private static bool SetCr2(Cpu c, ulong v) { c.Cr2 = v; return true; }

    private static void MovFromCr(Cpu c, ref Insn i)
    {
        int n = i.R1;
        if (!ValidCr(c, n) || !RequireCpl0(c)) return;
        ulong v = n switch { 0 => c.Cr0, 2 => c.Cr2, 3 => c.Cr3, 4 => c.Cr4, _ => c.Cr8 };
        if (c.InNonRoot && c.VmxInterceptMovFromCr(ref i, n, i.R0, ref v)) return;
        if (c.In64BitMode) c.R(i.R0) = v; else c.R(i.R0) = (uint)v;
    }

    /// <summary>Maps DR4/DR5 to DR6/DR7 when CR4.DE is clear; #UD for them when it is set.</summary>
    private static int DebugRegister(Cpu c, int n)
    {
        if (n is 4 or 5)
        {
            if ((c.Cr4 & Bits.Cr4De) != 0) { c.RaiseUd(); return -1; }
            return n + 2;
        }
        if (n > 7) { c.RaiseUd(); return -1; }
        return n;
    }

    private static void MovToDr(Cpu c, ref Insn i)
    {
        int n = DebugRegister(c, i.R0);
        if (n < 0 || !RequireCpl0(c)) return;
        if (c.InNonRoot && c.VmxInterceptMovDr(ref i, i.R0, i.R1, toDr: true)) return;
        if (c.CheckGeneralDetect()) return;
        ulong v = c.In64BitMode ? c.R(i.R1) : (uint)c.R(i.R1);
        if (c.WriteDr(n, v)) c.Rip += i.Len;
    }

    private static void MovFromDr(Cpu c, ref Insn i)
    {
        int n = DebugRegister(c, i.R1);
        if (n < 0 || !RequireCpl0(c)) return;
        if (c.InNonRoot && c.VmxInterceptMovDr(ref i, i.R1, i.R0, toDr: false)) return;
        if (c.CheckGeneralDetect()) return;
        ulong v = c.ReadDr(n);
        if (c.In64BitMode) c.R(i.R0) = v; else c.R(i.R0) = (uint)v;
    }

    private static void Clts(Cpu c, ref Insn i)
    {
        if (!RequireCpl0(c)) return;
        bool allowClear = true;
        if (c.InNonRoot && c.VmxInterceptClts(ref i, out allowClear)) return;
        if (allowClear) c.Cr0 &= ~Bits.Cr0Ts;
        c.Rip += i.Len;
    }

    /// <summary>LMSW: loads CR0.PE/MP/EM/TS from the low 4 bits; PE can be set but not cleared.</summary>
    private static void Lmsw(Cpu c, ref Insn i)
    {
        if (!RequireCpl0(c)) return;
        ulong lin = i.Op0IsMem ? c.Ea(ref i) : 0;
        ushort src = i.Op0IsMem ? c.ReadMem16(lin) : (ushort)c.R(i.R0);
        if (c.Faulted) return;
        if (c.InNonRoot && c.VmxInterceptLmsw(ref i, ref src, i.Op0IsMem, lin)) return;
        ulong v = (c.Cr0 & ~0xEUL) | ((ulong)src & 0xF) | (c.Cr0 & Bits.Cr0Pe);
        if (c.WriteCr0(v)) c.Rip += i.Len;
    }

    private static void Smsw(Cpu c, ref Insn i)
    {
        if (UmipBlocks(c)) return;
        if (i.Op0IsMem) c.WriteMem16(c.Ea(ref i), (ushort)c.Cr0);
        else c.WriteGpr(i.R0, i.OpSize, i.OpSize == 2 ? (ushort)c.Cr0 : c.Cr0);
    }

    /// <summary>CR4.UMIP makes SGDT/SIDT/SLDT/STR/SMSW privileged.</summary>
    private static bool UmipBlocks(Cpu c)
    {
        if (c.Cpl > 0 && (c.Cr4 & Bits.Cr4Umip) != 0) { c.RaiseGp(0); return true; }
        return false;
    }

    private static void Invlpg(Cpu c, ref Insn i)
    {
        if (!RequireCpl0(c)) return;
        ulong lin = c.Ea(ref i);
        if (c.Faulted) return;
        if (c.InNonRoot && c.VmxInterceptInvlpg(ref i, lin)) return;
        c.InvalidatePage(lin);
        c.Rip += i.Len;
    }

    private static void CacheFlush(Cpu c, ref Insn i)
    {
        if (!RequireCpl0(c) || !c.InNonRoot) return;
        if (i.Code == Code.Invd) c.VmxInterceptInvd(ref i);
        else c.VmxInterceptWbinvd(ref i);
    }

    private static void Hlt(Cpu c, ref Insn i)
    {
        if (!RequireCpl0(c)) return;
        if (c.InNonRoot && c.VmxInterceptHlt(ref i)) return;
        c.Rip += i.Len;
        c.Halted = true;
        c.ExitRequest |= Cpu.ExitHalt;
    }
}
