using HyperLock.Cli;
using HyperLock.Cli.Commands;
using Snapshooter.Xunit;

namespace HyperLock.Emulator.Tests.Cli;

public class ExecCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("hyperlock-exec-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string File(string name, byte[] bytes)
    {
        string p = Path.Combine(_dir, name);
        System.IO.File.WriteAllBytes(p, bytes);
        return p;
    }

    private string File(string name, string text) => File(name, System.Text.Encoding.UTF8.GetBytes(text));

    // mov ecx, 1000; xor eax, eax; l: add rax, rcx; dec rcx; jnz l; int3
    private static readonly byte[] Countdown = [0xB9, 0xE8, 0x03, 0x00, 0x00, 0x31, 0xC0, 0x48, 0x01, 0xC8, 0x48, 0xFF, 0xC9, 0x75, 0xF8, 0xCC];

    [Fact]
    public void PrintsFinalStateAsJson()
    {
        var output = new StringWriter();
        int status = ExecCommand.Run(File("c.bin", Countdown), null, null, output);
        Assert.Equal(0, status);
        Snapshot.Match(output.ToString());
    }

    [Fact]
    public void StateFileSetsRegistersXmmAndScratch()
    {
        // movdqu xmm1, [0x10000010]; mov rax, [0x10000010]; int3
        byte[] code = [0xF3, 0x0F, 0x6F, 0x0C, 0x25, 0x10, 0x00, 0x00, 0x10, 0x48, 0x8B, 0x04, 0x25, 0x10, 0x00, 0x00, 0x10, 0xCC];
        string state = """
            { "rbx": "0x1234", "xmm0": "0xffeeddccbbaa99887766554433221100",
              "scratch": [ { "offset": 16, "hex": "00112233445566778899aabbccddeeff" } ] }
            """;
        var output = new StringWriter();
        int status = ExecCommand.Run(File("c.bin", code), File("s.json", state), "100", output);
        string json = output.ToString();
        Assert.Equal(0, status);
        Assert.Contains("\"rbx\": \"0x1234\"", json);
        Assert.Contains("\"rax\": \"0x7766554433221100\"", json);
        Assert.Contains("\"xmm0\": \"0xffeeddccbbaa99887766554433221100\"", json);
        // The SPEC's convention: bytes 00 11 .. ff loaded by movdqu print most significant first.
        Assert.Contains("\"xmm1\": \"0xffeeddccbbaa99887766554433221100\"", json);
        Assert.Contains("\"rip\": \"0x400012\"", json);
    }

    [Fact]
    public void InstructionLimitExitsWith124()
    {
        var output = new StringWriter();
        int status = ExecCommand.Run(File("c.bin", Countdown), null, "10", output);
        Assert.Equal(124, status);
        Assert.Contains("\"stop\": \"max-steps\"", output.ToString());
        Assert.Contains("\"steps\": 10,", output.ToString());
    }

    [Fact]
    public void GuestFaultIsReportedAsStop()
    {
        // mov rax, [0]: nothing is mapped at 0 -> #PF(user, read, not present) = error code 4,
        // printed in hex with 0x like every error code.
        byte[] code = [0x48, 0x8B, 0x04, 0x25, 0x00, 0x00, 0x00, 0x00, 0xCC];
        var output = new StringWriter();
        ExecCommand.Run(File("c.bin", code), null, null, output);
        Assert.Contains("\"stop\": \"#PF(0x4)\"", output.ToString());
        Assert.Contains("\"rip\": \"0x400000\"", output.ToString());
    }

    [Theory]
    [InlineData("{", "not valid JSON")]
    [InlineData("{\"rax\": -5}", "field 'rax' must be a number from 0 to 2^64-1 or a hex string")]
    [InlineData("{\"rax\": \"0x\"}", "field 'rax' must be a number")]
    [InlineData("{\"rax\": \"0x10000000000000000\"}", "field 'rax' must be a number")]
    [InlineData("{\"rax\": true}", "field 'rax' must be a number")]
    [InlineData("{\"bogus\": \"0x1\"}", "unknown state field 'bogus'")]
    [InlineData("{\"scratch\": [{\"offset\": 1048575, \"hex\": \"0011\"}]}", "runs past the 1 MiB scratch area")]
    [InlineData("{\"xmm3\": \"0x1ffeeddccbbaa99887766554433221100\"}", "must be a 128-bit hex string")]
    public void BadStateFilesAreUsageErrors(string state, string expected)
    {
        var e = Assert.Throws<UsageException>(() => ExecCommand.Run(File("c.bin", Countdown), File("s.json", state), null, new StringWriter()));
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    [Fact]
    public void MissingAndEmptyCodeFilesAreUsageErrors()
    {
        Assert.Throws<UsageException>(() => ExecCommand.Run(Path.Combine(_dir, "missing.bin"), null, null, new StringWriter()));
        Assert.Throws<UsageException>(() => ExecCommand.Run(File("empty.bin", Array.Empty<byte>()), null, null, new StringWriter()));
        Assert.Throws<UsageException>(() => ExecCommand.Run(File("c.bin", Countdown), null, "12Q", new StringWriter()));
    }
}
