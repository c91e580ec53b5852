using HyperLock.Abi;
using HyperLock.Emulator.Builders;
using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Processor.Execution;
using HyperLock.Emulator.Devices;
using HyperLock.Emulator.Machine;
using HyperLock.Emulator.Vmx;
using HyperLock.Emulator.Time;
using HyperLock.Runtime.Containment;
using HyperLock.Runtime.Loading;
using HyperLock.Runtime.Services;
using HyperLock.Runtime.Spaces;
using HyperLock.Runtime.Trampoline;
using F = HyperLock.Emulator.Vmx.VmcsField;

namespace HyperLock.Runtime;

/// <summary>
/// The isolation runtime (trusted): owns a board, divides its memory, loads a verified hypervisor
/// image once, builds an address space per instance, assembles the trampoline, and serves the
/// host calls the trampoline makes (VM exits, gate calls, exceptions, interrupts). Instances run
/// one after another: an instance runs its guest until the guest finishes or the instance is
/// contained, then the next one starts. All mode changes happen in the trampoline's x86 code.
/// </summary>
public sealed class IsolationRuntime : IDisposable
{
    /// <summary>Instructions a confined run may retire per exit before it is stopped (budget).</summary>
    public long BudgetPerExit { get; init; } = 200_000;

    private readonly FrameAllocator _pool;
    private readonly List<Instance> _instances = new();
    private readonly ulong[] _trampolineFrames;
    private ulong _nextGuestBase = HostLayout.GuestMemoryStart;
    private Instance? _current;
    private bool _booted;
    private bool _unconfinedPresent;
    private readonly ServiceTable _services;

    public IsolationRuntime(ulong memorySize = 64UL << 20)
    {
        // The machine's CPUID profile, with the TSC frequency leaves (0x15/0x16) a guest kernel reads.
        Board = new BoardBuilder().WithMemory(memorySize).WithCpuid(X86Machine.CpuidFor(VirtualClock.DefaultFrequencyHz)).WithHostCallPort().Build();
        var memory = Board.Memory;
        _pool = new FrameAllocator(memory, HostLayout.PoolStart, HostLayout.PoolEnd);

        if ((Board.Cpu.Cpuid.Get(1, 0).Ecx & (1u << 17)) == 0) throw new InvalidOperationException("the board's CPU has no PCID support");
        Trampoline = TrampolineCode.Build(HostLayout.HostTables);
        int pages = (int)((Trampoline.Bytes.Length + 0xFFF) / 0x1000);
        _trampolineFrames = new ulong[pages];
        var trampolineAllocator = new FrameAllocator(memory, HostLayout.TrampolineFrames, HostLayout.TrampolineFramesEnd);
        for (int k = 0; k < pages; k++) _trampolineFrames[k] = trampolineAllocator.Allocate();
        for (int k = 0; k < pages; k++)
        {
            int from = k * 0x1000;
            memory.WriteBytes(_trampolineFrames[k], Trampoline.Bytes.AsSpan(from, Math.Min(0x1000, Trampoline.Bytes.Length - from)));
        }
        // Past the trampoline's last bundle the frame is INT3, not zeros: a masked jump there traps
        // like one into any trampoline bundle (found by the attack suite's jump-scan case).
        int tail = pages * 0x1000 - Trampoline.Bytes.Length;
        if (tail > 0) memory.WriteBytes(_trampolineFrames[^1] + 0x1000 - (ulong)tail, Enumerable.Repeat((byte)0xCC, tail).ToArray());
        HostSpace = SpaceBuilder.Host(memory, _trampolineFrames);
        SystemTables.Write(memory, HostLayout.HostGdt, HostLayout.HostIdt, HostLayout.HostTss);
        memory.Write(HostLayout.VmxonRegion, 4, VmxCapabilities.RevisionId);
        memory.Write(HostLayout.SlotVmxon, 8, HostLayout.VmxonRegion);

        var port = Board.Device<HostCallPort>();
        port.Register((uint)HostCall.Boot, OnBoot);
        port.Register((uint)HostCall.VmExit, OnVmExit);
        port.Register((uint)HostCall.Event, OnEvent);
        port.Register((uint)HostCall.VmcsLoaded, OnVmcsLoaded);
        port.Register((uint)HostCall.EntryFailed, OnEntryFailed);
        _services = new ServiceTable(this);
        Budget = new BudgetTimer(Board);
    }

