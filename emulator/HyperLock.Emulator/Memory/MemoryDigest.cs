using System.Security.Cryptography;
using HyperLock.Emulator.Builders;

namespace HyperLock.Emulator.Memory;

/// <summary>
/// SHA-256 of ranges of physical memory, page by page: what the demo, the attack suite and the
/// confinement properties compare before and after a party runs to show that nothing changed.
/// </summary>
public static class MemoryDigest
{
    private const int Page = 0x1000;

    /// <summary>
    /// Hashes each range in 4 KiB steps (sizes are whole pages). With <paramref name="pageTables"/>
    /// the accessed and dirty bits of every 8-byte entry are masked first: the CPU's own walks set them.
    /// </summary>
    public static byte[] Of(PhysicalMemory memory, IEnumerable<(ulong Base, ulong Size)> ranges, bool pageTables = false)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[Page];
        foreach (var (start, size) in ranges)
            for (ulong o = 0; o < size; o += Page)
            {
                memory.ReadBytes(start + o, buffer);
                if (pageTables)
                    for (int k = 0; k < buffer.Length; k += 8) buffer[k] &= unchecked((byte)~(PageTableBuilder.Accessed | PageTableBuilder.Dirty));
                sha.AppendData(buffer);
            }
        return sha.GetHashAndReset();
    }
}
