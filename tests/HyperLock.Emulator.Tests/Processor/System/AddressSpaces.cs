using HyperLock.Emulator.Processor;
using static HyperLock.Emulator.Tests.Processor.SystemInstructions.BareMetal;

namespace HyperLock.Emulator.Tests.Processor.SystemInstructions;

/// <summary>
/// Two 4-level address spaces, A and B, on a <see cref="BareMetal"/> in 64-bit mode. Both
/// identity-map the first 10 MiB with 2 MiB pages (code, stacks, tables, results); linear
/// 0xA00000 + k·4 KiB (k &lt; 16, <see cref="Small"/>) goes through a page table of each space's
/// own, to frame k of the space's pool (A: 0x400000 + k·4 KiB, B: 0x480000 + k·4 KiB, each frame
/// starting with its own address); linear 0xC00000 (<see cref="Large"/>) is a 2 MiB page to
/// 0x600000 in both. Page 8 of both spaces maps the same frame as a global page (PTE.G), which
/// takes effect once CR4.PGE is set.
/// </summary>
internal sealed class AddressSpaces
{
    public const ulong SpaceA = 0x300000, SpaceB = 0x310000;
    public const ulong SmallBase = 0xA00000, LargeBase = 0xC00000;
    public const ulong PoolA = 0x400000, PoolB = 0x480000, LargeFrame = 0x600000, OtherLargeFrame = 0x800000;
    public const int GlobalPage = 8;

    private readonly BareMetal _m;

    public AddressSpaces(BareMetal m)
    {
        _m = m;
        m.EnterLongMode();
        foreach (ulong space in new[] { SpaceA, SpaceB })
        {
            ulong pdpt = space + 0x1000, pd = space + 0x2000, pt = space + 0x3000;
            m.Write(space, 8, pdpt | PteP | PteRw);
            m.Write(pdpt, 8, pd | PteP | PteRw);
            for (ulong i = 0; i < 5; i++) m.Write(pd + i * 8, 8, (i << 21) | PteP | PteRw | PtePs);
            m.Write(pd + 5 * 8, 8, pt | PteP | PteRw);
            m.Write(pd + 6 * 8, 8, LargeFrame | PteP | PteRw | PtePs);
            ulong pool = space == SpaceA ? PoolA : PoolB;
            for (int k = 0; k < 16; k++) m.Write(pt + (ulong)k * 8, 8, (pool + (ulong)k * 0x1000) | PteP | PteRw);
            m.Write(pt + GlobalPage * 8, 8, (PoolA + 0xF000) | PteP | PteRw | PteG);
        }
        for (ulong f = 0; f < 16; f++)
        {
            m.Write(PoolA + f * 0x1000, 8, PoolA + f * 0x1000);
            m.Write(PoolB + f * 0x1000, 8, PoolB + f * 0x1000);
        }
        for (ulong f = 0; f < 512; f++)
        {
            m.Write(LargeFrame + f * 0x1000, 8, LargeFrame + f * 0x1000);
            m.Write(OtherLargeFrame + f * 0x1000, 8, OtherLargeFrame + f * 0x1000);
        }
        m.Cpu.Cr3 = SpaceA;
        m.Cpu.FlushTlb(includeGlobal: true);
    }

    /// <summary>Linear address of small page k.</summary>
    public static ulong Small(int k) => SmallBase + (ulong)k * 0x1000;

    /// <summary>Linear address of 4 KiB piece j of the large page.</summary>
    public static ulong Large(int j) => LargeBase + (ulong)j * 0x1000;

    /// <summary>Physical address of the PTE of small page k in a space.</summary>
    public static ulong Pte(ulong space, int k) => space + 0x3000 + (ulong)k * 8;

    /// <summary>Physical address of the PDE of the large page in a space.</summary>
    public static ulong LargePde(ulong space) => space + 0x2000 + 6 * 8;

    /// <summary>Points small page k of a space at another frame (a host write: no invalidation).</summary>
    public void Remap(ulong space, int k, ulong frame, bool global = false) =>
        _m.Write(Pte(space, k), 8, frame | PteP | PteRw | (global ? PteG : 0));

    /// <summary>Sets CR4.PCIDE (and CR4.PGE when asked) through the architectural write.</summary>
    public void EnablePcid(bool pge = false)
    {
        var c = _m.Cpu;
        Assert.True(c.WriteCr4(c.Cr4 | Bits.Cr4Pcide | (pge ? Bits.Cr4Pge : 0)));
    }

    /// <summary>What a reference walk of the tables in memory finds at a linear address (no TLB).</summary>
    public ulong ReferenceRead(ulong space, ulong lin)
    {
        ulong pdpt = _m.Read(space, 8) & 0xFFFFFFFFFF000UL;
        ulong pd = _m.Read(pdpt, 8) & 0xFFFFFFFFFF000UL;
        ulong pde = _m.Read(pd + ((lin >> 21) & 0x1FF) * 8, 8);
        ulong phys;
        if ((pde & PtePs) != 0) phys = (pde & 0xFFFFFFFE00000UL) | (lin & 0x1FFFFF);
        else phys = (_m.Read((pde & 0xFFFFFFFFFF000UL) + ((lin >> 12) & 0x1FF) * 8, 8) & 0xFFFFFFFFFF000UL) | (lin & 0xFFF);
        return _m.Read(phys, 8);
    }
}
