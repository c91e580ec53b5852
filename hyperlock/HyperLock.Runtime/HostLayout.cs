namespace HyperLock.Runtime;

/// <summary>
/// Physical memory as the runtime divides it (docs/runtime.md, "Physical memory"): the host
/// region (its page tables, system tables, stack, slots, trampoline frames, VMXON region), the
/// runtime's frame pool (shared code, per-instance frames, page tables, VMCS, EPT: runtime
/// memory, never mapped writable into a confined space), then the guests' memory, one
/// contiguous range per guest.
/// </summary>
public static class HostLayout
{
    public const ulong HostTables = 0x1000, HostTablesEnd = 0x20000;
    public const ulong HostGdt = 0x20000, HostIdt = 0x21000, HostTss = 0x22000;
    /// <summary>The host's IST area (<see cref="Abi.ConfinedLayout.IstAreaSize"/>, to 0x2C000), mapped at <see cref="Abi.ConfinedLayout.IstStack"/> in the host space (the unconfined save areas).</summary>
    public const ulong HostIst = 0x24000;
    public const ulong HostStack = 0x30000, HostStackTop = 0x38000;
    /// <summary>Slots the trampoline reads: the VMXON region pointer, the VMCS pointer to load.</summary>
    public const ulong Slots = 0x38000, SlotVmxon = Slots, SlotVmcs = Slots + 8;
    /// <summary>Non-zero: the entry path runs INVEPT (single context) with the descriptor at <see cref="SlotInveptDescriptor"/> (EPTP, 0) first, then clears it.</summary>
    public const ulong SlotInveptPending = Slots + 0x10, SlotInveptDescriptor = Slots + 0x20;
    /// <summary>Where the trampoline FXSAVEs the guest's x87/SSE state at a VM exit and FXRSTORs it before an entry (512 bytes, 16-aligned).</summary>
    public const ulong GuestFxArea = Slots + 0x200;
    public const ulong VmxonRegion = 0x39000;
    public const ulong TrampolineFrames = 0x40000, TrampolineFramesEnd = 0x60000;
    public const ulong PoolStart = 0x100000, PoolEnd = 0x1000000;
    public const ulong GuestMemoryStart = 0x1000000;

    /// <summary>Where the trampoline's exit stub leaves the guest's registers: 15 pushes below the host stack top.</summary>
    public const ulong GuestRegisterFrame = HostStackTop - 15 * 8;
}
