using HyperLock.Abi;
using HyperLock.Runtime.Loading;

namespace HyperLock.Runtime.Tests;

public class LoaderTests
{
    [Fact]
    public void ARejectedImageIsRefusedWithTheVerifiersFindings()
    {
        using var rt = new IsolationRuntime();
        // cli (forbidden, rule 6) then a ret (rule 5), padded to one bundle.
        var code = new byte[32];
        Array.Fill(code, (byte)0x90);
        code[0] = 0xFA;
        code[1] = 0xC3;
        ulong poolBefore = rt.Pool.Next;
        var ex = Assert.Throws<ImageRejectedException>(() => rt.Load(new HypervisorImage(code, new HypervisorManifest { DispatchEntry = 0 })));
        Assert.False(ex.Verification.Accepted);
        Assert.Contains(ex.Verification.Findings, f => f.Offset == 0);
        Assert.Contains(ex.Verification.Findings, f => f.Offset == 1);
        Assert.DoesNotContain('\n', ex.Message);
        Assert.Equal(poolBefore, rt.Pool.Next); // nothing was loaded
    }

    [Fact]
    public void AnEntryThatIsNotAValidatedBundleStartIsRefused()
    {
        var good = TestHypervisors.CpuidAndIo();
        using var rt = new IsolationRuntime();
        Assert.Throws<ImageRejectedException>(() => rt.Load(good with { Manifest = good.Manifest with { DispatchEntry = 1 } }));
        Assert.Throws<ImageRejectedException>(() => rt.Load(good with { Manifest = good.Manifest with { DispatchEntry = good.Code.Length } }));
        Assert.Throws<ImageRejectedException>(() => rt.Load(good with
        {
            Manifest = good.Manifest with { ExitEntries = new Dictionary<int, long> { [10] = 33 } },
        }));
    }

    [Fact]
    public void TheCodeIsOnePhysicalCopySharedByEveryInstance()
    {
        using var rt = new IsolationRuntime();
        var image = rt.Load(TestHypervisors.CpuidAndIo());
        var a = rt.AddGuest(TestGuests.CpuidAndIo("a"), image);
        var b = rt.AddGuest(TestGuests.CpuidAndIo("b"), image);
        var code = new byte[image.Image.Code.Length];
        rt.Board.Memory.ReadBytes(image.CodeFrames[0], code.AsSpan(0, Math.Min(code.Length, 4096)));
        Assert.Equal(image.Image.Code.AsSpan(0, Math.Min(code.Length, 4096)).ToArray(), code.AsSpan(0, Math.Min(code.Length, 4096)).ToArray());
        for (ulong off = 0; off < (ulong)image.Image.Code.Length; off += 0x1000)
        {
            var pa = a.Space.Walk(ConfinedLayout.Code + off)!.Value;
            var pb = b.Space.Walk(ConfinedLayout.Code + off)!.Value;
            Assert.Equal(pa.Translate(ConfinedLayout.Code + off), pb.Translate(ConfinedLayout.Code + off));
        }
    }
}
