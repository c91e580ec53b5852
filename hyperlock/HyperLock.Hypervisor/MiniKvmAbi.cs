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
    /// <summary>
    /// IN (4 bytes), request value 1 when the guest can take an interrupt now (IF = 1, no STI/MOV-SS
    /// blocking), else 0. Reply bits 31:0: the vector of the highest pending unmasked interrupt,
    /// acknowledged (IRR → ISR) when the request was 1; <see cref="InterruptBlocked"/> when one is
    /// pending but the guest cannot take it; <see cref="NoInterrupt"/>; or <see cref="GuestDone"/>.
    /// Bits 63:32: the VMX-preemption timer value for the next entry (the device model's next timer
    /// event, at most one slice); 0 keeps <see cref="MiniKvm.SliceTimerValue"/>.
    /// OUT: acknowledge the pending interrupt (older device models).
    /// </summary>
    public const ushort PortInterrupt = 0xFF01;
    /// <summary>
    /// IN (4 bytes), request value = the guest's RFLAGS: the guest executed HLT. Reply: the clocks the
    /// device model's time skipped to its next timer event (time that the hypervisor drives);
    /// <see cref="HaltInGuest"/> (time is the TSC: the guest waits in the HLT activity state until
    /// the preemption timer or an interrupt); <see cref="GuestDone"/>; or <see cref="NoInterrupt"/>
    /// when nothing will ever wake it.
    /// </summary>
    public const ushort PortIdle = 0xFF02;
    /// <summary>OUT (4 bytes): the MSR number (ECX) the next <see cref="PortMsrData"/> access is about.</summary>
    public const ushort PortMsrIndex = 0xFF03;
    /// <summary>IN: the MSR's value (64 bits); OUT: write the value. A refused access fails the RPC (the guest gets #GP).</summary>
    public const ushort PortMsrData = 0xFF04;
    /// <summary>IN (4 bytes): the guest's exit status, after the device model answered <see cref="GuestDone"/>.</summary>
    public const ushort PortExitStatus = 0xFF05;

    /// <summary>OUT: the guest-physical address of an MMIO access (an EPT violation outside the guest's RAM).</summary>
    public const ushort PortMmioAddress = 0xFF06;
    /// <summary>OUT: the guest's RIP at that access.</summary>
    public const ushort PortMmioRip = 0xFF07;
    /// <summary>
    /// IN, request value = the guest's CR3: the device model reads and decodes the faulting instruction
    /// (as QEMU and KVM do) and performs what it can. Reply: bits 7:0 the instruction length, 15:12 a
    /// general register, bit 16 <see cref="MmioWriteFromRegister"/>, bit 17 <see cref="MmioReadToRegister"/>;
    /// a form it cannot emulate fails the RPC.
    /// </summary>
    public const ushort PortMmioDecode = 0xFF08;
    /// <summary>OUT: the register's value to write (after <see cref="MmioWriteFromRegister"/>); IN: the register's new value (after <see cref="MmioReadToRegister"/>).</summary>
    public const ushort PortMmioData = 0xFF09;
    public const int MmioWriteFromRegister = 1 << 16, MmioReadToRegister = 1 << 17;

    public const uint NoInterrupt = 0xFFFF_FFFF, InterruptBlocked = 0xFFFF_FFFE, GuestDone = 0xFFFF_FFFD, HaltInGuest = 0xFFFF_FFFC;

    /// <summary>PIT input clocks per preemption-timer slice.</summary>
    public const uint ClocksPerSlice = 1193;
}
