namespace HyperLock.Emulator.Vmx;

/// <summary>VM-execution, VM-exit and VM-entry control bits (SDM Vol. 3 §25.6-25.8).</summary>
public static class VmxControls
{
    // Pin-based
    public const uint PinExtIntExiting = 1 << 0, PinNmiExiting = 1 << 3, PinVirtualNmis = 1 << 5, PinPreemptionTimer = 1 << 6;
    // Primary processor-based
    public const uint ProcIntWindow = 1 << 2, ProcTscOffsetting = 1 << 3, ProcHlt = 1 << 7, ProcInvlpg = 1 << 9,
        ProcMwait = 1 << 10, ProcRdpmc = 1 << 11, ProcRdtsc = 1 << 12, ProcCr3Load = 1 << 15, ProcCr3Store = 1 << 16,
        ProcCr8Load = 1 << 19, ProcCr8Store = 1 << 20, ProcTprShadow = 1 << 21, ProcNmiWindow = 1 << 22,
        ProcMovDr = 1 << 23, ProcUncondIo = 1 << 24, ProcIoBitmaps = 1 << 25, ProcMtf = 1 << 27, ProcMsrBitmaps = 1 << 28,
        ProcMonitor = 1 << 29, ProcPause = 1 << 30, ProcSecondary = 1u << 31;
    // Secondary processor-based
    public const uint Proc2VirtApic = 1 << 0, Proc2Ept = 1 << 1, Proc2DescTable = 1 << 2, Proc2Rdtscp = 1 << 3,
        Proc2X2Apic = 1 << 4, Proc2Vpid = 1 << 5, Proc2Wbinvd = 1 << 6, Proc2Unrestricted = 1 << 7,
        Proc2ApicRegVirt = 1 << 8, Proc2VirtIntDelivery = 1 << 9, Proc2PauseLoop = 1 << 10, Proc2Rdrand = 1 << 11,
        Proc2Invpcid = 1 << 12, Proc2Vmfunc = 1 << 13, Proc2VmcsShadowing = 1 << 14, Proc2Xsaves = 1 << 20;
    // VM-exit
    public const uint ExitSaveDebug = 1 << 2, ExitHostLongMode = 1 << 9, ExitLoadPerfGlobal = 1 << 12,
        ExitAckInterrupt = 1 << 15, ExitSavePat = 1 << 18, ExitLoadPat = 1 << 19, ExitSaveEfer = 1 << 20,
        ExitLoadEfer = 1 << 21, ExitSaveTimer = 1 << 22;
    // VM-entry
    public const uint EntryLoadDebug = 1 << 2, EntryIa32eGuest = 1 << 9, EntrySmm = 1 << 10, EntryDualMonitor = 1 << 11,
        EntryLoadPerfGlobal = 1 << 13, EntryLoadPat = 1 << 14, EntryLoadEfer = 1 << 15;
}

/// <summary>
/// The capability MSRs (IA32_VMX_*): exactly what the model implements. Each control MSR is
/// allowed-0 settings in bits 31:0 (a 1 means the control must be 1) and allowed-1 settings in
/// bits 63:32 (a 0 means the control must be 0). VM entry enforces the TRUE variants.
/// </summary>
public static class VmxCapabilities
{
    public const uint RevisionId = 0x48594C4B & 0x7FFFFFFF; // "KLYH"

    /// <summary>VMX-preemption timer counts down once every 2^TimerRateShift TSC ticks (IA32_VMX_MISC bits 4:0).</summary>
    public const int TimerRateShift = 5;

    public const int MsrBasic = 0x480, MsrPinbased = 0x481, MsrProcbased = 0x482, MsrExit = 0x483, MsrEntry = 0x484,
        MsrMisc = 0x485, MsrCr0Fixed0 = 0x486, MsrCr0Fixed1 = 0x487, MsrCr4Fixed0 = 0x488, MsrCr4Fixed1 = 0x489,
        MsrVmcsEnum = 0x48A, MsrProcbased2 = 0x48B, MsrEptVpidCap = 0x48C, MsrTruePinbased = 0x48D,
        MsrTrueProcbased = 0x48E, MsrTrueExit = 0x48F, MsrTrueEntry = 0x490;

    // Default1 classes (SDM Appendix A.2-A.5).
    public const uint PinDefault1 = 0x16, ProcDefault1 = 0x0401E172, ProcTrueDefault1 = 0x04006172,
        ExitDefault1 = 0x00036DFF, ExitTrueDefault1 = 0x00036DFB, EntryDefault1 = 0x000011FF, EntryTrueDefault1 = 0x000011FB;

    public const uint PinAllowed1 = PinDefault1 | VmxControls.PinExtIntExiting | VmxControls.PinNmiExiting
        | VmxControls.PinVirtualNmis | VmxControls.PinPreemptionTimer;

