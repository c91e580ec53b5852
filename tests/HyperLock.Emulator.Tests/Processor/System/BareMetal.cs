using HyperLock.Emulator.Builders;
using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Processor.Execution;
using HyperLock.Emulator.Memory;
using Iced.Intel;

namespace HyperLock.Emulator.Tests.Processor.SystemInstructions;

/// <summary>
/// A bare machine for system-level tests: 16 MiB of RAM and a CPU that delivers exceptions
/// through the IDT (<see cref="Cpu.InterceptExceptions"/> off). Code is assembled with
/// Iced at physical addresses; helpers build descriptor tables, IDT gates, a TSS and
/// identity-mapped page tables (with the emulator's builders), and put the CPU directly into 64-bit or 32-bit protected
/// mode for tests that do not exercise the switch itself. Programs end with HLT (IF = 0),
/// which stops the run with <see cref="StopKind.Halted"/>.
/// </summary>
internal sealed class BareMetal : IDisposable
{
    public const ulong MemorySize = 16 << 20;

    // Layout (physical = linear: everything is identity-mapped).
    public const ulong Pml4 = 0x1000, Pdpt = 0x2000, Pd = 0x3000, PtPool = 0x20000;
    public const ulong GdtBase = 0x5000, IdtBase = 0x6000, TssBase = 0x7000;
    /// <summary>Where test programs store what they observed.</summary>
    public const ulong Results = 0x8000;
    public const ulong KernelStack = 0x90000, Rsp0 = 0xA0000, Ist1 = 0xB0000, Ist2 = 0xC0000;
    public const ulong KernelCode = 0x100000, HandlerCode = 0x180000, UserCode = 0x200000, UserStack = 0x2F0000;

    // Selectors (the Linux x86-64 layout).
    public const ushort KernelCs32 = 0x08, KernelCs = 0x10, KernelDs = 0x18, UserCs32 = 0x23, UserDs = 0x2B, UserCs = 0x33, TssSel = 0x40;

    public const ulong PteP = 1, PteRw = 2, PteUs = 4, PtePs = 0x80, PteG = 0x100;

    public PhysicalMemory Memory { get; }
    public Cpu Cpu { get; }

    private readonly GdtBuilder _gdt;
    private readonly IdtBuilder _idt64, _idt32;
    private readonly PageTableBuilder _tables;

    public BareMetal()
    {
        Memory = new PhysicalMemory(MemorySize);
        Cpu = new Cpu(Memory) { InterceptExceptions = false };
        _gdt = new GdtBuilder(Memory, GdtBase, entries: 32);
        _idt64 = new IdtBuilder(Memory, IdtBase);
        _idt32 = new IdtBuilder(Memory, IdtBase, longMode: false);
        // The PML4 is at Pml4 whether or not identity paging is built; tables for split pages come from PtPool.
        _tables = new PageTableBuilder(Memory, new FrameAllocator(Memory, PtPool, KernelStack - 0x10000), Pml4);
    }

    public void Dispose() => Memory.Dispose();

    // ---- memory and code ----------------------------------------------------------------

    /// <summary>Assembles code for the given bitness at <paramref name="address"/> and stores it there.</summary>
    /// <returns>The assembler result, for <see cref="AssemblerResult.GetLabelRIP"/>.</returns>
    public AssemblerResult Asm(ulong address, int bitness, Action<Assembler> build)
    {
        Memory.WriteBytes(address, AssembledCode.Bytes(bitness, address, build, out var result));
        return result;
    }

    public ulong Read(ulong address, int size) => Memory.Read(address, size);
    public void Write(ulong address, int size, ulong value) => Memory.Write(address, size, value);

    /// <summary>Result slot n (8 bytes each from <see cref="Results"/>).</summary>
    public ulong Result(int n) => Memory.Read(Results + (ulong)n * 8, 8);

    public StopReason Run(ulong max = 100_000) => Cpu.Run(max);


    // ---- descriptors --------------------------------------------------------------------

    /// <summary>An 8-byte code/data (s = true) or system (s = false) descriptor.</summary>
    public static ulong Descriptor(ulong baseAddr, uint limit, int type, int dpl, bool s = true, bool present = true,
        bool l = false, bool db = true, bool g = true) => GdtBuilder.Descriptor(baseAddr, limit, type, dpl, s, present, l, db, g);

    public void SetGdtEntry(ushort selector, ulong descriptor) => _gdt.Set(selector, descriptor);

    /// <summary>A 64-bit IDT gate (type 0xE interrupt, 0xF trap).</summary>
    public void Gate64(int vector, ulong handler, int ist = 0, int dpl = 0, bool trap = false, ushort selector = KernelCs, bool present = true) =>
        _idt64.Gate64(vector, handler, selector, ist, dpl, trap, present);

    /// <summary>A 32-bit IDT gate.</summary>
    public void Gate32(int vector, uint handler, int dpl = 0, bool trap = false, ushort selector = 0x08) =>
        _idt32.Gate32(vector, handler, selector, dpl, trap);

    private void LoadSeg(int seg, ushort selector)
    {
        if ((selector & ~3) == 0) { Cpu.Segs[seg] = Cpu.NullSegment(selector); return; }
        Cpu.Segs[seg] = Cpu.DecodeDescriptor(selector, Read(GdtBase + (ulong)(selector & ~7), 8));
    }

