namespace HyperLock.Emulator.Processor;

/// <summary>
/// Speculation-control MSRs of a current Intel core, enumerated by CPUID.(7,0):EDX — IBRS/IBPB
/// (bit 26), STIBP (27), L1D_FLUSH (28), ARCH_CAPABILITIES (29), SSBD (31) and MD_CLEAR
/// (10, VERW clears buffers) — and the microcode revision (IA32_BIOS_SIGN_ID). The emulator
/// does not speculate, so the controls are stored and checked but change nothing else.
/// IA32_ARCH_CAPABILITIES reports what a Cascade Lake (family 6, model 0x55, stepping 7)
/// reports: not affected by Meltdown (RDCL_NO) or MDS (MDS_NO), enhanced IBRS (IBRS_ALL), no
/// L1D flush needed on VM entry (SKIP_L1DFL_VMENTRY), and fill-buffer clearing by VERW (FB_CLEAR).
/// </summary>
public sealed partial class Cpu
{
    public const uint MsrPredCmd = 0x49, MsrArchCapabilities = 0x10A, MsrFlushCmd = 0x10B;

    /// <summary>IA32_SPEC_CTRL bits: IBRS (0), STIBP (1), SSBD (2).</summary>
    public const ulong SpecCtrlDefined = 0x7;

    /// <summary>IA32_ARCH_CAPABILITIES: RDCL_NO (0), IBRS_ALL (1), SKIP_L1DFL_VMENTRY (3), MDS_NO (5), FB_CLEAR (17).</summary>
    public const ulong ArchCapabilitiesValue = (1UL << 0) | (1UL << 1) | (1UL << 3) | (1UL << 5) | (1UL << 17);

    /// <summary>
    /// The microcode revision in IA32_BIOS_SIGN_ID[63:32]: a 2023 update for Cascade Lake
    /// (stepping 7). Linux disables the TSC-deadline timer on revisions its errata table lists as too old.
    /// </summary>
    public const uint MicrocodeRevision = 0x05003604;

    public ulong SpecCtrl;

    /// <summary>RDMSR of a speculation-control MSR; false when <paramref name="index"/> is not one.</summary>
    private bool TryReadSpeculationMsr(uint index, out ulong value, out bool ok)
    {
        value = 0;
        ok = true;
        switch (index)
        {
            case Msr.SpecCtrl: value = SpecCtrl; return true;
            case MsrArchCapabilities: value = ArchCapabilitiesValue; return true;
            case Msr.BiosSignId: value = (ulong)MicrocodeRevision << 32; return true;
            case MsrPredCmd:
            case MsrFlushCmd: ok = false; return true; // write-only command registers
            default: return false;
        }
    }

    /// <summary>WRMSR of a speculation-control MSR; <paramref name="ok"/> false for a #GP (reserved bits, read-only MSR).</summary>
    private bool TryWriteSpeculationMsr(uint index, ulong value, out bool ok)
    {
        ok = true;
        switch (index)
        {
            case Msr.SpecCtrl:
                ok = (value & ~SpecCtrlDefined) == 0;
                if (ok) SpecCtrl = value;
                return true;
            case MsrPredCmd: ok = (value & ~1UL) == 0; return true;   // IBPB: nothing is predicted
            case MsrFlushCmd: ok = (value & ~1UL) == 0; return true;  // L1D_FLUSH: there is no L1D
            case MsrArchCapabilities: ok = false; return true;        // read-only
            case Msr.BiosSignId: return true;                          // software writes 0 before CPUID to read the revision
            default: return false;
        }
    }
}
