using System.IO.Compression;

namespace HyperLock.Emulator.Loaders;

/// <summary>
/// Checks an initrd before it is handed to Linux, so a truncated or corrupt file is reported
/// as bad input rather than as a kernel panic minutes into the boot: an uncompressed newc
/// cpio archive must reach its trailer; a gzip-compressed one must decompress to one. Other
/// compressions the kernel understands (xz, zstd, bzip2, lzma, lzo, lz4) are recognised by
/// their magic and passed on unchecked.
/// </summary>
public static class InitrdCheck
{
    public static void Validate(byte[] initrd)
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
                using var gz = new GZipStream(new MemoryStream(initrd), CompressionMode.Decompress);
                using var ms = new MemoryStream();
                gz.CopyTo(ms);
                inner = ms.ToArray();
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
}
