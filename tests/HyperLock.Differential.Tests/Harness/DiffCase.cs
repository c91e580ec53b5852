using Iced.Intel;

namespace HyperLock.Differential.Tests.Harness;

/// <summary>
/// The random values FsCheck generates for one case; <see cref="CaseBuilder"/> turns them plus a
/// form into a concrete instruction and initial state.
/// </summary>
public sealed record CaseValues(ulong[] Gpr, ulong[] Xmm, ulong Rflags, uint Mxcsr, ulong ChoiceSeed)
{
    /// <summary>x87 control word (every exception masked), status word (TOP, condition codes, sticky flags) and abridged tag.</summary>
    public ushort Fcw { get; init; } = 0x037F;
    public ushort Fsw { get; init; }
    public byte Ftw { get; init; }

    /// <summary>ST(0)-ST(7) as (sign+exponent, significand).</summary>
    public (ushort SignExp, ulong Mantissa)[] St { get; init; } = new (ushort, ulong)[8];
}

/// <summary>One concrete differential case: encoded instruction plus initial state.</summary>
public sealed class DiffCase
{
    public required Form Form { get; init; }
    public required Instruction Instruction { get; init; }
    public required byte[] Bytes { get; init; }
    public required MachineState Initial { get; init; }
    public required ulong ChoiceSeed { get; init; }

    public string Text => Instruction.ToString();
    public string Hex => Convert.ToHexString(Bytes).ToLowerInvariant();
}

/// <summary>The result of building a case: the case, or why none could be built.</summary>
public readonly record struct BuildResult(DiffCase? Case, string? Failure);