    /// <summary>The host's budget timer (local APIC timer).</summary>
    public BudgetTimer Budget { get; }

    public Board Board { get; }
    public TrampolineCode Trampoline { get; }
    public PageTableBuilder HostSpace { get; }
    public IReadOnlyList<Instance> Instances => _instances;
    public IReadOnlyList<ulong> TrampolineFrames => _trampolineFrames;
    /// <summary>The runtime's frame pool (shared code, per-instance frames, tables, VMCS, EPT).</summary>
    public FrameAllocator Pool => _pool;
    /// <summary>Every containment, in order.</summary>
    public List<ContainmentReport> Reports { get; } = new();
    /// <summary>Confined↔host transitions (gate calls, exits dispatched into an instance, events).</summary>
    public long Transitions { get; private set; }
    /// <summary>NMIs the host took (on their own IST stack) and returned from, wherever they arrived.</summary>
    public long NmisHandled { get; private set; }

    /// <summary>Raised whenever an instance is given the CPU (the demo hashes the other parties here).</summary>
    public event Action<Instance>? InstanceScheduled;

    /// <summary>The instance ids in the order they were given the CPU (one entry per slice).</summary>
    public List<int> Schedule { get; } = new();

    /// <summary>Retired-instruction count at the last hand-over between guest, hypervisor and runtime (per-party counters).</summary>
    private ulong _mark;

    private ulong SinceMark(Emulator.Processor.Cpu cpu)
    {
        ulong n = cpu.Retired - _mark;
        _mark = cpu.Retired;
        return n;
    }

    /// <summary>Verifies and loads an image (once; instances share its code). Throws <see cref="ImageRejectedException"/>.</summary>
    public LoadedImage Load(HypervisorImage image) => ImageLoader.Load(image, Board.Memory, _pool);

    /// <summary>Adds a guest run by its own instance of <paramref name="image"/>; confined unless <paramref name="confined"/> is false (one unconfined instance at most: it lives in the host space).</summary>
    public Instance AddGuest(GuestSpec guest, LoadedImage image, bool confined = true, IDeviceModel? deviceModel = null)
    {
        if (_booted) throw new InvalidOperationException("guests are added before the first run");
        if (!confined && _unconfinedPresent) throw new InvalidOperationException("one unconfined instance at most (it is mapped into the host space)");
        if (guest.MemorySize % PageTableBuilder.Size2M != 0 || guest.MemorySize == 0) throw new ArgumentException("guest memory must be a multiple of 2 MiB");
        var memory = Board.Memory;
        var inst = new Instance(_instances.Count, guest, image, confined) { DeviceModel = deviceModel };
        inst.DataFrames = Frames(image.Manifest.DataSize);
        inst.StackFrames = Frames(image.Manifest.StackSize);
        inst.IstFrames = _pool.AllocateContiguous((int)(ConfinedLayout.IstAreaSize / FrameAllocator.FrameSize));
        inst.GdtFrame = _pool.Allocate();
        inst.IdtFrame = _pool.Allocate();
        inst.TssFrame = _pool.Allocate();
        SystemTables.Write(memory, inst.GdtFrame, inst.IdtFrame, inst.TssFrame);
        inst.VmcsFrame = _pool.Allocate();
        memory.Write(inst.VmcsFrame, 4, VmxCapabilities.RevisionId);
        inst.MsrBitmapFrame = _pool.Allocate();
        MsrBitmap.Write(memory, inst.MsrBitmapFrame);
        inst.FxFrame = _pool.Allocate();
        memory.Write(inst.FxFrame, 2, 0x37F);         // FCW after FNINIT
        memory.Write(inst.FxFrame + 24, 4, 0x1F80);   // MXCSR at reset

        inst.GuestBase = _nextGuestBase;
        _nextGuestBase += guest.MemorySize;
        if (_nextGuestBase > memory.RamSize) throw new InvalidOperationException("not enough memory for the guest");
        if (guest.Loader is { } loader) inst.Entry = loader(new GuestMemory(memory, inst.GuestBase, guest.MemorySize));
        else guest.WriteInto(memory, inst.GuestBase);
        if (inst.Entry is { } e) memory.Write(inst.GuestRegistersPhysical + (ulong)Reg.Rsi * 8, 8, e.Rsi);
        inst.Ept = new EptBuilder(memory, _pool);
        inst.Ept.MapRange(0, inst.GuestBase, guest.MemorySize);

        if (confined)
        {
            inst.Pcid = inst.Id + 1; // the host's space is PCID 0
            inst.TlbFlushPending = true; // its first entry starts the PCID empty
            if (inst.Pcid > MaxPcid) throw new InvalidOperationException($"at most {MaxPcid} confined instances (one PCID each)");
            inst.Space = SpaceBuilder.Confined(memory, _pool, inst, _trampolineFrames);
            inst.SaveFramePhysical = inst.IstFrames + ConfinedLayout.IstStackSize - SaveFrame.Size;
        }
        else
        {
            SpaceBuilder.MapHypervisor(HostSpace, inst);
            inst.Space = HostSpace;
            inst.SaveFramePhysical = HostLayout.HostIst + ConfinedLayout.IstStackSize - SaveFrame.Size;
            _unconfinedPresent = true;
        }
        _instances.Add(inst);
        return inst;
    }

