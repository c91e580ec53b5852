using System.Globalization;

namespace HyperLock.Emulator.Machine;

/// <summary>Why a machine run ended.</summary>
public enum MachineOutcome
{
    /// <summary>The guest wrote the debug-exit port; the status is (value &lt;&lt; 1) | 1.</summary>
    DebugExit,
    /// <summary>The guest reset the machine through the i8042 (status 0, as QEMU with -no-reboot).</summary>
    Reset,
    /// <summary>A triple fault shut the processor down (a reset on a PC; status 0, as QEMU with -no-reboot).</summary>
    TripleFault,
    /// <summary>HLT with interrupts disabled, or with no interrupt source left that could wake it (status 0).</summary>
    Halted,
    /// <summary>The instruction limit was reached (status 124).</summary>
    InstructionLimit,
    /// <summary>The virtual time limit was reached (status 124).</summary>
    TimeLimit,
    /// <summary><see cref="MachineConfig.Stop"/> was cancelled (status 130, as after an interrupt).</summary>
    Stopped,
}

/// <summary>The outcome of <see cref="X86Machine.Run"/>.</summary>
public sealed record MachineResult(
    MachineOutcome Outcome,
    int ExitStatus,
    ulong Instructions,
    ulong VirtualNanoseconds,
    TimeSpan WallTime,
    string Description)
{
    /// <summary>Status 124: the instruction limit.</summary>
    public const int InstructionLimitStatus = 124;

    /// <summary>Status 130: stopped from outside (128 + SIGINT, as a shell reports an interrupted command).</summary>
    public const int StoppedStatus = 130;

    /// <summary>Millions of guest instructions per wall-clock second.</summary>
    public double Mips => WallTime.TotalSeconds > 0 ? Instructions / WallTime.TotalSeconds / 1e6 : 0;

    /// <summary>
    /// The one-line run summary: "&lt;description&gt;: N instructions, virtual V s, wall W s, M MIPS"
    /// (instructions with thousands separators, times with three decimals, MIPS with one).
    /// </summary>
    public string Summary()
    {
        var c = CultureInfo.InvariantCulture;
        return string.Format(c, "{0}: {1:N0} instructions, virtual {2:F3} s, wall {3:F3} s, {4:F1} MIPS",
            Description, Instructions, VirtualNanoseconds / 1e9, WallTime.TotalSeconds, Mips);
    }
}
