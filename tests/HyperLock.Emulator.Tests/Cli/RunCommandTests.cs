using HyperLock.Cli;
using HyperLock.Cli.Commands;

namespace HyperLock.Emulator.Tests.Cli;

public class RunCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("hyperlock-run-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string File(string name, byte[] bytes)
    {
        string p = Path.Combine(_dir, name);
        System.IO.File.WriteAllBytes(p, bytes);
        return p;
    }

    private static RunCommand.Options Opts(string kernel, string? serial = null, string? max = null, string? memory = null) =>
        new(kernel, null, null, "", memory, max, serial, Quiet: serial == null);

    [Fact]
    public void FlatBinaryEndsThroughTheDebugExitPortWithQemusStatus()
    {
        // mov dx, 0x3f8; mov al, 'K'; out dx, al; mov al, 0x21; out 0xf4, al; hlt
        byte[] code = [0x66, 0xBA, 0xF8, 0x03, 0xB0, 0x4B, 0xEE, 0xB0, 0x21, 0xE6, 0xF4, 0xF4];
        string serial = Path.Combine(_dir, "serial.txt");
        var err = new StringWriter();
        int status = RunCommand.Run(Opts(File("guest.bin", code), serial), new StringWriter(), err);
        Assert.Equal((0x21 << 1) | 1, status);
        Assert.Equal("K", System.IO.File.ReadAllText(serial));
        Assert.Matches(@"^.+: \d+ instructions, virtual \d+\.\d{3} s, wall \d+\.\d{3} s, \d+\.\d MIPS\r?\n$", err.ToString());
    }

    [Fact]
    public void InstructionLimitGivesStatus124()
    {
        byte[] code = [0xEB, 0xFE]; // jmp $
        int status = RunCommand.Run(Opts(File("spin.bin", code), max: "1000"), new StringWriter(), new StringWriter());
        Assert.Equal(124, status);
    }

    [Fact]
    public void BadInputIsAOneLineUsageError()
    {
        var missing = Assert.Throws<UsageException>(() => RunCommand.Run(Opts(Path.Combine(_dir, "nope")), new StringWriter(), new StringWriter()));
        Assert.Contains("cannot read the kernel", missing.Message);

        // A setup header signature with nothing behind it: a truncated bzImage.
        var truncated = new byte[0x210];
        truncated[0x1FE] = 0x55; truncated[0x1FF] = 0xAA;
        "HdrS"u8.CopyTo(truncated.AsSpan(0x202));
        var e = Assert.Throws<UsageException>(() => RunCommand.Run(Opts(File("bz", truncated)), new StringWriter(), new StringWriter()));
        Assert.DoesNotContain("\n", e.Message);

        var small = Assert.Throws<UsageException>(() => RunCommand.Run(Opts(File("g.bin", [0xF4]), memory: "64K"), new StringWriter(), new StringWriter()));
        Assert.DoesNotContain("\n", small.Message);

        Assert.Throws<UsageException>(() => RunCommand.Run(Opts(File("h.bin", [0xF4]), memory: "lots"), new StringWriter(), new StringWriter()));
    }
}

public class RunSummarySnapshotTests
{
    /// <summary>The summary line people read, with the host-dependent timings masked.</summary>
    [Fact]
    public void SummaryLineFormat()
    {
        // mov ecx, 1000; l: dec ecx; jnz l; mov al, 1; out 0xf4, al
        byte[] code = [0xB9, 0xE8, 0x03, 0x00, 0x00, 0xFF, 0xC9, 0x75, 0xFC, 0xB0, 0x01, 0xE6, 0xF4];
        string path = Path.Combine(Path.GetTempPath(), $"hyperlock-summary-{Environment.ProcessId}.bin");
        File.WriteAllBytes(path, code);
        try
        {
            var err = new StringWriter();
            int status = RunCommand.Run(new RunCommand.Options(path, null, null, "", null, null, null, Quiet: true), new StringWriter(), err);
            Assert.Equal(3, status);
            string masked = System.Text.RegularExpressions.Regex.Replace(err.ToString().TrimEnd(),
                @"wall \d+\.\d{3} s, \d+\.\d MIPS$", "wall <seconds> s, <mips> MIPS");
            Snapshooter.Xunit.Snapshot.Match(masked);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