    private const int MaxPcid = 0xFFF;

    /// <summary>MOV to CR3 with this bit keeps the loaded PCID's translations (CR4.PCIDE = 1).</summary>
    public const ulong Cr3NoFlush = 1UL << 63;

    /// <summary>What the dispatcher loads into CR3 to enter <paramref name="inst"/>'s space: its PCID, without a flush unless its tables changed.</summary>
    private static ulong Cr3Load(Instance inst)
    {
        ulong value = inst.Cr3Value | (inst.TlbFlushPending ? 0 : Cr3NoFlush);
        inst.TlbFlushPending = false;
        return value;
    }

    private ulong[] Frames(ulong bytes)
    {
        int n = (int)((bytes + FrameAllocator.FrameSize - 1) / FrameAllocator.FrameSize);
        var frames = new ulong[n];
        for (int k = 0; k < n; k++) frames[k] = _pool.Allocate();
        return frames;
    }

    /// <summary>Runs until every instance has finished or been contained, or <paramref name="maxInstructions"/> retire.</summary>
    public StopReason Run(ulong maxInstructions = 50_000_000)
    {
        var cpu = Board.Cpu;
        if (!_booted)
        {
            _booted = true;
            cpu.FeatureControl = 5; // locked, VMX outside SMX enabled: as firmware leaves it
            HostState.Enter(cpu, Trampoline.BootStub, HostLayout.HostStackTop);
        }
        return cpu.Run(maxInstructions);
    }

    /// <summary>The host's system state (also HOST_* in every VMCS).</summary>
    public LongModeState HostState => new()
    {
        // PCIDs: host (0) and every confined space (1 + id) keep their translations across the
        // switches (no-flush CR3 loads). CR4.PGE stays 0: no translation is shared by all PCIDs.
        Cr3 = HostSpace.Root, Cr4 = LongModeState.DefaultCr4 | Bits.Cr4Vmxe | Bits.Cr4Pcide,
        GdtBase = ConfinedLayout.Gdt, IdtBase = ConfinedLayout.Idt, TssBase = ConfinedLayout.Tss,
    };

    // ---- host calls --------------------------------------------------------------------------

    private void OnBoot(HostCallContext c) => ScheduleNext(c.Cpu);

    /// <summary>
    /// Round robin from the instance after the current one: the first Ready instance runs (a
    /// launched one re-enters its guest: its hypervisor had finished handling the exit).
    /// </summary>
    private void ScheduleNext(Emulator.Processor.Cpu cpu)
    {
        int start = _current is null ? 0 : _current.Id + 1;
        _current = null;
        for (int k = 0; k < _instances.Count; k++)
        {
            var inst = _instances[(start + k) % _instances.Count];
            if (inst.State == InstanceState.Ready)
            {
                _current = inst;
                inst.State = InstanceState.Running;
                Schedule.Add(inst.Id);
                InstanceScheduled?.Invoke(inst);
                _mark = cpu.Retired;
                Board.Memory.Write(HostLayout.SlotVmcs, 8, inst.VmcsFrame);
                cpu.R(Reg.Rax) = inst.Launched ? DispatchAction.LoadVmcs : DispatchAction.ClearAndLoadVmcs;
                return;
            }
        }
        cpu.R(Reg.Rax) = DispatchAction.Stop;
        cpu.RequestStop(new StopReason(StopKind.Requested));
    }

