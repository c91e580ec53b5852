using HyperLock.Emulator.Builders;
using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Memory;

namespace HyperLock.Runtime;

/// <summary>
/// A bare-metal 64-bit guest: its code (placed at guest-physical <see cref="CodeAddress"/>) and
/// memory size. The runtime gives it 64-bit CPL0 with an identity map of its first 1 GiB of
/// guest-physical space (one 2 MiB page per 2 MiB of memory), a GDT and a TSS, and the stack
/// below <see cref="StackTop"/>: what a boot loader would leave.
/// </summary>
public sealed record GuestSpec(string Name, byte[] Code)
{
    public const ulong Pml4 = 0x1000, Pdpt = 0x2000, Pd = 0x3000, Gdt = 0x5000, Tss = 0x6000;
    public const ulong CodeAddress = 0x10000, StackTop = 0x80000;

    public ulong MemorySize { get; init; } = 2UL << 20;

    /// <summary>
    /// When set, the guest's memory is filled by this (untrusted) loader instead of <see cref="WriteInto"/>,
    /// and the guest starts where the loader says (a Linux kernel loaded as QEMU would). The loader
    /// sees only the guest's own memory.
    /// </summary>
    public Func<GuestMemory, GuestEntry>? Loader { get; init; }

    /// <summary>The guest's system state (guest-physical addresses).</summary>
    public static LongModeState State => new()
    {
        Cr3 = Pml4, Cr4 = LongModeState.DefaultCr4 | Bits.Cr4Vmxe, GdtBase = Gdt, TssBase = Tss, IdtBase = 0, IdtLimit = 0,
    };

    /// <summary>Writes the page tables, GDT, TSS and code into the guest's memory at host-physical <paramref name="hostBase"/>.</summary>
    public void WriteInto(PhysicalMemory memory, ulong hostBase)
    {
        memory.Write(hostBase + Pml4, 8, Pdpt | 3);
        memory.Write(hostBase + Pdpt, 8, Pd | 3);
        for (ulong m = 0; m < MemorySize; m += PageTableBuilder.Size2M)
            memory.Write(hostBase + Pd + m / PageTableBuilder.Size2M * 8, 8, m | PageTableBuilder.Ps | 3);
        var gdt = new GdtBuilder(memory, hostBase + Gdt, entries: 5);
        gdt.Code64(0x08);
        gdt.Data(0x10);
        gdt.Tss64(0x18, Tss, busy: true);
        memory.WriteBytes(hostBase + CodeAddress, Code);
    }
}
