using System.Runtime.CompilerServices;
using HyperLock.Emulator.Vmx;

namespace HyperLock.Emulator.Processor;

/// <summary>
/// What makes a guest instruction exit (SDM Vol. 3 §26.1-26.2, Bochs keeps the same concern in
/// vmexit.cc): the interception checks that instruction handlers call before they execute in
/// VMX non-root operation. Each reads the controls cached at VM entry (<see cref="VProc"/>,
/// bitmaps, CR masks) and, when the instruction must exit, raises the VM exit with its
/// qualification and instruction information.
/// </summary>
public sealed partial class Cpu
{
    // ---- the interception API for other instruction handlers ----------------------------
    // Each is called as the handler's first line: `if (c.InNonRoot && c.VmxInterceptX(ref i, ...)) return;`
    // A true result means the instruction caused a VM exit (or raised an exception for the
    // guest) and must not execute.

    /// <summary>CPUID: unconditional exit (reason 10).</summary>
    public bool VmxInterceptCpuid(ref Decode.Insn i) => RaiseVmExit(ExitReason.Cpuid, 0, ref i);

    /// <summary>INVD: unconditional exit (13).</summary>
    public bool VmxInterceptInvd(ref Decode.Insn i) => RaiseVmExit(ExitReason.Invd, 0, ref i);

    /// <summary>GETSEC: unconditional exit (11).</summary>
    public bool VmxInterceptGetsec(ref Decode.Insn i) => RaiseVmExit(ExitReason.Getsec, 0, ref i);

    /// <summary>XSETBV: unconditional exit (55).</summary>
    public bool VmxInterceptXsetbv(ref Decode.Insn i) => RaiseVmExit(ExitReason.Xsetbv, 0, ref i);

    /// <summary>HLT: exit (12) when HLT exiting is set.</summary>
    public bool VmxInterceptHlt(ref Decode.Insn i) =>
        (VProc & VmxControls.ProcHlt) != 0 && RaiseVmExit(ExitReason.Hlt, 0, ref i);

    /// <summary>INVLPG: exit (14) when INVLPG exiting is set; qualification = the linear address operand.</summary>
    public bool VmxInterceptInvlpg(ref Decode.Insn i, ulong linear) =>
        (VProc & VmxControls.ProcInvlpg) != 0 && RaiseVmExit(ExitReason.Invlpg, linear, ref i, VmxOpsInfo.Memory(ref i));

    /// <summary>RDPMC: exit (15) when RDPMC exiting is set.</summary>
    public bool VmxInterceptRdpmc(ref Decode.Insn i) =>
        (VProc & VmxControls.ProcRdpmc) != 0 && RaiseVmExit(ExitReason.Rdpmc, 0, ref i);

    /// <summary>RDTSC: exit (16) when RDTSC exiting is set. Otherwise the handler reads <see cref="GuestTsc"/>.</summary>
    public bool VmxInterceptRdtsc(ref Decode.Insn i) =>
        (VProc & VmxControls.ProcRdtsc) != 0 && RaiseVmExit(ExitReason.Rdtsc, 0, ref i);

    /// <summary>RDTSCP: #UD unless "enable RDTSCP"; exit (51) when RDTSC exiting is set.</summary>
    public bool VmxInterceptRdtscp(ref Decode.Insn i)
    {
        if ((VProc2 & VmxControls.Proc2Rdtscp) == 0 || (VProc & VmxControls.ProcSecondary) == 0) { RaiseUd(); return true; }
        return (VProc & VmxControls.ProcRdtsc) != 0 && RaiseVmExit(ExitReason.Rdtscp, 0, ref i);
    }

    /// <summary>The TSC as the current context sees it: with TSC offsetting in non-root, plus the VMCS offset.</summary>
    public ulong GuestTsc => InNonRoot && (VProc & VmxControls.ProcTscOffsetting) != 0 ? Tsc + VmRead(VmcsField.TscOffset) : Tsc;

