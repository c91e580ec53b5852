namespace HyperLock.Runtime.Services;

/// <summary>
/// The MSRs a hypervisor may read and write for its guest (service ReadMsr/WriteMsr): guest
/// state that VM exits do not switch, kept per guest by the runtime. Everything else — VMX
/// capabilities, EFER, APIC base, feature control, debug and performance MSRs — is refused.
/// </summary>
public static class MsrAllowList
{
    public const uint SysenterCs = 0x174, SysenterEsp = 0x175, SysenterEip = 0x176, Pat = 0x277,
        Star = 0xC0000081, Lstar = 0xC0000082, Cstar = 0xC0000083, Fmask = 0xC0000084, KernelGsBase = 0xC0000102, TscAux = 0xC0000103;

    private static readonly HashSet<uint> Allowed = [SysenterCs, SysenterEsp, SysenterEip, Pat, Star, Lstar, Cstar, Fmask, KernelGsBase, TscAux];

    public static bool Contains(uint msr) => Allowed.Contains(msr);

    /// <summary>The MSRs the runtime loads into the processor at every VM entry (the guest's values) and clears at every VM exit, so neither the host nor another guest sees them.</summary>
    public static readonly uint[] SwitchedAtEntry = [Star, Lstar, Cstar, Fmask, KernelGsBase, TscAux];

    /// <summary>
    /// The MSRs every VM entry loads from the VMCS's guest-state area and every VM exit saves there
    /// (and loads the host's from the host-state area, which the runtime leaves 0): the
    /// SYSENTER MSRs (SDM 27.3.2.1, 28.3.2.1). The runtime keeps the guest's values in the
    /// instance's own VMCS. PAT is switched by the VMCS too (VM-entry/exit controls).
    /// </summary>
    public static readonly uint[] SwitchedByVmcs = [SysenterCs, SysenterEsp, SysenterEip];

    /// <summary>The guest-state VMCS field that holds <paramref name="msr"/>, or 0 when the VMCS does not hold it.</summary>
    public static uint GuestField(uint msr) => msr switch
    {
        SysenterCs => Emulator.Vmx.VmcsField.GuestSysenterCs,
        SysenterEsp => Emulator.Vmx.VmcsField.GuestSysenterEsp,
        SysenterEip => Emulator.Vmx.VmcsField.GuestSysenterEip,
        _ => 0,
    };

    /// <summary>True when <paramref name="value"/> is a value the MSR can hold (canonical addresses, valid PAT types).</summary>
    public static bool IsValid(uint msr, ulong value) => msr switch
    {
        Lstar or Cstar or KernelGsBase or SysenterEsp or SysenterEip => IsCanonical(value),
        Fmask or TscAux => value <= uint.MaxValue,
        Pat => PatValid(value),
        _ => true,
    };

    private static bool IsCanonical(ulong v) => (ulong)((long)(v << 16) >> 16) == v;

    private static bool PatValid(ulong v)
    {
        for (int i = 0; i < 8; i++)
        {
            ulong t = (v >> (i * 8)) & 0xFF;
            if (t is 2 or 3 or > 7) return false;
        }
        return true;
    }
}
