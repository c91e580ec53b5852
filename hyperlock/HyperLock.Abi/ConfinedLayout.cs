namespace HyperLock.Abi;

/// <summary>
/// Where things are in a confined hypervisor's address space (docs/runtime.md, "Address-space
/// layout"). The hypervisor sees the same linear addresses in every instance; the physical
/// frames behind them differ (except the code, one shared copy). Nothing else is mapped.
/// </summary>
public static class ConfinedLayout
{
    /// <summary>Hypervisor code (shared physical frames), read + execute.</summary>
    public const ulong Code = 0x0000_0000_0040_0000;
    /// <summary>Instance data and heap, read + write, no execute. Starts with the <see cref="GuestRegisters"/> area.</summary>
    public const ulong Data = 0x0000_0000_1000_0000;
    /// <summary>Instance stack (grows down from <see cref="StackTop"/>; the page below the stack is unmapped).</summary>
    public const ulong Stack = 0x0000_0000_2000_0000;
    /// <summary>Guest memory window: guest-physical page g appears at GuestWindow + g * 4 KiB (read + write, no execute).</summary>
    public const ulong GuestWindow = 0x0000_0040_0000_0000;
    /// <summary>The trampoline (the same linear address in the host space), read + execute.</summary>
    public const ulong Trampoline = 0xFFFF_FF80_0000_0000;
    /// <summary>The CPU structures of confined mode: GDT, IDT, TSS (read-only).</summary>
    public const ulong SystemTables = 0xFFFF_FF80_0010_0000;
    public const ulong Gdt = SystemTables, Idt = SystemTables + 0x1000, Tss = SystemTables + 0x2000;
    /// <summary>
    /// The IST stacks: IST1 (8 KiB, at <see cref="IstStack"/>) serves every vector but NMI, #DF
    /// and #MC, which have their own 4 KiB stacks (IST2, IST3, IST4), each with an unmapped
    /// guard page below it, so an NMI or a fault that arrives while another vector's frame is
    /// being used cannot overwrite it. The trampoline's save area is at the top of each.
    /// </summary>
    public const ulong IstStack = 0xFFFF_FF80_0020_0000;
    public const ulong IstStackSize = 0x2000;
    public const ulong IstTop = IstStack + IstStackSize;
    public const ulong NmiStackTop = IstStack + 0x4000, DoubleFaultStackTop = IstStack + 0x6000, MachineCheckStackTop = IstStack + 0x8000;
    /// <summary>The whole IST area (the four stacks and the guard pages between them): one contiguous block of frames per space.</summary>
    public const ulong IstAreaSize = 0x8000;

    /// <summary>The IST index (1-4) the IDT gives <paramref name="vector"/>.</summary>
    public static int IstOf(int vector) => vector switch { 2 => 2, 8 => 3, 18 => 4, _ => 1 };

    /// <summary>The top of IST stack <paramref name="ist"/> (1-4).</summary>
    public static ulong IstStackTop(int ist) => ist switch
    {
        2 => NmiStackTop, 3 => DoubleFaultStackTop, 4 => MachineCheckStackTop, _ => IstTop,
    };

    /// <summary>True when the page at <paramref name="offset"/> in the IST area is a stack page (the others are guards).</summary>
    public static bool IsIstStackPage(ulong offset) => offset < IstStackSize || offset is 0x3000 or 0x5000 or 0x7000;

    /// <summary>Selectors of the confined (and host) GDT.</summary>
    public const ushort CodeSelector = 0x08, DataSelector = 0x10, TssSelector = 0x18;

    /// <summary>
    /// Offset of the guest's general registers in the instance data: 16 qwords indexed by the
    /// register number (RAX = 0, RCX = 1, … R15 = 15; the RSP slot is unused: guest RSP is in
    /// the VMCS). The runtime stores them at a VM exit and loads them at VM entry.
    /// </summary>
    public const ulong GuestRegisters = 0;
    public const ulong GuestRegistersSize = 16 * 8;

    /// <summary>The stack the hypervisor starts on at each entry.</summary>
    public static ulong StackTop(ulong stackSize) => Stack + stackSize;
}
