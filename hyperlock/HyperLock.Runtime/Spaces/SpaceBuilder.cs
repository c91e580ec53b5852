using HyperLock.Abi;
using HyperLock.Emulator.Builders;
using HyperLock.Emulator.Memory;
using HyperLock.Runtime.Trampoline;

namespace HyperLock.Runtime.Spaces;

/// <summary>
/// Builds the page tables of the host space and of each confined space with the emulator's
/// <see cref="PageTableBuilder"/>; the table frames come from the runtime's pool and are mapped
/// nowhere. Guest pages are mapped into the window on demand (MapGfnToPfn).
/// </summary>
internal static class SpaceBuilder
{
    private const PageFlags RX = PageFlags.None, R = PageFlags.NoExecute, RW = PageFlags.Writable | PageFlags.NoExecute;
    private const ulong Page = FrameAllocator.FrameSize;

    /// <summary>The host space: the host stack and slots identity-mapped, the trampoline, the host's system tables and IST stack.</summary>
    public static PageTableBuilder Host(PhysicalMemory memory, ulong[] trampolineFrames)
    {
        var pt = new PageTableBuilder(memory, new FrameAllocator(memory, HostLayout.HostTables, HostLayout.HostTablesEnd));
        for (ulong a = HostLayout.HostStack; a < HostLayout.Slots + Page; a += Page) pt.Map4K(a, a, RW);
        MapShared(pt, trampolineFrames);
        pt.Map4K(ConfinedLayout.Gdt, HostLayout.HostGdt, R);
        pt.Map4K(ConfinedLayout.Idt, HostLayout.HostIdt, R);
        pt.Map4K(ConfinedLayout.Tss, HostLayout.HostTss, R);
        MapIstStacks(pt, HostLayout.HostIst);
        return pt;
    }

    /// <summary>A confined space for <paramref name="instance"/> (its frames already allocated).</summary>
    public static PageTableBuilder Confined(PhysicalMemory memory, FrameAllocator pool, Instance instance, ulong[] trampolineFrames)
    {
        var pt = new PageTableBuilder(memory, pool);
        MapShared(pt, trampolineFrames);
        pt.Map4K(ConfinedLayout.Gdt, instance.GdtFrame, R);
        pt.Map4K(ConfinedLayout.Idt, instance.IdtFrame, R);
        pt.Map4K(ConfinedLayout.Tss, instance.TssFrame, R);
        MapIstStacks(pt, instance.IstFrames);
        MapHypervisor(pt, instance);
        return pt;
    }

    /// <summary>The hypervisor's own regions: code (shared frames), data, stack.</summary>
    public static void MapHypervisor(PageTableBuilder pt, Instance instance)
    {
        for (int k = 0; k < instance.Image.CodeFrames.Count; k++) pt.Map4K(ConfinedLayout.Code + (ulong)k * Page, instance.Image.CodeFrames[k], RX);
        for (int k = 0; k < instance.DataFrames.Length; k++) pt.Map4K(ConfinedLayout.Data + (ulong)k * Page, instance.DataFrames[k], RW);
        for (int k = 0; k < instance.StackFrames.Length; k++) pt.Map4K(ConfinedLayout.Stack + (ulong)k * Page, instance.StackFrames[k], RW);
    }

    /// <summary>Maps guest page <paramref name="gfn"/> into the window (read + write, no execute).</summary>
    public static void MapGuestPage(PageTableBuilder pt, Instance instance, ulong gfn) =>
        pt.Map4K(ConfinedLayout.GuestWindow + gfn * Page, instance.GuestBase + gfn * Page, RW);

    /// <summary>The four IST stacks of a space (the guard pages between them stay unmapped).</summary>
    private static void MapIstStacks(PageTableBuilder pt, ulong areaFrames)
    {
        for (ulong o = 0; o < ConfinedLayout.IstAreaSize; o += Page)
            if (ConfinedLayout.IsIstStackPage(o)) pt.Map4K(ConfinedLayout.IstStack + o, areaFrames + o, RW);
    }

    private static void MapShared(PageTableBuilder pt, ulong[] trampolineFrames)
    {
        for (int k = 0; k < trampolineFrames.Length; k++) pt.Map4K(ConfinedLayout.Trampoline + (ulong)k * Page, trampolineFrames[k], RX);
    }
}
