using HyperLock.Verifier;

namespace HyperLock.Toolchain;

/// <summary>The toolchain's output: bytes that verify, where every label landed, the entry points.</summary>
public sealed class AssembledImage
{
    internal AssembledImage(byte[] bytes, long[] labelOffsets, long[] entries, VerificationResult verification)
    {
        Bytes = bytes;
        LabelOffsets = labelOffsets;
        EntryPoints = entries;
        Verification = verification;
    }

    /// <summary>The image, a whole number of bundles.</summary>
    public byte[] Bytes { get; }

    /// <summary>The offset of each label by id (-1 if never bound).</summary>
    public IReadOnlyList<long> LabelOffsets { get; }

    /// <summary>Offsets of the declared entry points (all bundle-aligned).</summary>
    public IReadOnlyList<long> EntryPoints { get; }

    /// <summary>The verifier's (accepting) result on <see cref="Bytes"/>.</summary>
    public VerificationResult Verification { get; }

    /// <summary>The offset of <paramref name="label"/>.</summary>
    public long OffsetOf(Label label) => LabelOffsets[label.Id];
}
