using System.Diagnostics;
using System.IO.Compression;
using HyperLock.Cli;
using HyperLock.Cli.Commands;
using HyperLock.Emulator.Loaders;
using HyperLock.Emulator.Machine;
using HyperLock.Verifier.Cli;

namespace HyperLock.Emulator.Tests.Cli;

/// <summary>
/// Hostile inputs to the commands, one class each (issue 8): endless files, special files,
/// oversized and empty files, unwritable outputs, decompression bombs, signals and closed
/// pipes. Each must end with a one-line error or a clean stop, never a stack trace or a hang.
/// </summary>
public class CliRobustnessTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("hyperlock-robust-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string File(string name, byte[] bytes)
    {
        string p = Path.Combine(_dir, name);
        System.IO.File.WriteAllBytes(p, bytes);
        return p;
    }

    // mov dx, 0x3f8; mov al, 'K'; out dx, al; mov al, 10; out dx, al; l: jmp l
    private static readonly byte[] PrintThenSpin = [0x66, 0xBA, 0xF8, 0x03, 0xB0, 0x4B, 0xEE, 0xB0, 0x0A, 0xEE, 0xEB, 0xFE];
    // mov dx, 0x3f8; l: mov al, 'A'; out dx, al; mov al, 10; out dx, al; jmp l
    private static readonly byte[] PrintForever = [0x66, 0xBA, 0xF8, 0x03, 0xB0, 0x41, 0xEE, 0xB0, 0x0A, 0xEE, 0xEB, 0xF8];

    private static RunCommand.Options Run(string kernel, string? initrd = null, string? initrdDir = null, string? serial = null) =>
        new(kernel, initrd, initrdDir, "", null, null, serial, Quiet: serial == null);

    private static void OneLine(Exception e)
    {
        Assert.IsType<UsageException>(e);
        Assert.DoesNotContain("\n", e.Message);
    }

    // --- endless inputs: read with a limit the error names (defect 4) ---

    [Fact]
    public void EndlessCodeFileIsRefusedAtItsLimit()
    {
        var e = Assert.ThrowsAny<Exception>(() => ExecCommand.Run("/dev/zero", null, null, new StringWriter()));
        OneLine(e);
        Assert.Contains("larger than the 64 MiB limit", e.Message);
    }

    [Fact]
    public void EndlessStateFileIsRefusedAtItsLimit()
    {
        var e = Assert.ThrowsAny<Exception>(() => ExecCommand.Run(File("c.bin", [0xCC]), "/dev/zero", null, new StringWriter()));
        OneLine(e);
        Assert.Contains("state file is larger than the 16 MiB limit", e.Message);
    }

    [Fact]
    public void EndlessKernelAndInitrdAreRefusedAtTheirLimits()
    {
        var k = Assert.ThrowsAny<Exception>(() => RunCommand.Run(Run("/dev/zero"), new StringWriter(), new StringWriter()));
        OneLine(k);
        Assert.Contains("kernel is larger than the 256 MiB limit", k.Message);
        var i = Assert.ThrowsAny<Exception>(() => RunCommand.Run(Run(File("k.bin", [0xF4]), initrd: "/dev/zero"), new StringWriter(), new StringWriter()));
        OneLine(i);
        Assert.Contains("initrd is larger than the 512 MiB limit", i.Message);
    }

    [Fact]
    public void EndlessStreamIsReadOnlyUpToItsLimit()
    {
        var e = Assert.Throws<InputFileException>(() => InputFile.ReadAll("/dev/zero", "test input", 100_000));
        Assert.Equal("/dev/zero: the test input is larger than the 100000 bytes limit", e.Message);
        Assert.Equal(new byte[3], InputFile.ReadAll(File("three", [0, 0, 0]), "x", 3));
    }

    /// <summary>Defect 3: a code file over 64 MiB was an ArgumentException from the environment.</summary>
    [Fact]
    public void CodeFileOver64MiBIsAUsageError()
    {
        string path = Path.Combine(_dir, "big.bin");
        using (var f = new FileStream(path, FileMode.Create)) f.SetLength((64L << 20) + 1); // sparse
        var e = Assert.ThrowsAny<Exception>(() => ExecCommand.Run(path, null, null, new StringWriter()));
        OneLine(e);
        Assert.Contains("64 MiB limit", e.Message);
    }

    /// <summary>Defect 8: an empty --initrd was silently ignored.</summary>
    [Fact]
    public void EmptyInitrdIsAnError()
    {
        var e = Assert.Throws<UsageException>(() => RunCommand.Run(Run(File("k.bin", [0xF4]), initrd: File("empty", [])), new StringWriter(), new StringWriter()));
        Assert.Contains("the initrd is empty", e.Message);
    }

    /// <summary>Defect 5: a gzip bomb expanded without bound ("Stream was too long").</summary>
    [Fact]
    public void GzipBombInitrdStopsAtTheLimit()
    {
        var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            var zeros = new byte[1 << 20];
            for (int i = 0; i < 64; i++) gz.Write(zeros);
        }
        byte[] bomb = ms.ToArray();
        Assert.True(bomb.Length < 1 << 20);
        var e = Assert.Throws<MachineConfigException>(() => InitrdCheck.Validate(bomb, 16L << 20));
        Assert.Contains("expands past the 16 MiB limit", e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    // --- special files (defect 6) ---

    [Fact]
    public async Task FifoInsideTheInitrdDirectoryIsRefusedWithoutBlocking()
    {
        string root = Directory.CreateDirectory(Path.Combine(_dir, "root")).FullName;
        System.IO.File.WriteAllText(Path.Combine(root, "init"), "#!/bin/sh\n");
        MakeFifo(Path.Combine(root, "pipe"));
        var run = Task.Run(() => RunCommand.Run(Run(File("k.bin", [0xF4]), initrdDir: root), new StringWriter(), new StringWriter()));
        var e = await Assert.ThrowsAsync<UsageException>(() => run.WaitAsync(TimeSpan.FromSeconds(60))); // a TimeoutException if it blocked
        Assert.Contains("pipe' is a FIFO, not a regular file", e.Message);
    }

    [Fact]
    public void HostFileTypeTellsFilesApart()
    {
        string fifo = Path.Combine(_dir, "fifo");
        MakeFifo(fifo);
        Assert.Equal(HostFileType.Regular, HostFileType.Of(File("r", [1])));
        Assert.Equal(HostFileType.Directory, HostFileType.Of(_dir));
        Assert.Equal(0x1000u, HostFileType.Of(fifo));
        Assert.Equal(0x2000u, HostFileType.Of("/dev/null"));
        Assert.Null(HostFileType.Of(Path.Combine(_dir, "missing")));
    }

    [Fact]
    public void VerifyOfAnEndlessDeviceNamesTheLimit()
    {
        var err = new StringWriter();
        Assert.Equal(2, HyperLock.Verifier.Cli.VerifyCommand.Run(["/dev/zero"], new StringWriter(), err));
        Assert.Equal("verify: /dev/zero: the image is larger than the 1 GiB limit", err.ToString().TrimEnd());
    }

    // --- unwritable outputs (defect 7) ---

    [Fact]
    public void SerialToAFullDeviceIsAOneLineError()
    {
        var e = Assert.Throws<UsageException>(() => RunCommand.Run(Run(File("k.bin", PrintThenSpin[..10].Append((byte)0xF4).ToArray()), serial: "/dev/full"),
            new StringWriter(), new StringWriter()));
        Assert.Contains("/dev/full: cannot write the serial output", e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    [Fact]
    public void SerialToADirectoryIsAOneLineError()
    {
        var e = Assert.Throws<UsageException>(() => RunCommand.Run(Run(File("k.bin", [0xF4]), serial: _dir), new StringWriter(), new StringWriter()));
        Assert.Contains("cannot write the serial output", e.Message);
    }

    [Fact]
    public void SinkRecordsTheFirstWriteFailureStopsOnceAndDropsTheRest()
    {
        int stops = 0;
        var broken = new FailingStream();
        var sink = new SerialSink(broken, lineBuffered: true, () => stops++);
        foreach (byte b in "ab\ncd\n"u8) sink.WriteByte(b);
        sink.Flush();
        sink.Dispose();
        Assert.Equal(1, stops);
        Assert.Equal(1, broken.Writes);
        Assert.True(sink.ReaderClosed);
        Assert.Contains("Broken pipe", sink.Error);
    }

    private sealed class FailingStream : MemoryStream
    {
        public int Writes;

        public override void Write(byte[] buffer, int offset, int count)
        {
            Writes++;
            throw new IOException("Broken pipe", 32);
        }
    }

    // --- stopping a run from outside (defect 9) ---

    [Fact]
    public async Task AStoppedRunPrintsItsSummaryAndFlushesTheSerialFile()
    {
        using var cts = new CancellationTokenSource();
        string serial = Path.Combine(_dir, "serial.txt");
        var err = new StringWriter();
        var run = Task.Run(() => RunCommand.Run(Run(File("k.bin", PrintThenSpin), serial: serial), new StringWriter(), err, cts.Token));
        await Task.Delay(500);
        cts.Cancel();
        Assert.Equal(RunCommand.TerminateStatus, await run.WaitAsync(TimeSpan.FromSeconds(120)));
        Assert.Matches(@"^stopped by SIGTERM: [\d,]+ instructions, virtual", err.ToString());
        Assert.Equal("K\n", System.IO.File.ReadAllText(serial));
    }

    [Theory]
    [InlineData("TERM", 143, "stopped by SIGTERM")]
    [InlineData("INT", 130, "stopped by SIGINT")]
    public async Task SignalEndsTheBuiltToolsRunWithItsSummary(string signal, int status, string summary)
    {
        using var p = StartCli("run", "--kernel", File("k.bin", PrintThenSpin));
        // The guest's first line shows the run (and the signal handlers) have started.
        Assert.Equal("K", await p.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(120)));
        Send(signal, p.Id);
        string err = await p.StandardError.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(120));
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(120));
        Assert.Equal(status, p.ExitCode);
        Assert.StartsWith(summary + ": ", err.Trim());
        Assert.Single(err.Trim().Split('\n'));
    }

    [Fact]
    public async Task ClosedStdoutEndsTheRun()
    {
        using var p = StartCli("run", "--kernel", File("k.bin", PrintForever));
        Assert.Equal("A", await p.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(120)));
        p.StandardOutput.Close(); // the reader goes away, as `| head -1` does
        var err = p.StandardError.ReadToEndAsync();
        try
        {
            await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(120));
        }
        finally
        {
            if (!p.HasExited) p.Kill(); // the run went on writing to a closed pipe
        }
        Assert.Equal(RunCommand.ClosedOutputStatus, p.ExitCode);
        Assert.Contains("stopped: the serial output's reader closed it", await err);
    }

    private static Process StartCli(params string[] args)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "hyperlock.dll");
        var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }

    private static void Send(string signal, int pid)
    {
        using var kill = Process.Start("kill", ["-" + signal, pid.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }

    private static void MakeFifo(string path)
    {
        using var p = Process.Start("mkfifo", [path])!;
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }
}
