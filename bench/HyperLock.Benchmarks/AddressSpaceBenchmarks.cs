using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Memory;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.Benchmarks;

/// <summary>
/// Address-space switches: <c>mov cr3</c> between two 4-level address spaces, then one load
/// through the new space, in host nanoseconds per switch. With PCIDs and the no-flush bit the
/// load hits the new PCID's kept entries; without PCIDs every load of CR3 flushes (O(1)) and
/// the load walks the page tables again.
/// </summary>
[Config(typeof(Config))]
public class AddressSpaceBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddJob(Job.Default.WithWarmupCount(2).WithIterationCount(8).WithLaunchCount(1));
        }
    }

    public const int Iterations = 50_000;
    private AddressSpaceBenchMachine? _pcid, _plain;

    [GlobalSetup]
    public void Setup()
    {
        _pcid = new AddressSpaceBenchMachine(pcid: true, Iterations);
        _plain = new AddressSpaceBenchMachine(pcid: false, Iterations);
        _pcid.RunOnce();
        _plain.RunOnce();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _pcid?.Dispose();
        _plain?.Dispose();
    }

    /// <summary>One switch (PCID, no-flush) and the first load through the new space.</summary>
    [Benchmark(OperationsPerInvoke = 2 * Iterations)]
    public ulong Cr3SwitchWithPcidNoFlush() => _pcid!.RunOnce();

    /// <summary>One switch without PCIDs (a flush) and the first load, which walks again.</summary>
    [Benchmark(OperationsPerInvoke = 2 * Iterations, Baseline = true)]
    public ulong Cr3SwitchWithoutPcid() => _plain!.RunOnce();
}

/// <summary>A bare 64-bit CPL0 machine with two address spaces and a CR3 ping-pong loop.</summary>
public sealed class AddressSpaceBenchMachine : IDisposable
{
    private const ulong SpaceA = 0x10000, SpaceB = 0x20000, Gdt = 0x5000, Stack = 0x80000, Code = 0x100000,
        DataLinear = 0x400000, FrameA = 0x300000, FrameB = 0x301000;
    private const ulong NoFlush = 1UL << 63;

    private readonly PhysicalMemory _memory;
    public Cpu Cpu { get; }

    public AddressSpaceBenchMachine(bool pcid, int iterations)
    {
        _memory = new PhysicalMemory(16 << 20);
        Cpu = new Cpu(_memory);
        foreach (ulong space in new[] { SpaceA, SpaceB })
        {
            ulong pdpt = space + 0x1000, pd = space + 0x2000, pt = space + 0x3000;
            _memory.Write(space, 8, pdpt | 3);
            _memory.Write(pdpt, 8, pd | 3);
            _memory.Write(pd, 8, 0x83);                 // 0-2 MiB: code, stack, tables (2 MiB page)
            _memory.Write(pd + 8, 8, 0x200000 | 0x83);  // 2-4 MiB
            _memory.Write(pd + 16, 8, pt | 3);           // 4-6 MiB: the data page, 4 KiB
            _memory.Write(pt, 8, (space == SpaceA ? FrameA : FrameB) | 3);
        }
        _memory.Write(Gdt + 8, 8, 0x00AF9B000000FFFFUL);
        _memory.Write(Gdt + 16, 8, 0x00CF93000000FFFFUL);
        ulong a = SpaceA | (pcid ? 1 | NoFlush : 0), b = SpaceB | (pcid ? 2 | NoFlush : 0);
        var asm = new Assembler(64);
        var top = asm.CreateLabel();
        asm.mov(r8d, iterations);
        asm.mov(rsi, (long)DataLinear);
        asm.mov(r9, unchecked((long)a));
        asm.mov(r10, unchecked((long)b));
        asm.Label(ref top);
        asm.mov(cr3, r9);
        asm.mov(rax, __qword_ptr[rsi]);
        asm.mov(cr3, r10);
        asm.mov(rax, __qword_ptr[rsi]);
        asm.dec(r8);
        asm.jnz(top);
        asm.int3();
        using var stream = new MemoryStream();
        asm.Assemble(new StreamCodeWriter(stream), Code);
        _memory.WriteBytes(Code, stream.ToArray());

        var c = Cpu;
        c.Cr3 = SpaceA;
        c.Efer = Bits.EferLme | Bits.EferLma | Bits.EferNxe;
        c.Cr4 = Bits.Cr4Pae | Bits.Cr4Osfxsr | Bits.Cr4Osxmmexcpt | (pcid ? Bits.Cr4Pcide : 0);
        c.Cr0 = Bits.Cr0Pe | Bits.Cr0Mp | Bits.Cr0Et | Bits.Cr0Ne | Bits.Cr0Wp | Bits.Cr0Pg;
        for (int s = 0; s < Seg.Count; s++) c.Segs[s] = SegmentRegister.FlatData(0x10, 0);
        c.Segs[Seg.Cs] = SegmentRegister.FlatCode64(0x08, 0);
        c.Gdtr = new TableRegister { Base = Gdt, Limit = 0x17 };
        c.ForceCpl(0);
        c.UpdateMode();
        c.FlushTlb(includeGlobal: true);
        c.InterceptExceptions = true;
        c.SetRflags(2);
    }

    /// <summary>Runs the loop once; returns the instructions retired.</summary>
    public ulong RunOnce()
    {
        ulong before = Cpu.Retired;
        Cpu.Rip = Code;
        Cpu.R(Reg.Rsp) = Stack;
        var stop = Cpu.Run(100_000_000);
        if (stop.ToString() != "int3") throw new InvalidOperationException($"address-space benchmark stopped with {stop}");
        return Cpu.Retired - before;
    }

    public void Dispose() => _memory.Dispose();
}