    private bool AnotherReady(Instance inst)
    {
        foreach (var other in _instances)
            if (other != inst && other.State == InstanceState.Ready) return true;
        return false;
    }

    private void OnVmcsLoaded(HostCallContext c)
    {
        var inst = _current!;
        if (!inst.Launched)
        {
            var entry = inst.Entry ?? new GuestEntry(GuestSpec.State, GuestSpec.CodeAddress, GuestSpec.StackTop, 0);
            // CR4.VMXE is the host's: the guest reads it as 0 (read shadow) and may write it as 0 without an exit.
            var fields = VmcsBuilder.Standard64BitGuest(HostState, HostLayout.HostStackTop, entry.State, entry.Rip, entry.Rsp)
                .WithEpt(inst.Ept.Pointer(), vpid: (ushort)(inst.Id + 1)) // entries and exits then keep the host's and the spaces' translations (PCIDs)
                .WithUnconditionalIoExiting()
                // The guest's RDMSR/WRMSR of MSRs switched per guest at every exit and entry run without exits; the rest exit.
                .SetBits(F.ProcControls, VmxControls.ProcMsrBitmaps)
                .Set(F.MsrBitmap, inst.MsrBitmapFrame)
                .Set(F.Cr4GuestHostMask, Bits.Cr4Vmxe)
                .Set(F.Cr4ReadShadow, entry.State.Cr4 & ~Bits.Cr4Vmxe)
                // EFER is per guest: loaded at entry, saved at exit, the host's reloaded (the hypervisor's WRMSR EFER edits GUEST_IA32_EFER).
                // The guest may use what its CPUID advertises: RDTSCP and INVPCID execute without exits.
                .SetBits(F.ProcControls2, VmxControls.Proc2Rdtscp | VmxControls.Proc2Invpcid)
                .SetBits(F.EntryControls, VmxControls.EntryLoadEfer)
                .SetBits(F.ExitControls, VmxControls.ExitSaveEfer | VmxControls.ExitLoadEfer)
                .Set(F.HostEfer, HostState.Efer)
                .Set(F.HostRip, Trampoline.ExitStub);
            foreach (uint msr in MsrAllowList.SwitchedByVmcs) fields.Set(MsrAllowList.GuestField(msr), inst.CpuState.Msrs.GetValueOrDefault(msr));
            if (!fields.ApplyTo(c.Cpu)) { Contain(c.Cpu, inst, "VMCS set-up refused", -1, 0, 0, 0); return; }
        }
        EnterGuest(c.Cpu, inst);
    }

    /// <summary>Loads the guest's registers from the instance's guest-register area and enters the guest.</summary>
    internal void EnterGuest(Emulator.Processor.Cpu cpu, Instance inst)
    {
        var mem = Board.Memory;
        for (int k = 0; k < SaveFrame.PushOrder.Length; k++)
        {
            int reg = SaveFrame.PushOrder[k];
            mem.Write(HostLayout.GuestRegisterFrame + SaveFrame.RegisterOffset(reg), 8, mem.Read(inst.GuestRegistersPhysical + (ulong)reg * 8, 8));
        }
        CopyFx(inst.FxFrame, HostLayout.GuestFxArea);
        if (inst.EptFlushPending)
        {
            mem.Write(HostLayout.SlotInveptDescriptor, 8, inst.Ept.Pointer());
            mem.Write(HostLayout.SlotInveptPending, 8, 1);
            inst.EptFlushPending = false;
        }
        cpu.Xcr0 = inst.CpuState.Xcr0;
        cpu.Cr2 = inst.CpuState.Cr2;
        foreach (uint msr in MsrAllowList.SwitchedAtEntry) cpu.TryWriteMsr(msr, inst.CpuState.Msrs.GetValueOrDefault(msr));
        inst.RuntimeInstructions += SinceMark(cpu);
        cpu.R(Reg.Rax) = inst.Launched ? DispatchAction.ResumeGuest : DispatchAction.LaunchGuest;
        inst.Launched = true;
    }

