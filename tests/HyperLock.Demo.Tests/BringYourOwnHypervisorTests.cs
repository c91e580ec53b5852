using HyperLock.Cli.Commands;
using HyperLock.Runtime.Loading;
using HyperLock.Verifier;

namespace HyperLock.Demo.Tests;

/// <summary>
/// Issue 11 item 6: a user-supplied hypervisor image (raw bundled code + manifest) runs in place of
/// the mini-KVM, verified at load. The image here is written byte by byte from docs/runtime.md,
/// "Bring your own hypervisor" (the same listing), not built with the project's toolchain.
/// </summary>
public class BringYourOwnHypervisorTests
{
    /// <summary>docs/runtime.md, "A minimal image, by hand": print "hi", exit with the first exit reason.</summary>
    private static byte[] HandWritten()
    {
        byte[] bundle0 =
        [
            0x89, 0xFB,                         // mov ebx, edi
            0x41, 0xBB, 0x0F, 0, 0, 0,          // mov r11d, 15 (Print)
            0xBF, (byte)'h', 0, 0, 0,           // mov edi, 'h'
            0xCD, 0x82,                         // int 0x82
            0x41, 0xBB, 0x0F, 0, 0, 0,          // mov r11d, 15
            0xBF, (byte)'i', 0, 0, 0,           // mov edi, 'i'
            0xCD, 0x82,                         // int 0x82
            0x90, 0x90, 0x90, 0x90,
        ];
        byte[] bundle1 =
        [
            0x89, 0xDF,                         // mov edi, ebx
            0x41, 0xBB, 0x10, 0, 0, 0,          // mov r11d, 16 (Exit)
            0xCD, 0x82,                         // int 0x82
            0xEB, 0xFE,                         // jmp $
            .. Enumerable.Repeat((byte)0x90, 20),
        ];
        Assert.Equal(32, bundle0.Length);
        Assert.Equal(32, bundle1.Length);
        return [.. bundle0, .. bundle1];
    }

    private const string Manifest = "# hi.bin.manifest\ndispatch = 0\ndata = 0x1000\nstack = 0x1000\n";

