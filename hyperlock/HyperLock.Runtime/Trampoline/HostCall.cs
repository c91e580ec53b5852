namespace HyperLock.Runtime.Trampoline;

/// <summary>The host-call numbers the trampoline writes to the host-call port (EAX of <c>out 0xE0, eax</c>).</summary>
public enum HostCall : uint
{
    /// <summary>After VMXON at start-up: the runtime picks the first instance.</summary>
    Boot = 1,
    /// <summary>A VM exit: the guest's registers are in the guest-register frame on the host stack.</summary>
    VmExit = 2,
    /// <summary>A vector arrived (gate, exception, interrupt, NMI): RSI = the save frame's linear address (at the top of the vector's IST stack), RDI = the CR3 it arrived in.</summary>
    Event = 3,
    /// <summary>VMCLEAR/VMPTRLD of the VMCS slot is done; the VMCS is current.</summary>
    VmcsLoaded = 4,
    /// <summary>VMLAUNCH/VMRESUME fell through (VMfail).</summary>
    EntryFailed = 5,
}

/// <summary>What the trampoline does after a host call: the runtime leaves it in RAX.</summary>
public static class DispatchAction
{
    /// <summary>Pop the guest's registers and VMRESUME.</summary>
    public const ulong ResumeGuest = 1;
    /// <summary>Pop the guest's registers and VMLAUNCH.</summary>
    public const ulong LaunchGuest = 2;
    /// <summary>Nothing left to run: HLT with interrupts off.</summary>
    public const ulong Stop = 3;
    /// <summary>Return without changing CR3 (unconfined, or an NMI in the host's trampoline code): pop the save frame at RSI, IRETQ.</summary>
    public const ulong ResumeInPlace = 4;
    /// <summary>VMCLEAR then VMPTRLD the VMCS in the slot, then <see cref="HostCall.VmcsLoaded"/>.</summary>
    public const ulong ClearAndLoadVmcs = 5;
    /// <summary>VMPTRLD the VMCS in the slot, then <see cref="HostCall.VmcsLoaded"/>.</summary>
    public const ulong LoadVmcs = 6;
    /// <summary>Any value at or above this is a confined CR3: load it, pop the save frame at RSI, IRETQ.</summary>
    public const ulong EnterConfinedMinimum = 0x1000;
}