    private void CopyFx(ulong from, ulong to)
    {
        Span<byte> area = stackalloc byte[512];
        Board.Memory.ReadBytes(from, area);
        Board.Memory.WriteBytes(to, area);
    }

    private void OnEntryFailed(HostCallContext c)
    {
        ulong error = c.Cpu.ReadVmcsField(F.InstructionError);
        Contain(c.Cpu, _current!, $"VM entry failed (VM-instruction error {error})", -1, 0, 0, 0);
    }

    private void OnVmExit(HostCallContext c)
    {
        var inst = _current!;
        var mem = Board.Memory;
        inst.Exits++;
        inst.GuestInstructions += SinceMark(c.Cpu);
        for (int k = 0; k < SaveFrame.PushOrder.Length; k++)
        {
            int reg = SaveFrame.PushOrder[k];
            mem.Write(inst.GuestRegistersPhysical + (ulong)reg * 8, 8, mem.Read(HostLayout.GuestRegisterFrame + SaveFrame.RegisterOffset(reg), 8));
        }
        // Per-guest state a VM exit does not switch: keep the guest's, leave the processor clean.
        CopyFx(HostLayout.GuestFxArea, inst.FxFrame);
        inst.CpuState.Xcr0 = c.Cpu.Xcr0;
        c.Cpu.Xcr0 = 1;
        inst.CpuState.Cr2 = c.Cpu.Cr2;
        c.Cpu.Cr2 = 0;
        // Saved, not only cleared: the guest changes KERNEL_GS_BASE without an exit (SWAPGS).
        foreach (uint msr in MsrAllowList.SwitchedAtEntry)
        {
            if (c.Cpu.TryReadMsr(msr, out ulong value)) inst.CpuState.Msrs[msr] = value;
            c.Cpu.TryWriteMsr(msr, 0);
        }
        foreach (uint msr in MsrAllowList.SwitchedByVmcs) inst.CpuState.Msrs[msr] = c.Cpu.ReadVmcsField(MsrAllowList.GuestField(msr)); // saved by the exit
        int reason = (int)(c.Cpu.ReadVmcsField(F.ExitReason) & 0xFFFF);
        if (reason < inst.ExitsByReason.Length) inst.ExitsByReason[reason]++;
        // A fresh frame: the hypervisor starts at its validated entry on its own stack, IF = 1.
        ulong f = inst.SaveFramePhysical;
        for (ulong o = 0; o < SaveFrame.Size; o += 8) mem.Write(f + o, 8, 0);
        mem.Write(f + SaveFrame.RegisterOffset(Reg.Rdi), 8, (ulong)reason);
        mem.Write(f + SaveFrame.RegisterOffset(Reg.Rsi), 8, ConfinedLayout.Data);
        mem.Write(f + SaveFrame.RipOffset, 8, inst.Image.EntryAddress(reason));
        mem.Write(f + SaveFrame.CsOffset, 8, ConfinedLayout.CodeSelector);
        mem.Write(f + SaveFrame.RflagsOffset, 8, Bits.If | 2);
        mem.Write(f + SaveFrame.RspOffset, 8, ConfinedLayout.StackTop((ulong)inst.StackFrames.Length * FrameAllocator.FrameSize));
        mem.Write(f + SaveFrame.SsOffset, 8, ConfinedLayout.DataSelector);
        inst.BudgetLeft = BudgetPerExit;
        EnterHypervisor(c.Cpu, inst);
    }

    private void EnterHypervisor(Emulator.Processor.Cpu cpu, Instance inst)
    {
        Transitions++;
        inst.Transitions++;
        inst.RuntimeInstructions += SinceMark(cpu);
        Budget.Arm(inst.BudgetLeft);
        cpu.R(Reg.Rsi) = SaveFrame.Linear; // the frame OnVmExit built or the gate's, on IST1
        cpu.R(Reg.Rax) = inst.Confined ? Cr3Load(inst) : DispatchAction.ResumeInPlace;
    }

