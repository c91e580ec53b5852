using System.IO.Compression;

namespace HyperLock.Emulator.Loaders;

/// <summary>
/// Checks an initrd before it is handed to Linux, so a truncated or corrupt file is reported
/// as bad input rather than as a kernel panic minutes into the boot: an uncompressed newc
/// cpio archive must reach its trailer; a gzip-compressed one must decompress to one. Other
/// compressions the kernel understands (xz, zstd, bzip2, lzma, lzo, lz4) are recognised by
/// their magic and passed on unchecked. Decompression stops at a size limit (the kernel unpacks
/// the archive into RAM, so one larger than the machine's memory cannot boot), so that a
/// "gzip bomb" is refused instead of filling the host's memory.
/// </summary>
public static class InitrdCheck
{
    /// <summary>The decompressed-size limit when none is given.</summary>
    public const long DefaultMaxUnpacked = 1L << 30;

    /// <summary>Checks <paramref name="initrd"/>; a gzip archive may expand to at most <paramref name="maxUnpacked"/> bytes.</summary>
    public static void Validate(byte[] initrd, long maxUnpacked = DefaultMaxUnpacked)
    {
        ReadOnlySpan<byte> d = initrd;
        if (d.Length < 6) throw new MachineConfigException($"initrd: too short ({d.Length} bytes)");
        if (d[0] == '0' && d[1] == '7' && d[2] == '0' && d[3] == '7' && d[4] == '0')
        {
            CpioArchive.Read(d);
            return;
        }
        if (d[0] == 0x1F && (d[1] == 0x8B || d[1] == 0x9E))
        {
            byte[] inner;
            try
            {
                inner = Gunzip(initrd, Math.Min(maxUnpacked, Array.MaxLength));
            }
            catch (InvalidDataException e)
            {
                throw new MachineConfigException($"initrd: corrupt gzip data ({e.Message})");
            }
            if (inner.Length == 0) throw new MachineConfigException("initrd: truncated gzip data");
            CpioArchive.Read(inner);
            return;
        }
        bool known =
            (d[0] == 0xFD && d[1] == '7' && d[2] == 'z' && d[3] == 'X')          // xz
            || (d[0] == 0x28 && d[1] == 0xB5 && d[2] == 0x2F && d[3] == 0xFD)    // zstd
            || (d[0] == 'B' && d[1] == 'Z' && d[2] == 'h')                       // bzip2
            || (d[0] == 0x5D && d[1] == 0x00)                                    // lzma
            || (d[0] == 0x89 && d[1] == 'L' && d[2] == 'Z' && d[3] == 'O')       // lzop
            || (d[0] == 0x02 && d[1] == 0x21 && d[2] == 0x4C && d[3] == 0x18);   // lz4 legacy
        if (!known) throw new MachineConfigException("initrd: unrecognised format (not a cpio archive or a compressed one)");
    }

    private static byte[] Gunzip(byte[] data, long limit)
    {
        using var gz = new GZipStream(new MemoryStream(data), CompressionMode.Decompress);
        using var ms = new MemoryStream();
        var chunk = new byte[1 << 16];
        for (int n; (n = gz.Read(chunk, 0, chunk.Length)) > 0;)
        {
            if (ms.Length + n > limit)
                throw new MachineConfigException($"initrd: the gzip data expands past the {limit >> 20} MiB limit (an initramfs unpacks into the machine's memory)");
            ms.Write(chunk, 0, n);
        }
        return ms.ToArray();
    }
}