    /// <summary>WBINVD: exit (54) when WBINVD exiting is set.</summary>
    public bool VmxInterceptWbinvd(ref Decode.Insn i) =>
        (VProc2 & VmxControls.Proc2Wbinvd) != 0 && (VProc & VmxControls.ProcSecondary) != 0 && RaiseVmExit(ExitReason.Wbinvd, 0, ref i);

    /// <summary>MWAIT: exit (36) when MWAIT exiting is set.</summary>
    public bool VmxInterceptMwait(ref Decode.Insn i) =>
        (VProc & VmxControls.ProcMwait) != 0 && RaiseVmExit(ExitReason.Mwait, 0, ref i);

    /// <summary>MONITOR: exit (39) when MONITOR exiting is set.</summary>
    public bool VmxInterceptMonitor(ref Decode.Insn i) =>
        (VProc & VmxControls.ProcMonitor) != 0 && RaiseVmExit(ExitReason.Monitor, 0, ref i);

    /// <summary>PAUSE: exit (40) when PAUSE exiting is set.</summary>
    public bool VmxInterceptPause(ref Decode.Insn i) =>
        (VProc & VmxControls.ProcPause) != 0 && RaiseVmExit(ExitReason.Pause, 0, ref i);

    /// <summary>RDMSR: exit (31) per the MSR bitmap (or always without MSR bitmaps).</summary>
    public bool VmxInterceptRdmsr(ref Decode.Insn i, uint msr) =>
        MsrExits(msr, write: false) && RaiseVmExit(ExitReason.Rdmsr, 0, ref i);

    /// <summary>WRMSR: exit (32) per the MSR bitmap (or always without MSR bitmaps).</summary>
    public bool VmxInterceptWrmsr(ref Decode.Insn i, uint msr) =>
        MsrExits(msr, write: true) && RaiseVmExit(ExitReason.Wrmsr, 0, ref i);

    private bool MsrExits(uint msr, bool write)
    {
        if ((VProc & VmxControls.ProcMsrBitmaps) == 0) return true;
        ulong offset;
        if (msr <= 0x1FFF) offset = 0;
        else if (msr - 0xC0000000 <= 0x1FFF) offset = 1024;
        else return true;
        if (write) offset += 2048;
        uint bit = msr & 0x1FFF;
        ulong addr = VmRead(VmcsField.MsrBitmap) + offset + (bit >> 3);
        return ((Memory.Read(addr, 1) >> (int)(bit & 7)) & 1) != 0;
    }

    /// <summary>
    /// IN/OUT/INS/OUTS: exit (30) per unconditional I/O exiting or the I/O bitmaps.
    /// <paramref name="size"/> is 1, 2 or 4; <paramref name="immediate"/> when the port came from an imm8.
    /// </summary>
    public bool VmxInterceptIo(ref Decode.Insn i, ushort port, int size, bool input, bool isString, bool rep, bool immediate)
    {
        if (!IoExits(port, size)) return false;
        ulong qual = (uint)(size - 1) | (input ? 8UL : 0) | (isString ? 16UL : 0) | (rep ? 32UL : 0)
            | (immediate ? 64UL : 0) | ((ulong)port << 16);
        uint info = 0;
        if (isString)
        {
            // Address size in bits 9:7 (0 = 16, 1 = 32, 2 = 64); segment in 17:15 for OUTS.
            uint asz = i.AddrSize == 8 ? 2u : i.AddrSize == 4 ? 1u : 0u;
            info = (asz << 7) | ((uint)(input ? Seg.Es : i.Segment) << 15);
            _ = RaiseVmExit(ExitReason.Io, qual, ref i, info);
            _xGuestLinear = input ? SegLinear(Seg.Es, R(Reg.Rdi)) : SegLinear(i.Segment, R(Reg.Rsi));
            _xHasLinear = true;
            return true;
        }
        return RaiseVmExit(ExitReason.Io, qual, ref i, info);
    }

