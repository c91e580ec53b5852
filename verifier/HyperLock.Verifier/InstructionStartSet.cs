using System.Numerics;

namespace HyperLock.Verifier;

/// <summary>
/// The validated instruction starts of an accepted image: every offset where an instruction
/// begins that control flow may reach (rule 2), i.e. not the second half of a pseudo-instruction.
/// The runtime's loader uses it to check declared entry points and any address it is asked to
/// enter. One bit per image byte.
/// </summary>
public sealed class InstructionStartSet
{
    private readonly uint[] _bits;

    /// <summary>The empty set (a rejected image has no validated starts).</summary>
    public static InstructionStartSet Empty { get; } = new([], 0);

    internal InstructionStartSet(uint[] bits, int imageSize)
    {
        _bits = bits;
        ImageSize = imageSize;
        int n = 0;
        foreach (uint w in bits) n += BitOperations.PopCount(w);
        Count = n;
    }

    /// <summary>Size in bytes of the image the set describes.</summary>
    public int ImageSize { get; }

    /// <summary>How many validated starts there are.</summary>
    public int Count { get; }

    /// <summary>True when <paramref name="offset"/> is a validated instruction start.</summary>
    public bool Contains(long offset) =>
        offset >= 0 && offset < ImageSize && (_bits[offset >> 5] & (1u << (int)(offset & 31))) != 0;

    /// <summary>The starts in increasing order.</summary>
    public IEnumerable<int> Offsets()
    {
        for (int k = 0; k < _bits.Length; k++)
            for (uint w = _bits[k]; w != 0; w &= w - 1)
                yield return (k << 5) + BitOperations.TrailingZeroCount(w);
    }
}
