namespace HyperLock.Toolchain;

/// <summary>
/// Padding: the recommended multi-byte NOPs of 1-9 bytes (Intel SDM, NOP), without the
/// redundant-prefix forms of 10+ bytes the verifier rejects. Longer runs are split.
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

    public static void Emit(List<byte> output, int count)
    {
        while (count > 0)
        {
            int n = Math.Min(count, Forms.Length - 1);
            output.AddRange(Forms[n]);
            count -= n;
        }
    }
}
