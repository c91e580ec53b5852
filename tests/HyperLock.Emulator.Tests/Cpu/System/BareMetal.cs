using HyperLock.Emulator.Cpu;
using HyperLock.Emulator.Cpu.Execution;
using HyperLock.Emulator.Memory;
using Iced.Intel;
using CpuCore = HyperLock.Emulator.Cpu.Cpu;

namespace HyperLock.Emulator.Tests.Cpu.SystemInstructions;

/// <summary>
/// A bare machine for system-level tests: 16 MiB of RAM and a CPU that delivers exceptions
/// through the IDT (<see cref="CpuCore.InterceptExceptions"/> off). Code is assembled with
/// Iced at physical addresses; helpers build descriptor tables, IDT gates, a TSS and
/// identity-mapped page tables, and put the CPU directly into 64-bit or 32-bit protected
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
    public CpuCore Cpu { get; }

    private ulong _nextPt = PtPool;

    public BareMetal()
    {
        Memory = new PhysicalMemory(MemorySize);
        Cpu = new CpuCore(Memory) { InterceptExceptions = false };
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
        bool l = false, bool db = true, bool g = true)
    {
        if (g) limit >>= 12;
        ulong d = (limit & 0xFFFF) | ((baseAddr & 0xFFFFFF) << 16) | ((ulong)(type & 0xF) << 40) | ((s ? 1UL : 0) << 44)
            | ((ulong)(dpl & 3) << 45) | ((present ? 1UL : 0) << 47) | ((ulong)((limit >> 16) & 0xF) << 48)
            | ((l ? 1UL : 0) << 53) | ((db ? 1UL : 0) << 54) | ((g ? 1UL : 0) << 55) | (((baseAddr >> 24) & 0xFF) << 56);
        return d;
    }

    public void SetGdtEntry(ushort selector, ulong descriptor) => Write(GdtBase + (ulong)(selector & ~7), 8, descriptor);

    /// <summary>A 64-bit IDT gate (type 0xE interrupt, 0xF trap).</summary>
    public void Gate64(int vector, ulong handler, int ist = 0, int dpl = 0, bool trap = false, ushort selector = KernelCs, bool present = true)
    {
        ulong lo = (handler & 0xFFFF) | ((ulong)selector << 16) | ((ulong)(ist & 7) << 32) | ((ulong)(trap ? 0xF : 0xE) << 40)
            | ((ulong)dpl << 45) | ((present ? 1UL : 0) << 47) | (((handler >> 16) & 0xFFFF) << 48);
        Write(IdtBase + (ulong)vector * 16, 8, lo);
        Write(IdtBase + (ulong)vector * 16 + 8, 8, handler >> 32);
    }

    /// <summary>A 32-bit IDT gate.</summary>
    public void Gate32(int vector, uint handler, int dpl = 0, bool trap = false, ushort selector = 0x08)
    {
        ulong g = (handler & 0xFFFF) | ((ulong)selector << 16) | ((ulong)(trap ? 0xF : 0xE) << 40) | ((ulong)dpl << 45) | (1UL << 47)
            | ((ulong)(handler >> 16) << 48);
        Write(IdtBase + (ulong)vector * 8, 8, g);
    }

    private void LoadSeg(int seg, ushort selector)
    {
        if ((selector & ~3) == 0) { Cpu.Segs[seg] = CpuCore.NullSegment(selector); return; }
        Cpu.Segs[seg] = CpuCore.DecodeDescriptor(selector, Read(GdtBase + (ulong)(selector & ~7), 8));
    }

    // ---- paging -------------------------------------------------------------------------

    /// <summary>Identity-maps the first 16 MiB with 2 MiB pages (present, writable, user).</summary>
    public void BuildIdentityPaging()
    {
        Write(Pml4, 8, Pdpt | PteP | PteRw | PteUs);
        Write(Pdpt, 8, Pd | PteP | PteRw | PteUs);
        for (ulong i = 0; i < MemorySize >> 21; i++)
            Write(Pd + i * 8, 8, (i << 21) | PteP | PteRw | PteUs | PtePs);
    }

    /// <summary>Address of the 4 KiB PTE for a linear address below 16 MiB, splitting its 2 MiB page first if needed.</summary>
    public ulong PteAddress(ulong linear)
    {
        ulong pdeAddr = Pd + ((linear >> 21) & 0x1FF) * 8;
        ulong pde = Read(pdeAddr, 8);
        if ((pde & PtePs) != 0)
        {
            ulong pt = _nextPt;
            _nextPt += 0x1000;
            ulong flags = pde & (PteP | PteRw | PteUs);
            ulong region = pde & ~0x1FFFFFUL & 0x000FFFFFFFFFF000UL;
            for (ulong i = 0; i < 512; i++) Write(pt + i * 8, 8, (region + (i << 12)) | flags);
            Write(pdeAddr, 8, pt | PteP | PteRw | PteUs);
            pde = Read(pdeAddr, 8);
        }
        return (pde & 0x000FFFFFFFFFF000UL) + ((linear >> 12) & 0x1FF) * 8;
    }

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
        // 64-bit TSS (busy), 16 bytes.
        SetGdtEntry(TssSel, Descriptor(TssBase, 0x67, 0xB, 0, s: false, db: false, g: false));
        Write(GdtBase + TssSel + 8, 8, TssBase >> 32);
        Write(TssBase + 4, 8, Rsp0);
        Write(TssBase + 0x24, 8, Ist1);
        Write(TssBase + 0x2C, 8, Ist2);
        Write(TssBase + 0x66, 2, 0x68); // I/O bitmap base: right after the TSS (beyond the limit until extended)

        var c = Cpu;
        c.Gdtr = new TableRegister { Base = GdtBase, Limit = 0x4F };
        c.Idtr = new TableRegister { Base = IdtBase, Limit = 256 * 16 - 1 };
        c.Tr = CpuCore.DecodeDescriptor(TssSel, Read(GdtBase + TssSel, 8));
        c.Ldtr = CpuCore.NullSegment(0);
        c.Cr3 = Pml4;
        c.Cr4 = Bits.Cr4Pae | Bits.Cr4Osfxsr | Bits.Cr4Osxmmexcpt;
        c.Efer = Bits.EferLme | Bits.EferLma | Bits.EferNxe;
        c.Cr0 = Bits.Cr0Pe | Bits.Cr0Mp | Bits.Cr0Et | Bits.Cr0Ne | Bits.Cr0Wp | Bits.Cr0Pg;
        foreach (int s in new[] { Seg.Ds, Seg.Es, Seg.Ss }) LoadSeg(s, KernelDs);
        LoadSeg(Seg.Fs, 0);
        LoadSeg(Seg.Gs, 0);
        c.LoadCs(CpuCore.DecodeDescriptor(KernelCs, Read(GdtBase + KernelCs, 8)), 0);
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
        c.LoadCs(CpuCore.DecodeDescriptor(0x08, Read(GdtBase + 0x08, 8)), 0);
        c.FlushTlb(includeGlobal: true);
        c.SetRflags(2);
        c.R(Reg.Rsp) = KernelStack;
        c.Rip = KernelCode;
    }
}
