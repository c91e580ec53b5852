using HyperLock.Abi;
using HyperLock.Emulator.Builders;
using HyperLock.Runtime.Spaces;

namespace HyperLock.Runtime.Tests;

/// <summary>
/// The address-space map test (issue 10 item 2): walk every instance's page tables and check the
/// whole map against the layout — every mapping in exactly one region, with exactly its rights,
/// onto exactly the frames that region may use; nothing else; no page-table frame mapped.
/// </summary>
public class AddressSpaceMapTests
{
    private const ulong Page = 0x1000;

    private static IsolationRuntime TwoInstances(bool mapSomeGuestPages)
    {
        var rt = new IsolationRuntime();
        var image = rt.Load(TestHypervisors.CpuidAndIo());
        var a = rt.AddGuest(TestGuests.CpuidAndIo("a"), image);
        var b = rt.AddGuest(TestGuests.CpuidAndIo("b"), image);
        if (mapSomeGuestPages)
        {
            Services.ServiceTable.MapGfnToPfn(a, 0);
            Services.ServiceTable.MapGfnToPfn(a, 0x90);
            Services.ServiceTable.MapGfnToPfn(b, a.GuestPages - 1);
        }
        return rt;
    }

    /// <summary>The region a linear page belongs to, with its rights and the physical frame it must map; null when the page belongs to no region.</summary>
    private static (Region Region, bool Writable, bool NoExecute, ulong Frame)? Expected(IsolationRuntime rt, Instance inst, ulong linear)
    {
        ulong Index(ulong start) => (linear - start) / Page;
        if (linear >= ConfinedLayout.Code && Index(ConfinedLayout.Code) < (ulong)inst.Image.CodeFrames.Count)
            return (Region.Code, false, false, inst.Image.CodeFrames[(int)Index(ConfinedLayout.Code)]);
        if (linear >= ConfinedLayout.Data && Index(ConfinedLayout.Data) < (ulong)inst.DataFrames.Length)
            return (Region.Data, true, true, inst.DataFrames[Index(ConfinedLayout.Data)]);
        if (linear >= ConfinedLayout.Stack && Index(ConfinedLayout.Stack) < (ulong)inst.StackFrames.Length)
            return (Region.Stack, true, true, inst.StackFrames[Index(ConfinedLayout.Stack)]);
        if (linear >= ConfinedLayout.GuestWindow && Index(ConfinedLayout.GuestWindow) < inst.GuestPages)
            return (Region.GuestWindow, true, true, inst.GuestBase + Index(ConfinedLayout.GuestWindow) * Page);
        if (linear >= ConfinedLayout.Trampoline && Index(ConfinedLayout.Trampoline) < (ulong)rt.TrampolineFrames.Count)
            return (Region.Trampoline, false, false, rt.TrampolineFrames[(int)Index(ConfinedLayout.Trampoline)]);
        if (linear == ConfinedLayout.Gdt) return (Region.SystemTables, false, true, inst.GdtFrame);
        if (linear == ConfinedLayout.Idt) return (Region.SystemTables, false, true, inst.IdtFrame);
        if (linear == ConfinedLayout.Tss) return (Region.SystemTables, false, true, inst.TssFrame);
        if (linear >= ConfinedLayout.IstStack && linear - ConfinedLayout.IstStack < ConfinedLayout.IstAreaSize
            && ConfinedLayout.IsIstStackPage(linear - ConfinedLayout.IstStack)) // the guard pages between the stacks are not
            return (Region.IstStack, true, true, inst.IstFrames + Index(ConfinedLayout.IstStack) * Page);
        return null;
    }

