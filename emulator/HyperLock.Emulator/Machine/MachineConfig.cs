using HyperLock.Emulator.Loaders;
using HyperLock.Emulator.Time;

namespace HyperLock.Emulator.Machine;

/// <summary>How to build and run an <see cref="X86Machine"/>.</summary>
public sealed class MachineConfig
{
    /// <summary>The default memory size: 512 MiB.</summary>
    public const ulong DefaultMemorySize = 512UL << 20;

    /// <summary>What to boot.</summary>
    public required BootImage Boot { get; init; }

    /// <summary>Bytes of RAM (the e820 map reports it; above 3 GiB the rest is placed from 4 GiB up).</summary>
    public ulong MemorySize { get; init; } = DefaultMemorySize;

    /// <summary>
    /// TSC frequency in Hz: one retired instruction is one TSC cycle, so at the default 1 GHz one
    /// instruction takes 1 ns of virtual time. The PIT (1.193182 MHz), the local APIC timer and
    /// the RTC are derived from it.
    /// </summary>
    public ulong TscFrequencyHz { get; init; } = VirtualClock.DefaultFrequencyHz;

    /// <summary>Where COM1's output goes (null: discarded).</summary>
    public Stream? SerialOutput { get; init; }

    /// <summary>Bytes COM1 receives, queued before the run.</summary>
    public byte[]? SerialInput { get; init; }

    /// <summary>Instructions after which the run stops with status 124 (ulong.MaxValue: no limit).</summary>
    public ulong InstructionLimit { get; init; } = ulong.MaxValue;

    /// <summary>Virtual nanoseconds after which the run stops with status 124 (ulong.MaxValue: no limit).</summary>
    public ulong VirtualTimeLimitNs { get; init; } = ulong.MaxValue;

    /// <summary>The RTC's date and time at power-on (default 2024-01-01 00:00:00 UTC).</summary>
    public DateTime? RtcStart { get; init; }

    /// <summary>Start with the local APIC already in x2APIC mode, as firmware may leave it (Linux keeps it).</summary>
    public bool X2Apic { get; init; }

    /// <summary>Diagnostics: unknown ports, unimplemented instructions, triple faults.</summary>
    public Action<string>? Log { get; init; }

    /// <summary>Called between run slices (every <see cref="ProgressInterval"/> instructions or cycles of virtual time) with the machine.</summary>
    public Action<X86Machine>? Progress { get; init; }

    /// <summary>
    /// Ends the run (outcome <see cref="MachineOutcome.Stopped"/>) when cancelled: checked between
    /// run slices, never per instruction, so a signal handler or a failed output can stop a run.
    /// </summary>
    public CancellationToken Stop { get; init; }

    /// <summary>Instructions (and cycles of virtual time) per run slice between <see cref="Progress"/> calls.</summary>
    public ulong ProgressInterval { get; init; } = 50_000_000;
}