    private void OnEvent(HostCallContext c)
    {
        var mem = Board.Memory;
        // The frame is at the top of the vector's IST stack in the space the vector arrived in.
        ulong frameLinear = c.Cpu.R(Reg.Rsi), arrivedCr3 = c.Cpu.R(Reg.Rdi);
        bool arrivedInHost = arrivedCr3 == HostSpace.Root;
        if (!arrivedInHost && (_current is null || arrivedCr3 != _current.Cr3Value) || frameLinear - ConfinedLayout.IstStack >= ConfinedLayout.IstAreaSize)
        {
            // Only a jump past a vector entry's INT3 gets here (verified code cannot make one):
            // whatever ran last is confined code that broke the trampoline's invariant.
            if (_current is null) throw new InvalidOperationException($"trampoline event from CR3 {arrivedCr3:X}, frame {frameLinear:X} with no instance running");
            _current.BudgetLeft = Budget.Stop();
            Contain(c.Cpu, _current, "trampoline entered other than through a vector entry", -1, 0, 0, c.Cpu.Cr2);
            return;
        }
        ulong f = (arrivedInHost ? HostLayout.HostIst : _current!.IstFrames) + (frameLinear - ConfinedLayout.IstStack);
        int vector = (int)mem.Read(f + SaveFrame.VectorOffset, 8);
        if (vector == 2)
        {
            // An NMI belongs to the host, not to whatever it interrupted (the hypervisor, the
            // trampoline, the idle loop): take note and return there from its own stack. Its few
            // instructions count against the interrupted party; the budget timer keeps running.
            NmisHandled++;
            c.Cpu.R(Reg.Rsi) = frameLinear;
            c.Cpu.R(Reg.Rax) = arrivedInHost ? DispatchAction.ResumeInPlace : Cr3Load(_current!);
            return;
        }
        if (_current is null) throw new InvalidOperationException($"vector {vector} in the host with no instance running");
        var inst = _current;
        Transitions++;
        inst.Transitions++;
        inst.HypervisorInstructions += SinceMark(c.Cpu);
        inst.BudgetLeft = Budget.Stop();
        if (vector == ServiceRegisters.GateVector)
        {
            inst.GateCalls++;
            var outcome = _services.Call(c.Cpu, inst, new FrameRegisters(mem, f));
            switch (outcome)
            {
                case ServiceOutcome.Resume: EnterHypervisor(c.Cpu, inst); break;
                case ServiceOutcome.EnterGuest:
                    if (inst.YieldRequested && AnotherReady(inst))
                    {
                        // The hypervisor is done with this exit: its guest's state is in the
                        // instance (registers, FXSAVE image, VMCS), so the next instance can run.
                        inst.YieldRequested = false;
                        inst.State = InstanceState.Ready;
                        ScheduleNext(c.Cpu);
                    }
                    else
                    {
                        inst.YieldRequested = false;
                        EnterGuest(c.Cpu, inst);
                    }
                    break;
                case ServiceOutcome.Stopped: ScheduleNext(c.Cpu); break;
            }
            return;
        }
        if (vector >= 32) Budget.Eoi();
        string reason = vector < 32 ? "exception in confined code"
            : vector == BudgetTimer.Vector ? "budget exceeded" : "unexpected interrupt in confined code";
        Contain(c.Cpu, inst, reason, vector,
            mem.Read(f + SaveFrame.RipOffset, 8), mem.Read(f + SaveFrame.ErrorOffset, 8), c.Cpu.Cr2);
    }

    /// <summary>Stops <paramref name="inst"/> and its guest with a report, then runs the next instance.</summary>
    internal void Contain(Emulator.Processor.Cpu cpu, Instance inst, string reason, int vector, ulong rip, ulong error, ulong cr2)
    {
        MarkContained(inst, reason, vector, rip, error, cr2);
        ScheduleNext(cpu);
    }

    internal void MarkContained(Instance inst, string reason, int vector, ulong rip, ulong error, ulong cr2)
    {
        inst.State = InstanceState.Contained;
        inst.Report = new ContainmentReport(inst.Id, reason, vector, rip, error, cr2);
        Reports.Add(inst.Report);
    }

    /// <summary>Marks <paramref name="inst"/> finished: its guest is done.</summary>
    internal void MarkFinished(Instance inst, int status)
    {
        inst.State = InstanceState.Finished;
        inst.ExitStatus = status;
    }

    public void Dispose() => Board.Dispose();
}
