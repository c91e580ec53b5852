namespace HyperLock.Emulator.Processor;

/// <summary>
/// Segment descriptors: reading them from the GDT/LDT and decoding them into the hidden
/// part of a segment register (VMCS access-rights layout).
/// </summary>
public sealed partial class Cpu
{
    /// <summary>
    /// Reads the 8-byte descriptor for a selector from the GDT or LDT with supervisor rights.
    /// Returns false (without raising) when the selector is beyond the table limit.
    /// </summary>
    public bool TryReadDescriptor(ushort selector, out ulong descriptor, out ulong address)
    {
        bool ldt = (selector & 4) != 0;
        ulong tableBase = ldt ? Ldtr.Base : Gdtr.Base;
        uint limit = ldt ? Ldtr.Limit : Gdtr.Limit;
        uint index = (uint)(selector & ~7);
        address = tableBase + index;
        descriptor = 0;
        if ((ldt && (Ldtr.Attributes & SegmentRegister.AttrUnusable) != 0) || index + 7 > limit) return false;
        descriptor = ReadLinear(address, 8, user: false);
        return !Faulted;
    }

    /// <summary>Reads the upper half of a 16-byte system descriptor (64-bit TSS/LDT/gates).</summary>
    public ulong ReadDescriptorHigh(ulong address) => ReadLinear(address + 8, 8, user: false);

    /// <summary>Decodes a descriptor into a segment register's hidden part.</summary>
    public static SegmentRegister DecodeDescriptor(ushort selector, ulong d)
    {
        uint limit = (uint)((d & 0xFFFF) | ((d >> 32) & 0xF0000));
        ulong bas = ((d >> 16) & 0xFFFFFF) | (((d >> 56) & 0xFF) << 24);
        uint attr = (uint)((d >> 40) & 0xFF) | (uint)(((d >> 52) & 0xF) << 12);
        if ((attr & SegmentRegister.AttrGranularity) != 0) limit = (limit << 12) | 0xFFF;
        return new SegmentRegister { Selector = selector, Base = bas, Limit = limit, Attributes = attr };
    }

    /// <summary>A null selector loaded into a data segment register: unusable.</summary>
    public static SegmentRegister NullSegment(ushort selector) =>
        new() { Selector = selector, Attributes = SegmentRegister.AttrUnusable };

    /// <summary>Loads CS from a decoded descriptor and recomputes mode and CPL.</summary>
    public void LoadCs(SegmentRegister cs, int cpl)
    {
        Segs[Seg.Cs] = cs;
        Segs[Seg.Cs].Selector = (ushort)((cs.Selector & ~3) | cpl);
        ForceCpl(cpl);
        UpdateMode();
    }
}
