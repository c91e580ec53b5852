namespace HyperLock.Runtime.Services;

/// <summary>
/// Per-guest CPU state a VM exit does not switch and the runtime keeps for the guest: the
/// allow-listed MSRs' values and XCR0 (docs/runtime.md, "Per-guest state").
/// </summary>
public sealed class GuestCpuState
{
    public Dictionary<uint, ulong> Msrs { get; } = new();
    public ulong Xcr0 { get; set; } = 1;
    /// <summary>The guest's CR2 (a VM exit leaves it in the processor; the runtime saves it there and restores it at entry).</summary>
    public ulong Cr2 { get; set; }
}