    /// <summary>Two instances of the service-probe hypervisor after both ran their guests (it maps a guest page on demand).</summary>
    private static IsolationRuntime TwoInstancesAfterARun()
    {
        var rt = new IsolationRuntime();
        var image = rt.Load(ServiceTests.Probe());
        rt.AddGuest(TestGuests.CpuidAndIo("a"), image);
        rt.AddGuest(TestGuests.CpuidAndIo("b"), image);
        rt.Run(5_000_000);
        Assert.All(rt.Instances, i => Assert.Equal(InstanceState.Finished, i.State));
        Assert.All(rt.Instances, i => Assert.NotNull(i.Space.Walk(ConfinedLayout.GuestWindow + 0x90 * Page)));
        return rt;
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void EveryMappingOfEveryInstanceIsInTheLayoutWithItsRightsAndFrames(int when)
    {
        using var rt = when == 2 ? TwoInstancesAfterARun() : TwoInstances(mapSomeGuestPages: when == 1);
        var allTableFrames = new HashSet<ulong>(PageTableBuilder.TableFrames(rt.Board.Memory, rt.HostSpace.Root));
        foreach (var inst in rt.Instances)
            allTableFrames.UnionWith(PageTableBuilder.TableFrames(rt.Board.Memory, inst.Cr3));
        foreach (var inst in rt.Instances)
            allTableFrames.UnionWith(EptTableFrames(rt, inst));

        foreach (var inst in rt.Instances)
        {
            Assert.True(inst.Confined);
            Assert.NotEqual(rt.HostSpace.Root, inst.Cr3);
            var seen = new HashSet<Region>();
            foreach (var m in PageTableBuilder.Mappings(rt.Board.Memory, inst.Cr3))
            {
                Assert.Equal(Page, m.Size); // the runtime maps 4 KiB pages only
                Assert.False(m.User, $"0x{m.Linear:x} user-accessible");
                Assert.False(m.Global, $"0x{m.Linear:x} global");
                var e = Expected(rt, inst, m.Linear);
                Assert.True(e.HasValue, $"instance {inst.Id}: 0x{m.Linear:x} -> 0x{m.Physical:x} is outside the layout");
                Assert.Equal(e!.Value.Writable, m.Writable);
                Assert.Equal(e.Value.NoExecute, m.NoExecute);
                Assert.Equal(e.Value.Frame, m.Physical);
                Assert.DoesNotContain(m.Physical, allTableFrames);
                Assert.NotEqual(inst.VmcsFrame, m.Physical);
                Assert.NotEqual(inst.MsrBitmapFrame, m.Physical);
                foreach (var other in rt.Instances)
                    if (other != inst) AssertNotOwnedBy(other, m.Physical);
                seen.Add(e.Value.Region);
            }
            // Nothing is missing either: every region but the on-demand guest window is present.
            foreach (var r in new[] { Region.Code, Region.Data, Region.Stack, Region.Trampoline, Region.SystemTables, Region.IstStack })
                Assert.Contains(r, seen);
        }
    }

    [Fact]
    public void TheStackGuardUnrequestedGuestPagesAndHostMemoryAreUnmapped()
    {
        using var rt = TwoInstances(true);
        var a = rt.Instances[0];
        Assert.Equal(a.DataFrames[0], a.Space.Walk(ConfinedLayout.Data)!.Value.Physical);
        Assert.Null(a.Space.Walk(ConfinedLayout.Stack - Page)); // the guard page below the stack
        Assert.Null(a.Space.Walk(ConfinedLayout.GuestWindow + Page)); // gfn 1 was never asked for
        Assert.Null(a.Space.Walk(HostLayout.HostStack)); // the host's memory is not there
        foreach (int ist in new[] { 2, 3, 4 }) // a guard page below each of the NMI, #DF and #MC stacks
        {
            Assert.NotNull(a.Space.Walk(ConfinedLayout.IstStackTop(ist) - Page));
            Assert.Null(a.Space.Walk(ConfinedLayout.IstStackTop(ist) - 2 * Page));
        }
    }

    private static void AssertNotOwnedBy(Instance other, ulong frame)
    {
        Assert.DoesNotContain(frame, other.DataFrames);
        Assert.DoesNotContain(frame, other.StackFrames);
        Assert.False(frame >= other.IstFrames && frame < other.IstFrames + ConfinedLayout.IstAreaSize);
        Assert.False(frame >= other.GuestBase && frame < other.GuestBase + other.GuestSize);
        Assert.NotEqual(other.GdtFrame, frame);
        Assert.NotEqual(other.IdtFrame, frame);
        Assert.NotEqual(other.TssFrame, frame);
        Assert.NotEqual(other.VmcsFrame, frame);
        Assert.NotEqual(other.MsrBitmapFrame, frame);
    }

    private static IEnumerable<ulong> EptTableFrames(IsolationRuntime rt, Instance inst)
    {
        var frames = new List<ulong>();
        void Walk(ulong table, int level)
        {
            frames.Add(table);
            if (level == 1) return;
            for (ulong i = 0; i < 512; i++)
            {
                ulong e = rt.Board.Memory.Read(table + i * 8, 8);
                if ((e & 7) == 0 || (level == 2 && (e & 0x80) != 0)) continue;
                Walk(e & EptBuilder.AddressMask, level - 1);
            }
        }
        Walk(inst.Ept.Root, 4);
        return frames;
    }
}
