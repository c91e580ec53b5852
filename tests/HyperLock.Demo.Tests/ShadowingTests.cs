using HyperLock.Abi;
using HyperLock.DeviceModel;
using HyperLock.Emulator.Builders;
using HyperLock.Hypervisor;
using HyperLock.Runtime;

namespace HyperLock.Demo.Tests;

/// <summary>
/// Hypervisor shadowing on the demo's two-guest machine, after both guests ran under their own
/// confined mini-KVM instance: one physical copy of the code mapped read-only into both; data,
/// stack, VMCS and EPT per instance; no writable page shared; neither instance nor its guest can
/// address the other's memory. Read from the page tables and EPTs themselves.
/// </summary>
public class ShadowingTests
{
    private static (IsolationRuntime Rt, Instance A, Instance B) RunTwoGuestMachine()
    {
        var rt = new IsolationRuntime();
        var image = rt.Load(MiniKvm.Build());
        var a = rt.AddGuest(DemoGuests.Primes(), image, true, new GuestDeviceModel("primes"));
        var b = rt.AddGuest(DemoGuests.Ticker(), image, true, new GuestDeviceModel("ticker"));
        rt.Run();
        Assert.Equal(InstanceState.Finished, a.State);
        Assert.Equal(InstanceState.Finished, b.State);
        return (rt, a, b);
    }

    private static IEnumerable<(ulong Linear, ulong Frame, bool Writable, bool Executable)> Pages(IsolationRuntime rt, Instance inst)
    {
        foreach (var m in PageTableBuilder.Mappings(rt.Board.Memory, inst.Cr3))
            for (ulong o = 0; o < m.Size; o += 0x1000)
                yield return (m.Linear + o, m.Physical + o, m.Writable, !m.NoExecute);
    }

    /// <summary>Every frame that belongs to <paramref name="inst"/> alone (its own and its guest's).</summary>
    private static HashSet<ulong> OwnFrames(IsolationRuntime rt, Instance inst)
    {
        var mem = rt.Board.Memory;
        var set = new HashSet<ulong>(inst.DataFrames.Concat(inst.StackFrames)
            .Concat([inst.GdtFrame, inst.IdtFrame, inst.TssFrame, inst.VmcsFrame, inst.FxFrame, inst.MsrBitmapFrame])
            .Concat(PageTableBuilder.TableFrames(mem, inst.Cr3)));
        for (ulong o = 0; o < ConfinedLayout.IstAreaSize; o += 0x1000) set.Add(inst.IstFrames + o);
        for (ulong o = 0; o < inst.GuestSize; o += 0x1000) set.Add(inst.GuestBase + o);
        return set;
    }

    [Fact]
    public void TheCodeIsOnePhysicalCopyMappedReadOnlyIntoBothInstances()
    {
        var (rt, a, b) = RunTwoGuestMachine();
        using (rt)
        {
            var codeA = Pages(rt, a).Where(p => p.Linear >= ConfinedLayout.Code && p.Linear < ConfinedLayout.Data).ToList();
            var codeB = Pages(rt, b).Where(p => p.Linear >= ConfinedLayout.Code && p.Linear < ConfinedLayout.Data).ToList();
            Assert.NotEmpty(codeA);
            Assert.Equal(codeA.Select(p => (p.Linear, p.Frame)), codeB.Select(p => (p.Linear, p.Frame)));
            Assert.Equal(a.Image.CodeFrames, codeA.Select(p => p.Frame));
            Assert.All(codeA.Concat(codeB), p => Assert.False(p.Writable, $"code page 0x{p.Linear:x} writable"));
        }
    }

    [Fact]
    public void NoWritablePageIsSharedAndNeitherInstanceMapsTheOthersFrames()
    {
        var (rt, a, b) = RunTwoGuestMachine();
        using (rt)
        {
            foreach (var (self, other) in new[] { (a, b), (b, a) })
            {
                var otherPages = Pages(rt, other).Select(p => p.Frame).ToHashSet();
                var otherOwn = OwnFrames(rt, other);
                foreach (var p in Pages(rt, self))
                {
                    if (p.Writable) Assert.DoesNotContain(p.Frame, otherPages);
                    Assert.DoesNotContain(p.Frame, otherOwn);
                }
            }
            Assert.NotEqual(a.VmcsFrame, b.VmcsFrame);
            Assert.NotEqual(a.Ept.Root, b.Ept.Root);
            Assert.Empty(a.DataFrames.Intersect(b.DataFrames));
            Assert.Empty(a.StackFrames.Intersect(b.StackFrames));
        }
    }

    [Fact]
    public void EachGuestsEptReachesOnlyItsOwnMemory()
    {
        var (rt, a, b) = RunTwoGuestMachine();
        using (rt)
        {
            foreach (var inst in new[] { a, b })
            {
                var maps = EptBuilder.Mappings(rt.Board.Memory, inst.Ept.Root);
                Assert.NotEmpty(maps);
                Assert.All(maps, m => Assert.True(m.HostPhysical >= inst.GuestBase && m.HostPhysical + m.Size <= inst.GuestBase + inst.GuestSize,
                    $"{inst.Guest.Name}: gpa 0x{m.GuestPhysical:x} → 0x{m.HostPhysical:x} outside its memory"));
            }
        }
    }
}