    // ---- paging -------------------------------------------------------------------------

    /// <summary>Identity-maps the first 16 MiB with 2 MiB pages (present, writable, user); PML4, PDPT, PD at 0x1000-0x3000.</summary>
    public void BuildIdentityPaging() =>
        new PageTableBuilder(Memory, new FrameAllocator(Memory, Pml4, Pd + 0x1000)).IdentityMap2M(MemorySize, PageFlags.Writable | PageFlags.User);

    /// <summary>Address of the 4 KiB PTE for a linear address, splitting its 2 MiB page first if needed.</summary>
    public ulong PteAddress(ulong linear) => _tables.PteAddress(linear);

    /// <summary>Sets the 4 KiB mapping of <paramref name="linear"/>.</summary>
    public void Map4K(ulong linear, ulong phys, ulong flags) => Write(PteAddress(linear), 8, phys | flags);

    // ---- ready-made machine states ------------------------------------------------------

    /// <summary>
    /// 64-bit mode at CPL 0: identity paging, the Linux-layout GDT, a 64-bit TSS (RSP0, IST1,
    /// IST2) loaded in TR, an IDT of 256 non-present gates, RIP = <see cref="KernelCode"/>.
    /// </summary>
    public void EnterLongMode()
    {
        BuildIdentityPaging();
        SetGdtEntry(KernelCs32, Descriptor(0, 0xFFFFFFFF, 0xB, 0));
        SetGdtEntry(KernelCs, Descriptor(0, 0xFFFFFFFF, 0xB, 0, l: true, db: false));
        SetGdtEntry(KernelDs, Descriptor(0, 0xFFFFFFFF, 0x3, 0));
        SetGdtEntry(UserCs32, Descriptor(0, 0xFFFFFFFF, 0xB, 3));
        SetGdtEntry(UserDs, Descriptor(0, 0xFFFFFFFF, 0x3, 3));
        SetGdtEntry(UserCs, Descriptor(0, 0xFFFFFFFF, 0xB, 3, l: true, db: false));
        _gdt.Tss64(TssSel, TssBase, busy: true);
        // I/O bitmap base right after the TSS (beyond the limit until a test extends it).
        new TssBuilder(Memory, TssBase).Rsp(0, Rsp0).Ist(1, Ist1).Ist(2, Ist2);

        var c = Cpu;
        c.Gdtr = new TableRegister { Base = GdtBase, Limit = 0x4F };
        c.Idtr = new TableRegister { Base = IdtBase, Limit = 256 * 16 - 1 };
        c.Tr = Cpu.DecodeDescriptor(TssSel, Read(GdtBase + TssSel, 8));
        c.Ldtr = Cpu.NullSegment(0);
        c.Cr3 = Pml4;
        c.Cr4 = Bits.Cr4Pae | Bits.Cr4Osfxsr | Bits.Cr4Osxmmexcpt;
        c.Efer = Bits.EferLme | Bits.EferLma | Bits.EferNxe;
        c.Cr0 = Bits.Cr0Pe | Bits.Cr0Mp | Bits.Cr0Et | Bits.Cr0Ne | Bits.Cr0Wp | Bits.Cr0Pg;
        foreach (int s in new[] { Seg.Ds, Seg.Es, Seg.Ss }) LoadSeg(s, KernelDs);
        LoadSeg(Seg.Fs, 0);
        LoadSeg(Seg.Gs, 0);
        c.LoadCs(Cpu.DecodeDescriptor(KernelCs, Read(GdtBase + KernelCs, 8)), 0);
        c.FlushTlb(includeGlobal: true);
        c.SetRflags(2);
        c.R(Reg.Rsp) = KernelStack;
        c.Rip = KernelCode;
    }

    /// <summary>
    /// 32-bit protected mode at CPL 0 without paging: flat code 0x08 and data 0x10, an IDT
    /// of 256 non-present 8-byte gates, RIP = <see cref="KernelCode"/>.
    /// </summary>
    public void EnterProtectedMode32()
    {
        SetGdtEntry(0x08, Descriptor(0, 0xFFFFFFFF, 0xB, 0));
        SetGdtEntry(0x10, Descriptor(0, 0xFFFFFFFF, 0x3, 0));
        var c = Cpu;
        c.Gdtr = new TableRegister { Base = GdtBase, Limit = 0xFF };
        c.Idtr = new TableRegister { Base = IdtBase, Limit = 256 * 8 - 1 };
        c.Cr0 = Bits.Cr0Pe | Bits.Cr0Et | Bits.Cr0Ne;
        c.Cr4 = 0;
        c.Efer = 0;
        foreach (int s in new[] { Seg.Ds, Seg.Es, Seg.Ss, Seg.Fs, Seg.Gs }) LoadSeg(s, 0x10);
        c.LoadCs(Cpu.DecodeDescriptor(0x08, Read(GdtBase + 0x08, 8)), 0);
        c.FlushTlb(includeGlobal: true);
        c.SetRflags(2);
        c.R(Reg.Rsp) = KernelStack;
        c.Rip = KernelCode;
    }
}
