using HyperLock.Emulator.Processor.Decode;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>
/// SYSCALL/SYSRET (Intel semantics: 64-bit mode only, so CSTAR is never used), SYSENTER/SYSEXIT,
/// SWAPGS. The segment registers they load are fixed flat descriptors derived from STAR or
/// IA32_SYSENTER_CS; the GDT is not read, as on hardware.
/// </summary>
internal static unsafe partial class SystemOps
{
    private static void RegisterFastSystemCalls()
    {
        OpTable.SetBranch(Code.Syscall, &Syscall);
        OpTable.SetBranch(Code.Sysretd, &Sysret);
        OpTable.SetBranch(Code.Sysretq, &Sysret);
        OpTable.SetBranch(Code.Sysenter, &Sysenter);
        OpTable.SetBranch(Code.Sysexitd, &Sysexit);
        OpTable.SetBranch(Code.Sysexitq, &Sysexit);
        OpTable.Set(Code.Swapgs, &Swapgs);
    }

    /// <summary>The flat code segment SYSCALL/SYSENTER/SYSRET/SYSEXIT install.</summary>
    private static SegmentRegister FlatCode(ushort selector, int dpl, bool is64) => new()
    {
        Selector = selector, Base = 0, Limit = 0xFFFFFFFF,
        Attributes = 0xB | SegmentRegister.AttrS | ((uint)dpl << 5) | SegmentRegister.AttrPresent | SegmentRegister.AttrGranularity
            | (is64 ? SegmentRegister.AttrLong : SegmentRegister.AttrDefaultBig),
    };

    private static bool SyscallAvailable(Cpu c)
    {
        if (c.In64BitMode && (c.Efer & Bits.EferSce) != 0) return true;
        c.RaiseUd();
        return false;
    }

    private static void Syscall(Cpu c, ref Insn i)
    {
        if (!SyscallAvailable(c)) return;
        ulong flags = c.GetRflags();
        c.R(Reg.Rcx) = c.Rip + i.Len;
        c.R(Reg.R11) = flags & ~Bits.Rf;
        ushort sel = (ushort)((c.Star >> 32) & 0xFFFC);
        c.SetRflags(flags & ~c.Fmask & ~Bits.Rf);
        c.LoadCs(FlatCode(sel, 0, is64: true), 0);
        c.Segs[Seg.Ss] = SegmentRegister.FlatData((ushort)(sel + 8), 0);
        c.Segs[Seg.Ss].Attributes |= SegmentRegister.AttrAccessed;
        c.Rip = c.Lstar;
    }

    private static void Sysret(Cpu c, ref Insn i)
    {
        if (!SyscallAvailable(c)) return;
        if (c.Cpl != 0) { c.RaiseGp(0); return; }
        bool to64 = i.Code == Code.Sysretq;
        ulong target = to64 ? c.R(Reg.Rcx) : (uint)c.R(Reg.Rcx);
        if (!Cpu.IsCanonical(target)) { c.RaiseGp(0); return; }
        ushort baseSel = (ushort)(c.Star >> 48);
        ushort csSel = (ushort)((to64 ? baseSel + 16 : baseSel) | 3);
        c.SetRflags((c.R(Reg.R11) & 0x3C7FD7UL) | Bits.Fixed1);
        c.LoadCs(FlatCode(csSel, 3, to64), 3);
        // SS: selector from STAR, cached as flat DPL 3 data (the descriptor is not read).
        c.Segs[Seg.Ss] = SegmentRegister.FlatData((ushort)((baseSel + 8) | 3), 3);
        c.Segs[Seg.Ss].Attributes |= SegmentRegister.AttrAccessed;
        c.Rip = target;
    }

    private static void Sysenter(Cpu c, ref Insn i)
    {
        if ((c.Cr0 & Bits.Cr0Pe) == 0 || (c.SysenterCs & 0xFFFC) == 0) { c.RaiseGp(0); return; }
        bool longMode = c.LongModeActive;
        ushort sel = (ushort)(c.SysenterCs & 0xFFFC);
        c.RflagsRest &= ~(Bits.Vm | Bits.If | Bits.Rf);
        c.LoadCs(FlatCode(sel, 0, longMode), 0);
        c.Segs[Seg.Ss] = SegmentRegister.FlatData((ushort)(sel + 8), 0);
        c.Segs[Seg.Ss].Attributes |= SegmentRegister.AttrAccessed;
        c.R(Reg.Rsp) = longMode ? c.SysenterEsp : (uint)c.SysenterEsp;
        c.Rip = longMode ? c.SysenterEip : (uint)c.SysenterEip;
        c.UpdateMode();
    }

    private static void Sysexit(Cpu c, ref Insn i)
    {
        if ((c.Cr0 & Bits.Cr0Pe) == 0 || (c.SysenterCs & 0xFFFC) == 0 || c.Cpl != 0) { c.RaiseGp(0); return; }
        bool to64 = i.Code == Code.Sysexitq;
        ulong rip = to64 ? c.R(Reg.Rdx) : (uint)c.R(Reg.Rdx);
        ulong rsp = to64 ? c.R(Reg.Rcx) : (uint)c.R(Reg.Rcx);
        if (to64 && (!Cpu.IsCanonical(rip) || !Cpu.IsCanonical(rsp))) { c.RaiseGp(0); return; }
        ushort baseSel = (ushort)c.SysenterCs;
        ushort csSel = (ushort)((baseSel + (to64 ? 32 : 16)) | 3);
        c.LoadCs(FlatCode(csSel, 3, to64), 3);
        c.Segs[Seg.Ss] = SegmentRegister.FlatData((ushort)((csSel + 8) | 3), 3);
        c.Segs[Seg.Ss].Attributes |= SegmentRegister.AttrAccessed;
        c.R(Reg.Rsp) = rsp;
        c.Rip = rip;
    }

    private static void Swapgs(Cpu c, ref Insn i)
    {
        if (!c.In64BitMode) { c.RaiseUd(); return; }
        if (!RequireCpl0(c)) return;
        ulong t = c.Segs[Seg.Gs].Base;
        c.Segs[Seg.Gs].Base = c.KernelGsBase;
        c.KernelGsBase = t;
    }
}