    private bool IoExits(ushort port, int size)
    {
        if ((VProc & VmxControls.ProcIoBitmaps) == 0) return (VProc & VmxControls.ProcUncondIo) != 0;
        for (int k = 0; k < size; k++)
        {
            uint p = (uint)port + (uint)k;
            if (p > 0xFFFF) return true; // wraps around the port space
            ulong bitmap = VmRead(p < 0x8000 ? VmcsField.IoBitmapA : VmcsField.IoBitmapB);
            uint bit = p & 0x7FFF;
            if (((Memory.Read(bitmap + (bit >> 3), 1) >> (int)(bit & 7)) & 1) != 0) return true;
        }
        return false;
    }

    /// <summary>
    /// MOV to CR0/CR3/CR4/CR8 from GPR <paramref name="gpr"/>. May exit (28); when it does not,
    /// <paramref name="value"/> is adjusted so that host-owned CR0/CR4 bits keep their current value.
    /// </summary>
    public bool VmxInterceptMovToCr(ref Decode.Insn i, int cr, int gpr, ref ulong value)
    {
        ulong qual = (uint)cr | ((ulong)(uint)gpr << 8);
        switch (cr)
        {
            case 0:
                if (((value ^ VCr0Shadow) & VCr0Mask) != 0) return RaiseVmExit(ExitReason.CrAccess, qual, ref i);
                value = (value & ~VCr0Mask) | (Cr0 & VCr0Mask);
                return false;
            case 4:
                if (((value ^ VCr4Shadow) & VCr4Mask) != 0) return RaiseVmExit(ExitReason.CrAccess, qual, ref i);
                value = (value & ~VCr4Mask) | (Cr4 & VCr4Mask);
                return false;
            case 3:
                if ((VProc & VmxControls.ProcCr3Load) == 0) return false;
                uint n = (uint)VmRead(VmcsField.Cr3TargetCount);
                for (uint k = 0; k < n && k < VmxCapabilities.Cr3TargetCount; k++)
                    if (VmRead(VmcsField.Cr3Target0 + k * 2) == value) return false;
                return RaiseVmExit(ExitReason.CrAccess, qual, ref i);
            case 8:
                return (VProc & VmxControls.ProcCr8Load) != 0 && RaiseVmExit(ExitReason.CrAccess, qual, ref i);
            default:
                return false;
        }
    }

    /// <summary>
    /// MOV from CR0/CR3/CR4/CR8 into GPR <paramref name="gpr"/>. May exit (28, CR3/CR8 store
    /// exiting); otherwise <paramref name="value"/> (the real register) is replaced by the guest's
    /// view: host-owned CR0/CR4 bits come from the read shadows.
    /// </summary>
    public bool VmxInterceptMovFromCr(ref Decode.Insn i, int cr, int gpr, ref ulong value)
    {
        ulong qual = (uint)cr | (1UL << 4) | ((ulong)(uint)gpr << 8);
        switch (cr)
        {
            case 0: value = (value & ~VCr0Mask) | (VCr0Shadow & VCr0Mask); return false;
            case 4: value = (value & ~VCr4Mask) | (VCr4Shadow & VCr4Mask); return false;
            case 3: return (VProc & VmxControls.ProcCr3Store) != 0 && RaiseVmExit(ExitReason.CrAccess, qual, ref i);
            case 8: return (VProc & VmxControls.ProcCr8Store) != 0 && RaiseVmExit(ExitReason.CrAccess, qual, ref i);
            default: return false;
        }
    }

    /// <summary>CLTS: exits when CR0.TS is host-owned and its shadow is 1; otherwise CLTS clears TS only if guest-owned.</summary>
    public bool VmxInterceptClts(ref Decode.Insn i, out bool allowClear)
    {
        allowClear = (VCr0Mask & Bits.Cr0Ts) == 0;
        if ((VCr0Mask & Bits.Cr0Ts) != 0 && (VCr0Shadow & Bits.Cr0Ts) != 0)
            return RaiseVmExit(ExitReason.CrAccess, 2UL << 4, ref i);
        return false;
    }

