using HyperLock.Abi;
using HyperLock.Emulator.Builders;
using HyperLock.Runtime.Containment;
using HyperLock.Runtime.Loading;
using HyperLock.Runtime.Services;

namespace HyperLock.Runtime;

/// <summary>What an instance is doing.</summary>
public enum InstanceState { Ready, Running, Finished, Contained }

/// <summary>
/// One confined hypervisor instance and its paired guest: the instance's frames (data, stack,
/// IST stack, system tables), its page tables, its guest's memory range, EPT and VMCS, and its
/// per-guest CPU state. All of it is runtime memory; only what the layout says is mapped.
/// </summary>
public sealed class Instance
{
    internal Instance(int id, GuestSpec guest, LoadedImage image, bool confined)
    {
        Id = id;
        Guest = guest;
        Image = image;
        Confined = confined;
    }

    public int Id { get; }
    public GuestSpec Guest { get; }
    public LoadedImage Image { get; }
    /// <summary>False: the unconfined baseline (mapped into the host space, gate served directly).</summary>
    public bool Confined { get; }

    public InstanceState State { get; internal set; } = InstanceState.Ready;
    public ContainmentReport? Report { get; internal set; }
    public int? ExitStatus { get; internal set; }

    /// <summary>What the hypervisor printed (service Print).</summary>
    public List<byte> Output { get; } = new();
    /// <summary>Messages the hypervisor reported (service Report), in order.</summary>
    public List<byte[]> Reported { get; } = new();

    /// <summary>The page tables of this instance's space (the host's, when unconfined).</summary>
    public PageTableBuilder Space { get; internal set; } = null!;
    /// <summary>The PML4's physical address (CR3 without the PCID).</summary>
    public ulong Cr3 => Space.Root;
    /// <summary>The PCID of this instance's space: its own (1 + id) when confined, the host's (0) when not.</summary>
    public int Pcid { get; internal set; }
    /// <summary>CR3 as the processor holds it while this instance's space is current: PML4 | PCID.</summary>
    public ulong Cr3Value => Space.Root | (uint)Pcid;
    /// <summary>The runtime changed this space's tables: the next load of its CR3 flushes its PCID.</summary>
    internal bool TlbFlushPending { get; set; }
    /// <summary>The guest's EPT changed (or the hypervisor asked for an invalidation): INVEPT before its next entry.</summary>
    internal bool EptFlushPending { get; set; }

    public ulong[] DataFrames { get; internal set; } = [];
    public ulong[] StackFrames { get; internal set; } = [];
    /// <summary>The IST stack: contiguous frames; the save frame is at its top.</summary>
    public ulong IstFrames { get; internal set; }
    public ulong GdtFrame { get; internal set; }
    public ulong IdtFrame { get; internal set; }
    public ulong TssFrame { get; internal set; }

    public ulong GuestBase { get; internal set; }
    public ulong GuestSize => Guest.MemorySize;
    public ulong GuestPages => GuestSize / FrameAllocator.FrameSize;
    public EptBuilder Ept { get; internal set; } = null!;
    public ulong VmcsFrame { get; internal set; }
    /// <summary>The instance's MSR bitmap (runtime memory, see <see cref="Services.MsrBitmap"/>).</summary>
    public ulong MsrBitmapFrame { get; internal set; }
    /// <summary>The start state a guest loader chose (null: the bare-metal <see cref="GuestSpec"/> start).</summary>
    public GuestEntry? Entry { get; internal set; }
    /// <summary>The guest's x87/SSE state (FXSAVE image) between its exit and its next entry.</summary>
    public ulong FxFrame { get; internal set; }
    public bool Launched { get; internal set; }

    /// <summary>Set by Halt: at its next EnterGuest the instance gives the CPU to the next ready one.</summary>
    internal bool YieldRequested;

    /// <summary>Physical address of the save frame the trampoline fills when a vector arrives in this instance's space.</summary>
    public ulong SaveFramePhysical { get; internal set; }

    /// <summary>Physical address of the guest-register area (start of the instance data).</summary>
    public ulong GuestRegistersPhysical => DataFrames[0] + ConfinedLayout.GuestRegisters;

    /// <summary>Per-guest state the runtime keeps and switches (MSRs on the allow-list, XCR0).</summary>
    public GuestCpuState CpuState { get; } = new();

    /// <summary>The instance's device model (RPC target), if any.</summary>
    public IDeviceModel? DeviceModel { get; init; }

    /// <summary>Instructions the current confined run may still retire (budget per exit).</summary>
    internal long BudgetLeft;

    /// <summary>Counters: VM exits handled, gate calls, confined↔host transitions.</summary>
    public long Exits { get; internal set; }
    public long GateCalls { get; internal set; }
    /// <summary>Confined↔host transitions of this instance (hypervisor entries and gate/event returns).</summary>
    public long Transitions { get; internal set; }
    /// <summary>VM exits by basic exit reason.</summary>
    public long[] ExitsByReason { get; } = new long[80];

    /// <summary>
    /// Retired instructions by party, split at the host calls: the guest (VM entry to VM exit), the
    /// hypervisor (its entry to its next gate or event), the runtime (the rest: trampoline x86
    /// between them; the runtime's C# retires none). Trampoline instructions between a host call
    /// and the next IRETQ/VMRESUME count for the party entered.
    /// </summary>
    public ulong GuestInstructions { get; internal set; }
    public ulong HypervisorInstructions { get; internal set; }
    public ulong RuntimeInstructions { get; internal set; }
}
