namespace HyperLock.Runtime.Services;

/// <summary>
/// Per-guest CPU state a VM exit does not switch and the runtime keeps for the guest: the
/// allow-listed MSRs' values and XCR0 (docs/runtime.md, "Per-guest state").
/// </summary>
public sealed class GuestCpuState
{
    /// <summary>IA32_PAT at power-on (SDM 11.12.4): WB, WT, UC-, UC repeated; a guest kernel reads it before changing it.</summary>
    public const ulong PatAtReset = 0x0007_0406_0007_0406;

    public Dictionary<uint, ulong> Msrs { get; } = new() { [MsrAllowList.Pat] = PatAtReset };
    public ulong Xcr0 { get; set; } = 1;
    /// <summary>The guest's CR2 (a VM exit leaves it in the processor; the runtime saves it there and restores it at entry).</summary>
    public ulong Cr2 { get; set; }
}
