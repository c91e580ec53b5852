namespace HyperLock.Hypervisor;

/// <summary>
/// What the mini-KVM shares with its guests and its device model (not with the runtime):
/// hypercall numbers (VMCALL, function in guest RAX, argument in RDI) and the device model's
/// control ports, which the hypervisor reaches with the runtime's DeviceRpc like any port.
/// </summary>
public static class MiniKvmAbi
{
    /// <summary>VMCALL RAX = 1: print the byte in RDI on the hypervisor's console (runtime Print).</summary>
    public const int HypercallPrint = 1;
    /// <summary>VMCALL RAX = 2: the guest is done, RDI = its exit code (runtime Exit).</summary>
    public const int HypercallExit = 2;

    /// <summary>OUT (4 bytes): time advanced by the value, in PIT input clocks (one preemption-timer slice).</summary>
    public const ushort PortAdvance = 0xFF00;
    /// <summary>IN (4 bytes): the vector of the highest pending unmasked interrupt, or <see cref="NoInterrupt"/>; OUT: acknowledge it (IRR → ISR).</summary>
    public const ushort PortInterrupt = 0xFF01;
    /// <summary>IN (4 bytes): advance time to the device model's next timer event (the guest halted); returns the clocks skipped, <see cref="NoInterrupt"/> if none will come.</summary>
    public const ushort PortIdle = 0xFF02;

    public const uint NoInterrupt = 0xFFFF_FFFF;

    /// <summary>PIT input clocks per preemption-timer slice.</summary>
    public const uint ClocksPerSlice = 1193;
}
