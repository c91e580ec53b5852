using FsCheck.Xunit;
using HyperLock.Emulator.Builders;
using HyperLock.Emulator.Memory;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using HyperLock.Emulator.Processor;

namespace HyperLock.Emulator.Tests.Builders;

/// <summary>What the page-table builder writes is what the processor's walker and the builder's own reader read back.</summary>
public class PageTableBuilderTests
{
    private const ulong TablesStart = 0x100000, TablesEnd = 0x400000;

    private static (PhysicalMemory Memory, Cpu Cpu, PageTableBuilder Tables) Fresh()
    {
        var memory = new PhysicalMemory(16 << 20);
        var cpu = new Cpu(memory) { InterceptExceptions = true };
        var tables = new PageTableBuilder(memory, new FrameAllocator(memory, TablesStart, TablesEnd));
        return (memory, cpu, tables);
    }

    private static void Enter(Cpu cpu, PageTableBuilder tables, ulong rip = 0) =>
        new LongModeState { Cr3 = tables.Root, GdtBase = 0, TssBase = 0 }.Enter(cpu, rip, 0);

    /// <summary>A linear page from a small set of table slots (so mappings share and collide), low or high half.</summary>
    private static ulong RandomPage(Random rng)
    {
        ulong pml4 = (ulong)new[] { 0, 1, 255, 256, 511 }[rng.Next(5)];
        ulong linear = (pml4 << 39) | ((ulong)rng.Next(3) << 30) | ((ulong)rng.Next(3) << 21) | ((ulong)rng.Next(8) << 12);
        return (linear & (1UL << 47)) != 0 ? linear | 0xFFFF000000000000UL : linear;
    }

    [Property(MaxTest = 60)]
    public void EveryMappingReadsBackThroughTheProcessorAndTheBuilder(int seed)
    {
        var rng = new Random(seed);
        var (memory, cpu, tables) = Fresh();
        using (memory)
        {
            var expected = new Dictionary<ulong, (ulong Phys, PageFlags Flags)>();
            int n = rng.Next(1, 40);
            for (int k = 0; k < n; k++)
            {
                ulong linear = RandomPage(rng);
                ulong phys = (ulong)rng.Next(0, 1 << 18) << 12;
                var flags = (PageFlags)rng.Next(16);
                tables.Map4K(linear, phys, flags);
                expected[linear] = (phys, flags);
            }
            Enter(cpu, tables);

            var all = tables.Mappings();
            Assert.Equal(expected.Count, all.Count);
            foreach (var mapping in all)
            {
                Assert.True(expected.TryGetValue(mapping.Linear, out var e), $"unexpected mapping 0x{mapping.Linear:x}");
                Assert.Equal(e.Phys, mapping.Physical);
                Assert.Equal(e.Flags, mapping.Flags);
                Assert.Equal(PageTableBuilder.Size4K, mapping.Size);
            }
            foreach (var (linear, (phys, flags)) in expected)
            {
                ulong offset = (ulong)rng.Next(4096);
                Assert.Equal(new PageMapping(linear, phys, PageTableBuilder.Size4K, flags, tables.PteAddress(linear)), tables.Walk(linear));
                bool w = (flags & PageFlags.Writable) != 0, u = (flags & PageFlags.User) != 0;
                Assert.True(cpu.TryTranslate(linear + offset, write: false, user: false, out ulong got));
                Assert.Equal(phys + offset, got);
                Assert.Equal(w, cpu.TryTranslate(linear + offset, write: true, user: false, out _));   // CR0.WP = 1
                Assert.Equal(u, cpu.TryTranslate(linear + offset, write: false, user: true, out _));
                Assert.Equal(u && w, cpu.TryTranslate(linear + offset, write: true, user: true, out _));
            }
            ulong absent = 0x0000400000000000UL; // PML4 slot 128: never used above
            Assert.Null(tables.Walk(absent));
            Assert.False(cpu.TryTranslate(absent, false, false, out _));
            Assert.All(PageTableBuilder.TableFrames(memory, tables.Root), f => Assert.InRange(f, TablesStart, TablesEnd - 1));
        }
    }

    [Fact]
    public void NoExecuteStopsAnInstructionFetchWithAPageFault()
    {
        foreach (bool nx in new[] { true, false })
        {
            var (memory, cpu, tables) = Fresh();
            using (memory)
            {
                const ulong code = 0x400000;
                tables.Map4K(code, 0x200000, nx ? PageFlags.NoExecute : PageFlags.None);
                memory.WriteBytes(0x200000, AssembledCode.Bytes(64, code, a => { a.mov(eax, 1); a.int3(); }));
                Enter(cpu, tables, code);
                var stop = cpu.Run(100);
                if (nx)
                {
                    Assert.Equal("#PF(0x11)", stop.ToString()); // present + instruction fetch
                    Assert.Equal(code, cpu.Cr2);
                }
                else
                {
                    Assert.Equal("int3", stop.ToString());
                    Assert.True(tables.Walk(code)!.Value.Translate(code + 5) == 0x200005);
                }
            }
        }
    }

    [Fact]
    public void MappingA4KPageInsideA2MPageSplitsItKeepingTheRest()
    {
        var (memory, cpu, tables) = Fresh();
        using (memory)
        {
            tables.Map2M(0x200000, 0x800000, PageFlags.Writable);
            Assert.Equal(PageTableBuilder.Size2M, tables.Walk(0x234567)!.Value.Size);
            tables.Map4K(0x201000, 0x5000, PageFlags.User);
            Enter(cpu, tables);
            var small = tables.Walk(0x201234)!.Value;
            Assert.Equal((0x201000UL, 0x5000UL, PageTableBuilder.Size4K, PageFlags.User), (small.Linear, small.Physical, small.Size, small.Flags));
            var rest = tables.Walk(0x3FF000)!.Value;
            Assert.Equal((0x3FF000UL, 0x9FF000UL, PageFlags.Writable), (rest.Linear, rest.Physical, rest.Flags));
            Assert.True(cpu.TryTranslate(0x201234, false, true, out ulong p1));
            Assert.Equal(0x5234UL, p1);
            Assert.True(cpu.TryTranslate(0x3FF010, true, false, out ulong p2));
            Assert.Equal(0x9FF010UL, p2);
            Assert.Equal(512, tables.Mappings().Count);
        }
    }
}
