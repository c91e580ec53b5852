using System.Text.Json;
using HyperLock.Verifier.Cli;
using Xunit;

namespace HyperLock.Verifier.Tests;

public sealed class CliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("hl-verify-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, byte[] bytes)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = VerifyCommand.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    private static byte[] Nops(int n) => Enumerable.Repeat((byte)0x90, n).ToArray();

    [Fact]
    public void AcceptedImageExitsZero()
    {
        var (code, output, err) = Run(Write("ok.bin", Nops(64)), "--entry", "0x20");
        Assert.Equal(0, code);
        Assert.Contains("ACCEPTED", output);
        Assert.Equal("", err);
    }

    [Fact]
    public void RejectedImageExitsOneWithFindings()
    {
        var img = Nops(32);
        img[0] = 0xC3;
        var (code, output, _) = Run(Write("ret.bin", img));
        Assert.Equal(1, code);
        Assert.Contains("rule 5", output);
    }

    [Fact]
    public void JsonOutputIsParseable()
    {
        var img = Nops(32);
        img[4] = 0xFA; // cli
        var (code, output, _) = Run(Write("cli.bin", img), "--json");
        Assert.Equal(1, code);
        using var doc = JsonDocument.Parse(output);
        Assert.False(doc.RootElement.GetProperty("accepted").GetBoolean());
        var f = doc.RootElement.GetProperty("findings")[0];
        Assert.Equal(4, f.GetProperty("offset").GetInt32());
        Assert.Equal(6, f.GetProperty("rule").GetInt32());
        Assert.Contains("cli", f.GetProperty("instruction").GetString());
    }

    [Fact]
    public void GateOptionChangesTheAllowedVector()
    {
        var img = Nops(32);
        img[0] = 0xCD;
        img[1] = 0x90;
        Assert.Equal(1, Run(Write("g.bin", img)).Code);
        Assert.Equal(0, Run(Write("g.bin", img), "--gate", "0x90").Code);
        Assert.Equal(0, Run(Write("g.bin", img), "--gate", "144").Code);
    }

    [Fact]
    public void UnalignedEntryIsRule8()
    {
        var (code, output, _) = Run(Write("e.bin", Nops(64)), "--entry", "3");
        Assert.Equal(1, code);
        Assert.Contains("rule 8", output);
    }

    [Theory]
    [InlineData("missing")]
    [InlineData("empty")]
    [InlineData("badgate")]
    [InlineData("noargs")]
    [InlineData("unknown")]
    [InlineData("badentry")]
    public void UnusableInputExitsTwoWithOneLine(string what)
    {
        string ok = Write("x.bin", Nops(32));
        string[] args = what switch
        {
            "missing" => [Path.Combine(_dir, "nope.bin")],
            "empty" => [Write("empty.bin", [])],
            "badgate" => [ok, "--gate", "300"],
            "noargs" => [],
            "unknown" => [ok, "--frobnicate"],
            _ => [ok, "--entry", "zz"],
        };
        var (code, output, err) = Run(args);
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Single(err.TrimEnd('\n').Split('\n'));
        Assert.StartsWith("verify: ", err);
    }

    [Fact]
    public void EndlessInputIsRefusedAtTheNamedLimit()
    {
        var (code, output, err) = Run("/dev/zero");
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Equal($"verify: /dev/zero: the image is larger than the 1 GiB limit", err.TrimEnd());
    }

    [Fact]
    public void MappedFileGivesTheSameReportAsTheBytes()
    {
        var img = Nops(4096);
        img[100] = 0xFA; // cli
        img[2000] = 0xC3; // ret
        var (code, output, _) = Run(Write("m.bin", img), "--json");
        Assert.Equal(1, code);
        Assert.Equal(ImageVerifier.Verify(img).ToJson("m.bin"), output);
    }
}
