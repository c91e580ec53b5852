namespace HyperLock.Abi;

/// <summary>
/// The runtime services a confined hypervisor asks for through <c>int GATE</c> (SPEC §5).
/// Calling convention: the service number in <c>r11d</c> (the toolchain's scratch register),
/// then <c>int GATE</c>. Services that replace one instruction use that instruction's own
/// registers (e.g. <see cref="ReadMsr"/>: ECX in, EDX:EAX out); the others take arguments in
/// RDI, RSI, RDX, R10 and return a status in RAX (0 success, negative error, nothing
/// half-applied). The numbers are a stable interface: never renumber.
/// </summary>
public enum RuntimeService : uint
{
    /// <summary>Enter the paired guest (replaces VMLAUNCH/VMRESUME; the runtime picks which).</summary>
    EnterGuest = 1,
    /// <summary>map_gfn_to_pfn: RDI = guest frame number; RAX = hypervisor-visible address or error.</summary>
    MapGfnToPfn = 2,
    /// <summary>Update the guest's EPT: RDI = guest-physical address, RSI = permissions, RDX = page count.</summary>
    EptUpdate = 3,
    /// <summary>Read an allow-listed MSR (replaces RDMSR: ECX in, EDX:EAX out).</summary>
    ReadMsr = 4,
    /// <summary>Write an allow-listed MSR (replaces WRMSR: ECX, EDX:EAX in).</summary>
    WriteMsr = 5,
    /// <summary>Device RPC to the instance's device model: RDI = request buffer, RSI = length.</summary>
    DeviceRpc = 6,
    /// <summary>Invalidate EPT translations of the instance (replaces INVEPT).</summary>
    InvalidateEpt = 7,
    /// <summary>Invalidate VPID-tagged translations of the instance (replaces INVVPID).</summary>
    InvalidateVpid = 8,
    /// <summary>Yield to the host until there is work (replaces HLT).</summary>
    Halt = 9,
    /// <summary>CPUID from the instance's CPUID profile (replaces CPUID: EAX/ECX in, EAX-EDX out).</summary>
    Cpuid = 10,
    /// <summary>Virtual time stamp counter (replaces RDTSC: EDX:EAX out).</summary>
    ReadTsc = 11,
    /// <summary>The hypervisor gives up: stop the instance and its guest, RDI = reason code.</summary>
    Abort = 12,
    /// <summary>Write a VM-execution control the hypervisor may steer: RDI = field encoding, RSI = value (only bits in the field's mask may differ).</summary>
    ControlWrite = 13,
    /// <summary>Set the guest's XCR0 (replaces XSETBV on the guest's behalf): RDI = value.</summary>
    SetXcr0 = 14,
    /// <summary>Print one byte to the instance's log: RDI = byte.</summary>
    Print = 15,
    /// <summary>The guest is finished: stop the instance and its guest normally, RDI = exit status.</summary>
    Exit = 16,
    /// <summary>Report a diagnostic message to the runtime (kept per instance, shown to the operator): RDI = buffer in the instance's data area, RSI = length (1 to 256 bytes).</summary>
    Report = 17,
}
