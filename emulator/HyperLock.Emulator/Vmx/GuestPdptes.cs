using C = HyperLock.Emulator.Vmx.VmxControls;
using F = HyperLock.Emulator.Vmx.VmcsField;

namespace HyperLock.Emulator.Processor;

/// <summary>
/// The PDPTE registers of a PAE guest under EPT (SDM Vol. 3 §27.3.2.4, §28.3.4): VM entry loads
/// them from the VMCS guest-PDPTE fields, not from the guest's CR3 page, and VM exit stores the
/// ones in use. Until the guest loads CR0, CR3 or CR4 (which reload them from memory; the walk
/// then reads the PDPTE page again), the page walk uses the loaded values.
/// </summary>
public sealed partial class Cpu
{
    private readonly ulong[] _vmcsPdptes = new ulong[4];
    /// <summary>The page walk takes PDPTEs from <see cref="_vmcsPdptes"/> rather than from memory.</summary>
    private bool _pdptesFromVmcs;

    private bool GuestUsesPaePaging =>
        (Cr0 & Bits.Cr0Pg) != 0 && (Cr4 & Bits.Cr4Pae) != 0 && (Efer & Bits.EferLma) == 0;

    private bool EptEnabledInVmcs()
    {
        ulong proc = VmRead(F.ProcControls);
        return (proc & C.ProcSecondary) != 0 && (VmRead(F.ProcControls2) & C.Proc2Ept) != 0;
    }

    /// <summary>At VM entry, after the guest's control registers are loaded.</summary>
    private void LoadGuestPdptes()
    {
        _pdptesFromVmcs = GuestUsesPaePaging && EptEnabledInVmcs();
        if (!_pdptesFromVmcs) return;
        for (int k = 0; k < 4; k++) _vmcsPdptes[k] = VmRead(F.GuestPdpte0 + (uint)k * 2);
    }

    /// <summary>At VM exit, while the guest's state and EPT are still current.</summary>
    private void StoreGuestPdptes()
    {
        if (GuestUsesPaePaging && (VProc2 & C.Proc2Ept) != 0)
        {
            for (int k = 0; k < 4; k++)
            {
                ulong v = _vmcsPdptes[k];
                if (!_pdptesFromVmcs)
                {
                    // Reloaded by the guest from its CR3 page since entry: read that page through the EPT.
                    ulong gpa = (Cr3 & 0xFFFFFFE0) + (ulong)k * 8;
                    v = EptPeek(gpa, out ulong hpa) ? Memory.Read(hpa, 8) : 0;
                }
                VmWrite(F.GuestPdpte0 + (uint)k * 2, v);
            }
        }
        _pdptesFromVmcs = false;
    }
}
