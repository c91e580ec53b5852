namespace HyperLock.Emulator.Processor;

/// <summary>
/// Non-maskable interrupts: an NMI request latched by <see cref="RaiseNmi"/> (local APIC: ICR
/// delivery mode NMI, LVT LINT1 in NMI mode) is delivered through vector 2 at the next
/// instruction boundary unless NMIs are blocked. Delivery blocks further NMIs until the next
/// IRET, which unblocks them as it begins (even if it then faults, SDM 6.7.1 / 26.3.1.5).
/// MOV SS / POP SS blocking also holds an NMI back for one instruction.
/// </summary>
public sealed partial class Cpu
{
    /// <summary>An NMI is waiting to be delivered (the processor latches one).</summary>
    public bool NmiPending;

    /// <summary>Blocking by NMI: set when an NMI is delivered, cleared by IRET. In VMX non-root with "virtual NMIs" the guest's own blocking is <see cref="VirtualNmiBlocked"/>.</summary>
    public bool NmiBlocked;

    /// <summary>The current IRET unblocked NMIs (or virtual NMIs) before completing: reported on a VM exit caused by its fault.</summary>
    internal bool NmiUnblockedByIret;

    /// <summary>Signals an NMI to this processor; it is taken at the next instruction boundary.</summary>
    public void RaiseNmi()
    {
        NmiPending = true;
        ExitRequest |= ExitEvent;
    }

    /// <summary>Root operation: delivers a pending NMI unless blocked. Returns true when delivered.</summary>
    private bool TryDeliverNmi()
    {
        if (NmiBlocked || (MovSsShadow && InterruptShadowUntil > Retired)) return false;
        NmiPending = false;
        NmiBlocked = true;
        DeliverExternalInterrupt(Vector.NMI);
        return true;
    }

    /// <summary>
    /// IRET begins: it unblocks NMIs (virtual NMIs in a guest with "virtual NMIs"), recording
    /// that it did so for a VM exit its own fault might cause.
    /// </summary>
    public void OnIretStart()
    {
        NmiUnblockedByIret = false;
        if (InNonRoot && (VPin & Vmx.VmxControls.PinVirtualNmis) != 0)
        {
            if (!VirtualNmiBlocked) return;
            VirtualNmiBlocked = false;
            RecomputeVmxWatch();
        }
        else
        {
            if (!NmiBlocked) return;
            NmiBlocked = false;
            if (NmiPending) ExitRequest |= ExitEvent;
        }
        NmiUnblockedByIret = true;
    }

    /// <summary>Delivery of an NMI to the guest (injected or physical) blocks further NMIs: virtual or physical.</summary>
    internal void BlockGuestNmis()
    {
        if ((VPin & Vmx.VmxControls.PinVirtualNmis) != 0) VirtualNmiBlocked = true;
        else NmiBlocked = true;
    }
}