    public const uint ProcAllowed1 = ProcDefault1 | VmxControls.ProcIntWindow | VmxControls.ProcTscOffsetting
        | VmxControls.ProcHlt | VmxControls.ProcInvlpg | VmxControls.ProcMwait | VmxControls.ProcRdpmc
        | VmxControls.ProcRdtsc | VmxControls.ProcCr3Load | VmxControls.ProcCr3Store | VmxControls.ProcCr8Load
        | VmxControls.ProcCr8Store | VmxControls.ProcNmiWindow | VmxControls.ProcMovDr | VmxControls.ProcUncondIo
        | VmxControls.ProcIoBitmaps | VmxControls.ProcMsrBitmaps | VmxControls.ProcMonitor | VmxControls.ProcPause
        | VmxControls.ProcSecondary;

    public const uint Proc2Allowed1 = VmxControls.Proc2Ept | VmxControls.Proc2Rdtscp | VmxControls.Proc2Vpid
        | VmxControls.Proc2Wbinvd | VmxControls.Proc2Unrestricted | VmxControls.Proc2Invpcid;

    public const uint ExitAllowed1 = ExitDefault1 | VmxControls.ExitSaveDebug | VmxControls.ExitHostLongMode
        | VmxControls.ExitAckInterrupt | VmxControls.ExitSavePat | VmxControls.ExitLoadPat | VmxControls.ExitSaveEfer
        | VmxControls.ExitLoadEfer | VmxControls.ExitSaveTimer;

    public const uint EntryAllowed1 = EntryDefault1 | VmxControls.EntryLoadDebug | VmxControls.EntryIa32eGuest
        | VmxControls.EntryLoadPat | VmxControls.EntryLoadEfer;

    public const ulong Cr0Fixed0 = 0x80000021, Cr0Fixed1 = 0xFFFFFFFF;
    public const ulong Cr4Fixed0 = 0x2000;
    /// <summary>CR4 bits the core implements: VME..OSXMMEXCPT (10:0), VMXE, PCIDE (CPUID advertises PCID), OSXSAVE, SMEP.</summary>
    public const ulong Cr4Fixed1 = 0x7FF | 0x2000 | (1UL << 17) | (1UL << 18) | (1UL << 20);

    /// <summary>EPT/VPID capabilities: execute-only, 4-level walks, UC and WB, 2 MiB and 1 GiB pages,
    /// INVEPT (single, all), A/D flags, INVVPID (individual address, single, all, single-keeping-globals).</summary>
    public const ulong EptVpidCap = (1UL << 0) | (1UL << 6) | (1UL << 8) | (1UL << 14) | (1UL << 16) | (1UL << 17)
        | (1UL << 20) | (1UL << 21) | (1UL << 25) | (1UL << 26)
        | (1UL << 32) | (1UL << 40) | (1UL << 41) | (1UL << 42) | (1UL << 43);

    /// <summary>Number of CR3-target values (MISC bits 24:16).</summary>
    public const int Cr3TargetCount = 4;

    /// <summary>Recommended maximum MSR-list entries: 512 × (N + 1), N in MISC bits 27:25.</summary>
    public const int MsrListMax = 512;

    /// <summary>IA32_VMX_BASIC: revision, 4 KiB region, WB, INS/OUTS information, TRUE controls.</summary>
    public const ulong Basic = RevisionId | (4096UL << 32) | (6UL << 50) | (1UL << 54) | (1UL << 55);

    /// <summary>IA32_VMX_MISC: timer rate, EFER.LMA stored on exit, HLT activity, 4 CR3 targets, 512 MSRs.</summary>
    public const ulong Misc = TimerRateShift | (1UL << 5) | (1UL << 6) | ((ulong)Cr3TargetCount << 16);

    public static ulong Control(uint default1, uint allowed1) => default1 | ((ulong)allowed1 << 32);

    /// <summary>The value of a capability MSR, or false if the index is not one.</summary>
    public static bool TryRead(uint index, out ulong value)
    {
        switch (index)
        {
            case MsrBasic: value = Basic; return true;
            case MsrPinbased: case MsrTruePinbased: value = Control(PinDefault1, PinAllowed1); return true;
            case MsrProcbased: value = Control(ProcDefault1, ProcAllowed1); return true;
            case MsrTrueProcbased: value = Control(ProcTrueDefault1, ProcAllowed1); return true;
            case MsrExit: value = Control(ExitDefault1, ExitAllowed1); return true;
            case MsrTrueExit: value = Control(ExitTrueDefault1, ExitAllowed1); return true;
            case MsrEntry: value = Control(EntryDefault1, EntryAllowed1); return true;
            case MsrTrueEntry: value = Control(EntryTrueDefault1, EntryAllowed1); return true;
            case MsrMisc: value = Misc; return true;
            case MsrCr0Fixed0: value = Cr0Fixed0; return true;
            case MsrCr0Fixed1: value = Cr0Fixed1; return true;
            case MsrCr4Fixed0: value = Cr4Fixed0; return true;
            case MsrCr4Fixed1: value = Cr4Fixed1; return true;
            case MsrVmcsEnum: value = (ulong)VmcsFields.HighestIndex() << 1; return true;
            case MsrProcbased2: value = (ulong)Proc2Allowed1 << 32; return true;
            case MsrEptVpidCap: value = EptVpidCap; return true;
            default: value = 0; return false;
        }
    }
}

