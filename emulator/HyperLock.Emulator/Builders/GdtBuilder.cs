using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Memory;

namespace HyperLock.Emulator.Builders;

/// <summary>
/// Writes a global descriptor table in physical memory: code and data segments (64-bit,
/// 32-bit), 16-byte 64-bit TSS descriptors, or any raw descriptor; reads entries back.
/// Selectors are byte offsets, as the processor indexes the table.
/// </summary>
public sealed class GdtBuilder
{
    /// <summary>Segment types (bits 43:40 with S = 1): read/execute code, read/write data (accessed).</summary>
    public const int CodeExecuteRead = 0xB, DataReadWrite = 0x3;
    /// <summary>System types (S = 0): available and busy 64-bit (or 32-bit) TSS.</summary>
    public const int TssAvailable = 0x9, TssBusy = 0xB;

    private readonly PhysicalMemory _memory;

    /// <param name="baseAddress">Physical (= linear, when identity-mapped) address of the table.</param>
    /// <param name="entries">Room for this many 8-byte slots (the limit is 8 × entries − 1).</param>
    public GdtBuilder(PhysicalMemory memory, ulong baseAddress, int entries = 16)
    {
        _memory = memory;
        Base = baseAddress;
        Limit = (ushort)(entries * 8 - 1);
    }

    public ulong Base { get; }
    public ushort Limit { get; }

    /// <summary>The GDTR value that loads this table.</summary>
    public TableRegister Register => new() { Base = Base, Limit = Limit };

    /// <summary>An 8-byte code/data (<paramref name="s"/> = true) or system (s = false) descriptor.</summary>
    /// <param name="limit">Byte limit; with <paramref name="g"/> it is stored in 4 KiB units.</param>
    /// <param name="l">L: 64-bit code.</param>
    /// <param name="db">D/B: 32-bit default operand size.</param>
    public static ulong Descriptor(ulong baseAddr, uint limit, int type, int dpl, bool s = true, bool present = true,
        bool l = false, bool db = true, bool g = true)
    {
        if (g) limit >>= 12;
        return (limit & 0xFFFF) | ((baseAddr & 0xFFFFFF) << 16) | ((ulong)(type & 0xF) << 40) | ((s ? 1UL : 0) << 44)
            | ((ulong)(dpl & 3) << 45) | ((present ? 1UL : 0) << 47) | ((ulong)((limit >> 16) & 0xF) << 48)
            | ((l ? 1UL : 0) << 53) | ((db ? 1UL : 0) << 54) | ((g ? 1UL : 0) << 55) | (((baseAddr >> 24) & 0xFF) << 56);
    }

    /// <summary>Writes a raw 8-byte descriptor at <paramref name="selector"/>.</summary>
    public ushort Set(ushort selector, ulong descriptor)
    {
        _memory.Write(Base + (ulong)(selector & ~7), 8, descriptor);
        return selector;
    }

    /// <summary>Flat 64-bit code (L = 1, D = 0) at <paramref name="selector"/>.</summary>
    public ushort Code64(ushort selector, int dpl = 0) =>
        Set(selector, Descriptor(0, 0xFFFFFFFF, CodeExecuteRead, dpl, l: true, db: false));

    /// <summary>Flat 32-bit code (D = 1) at <paramref name="selector"/>.</summary>
    public ushort Code32(ushort selector, int dpl = 0) => Set(selector, Descriptor(0, 0xFFFFFFFF, CodeExecuteRead, dpl));

    /// <summary>Flat read/write data at <paramref name="selector"/>.</summary>
    public ushort Data(ushort selector, int dpl = 0) => Set(selector, Descriptor(0, 0xFFFFFFFF, DataReadWrite, dpl));

    /// <summary>A 16-byte 64-bit TSS descriptor (two slots) at <paramref name="selector"/>.</summary>
    public ushort Tss64(ushort selector, ulong tssBase, uint limit = TssBuilder.Size - 1, bool busy = false)
    {
        Set(selector, Descriptor(tssBase, limit, busy ? TssBusy : TssAvailable, 0, s: false, db: false, g: false));
        _memory.Write(Base + (ulong)(selector & ~7) + 8, 8, tssBase >> 32);
        return selector;
    }

    /// <summary>The raw descriptor at <paramref name="selector"/>.</summary>
    public ulong Get(ushort selector) => _memory.Read(Base + (ulong)(selector & ~7), 8);

    /// <summary>The segment register the processor would load from <paramref name="selector"/>.</summary>
    public SegmentRegister Segment(ushort selector)
    {
        if ((selector & ~3) == 0) return HyperLock.Emulator.Processor.Cpu.NullSegment(selector);
        var seg = HyperLock.Emulator.Processor.Cpu.DecodeDescriptor(selector, Get(selector));
        return seg;
    }

    /// <summary>The base of the 64-bit TSS whose descriptor is at <paramref name="selector"/>.</summary>
    public ulong TssBase(ushort selector)
    {
        ulong lo = Get(selector), hi = _memory.Read(Base + (ulong)(selector & ~7) + 8, 8);
        return ((lo >> 16) & 0xFFFFFF) | (((lo >> 56) & 0xFF) << 24) | ((hi & 0xFFFFFFFF) << 32);
    }
}
