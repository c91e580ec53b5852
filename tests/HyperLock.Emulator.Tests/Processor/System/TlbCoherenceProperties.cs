using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using HyperLock.Emulator.Processor;
using static HyperLock.Emulator.Tests.Processor.SystemInstructions.AddressSpaces;
using static HyperLock.Emulator.Tests.Processor.SystemInstructions.BareMetal;

namespace HyperLock.Emulator.Tests.Processor.SystemInstructions;

/// <summary>
/// TLB coherence: a random sequence of mapping changes, CR3 loads (with and without the no-flush
/// bit), INVLPG/INVPCID and loads and stores, on two address spaces with PCIDs on or off, gives
/// the same values as a reference with no TLB at all (a walk of the tables in memory for every
/// access). Every mapping change is followed by an invalidation the SDM says is enough for it
/// (chosen at random among those), so no stale value is ever allowed.
/// </summary>
public class TlbCoherenceProperties
{
    /// <summary>One step: <see cref="Kind"/> picks the operation, the others its operands.</summary>
    public readonly record struct Op(int Kind, int A, int B, int C);

    public static Arbitrary<Op[]> Ops() =>
        Gen.ArrayOf(
            from kind in Gen.Choose(0, 99)
            from a in Gen.Choose(0, 1 << 20)
            from b in Gen.Choose(0, 1 << 20)
            from c in Gen.Choose(0, 1 << 20)
            select new Op(kind, a, b, c)).ToArbitrary();

    [Property(MaxTest = 400, Arbitrary = new[] { typeof(TlbCoherenceProperties) })]
    public void TheTlbAgreesWithAWalkOfTheTablesInMemory(bool pcide, Op[] ops)
    {
        using var m = new BareMetal();
        var s = new AddressSpaces(m);
        var c = m.Cpu;
        if (pcide) s.EnablePcid(pge: true);
        else Assert.True(c.WriteCr4(c.Cr4 | Bits.Cr4Pge));
        ulong[] spaces = [SpaceA, SpaceB];
        ulong Pcid(int space) => pcide ? (ulong)space + 1 : 0;
        int current = 0;
        Assert.True(c.WriteCr3(SpaceA | Pcid(0)));

        // Few addresses, so that a stale entry is likely to be read again: small pages 0-3, the global page, two pieces of the large page.
        const int Addresses = 7;
        ulong Linear(int k) => k < 4 ? Small(k) : k == 4 ? Small(GlobalPage) : Large(k == 5 ? 0 : 0x1FF);

        // An invalidation that suffices after changing a mapping of `space` at `lin` (SDM §4.10.4).
        void Invalidate(int space, ulong lin, bool global, int choice)
        {
            if (global)
            {
                if (choice % 2 == 0 && space == current) c.InvalidatePage(lin);
                else c.FlushAllPcids(includeGlobal: true);
                return;
            }
            if (space == current)
            {
                switch (choice % 6)
                {
                    case 0: c.InvalidatePage(lin); break;
                    case 1: c.InvalidateAddress(lin, (int)Pcid(space), includeGlobal: false); break;
                    case 2: c.FlushPcid((int)Pcid(space)); break;
                    case 3: c.FlushAllPcids(includeGlobal: false); break;
                    case 4: c.FlushAllPcids(includeGlobal: true); break;
                    default: Assert.True(c.WriteCr3(spaces[space] | Pcid(space))); break;
                }
                return;
            }
            if (!pcide) return; // PCID 0 holds only the current space; loading the other's CR3 flushes it
            switch (choice % 4)
            {
                case 0: c.InvalidateAddress(lin, (int)Pcid(space), includeGlobal: false); break;
                case 1: c.FlushPcid((int)Pcid(space)); break;
                case 2: c.FlushAllPcids(includeGlobal: false); break;
                default: c.FlushAllPcids(includeGlobal: true); break;
            }
        }

        foreach (var op in ops)
        {
            if (op.Kind < 45)
            {
                ulong lin = Linear(op.A % Addresses);
                Assert.Equal(s.ReferenceRead(spaces[current], lin), c.ReadMem64(lin));
            }
            else if (op.Kind < 55)
            {
                ulong lin = Linear(op.A % Addresses);
                ulong value = (ulong)op.B * 0x9E3779B97F4A7C15UL;
                c.WriteMem64(lin, value);
                Assert.Equal(value, s.ReferenceRead(spaces[current], lin));
            }
            else if (op.Kind < 75)
            {
                int space = op.A % 2, k = op.B % 5;
                if (k == 4) k = GlobalPage;
                bool global = k == GlobalPage;
                ulong frame = (space == 0 || global ? PoolA : PoolB) + (ulong)(op.C % 16) * 0x1000;
                if (global)
                {
                    s.Remap(SpaceA, k, frame, global: true);
                    s.Remap(SpaceB, k, frame, global: true);
                }
                else s.Remap(spaces[space], k, frame);
                Invalidate(space, Small(k), global, op.C / 16);
            }
            else if (op.Kind < 82)
            {
                int space = op.A % 2;
                ulong frame = op.B % 2 == 0 ? LargeFrame : OtherLargeFrame;
                m.Write(LargePde(spaces[space]), 8, frame | PteP | PteRw | PtePs);
                Invalidate(space, LargeBase + (ulong)(op.C % 512) * 0x1000, false, op.C / 512);
            }
            else if (op.Kind < 95)
            {
                current = op.A % 2;
                bool noFlush = pcide && op.B % 2 == 1;
                Assert.True(c.WriteCr3(spaces[current] | Pcid(current) | (noFlush ? 1UL << 63 : 0)));
            }
            else if (op.A % 2 == 0) c.FlushAllPcids(includeGlobal: false);
            else c.FlushAllPcids(includeGlobal: true);
            Assert.False(c.Faulted);
        }
    }
}