    /// <summary>
    /// LMSW with source <paramref name="source"/> (16 bits). Exits when it would change a
    /// host-owned bit of CR0[3:0] away from its shadow (PE cannot be cleared by LMSW);
    /// <paramref name="memoryOperand"/> and <paramref name="linear"/> describe the operand.
    /// Otherwise <paramref name="source"/> is adjusted to keep host-owned bits.
    /// </summary>
    public bool VmxInterceptLmsw(ref Decode.Insn i, ref ushort source, bool memoryOperand, ulong linear)
    {
        ulong mask = VCr0Mask & 0xF;
        ulong shadow = VCr0Shadow & 0xF;
        bool exits = ((source ^ shadow) & mask & 0xE) != 0 || ((mask & 1) != 0 && (shadow & 1) == 0 && (source & 1) != 0);
        if (exits)
        {
            ulong qual = 0 | (3UL << 4) | (memoryOperand ? 1UL << 6 : 0) | ((ulong)source << 16);
            if (!memoryOperand) qual |= (ulong)i.R0 << 8;
            RaiseVmExit(ExitReason.CrAccess, qual, ref i);
            if (memoryOperand) { _xGuestLinear = linear; _xHasLinear = true; }
            return true;
        }
        source = (ushort)((source & ~mask) | (Cr0 & mask));
        return false;
    }

    /// <summary>MOV to/from DR<paramref name="dr"/> with GPR <paramref name="gpr"/>: exit (29) when MOV-DR exiting is set.</summary>
    public bool VmxInterceptMovDr(ref Decode.Insn i, int dr, int gpr, bool toDr) =>
        (VProc & VmxControls.ProcMovDr) != 0
        && RaiseVmExit(ExitReason.MovDr, (uint)dr | (toDr ? 0 : 1UL << 4) | ((ulong)(uint)gpr << 8), ref i);

    /// <summary>
    /// A task switch attempted in non-root operation (CALL/JMP to a TSS or task gate, IRET with NT,
    /// INT through a task gate) exits unconditionally (9). <paramref name="source"/>: 0 CALL,
    /// 1 IRET, 2 JMP, 3 task gate in the IDT; qualification = selector | source &lt;&lt; 30.
    /// </summary>
    public bool VmxInterceptTaskSwitch(ref Decode.Insn i, ushort selector, int source) =>
        RaiseVmExit(ExitReason.TaskSwitch, selector | ((ulong)(uint)source << 30), ref i);

    /// <summary>
    /// An INIT signal: in non-root operation it causes a VM exit (3) at the next instruction
    /// boundary; in VMX root operation INIT is blocked (it stays pending and is dropped here).
    /// Returns true when the signal was consumed by VMX.
    /// </summary>
    public bool VmxSignalInit()
    {
        if (!InVmxOperation) return false;
        if (InNonRoot)
        {
            _initPending = true;
            VmxEventWatch = true;
            ExitRequest |= ExitEvent;
        }
        return true;
    }

    private bool _initPending;

    /// <summary>
    /// In VMX operation, CR0 and CR4 must keep the IA32_VMX_CR0/CR4_FIXED bits (CR4.VMXE cannot be
    /// cleared; CR0.PE/PG may be 0 for an unrestricted guest). MOV to CR0/CR4 and LMSW call this
    /// with the value about to be loaded and raise #GP(0) when it returns false.
    /// </summary>
    public bool VmxCrValueAllowed(int cr, ulong value)
    {
        if (!InVmxOperation) return true;
        if (cr == 0)
        {
            ulong fixed0 = VmxCapabilities.Cr0Fixed0;
            if (InNonRoot && (VProc2 & VmxControls.Proc2Unrestricted) != 0) fixed0 &= ~(Bits.Cr0Pe | Bits.Cr0Pg);
            return (value & fixed0) == fixed0 && (value & ~VmxCapabilities.Cr0Fixed1 & 0xFFFFFFFF) == 0;
        }
        if (cr == 4) return (value & VmxCapabilities.Cr4Fixed0) == VmxCapabilities.Cr4Fixed0 && (value & ~VmxCapabilities.Cr4Fixed1) == 0;
        return true;
    }

}
