using HyperLock.Cli;
using HyperLock.Cli.Commands;
using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Processor.Execution;
using HyperLock.Emulator.Loaders;

namespace HyperLock.Emulator.Tests.Cli;

/// <summary>The exec state file: numbers or hex strings, comment keys, and every malformed value a one-line error.</summary>
public class ExecStateFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("hyperlock-state-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private SnippetEnvironment Apply(string json)
    {
        string path = Path.Combine(_dir, "s.json");
        File.WriteAllText(path, json);
        var env = new SnippetEnvironment([0xCC]);
        try
        {
            ExecStateFile.Apply(env, path);
            return env;
        }
        catch
        {
            env.Dispose();
            throw;
        }
    }

    private UsageException Bad(string json)
    {
        var e = Assert.Throws<UsageException>(() => Apply(json).Dispose());
        Assert.DoesNotContain("\n", e.Message);
        return e;
    }

    [Theory]
    [InlineData("\"0x1234\"", 0x1234UL)]
    [InlineData("\"1234\"", 0x1234UL)]          // strings are hex, with or without 0x
    [InlineData("\"0XfF\"", 0xFFUL)]
    [InlineData("4660", 4660UL)]                // numbers are decimal
    [InlineData("18446744073709551615", ulong.MaxValue)]
    [InlineData("\"ffffffffffffffff\"", ulong.MaxValue)]
    public void RegistersAreNumbersOrHexStrings(string value, ulong expected)
    {
        using var env = Apply($"{{\"rbx\": {value}, \"r15\": {value}}}");
        Assert.Equal(expected, env.Cpu.R(Reg.Rbx));
        Assert.Equal(expected, env.Cpu.R(15));
    }

    [Fact]
    public void XmmTakesHexWithoutPrefixAndSmallNumbers()
    {
        using var env = Apply("{\"xmm2\": \"ffeeddccbbaa99887766554433221100\", \"xmm3\": 258}");
        Assert.Equal(0x7766554433221100UL, env.Cpu.X(2).Lo);
        Assert.Equal(0xFFEEDDCCBBAA9988UL, env.Cpu.X(2).Hi);
        Assert.Equal(258UL, env.Cpu.X(3).Lo);
        Assert.Equal(0UL, env.Cpu.X(3).Hi);
    }

    [Fact]
    public void UnderscoreKeysAreComments()
    {
        using var env = Apply("""
            { "_about": "sets rax", "rax": 7, "_n": [1, {"x": 2}],
              "scratch": [ { "_what": "a word", "offset": "10", "hex": "2a00" } ] }
            """);
        Assert.Equal(7UL, env.Cpu.R(Reg.Rax));
        Assert.Equal(0x2A, env.ReadScratch()[0x10]);
    }

    [Theory]
    [InlineData("{\"frobnicate\": 1}", "unknown state field 'frobnicate'")]
    [InlineData("{\"scratch\": [{\"offset\": 0, \"hex\": \"00\", \"size\": 1}]}", "unknown scratch field 'size'")]
    public void OtherUnknownKeysAreErrors(string json, string expected) => Assert.Contains(expected, Bad(json).Message);

    /// <summary>Defect 1: a scratch "hex" that is not a string was a stack trace.</summary>
    [Theory]
    [InlineData("5")]
    [InlineData("[0, 17]")]
    [InlineData("true")]
    [InlineData("null")]
    [InlineData("{\"a\": 1}")]
    public void NonStringScratchHexIsAUsageError(string hex) =>
        Assert.Contains("must be a string of hex byte pairs", Bad($"{{\"scratch\": [{{\"offset\": 0, \"hex\": {hex}}}]}}").Message);

    [Theory]
    [InlineData("true")]
    [InlineData("[1]")]
    [InlineData("-1")]
    [InlineData("1.5")]
    [InlineData("\"zz\"")]
    public void NonNumericScratchOffsetIsAUsageError(string offset) =>
        Assert.Contains("scratch 'offset' must be a number", Bad($"{{\"scratch\": [{{\"offset\": {offset}, \"hex\": \"00\"}}]}}").Message);

    /// <summary>Defect 2: an offset near 2^64 wrapped past the bounds check and was silently accepted.</summary>
    [Theory]
    [InlineData("18446744073709551615", 1)]
    [InlineData("18446744073709551614", 2)]
    [InlineData("\"fffffffffffff000\"", 0x1000)]
    [InlineData("1048575", 2)]
    [InlineData("1048576", 1)]
    public void OffsetsThatWouldWrapOrOverrunAreRefused(string offset, int bytes)
    {
        string hex = new('a', bytes * 2);
        Assert.Contains("runs past the 1 MiB scratch area", Bad($"{{\"scratch\": [{{\"offset\": {offset}, \"hex\": \"{hex}\"}}]}}").Message);
    }

    [Fact]
    public void ScratchMayEndExactlyAtTheAreaEnd()
    {
        using var env = Apply("{\"scratch\": [{\"offset\": 1048574, \"hex\": \"beef\"}]}");
        var s = env.ReadScratch();
        Assert.Equal(0xBE, s[^2]);
        Assert.Equal(0xEF, s[^1]);
    }

    [Theory]
    [InlineData(0, 0u, false, "#DE")]
    [InlineData(13, 0u, true, "#GP(0x0)")]
    [InlineData(14, 6u, true, "#PF(0x6)")]
    [InlineData(14, 0x15u, true, "#PF(0x15)")]
    [InlineData(3, 0u, false, "int3")]
    public void ExecPrintsEveryErrorCodeInHexWith0x(int vector, uint code, bool hasCode, string expected) =>
        Assert.Equal(expected, ExecCommand.FormatStop(new StopReason(StopKind.Exception, vector, code, hasCode)));
}