    private static string TempDir()
    {
        string dir = Path.Combine(Path.GetTempPath(), "hyperlock-byoh-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    [Fact]
    public void AHandWrittenImageRunsBothDemoGuestsThroughTheLibraryApi()
    {
        var image = HypervisorImageFile.FromParts(HandWritten(), Manifest, "hi.bin");
        var r = DemoRunner.Run(confined: true, hypervisor: image);
        Assert.Equal(2, r.Guests.Count);
        foreach (var g in r.Guests)
        {
            Assert.Equal("Finished", g.State);
            Assert.Equal("hi", g.HypercallOutput);
            Assert.Equal(1, g.ExitsByReason.Values.Sum());
            string first = g.ExitsByReason.Keys.Single();
            Assert.Equal(first == "cpuid" ? 10 : first == "io" ? 30 : -1, g.ExitStatus);
            Assert.False(g.Correct); // the guests did not get to print what the demo expects
            Assert.All(g.OtherParties, p => Assert.True(p.Unchanged, p.Party));
        }
        Assert.False(r.Succeeded);
    }

    [Fact]
    public void ARetInPlaceOfANopIsRefusedWithTheVerifiersFinding()
    {
        var code = HandWritten();
        code[0x2C] = 0xC3; // the first padding NOP of bundle 1 becomes ret
        var image = HypervisorImageFile.FromParts(code, Manifest, "hi.bin");
        var e = Assert.Throws<ImageRejectedException>(() => DemoRunner.Run(confined: true, hypervisor: image));
        var f = Assert.Single(e.Verification.Findings);
        Assert.Equal(Rule.NoReturn, f.Rule);
        Assert.Equal(0x2C, f.Offset);
    }

    [Fact]
    public void AnEntryThatIsNotABundleStartIsRefused()
    {
        var image = HypervisorImageFile.FromParts(HandWritten(), "dispatch = 0x2\n", "hi.bin");
        var e = Assert.Throws<ImageRejectedException>(() => DemoRunner.Run(confined: true, hypervisor: image));
        Assert.Contains("0x2", e.Message);
    }

    [Theory]
    [InlineData("data = 0x1000\n", "hi.bin.manifest: no 'dispatch = OFFSET' line")]
    [InlineData("dispatch = 0\nfoo = 1\n", "hi.bin.manifest:2: unknown key 'foo'")]
    [InlineData("dispatch = zero\n", "hi.bin.manifest:1: 'zero' is not a number")]
    [InlineData("dispatch 0\n", "hi.bin.manifest:1: expected 'key = value'")]
    [InlineData("dispatch = 0\nstack = 0x40000000\n", "hi.bin.manifest:2: stack must be")]
    [InlineData("dispatch = 0\nexit.80 = 0\n", "hi.bin.manifest:2: unknown key 'exit.80'")]
    public void ABadManifestIsOneLineNamingFileAndLine(string manifest, string message)
    {
        var e = Assert.Throws<ManifestFormatException>(() => HypervisorImageFile.FromParts(HandWritten(), manifest, "hi.bin"));
        Assert.StartsWith(message, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void TheManifestRoundTripsThroughItsTextForm()
    {
        var m = new Abi.HypervisorManifest { DispatchEntry = 0x40, ExitEntries = new Dictionary<int, long> { [10] = 0x80, [30] = 0xA0 }, DataSize = 0x3000, StackSize = 0x2000 };
        var back = HypervisorImageFile.ParseManifest(HypervisorImageFile.FormatManifest(m), "m");
        Assert.Equal(m.DispatchEntry, back.DispatchEntry);
        Assert.Equal(m.ExitEntries.OrderBy(e => e.Key), back.ExitEntries.OrderBy(e => e.Key));
        Assert.Equal((m.DataSize, m.StackSize), (back.DataSize, back.StackSize));
    }

    [Fact]
    public void TheCommandRunsAnImageFileAndReportsTheGuests()
    {
        string dir = TempDir();
        string path = Path.Combine(dir, "hi.bin");
        File.WriteAllBytes(path, HandWritten());
        File.WriteAllText(path + ".manifest", Manifest);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int status = DemoCommand.Run(unconfined: false, json: false, stdout, stderr, hypervisorPath: path);
        Assert.Equal(1, status); // both guests finished, but not correctly
        Assert.Contains("under its own confined 'hi.bin' instance", stderr.ToString());
        Assert.Contains("hypercall console: hi", stdout.ToString());
        Assert.Contains("FAILED", stdout.ToString());
    }

    [Fact]
    public void TheMiniKvmWrittenByBuildHypervisorRunsTheDemoCorrectly()
    {
        string dir = TempDir();
        string path = Path.Combine(dir, "minikvm.bin");
        Assert.Equal(0, BuildHypervisorCommand.Run(path, new StringWriter()));
        Assert.True(File.Exists(path + ".manifest"));
        int status = DemoCommand.Run(unconfined: false, json: false, new StringWriter(), new StringWriter(), hypervisorPath: path);
        Assert.Equal(0, status);
    }

    [Fact]
    public void ARejectedImageFileExitsWithStatusOneAndTheFindings()
    {
        string dir = TempDir();
        string path = Path.Combine(dir, "bad.bin");
        var code = HandWritten();
        code[0x2C] = 0xC3;
        File.WriteAllBytes(path, code);
        File.WriteAllText(path + ".manifest", Manifest);
        var stderr = new StringWriter();
        int status = DemoCommand.Run(unconfined: false, json: false, new StringWriter(), stderr, hypervisorPath: path);
        Assert.Equal(1, status);
        Assert.Contains("REJECTED, 1 finding", stderr.ToString());
        Assert.Contains("rule 5", stderr.ToString());
    }

    [Fact]
    public void AMissingManifestIsAUsageError()
    {
        string dir = TempDir();
        string path = Path.Combine(dir, "alone.bin");
        File.WriteAllBytes(path, HandWritten());
        var e = Assert.Throws<Cli.UsageException>(() => DemoCommand.Run(false, false, new StringWriter(), new StringWriter(), hypervisorPath: path));
        Assert.Equal($"{path}.manifest: no such file", e.Message);
    }

    [Fact]
    public void AnEndlessImageFileIsRefusedAtTheSizeLimit()
    {
        // /dev/zero reports length 0 and never ends: it used to be read whole (out of memory).
        var e = Assert.Throws<Cli.UsageException>(() => DemoCommand.Run(false, false, new StringWriter(), new StringWriter(), hypervisorPath: "/dev/zero"));
        Assert.Equal("/dev/zero: the hypervisor image is larger than the 1 MiB limit", e.Message);
    }
}