/// <summary>Reads of IA32_VMX_* capability MSRs (read-only: writes raise #GP).</summary>
public sealed class VmxMsrHandler : Processor.IMsrHandler
{
    public bool TryRead(Processor.Cpu cpu, uint index, out ulong value, out bool fault)
    {
        fault = false;
        if (!VmxCapabilities.TryRead(index, out value)) return false;
        // The capability MSRs exist only when CPUID reports VMX.
        if ((cpu.Cpuid.Get(1, 0).Ecx & (1u << 5)) == 0) fault = true;
        return true;
    }

    public bool TryWrite(Processor.Cpu cpu, uint index, ulong value, out bool fault)
    {
        fault = VmxCapabilities.TryRead(index, out _);
        return fault;
    }
}

/// <summary>Several MSR handlers consulted in order; the first that owns an MSR answers.</summary>
public sealed class CompositeMsrHandler : Processor.IMsrHandler
{
    private readonly Processor.IMsrHandler[] _handlers;

    public CompositeMsrHandler(params Processor.IMsrHandler[] handlers) => _handlers = handlers;

    public IReadOnlyList<Processor.IMsrHandler> Handlers => _handlers;

    public bool TryRead(Processor.Cpu cpu, uint index, out ulong value, out bool fault)
    {
        foreach (var h in _handlers)
            if (h.TryRead(cpu, index, out value, out fault)) return true;
        value = 0;
        fault = false;
        return false;
    }

    public bool TryWrite(Processor.Cpu cpu, uint index, ulong value, out bool fault)
    {
        foreach (var h in _handlers)
            if (h.TryWrite(cpu, index, value, out fault)) return true;
        fault = false;
        return false;
    }
}

/// <summary>Basic exit reasons (SDM Appendix C).</summary>
public static class ExitReason
{
    public const int ExceptionOrNmi = 0, ExternalInterrupt = 1, TripleFault = 2, Init = 3, Sipi = 4, InterruptWindow = 7,
        NmiWindow = 8, TaskSwitch = 9, Cpuid = 10, Getsec = 11, Hlt = 12, Invd = 13, Invlpg = 14, Rdpmc = 15, Rdtsc = 16,
        Rsm = 17, Vmcall = 18, Vmclear = 19, Vmlaunch = 20, Vmptrld = 21, Vmptrst = 22, Vmread = 23, Vmresume = 24,
        Vmwrite = 25, Vmxoff = 26, Vmxon = 27, CrAccess = 28, MovDr = 29, Io = 30, Rdmsr = 31, Wrmsr = 32,
        InvalidGuestState = 33, MsrLoading = 34, Mwait = 36, Mtf = 37, Monitor = 39, Pause = 40, MachineCheck = 41,
        TprBelowThreshold = 43, ApicAccess = 44, GdtrIdtr = 46, LdtrTr = 47, EptViolation = 48, EptMisconfig = 49,
        Invept = 50, Rdtscp = 51, PreemptionTimer = 52, Invvpid = 53, Wbinvd = 54, Xsetbv = 55, Rdrand = 57,
        Invpcid = 58, Rdseed = 61, Xsaves = 63, Xrstors = 64;

    /// <summary>Bit 31 of the exit-reason field: VM-entry failure.</summary>
    public const uint EntryFailure = 1u << 31;
}

/// <summary>VM-instruction error numbers (SDM §31.4).</summary>
public static class VmxError
{
    public const int VmcallInRoot = 1, VmclearInvalidAddress = 2, VmclearVmxonPointer = 3, VmlaunchNonClear = 4,
        VmresumeNonLaunched = 5, VmresumeAfterVmxoff = 6, EntryInvalidControls = 7, EntryInvalidHostState = 8,
        VmptrldInvalidAddress = 9, VmptrldVmxonPointer = 10, VmptrldBadRevision = 11, UnsupportedField = 12,
        VmwriteReadOnly = 13, VmxonInRoot = 15, EntryBlockedByMovSs = 26, InvalidInveptOperand = 28;
}

/// <summary>Interruption-information format (exit, entry, IDT-vectoring).</summary>
public static class Interruption
{
    public const uint Valid = 1u << 31, ErrorCodeValid = 1 << 11, NmiUnblocking = 1 << 12;
    public const int TypeExternal = 0, TypeNmi = 2, TypeHardwareException = 3, TypeSoftwareInterrupt = 4,
        TypePrivilegedSoftware = 5, TypeSoftwareException = 6, TypeOther = 7;

    public static uint Make(int vector, int type, bool errorCode) =>
        Valid | (uint)(vector & 0xFF) | ((uint)type << 8) | (errorCode ? ErrorCodeValid : 0);
}
