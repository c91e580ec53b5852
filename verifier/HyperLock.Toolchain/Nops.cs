namespace HyperLock.Toolchain;

/// <summary>
/// Padding: the recommended multi-byte NOPs of 1-9 bytes (Intel SDM, NOP), without the
/// redundant-prefix forms of 10+ bytes the verifier rejects. Longer runs are split, and
/// split again at bundle boundaries.
/// </summary>
internal static class Nops
{
    private static readonly byte[][] Forms =
    [
        [],
        [0x90],
        [0x66, 0x90],
        [0x0F, 0x1F, 0x00],
        [0x0F, 0x1F, 0x40, 0x00],
        [0x0F, 0x1F, 0x44, 0x00, 0x00],
        [0x66, 0x0F, 0x1F, 0x44, 0x00, 0x00],
        [0x0F, 0x1F, 0x80, 0x00, 0x00, 0x00, 0x00],
        [0x0F, 0x1F, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
        [0x66, 0x0F, 0x1F, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
    ];

    /// <summary>Append <paramref name="count"/> bytes of NOPs, none crossing a bundle boundary.</summary>
    public static void Emit(List<byte> output, int count)
    {
        while (count > 0)
        {
            int room = 32 - (output.Count % 32);
            int n = Math.Min(Math.Min(count, Forms.Length - 1), room);
            output.AddRange(Forms[n]);
            count -= n;
        }
    }
}
