using System.Text;
using HyperLock.Emulator.Loaders;
using HyperLock.Emulator.Machine;

namespace HyperLock.Emulator.Tests.BootLoaders;

public class CpioArchiveTests
{
    [Fact]
    public void FileEntryMatchesTheNewcLayoutByteForByte()
    {
        var bytes = new CpioArchive().AddFile("init", "abc"u8.ToArray(), 0x1ED).ToArray();
        string text = Encoding.ASCII.GetString(bytes);
        // magic, ino 1, mode 0100755, uid 0, gid 0, nlink 1, mtime 0, filesize 3, dev 0/0, rdev 0/0, namesize 5, check 0
        string header = "070701" + "00000001" + "000081ED" + "00000000" + "00000000" + "00000001" + "00000000"
            + "00000003" + "00000000" + "00000000" + "00000000" + "00000000" + "00000005" + "00000000";
        Assert.StartsWith(header + "init\0", text);
        // 110 + 5 = 115 → padded to 116; data at 116, 3 bytes → next header at 120.
        Assert.Equal((byte)'a', bytes[116]);
        Assert.Equal(0, bytes[119]);
        Assert.Equal("070701", text.Substring(120, 6));
        Assert.Contains("TRAILER!!!\0", text);
        Assert.Equal(0, bytes.Length % 4);
    }

    [Fact]
    public void RoundTripsDirectoriesSymlinksAndDevices()
    {
        var a = new CpioArchive()
            .AddFile("bin/busybox", [1, 2, 3, 4, 5], 0x1ED)
            .AddSymlink("bin/sh", "busybox")
            .AddStandardDevices();
        var entries = CpioArchive.Read(a.ToArray());
        Assert.Equal(["bin", "bin/busybox", "bin/sh", "dev", "dev/console", "dev/null", "dev/ttyS0"], entries.Select(e => e.Name));
        Assert.Equal(CpioArchive.TypeDirectory | 0x1ED, entries[0].Mode);
        Assert.Equal(new byte[] { 1, 2, 3, 4, 5 }, entries[1].Data);
        Assert.Equal(CpioArchive.TypeSymlink, entries[2].Mode & CpioArchive.TypeMask);
        Assert.Equal("busybox", Encoding.UTF8.GetString(entries[2].Data));
        var console = entries[4];
        Assert.Equal(CpioArchive.TypeCharDevice | 0x180, console.Mode);
        Assert.Equal((5u, 1u), (console.RdevMajor, console.RdevMinor));
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void FromDirectoryKeepsModesAndSymlinksInOrdinalOrder()
    {
        string dir = Directory.CreateTempSubdirectory("cpio").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "init"), "#!/bin/sh\n");
            File.SetUnixFileMode(Path.Combine(dir, "init"), (UnixFileMode)0x1ED);
            Directory.CreateDirectory(Path.Combine(dir, "etc"));
            File.WriteAllText(Path.Combine(dir, "etc", "motd"), "hi");
            File.SetUnixFileMode(Path.Combine(dir, "etc", "motd"), (UnixFileMode)0x180);
            File.CreateSymbolicLink(Path.Combine(dir, "Link"), "init");
            var entries = CpioArchive.Read(CpioArchive.FromDirectory(dir).ToArray());
            var names = entries.Select(e => e.Name).ToList();
            Assert.Equal(["Link", "etc", "etc/motd", "init", "dev", "dev/console", "dev/null", "dev/ttyS0"], names);
            Assert.Equal(CpioArchive.TypeRegular | 0x1ED, entries[3].Mode);
            Assert.Equal(CpioArchive.TypeRegular | 0x180, entries[2].Mode);
            Assert.Equal(CpioArchive.TypeSymlink, entries[0].Mode & CpioArchive.TypeMask);
            // Same input, same bytes.
            Assert.Equal(CpioArchive.FromDirectory(dir).ToArray(), CpioArchive.FromDirectory(dir).ToArray());
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void TruncatedAndCorruptArchivesAreReported()
    {
        var bytes = new CpioArchive().AddFile("a", new byte[100]).ToArray();
        var e1 = Assert.Throws<MachineConfigException>(() => CpioArchive.Read(bytes.AsSpan(0, 150)));
        Assert.Contains("truncated", e1.Message);
        var bad = (byte[])bytes.Clone();
        bad[0] = (byte)'9';
        var e2 = Assert.Throws<MachineConfigException>(() => CpioArchive.Read(bad));
        Assert.Contains("magic", e2.Message);
        var noTrailer = new CpioArchive().AddFile("a", new byte[4]).ToArray().AsSpan(0, 116).ToArray();
        var e3 = Assert.Throws<MachineConfigException>(() => CpioArchive.Read(noTrailer));
        Assert.Contains("TRAILER", e3.Message);
    }

    [Fact]
    public void DuplicateNamesAreRejected()
    {
        var a = new CpioArchive().AddFile("x", []);
        Assert.Throws<ArgumentException>(() => a.AddFile("/x", []));
    }
}
