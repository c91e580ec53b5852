using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Memory;

namespace HyperLock.Emulator.Loaders;

/// <summary>
/// What the loaders put in low memory and in the processor so that a kernel starts the way
/// its boot protocol says: a GDT at 0x500, identity-mapping page tables (4 GiB in 2 MiB pages,
/// PML4 at 0x1000, PDPT at 0x2000, page directories at 0x3000-0x6FFF), and the register state
/// of flat 32-bit protected mode, 64-bit long mode or real mode.
/// </summary>
public static class BootCpuState
{
    /// <summary>Physical address of the boot GDT.</summary>
    public const ulong GdtAddress = 0x500;
    /// <summary>Physical address of the PML4.</summary>
    public const ulong Pml4Address = 0x1000;
    /// <summary>Physical address of the PDPT.</summary>
    public const ulong PdptAddress = 0x2000;
    /// <summary>Physical address of the first of four page directories.</summary>
    public const ulong PdAddress = 0x3000;
    /// <summary>Top of the initial stack for flat and ELF64 kernels.</summary>
    public const ulong StackTop = 0x9F000;
    /// <summary>Flat 64-bit code descriptor (L=1, P, DPL 0, execute/read).</summary>
    public const ulong DescCode64 = 0x00AF9B000000FFFF;
    /// <summary>Flat 32-bit code descriptor (D=1, G, P, DPL 0, execute/read).</summary>
    public const ulong DescCode32 = 0x00CF9B000000FFFF;
    /// <summary>Flat data descriptor (B=1, G, P, DPL 0, read/write).</summary>
    public const ulong DescData = 0x00CF93000000FFFF;

    private const ulong PteP = 1, PteRw = 2, PdePs = 0x80;
    private const uint AttrCode32 = 0xB | SegmentRegister.AttrS | SegmentRegister.AttrPresent | SegmentRegister.AttrDefaultBig | SegmentRegister.AttrGranularity;

    /// <summary>Writes a GDT of the given descriptors at <see cref="GdtAddress"/>; returns its limit.</summary>
    public static ushort WriteGdt(PhysicalMemory mem, params ulong[] descriptors)
    {
        for (int i = 0; i < descriptors.Length; i++) mem.Write(GdtAddress + (ulong)i * 8, 8, descriptors[i]);
        return (ushort)(descriptors.Length * 8 - 1);
    }

    /// <summary>Identity-maps the low 4 GiB with 2 MiB pages (read/write, supervisor, executable).</summary>
    public static void WriteIdentityPageTables(PhysicalMemory mem)
    {
        mem.Write(Pml4Address, 8, PdptAddress | PteP | PteRw);
        for (ulong g = 0; g < 4; g++)
        {
            ulong pd = PdAddress + g * 0x1000;
            mem.Write(PdptAddress + g * 8, 8, pd | PteP | PteRw);
            for (ulong i = 0; i < 512; i++)
                mem.Write(pd + i * 8, 8, ((g << 30) + (i << 21)) | PteP | PteRw | PdePs);
        }
    }

    private static void Common(Cpu c, ulong gdtLimit)
    {
        c.Gdtr = new TableRegister { Base = GdtAddress, Limit = (ushort)gdtLimit };
        c.Idtr = new TableRegister { Base = 0, Limit = 0 };
        c.SetRflags(Bits.Fixed1);
        c.Halted = false;
        c.MtrrDefType = Cpu.MtrrDefTypeFirmware; // firmware enables the MTRRs: all memory write-back
    }

    /// <summary>Flat 64-bit long mode with paging through the identity tables, interrupts off.</summary>
    public static void EnterLongMode(Cpu c, ushort gdtLimit, ushort codeSelector, ushort dataSelector, ulong rip)
    {
        Common(c, gdtLimit);
        c.Cr3 = Pml4Address;
        c.Cr4 = Bits.Cr4Pae;
        c.Efer = Bits.EferLme | Bits.EferLma;
        c.Cr0 = Bits.Cr0Pe | Bits.Cr0Pg | Bits.Cr0Et;
        for (int s = 0; s < Seg.Count; s++) c.Segs[s] = SegmentRegister.FlatData(dataSelector, 0);
        c.Segs[Seg.Cs] = SegmentRegister.FlatCode64(codeSelector, 0);
        Finish(c, rip);
    }

    /// <summary>Flat 32-bit protected mode, paging off, interrupts off (multiboot, Linux 32-bit entry).</summary>
    public static void EnterProtectedMode(Cpu c, ushort gdtLimit, ushort codeSelector, ushort dataSelector, ulong eip)
    {
        Common(c, gdtLimit);
        c.Cr3 = 0;
        c.Cr4 = 0;
        c.Efer = 0;
        c.Cr0 = Bits.Cr0Pe | Bits.Cr0Et;
        for (int s = 0; s < Seg.Count; s++) c.Segs[s] = SegmentRegister.FlatData(dataSelector, 0);
        c.Segs[Seg.Cs] = new SegmentRegister { Selector = codeSelector, Base = 0, Limit = 0xFFFFFFFF, Attributes = AttrCode32 };
        Finish(c, eip);
    }

    /// <summary>Real mode at <paramref name="segment"/>:<paramref name="offset"/>, all segments equal.</summary>
    public static void EnterRealMode(Cpu c, ushort segment, ushort offset)
    {
        c.Gdtr = new TableRegister { Base = 0, Limit = 0xFFFF };
        c.Idtr = new TableRegister { Base = 0, Limit = 0x3FF };
        c.SetRflags(Bits.Fixed1);
        c.Cr3 = 0;
        c.Cr4 = 0;
        c.Efer = 0;
        c.Cr0 = Bits.Cr0Et;
        for (int s = 0; s < Seg.Count; s++) c.Segs[s] = SegmentRegister.RealMode(segment, s == Seg.Cs);
        Finish(c, offset);
    }

    private static void Finish(Cpu c, ulong rip)
    {
        c.ForceCpl(0);
        c.UpdateMode();
        c.FlushTlb(includeGlobal: true);
        c.Rip = rip;
    }
}
