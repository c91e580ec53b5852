using HyperLock.Emulator.Machine;
using HyperLock.Emulator.Processor;
using HyperLock.Hypervisor;
using HyperLock.Runtime;
using HyperLock.Runtime.Services;

namespace HyperLock.DeviceModel;

/// <summary>
/// A guest's PC device set for an unmodified kernel (the QEMU role): COM1, the 8259 pair, the PIT,
/// the CMOS RTC, the local APIC (xAPIC at 0xFEE00000, reached through MMIO forwarding; its MSRs —
/// APIC base, TSC deadline, x2APIC — through the MSRs the mini-KVM forwards here), the I/O APIC, the i8042, the
/// debug-exit port and PCI with no devices — the emulator's own device models, on a private board
/// whose processor never runs: it holds the guest's model-specific registers that the hypervisor
/// forwards (MTRRs, APIC base, TSC deadline, …) and is the local APIC's CPU. Time is the machine's
/// TSC (what the guest reads with RDTSC), read through <c>now</c> at every request, so device
/// timers fire when the guest's clock says. References nothing but its own board, the time source
/// and the serial output: isolated by what it can reference.
/// </summary>
public sealed class PcDeviceModel : IDeviceModel, IDisposable
{
    /// <summary>Longest run of a guest without an exit (VMX-preemption timer ticks of 32 TSC cycles): 1 ms at 1 GHz.</summary>
    public const uint SliceTicks = 31_250;

    private readonly Board _board;
    private readonly Func<ulong> _now;
    private uint _msrIndex;

    public PcDeviceModel(string name, Func<ulong> now, Stream? serialOutput, ulong memoryBytes)
    {
        Name = name;
        _now = now;
        PcDevices? pc = null;
        _board = new BoardBuilder()
            .WithMemory(1UL << 20)
            .WithCpuid(X86Machine.CpuidFor(Emulator.Time.VirtualClock.DefaultFrequencyHz))
            .With(b => pc = new PcDevices(b, serialOutput, memoryBytes: memoryBytes))
            .Build();
        Pc = pc!;
        _board.Cpu.MtrrDefType = Cpu.MtrrDefTypeFirmware;
    }

    /// <summary>The guest's memory (set by the runner once the loader has it): read to decode MMIO instructions.</summary>
    public GuestMemory? Memory { get; set; }

    private ulong _mmioAddress, _mmioRip;
    private MmioInstruction _mmio;

    public string Name { get; }
    public PcDevices Pc { get; }

    /// <summary>Requests served.</summary>
    public long Requests { get; private set; }

    /// <summary>Why the guest ended (null while it runs) and its status, as the bare machine reports them.</summary>
    public string? Outcome { get; private set; }
    public int ExitStatus { get; private set; }

    public ulong? PortIo(ushort port, bool isIn, int size, ulong value)
    {
        Requests++;
        Sync();
        var cpu = _board.Cpu;
        switch (port)
        {
            case MiniKvmAbi.PortAdvance:
                return 0; // time is the TSC, not what the hypervisor counts
            case MiniKvmAbi.PortInterrupt:
                return InterruptQuery(value == 1);
            case MiniKvmAbi.PortIdle:
                if (Done()) return MiniKvmAbi.GuestDone;
                if ((value & Bits.If) == 0)
                {
                    Finish("halted with interrupts disabled", 0);
                    return MiniKvmAbi.GuestDone;
                }
                return MiniKvmAbi.HaltInGuest;
            case MiniKvmAbi.PortMsrIndex:
                _msrIndex = (uint)value;
                return 0;
            case MiniKvmAbi.PortMsrData:
                if (isIn) return cpu.TryReadMsr(_msrIndex, out ulong v) ? v : null;
                return cpu.TryWriteMsr(_msrIndex, value) ? 0 : null;
            case MiniKvmAbi.PortExitStatus:
                return (ulong)(uint)ExitStatus;
            case MiniKvmAbi.PortMmioAddress:
                _mmioAddress = value;
                return 0;
            case MiniKvmAbi.PortMmioRip:
                _mmioRip = value;
                return 0;
            case MiniKvmAbi.PortMmioDecode:
                return MmioDecode(cr3: value);
            case MiniKvmAbi.PortMmioData:
                if (isIn) return MmioRead();
                MmioWrite(value);
                return 0;
        }
        if (port >= MiniKvmAbi.PortAdvance) return null;
        if (isIn) return _board.Io.In(port, size);
        _board.Io.Out(port, size, (uint)value);
        return 0;
    }

    private ulong? MmioDecode(ulong cr3)
    {
        if (Memory is null || MmioInstruction.Decode(Memory, cr3, _mmioRip) is not MmioInstruction m) return null;
        _mmio = m;
        ulong reply = (uint)m.Length | ((uint)m.Register << 12);
        if (m.IsWrite && m.Immediate is ulong imm) MmioWrite(imm);
        else if (m.IsWrite) reply |= (uint)MiniKvmAbi.MmioWriteFromRegister;
        else reply |= (uint)MiniKvmAbi.MmioReadToRegister;
        return reply;
    }

    /// <summary>The register's new value: a 32-bit load zero-extends, as in 64-bit mode.</summary>
    private ulong MmioRead()
    {
        var mem = _board.Memory;
        if (!mem.IsMmio(_mmioAddress >> 12) || (_mmioAddress & 0xFFF) + (ulong)_mmio.Size > 0x1000) return _mmio.Size == 8 ? ulong.MaxValue : uint.MaxValue;
        return mem.Read(_mmioAddress, _mmio.Size);
    }

    private void MmioWrite(ulong value)
    {
        var mem = _board.Memory;
        // Nothing there (or a straddling access): the write vanishes, as on an empty bus.
        if (!mem.IsMmio(_mmioAddress >> 12) || (_mmioAddress & 0xFFF) + (ulong)_mmio.Size > 0x1000) return;
        mem.Write(_mmioAddress, _mmio.Size, _mmio.Size == 8 ? value : (uint)value);
    }

    /// <summary>Brings the board's clock to the machine's TSC and fires the timers that are due.</summary>
    private void Sync()
    {
        var cpu = _board.Cpu;
        ulong now = _now();
        if (now > cpu.Now) cpu.IdleCycles += now - cpu.Now;
        if (cpu.Now >= cpu.EventDeadline) cpu.DeadlineReached?.Invoke();
    }

    private ulong InterruptQuery(bool canTake)
    {
        if (Done()) return MiniKvmAbi.GuestDone;
        var cpu = _board.Cpu;
        ulong ticks = SliceTicks;
        if (cpu.EventDeadline != ulong.MaxValue)
        {
            ulong until = cpu.EventDeadline > cpu.Now ? cpu.EventDeadline - cpu.Now : 0;
            ticks = Math.Clamp((until >> 5) + 1, 1, SliceTicks);
        }
        ulong low;
        var irq = Pc.Interrupts;
        if (!irq.HasInterrupt) low = MiniKvmAbi.NoInterrupt;
        else if (!canTake) low = MiniKvmAbi.InterruptBlocked;
        else low = (uint)irq.Acknowledge();
        return (ticks << 32) | low;
    }

    private bool Done()
    {
        if (Outcome != null) return true;
        if (Pc.DebugExitStatus is int status) Finish($"debug exit, status {status}", status);
        else if (Pc.ResetRequested) Finish("reset by the i8042 keyboard controller", 0);
        return Outcome != null;
    }

    private void Finish(string outcome, int status)
    {
        Outcome = outcome;
        ExitStatus = status;
    }

    public void Dispose() => _board.Dispose();
}
