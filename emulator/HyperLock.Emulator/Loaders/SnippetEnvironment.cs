using HyperLock.Emulator.Builders;
using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Memory;

namespace HyperLock.Emulator.Loaders;

/// <summary>
/// A flat 64-bit environment for running a code snippet: the code at linear 0x400000
/// (read + execute), a scratch area at 0x10000000 (read + write, no execute), identity
/// mapped by 4-level page tables (<see cref="PageTableBuilder"/>) that are not themselves mapped. Exceptions stop the run.
/// Used by <c>hyperlock exec</c>, the differential tests and the benchmarks.
/// </summary>
public sealed class SnippetEnvironment : IDisposable
{
    public const ulong CodeBase = 0x400000;
    public const ulong ScratchBase = 0x10000000;
    public const ulong DefaultScratchSize = 1 << 20;
    public const ulong DefaultStackPointer = 0x100FFFF8;
    /// <summary>The largest code image: 64 MiB, which keeps the code below <see cref="ScratchBase"/>.</summary>
    public const int MaxCodeSize = 64 << 20;
    private const ulong PageTableBase = 0x100000;

    public PhysicalMemory Memory { get; }
    public Cpu Cpu { get; }
    public ulong CodeSize { get; }
    public ulong ScratchSize { get; }

    private readonly PageTableBuilder _tables;

    /// <param name="code">Code bytes, placed at <see cref="CodeBase"/>.</param>
    /// <param name="user">Run at CPL3 (true) or CPL0.</param>
    /// <param name="scratchSize">Bytes of scratch memory (rounded up to pages).</param>
    /// <param name="writableCode">Map the code pages writable too (self-modifying code tests).</param>
    public SnippetEnvironment(ReadOnlySpan<byte> code, bool user = true, ulong scratchSize = DefaultScratchSize,
        bool writableCode = false)
    {
        if (code.Length == 0) throw new ArgumentException("The code is empty.", nameof(code));
        if (code.Length > MaxCodeSize) throw new ArgumentException("The code is larger than 64 MiB.", nameof(code));
        CodeSize = ((ulong)code.Length + 0xFFF) & ~0xFFFUL;
        ScratchSize = (scratchSize + 0xFFF) & ~0xFFFUL;
        Memory = new PhysicalMemory(ScratchBase + ScratchSize + (1 << 20));
        Cpu = new Cpu(Memory);
        _tables = new PageTableBuilder(Memory, new FrameAllocator(Memory, PageTableBase, CodeBase));

        var userBit = user ? PageFlags.User : PageFlags.None;
        _tables.MapRange(CodeBase, CodeBase, CodeSize, userBit | (writableCode ? PageFlags.Writable : PageFlags.None));
        _tables.MapRange(ScratchBase, ScratchBase, ScratchSize, PageFlags.Writable | userBit | PageFlags.NoExecute);
        Memory.WriteBytes(CodeBase, code);

        var c = Cpu;
        c.Cr3 = _tables.Root;
        c.Cr4 = Bits.Cr4Pae | Bits.Cr4Osfxsr | Bits.Cr4Osxmmexcpt;
        c.Efer = Bits.EferLme | Bits.EferLma | Bits.EferNxe | Bits.EferSce;
        c.Cr0 = Bits.Cr0Pe | Bits.Cr0Mp | Bits.Cr0Ne | Bits.Cr0Wp | Bits.Cr0Pg;
        int cpl = user ? 3 : 0;
        for (int s = 0; s < Seg.Count; s++) c.Segs[s] = SegmentRegister.FlatData((ushort)(user ? 0x23 : 0x10), cpl);
        c.Segs[Seg.Cs] = SegmentRegister.FlatCode64((ushort)(user ? 0x2B : 0x08), cpl);
        c.ForceCpl(cpl);
        c.UpdateMode();
        c.FlushTlb(includeGlobal: true);
        c.Rip = CodeBase;
        for (int r = 0; r < 16; r++) c.R(r) = 0;
        c.R(Reg.Rsp) = DefaultStackPointer;
        c.SetRflags(0x202);
        c.InterceptExceptions = true;
    }

    /// <summary>Copies bytes into scratch memory at an offset.</summary>
    public void WriteScratch(ulong offset, ReadOnlySpan<byte> data)
    {
        if (offset + (ulong)data.Length > ScratchSize) throw new ArgumentOutOfRangeException(nameof(offset), "Scratch write outside the scratch area.");
        Memory.WriteBytes(ScratchBase + offset, data);
    }

    public byte[] ReadScratch()
    {
        var buf = new byte[ScratchSize];
        Memory.ReadBytes(ScratchBase, buf);
        return buf;
    }

    public void Dispose() => Memory.Dispose();
}
