using System.Diagnostics;
using HyperLock.Emulator.Cpu;
using HyperLock.Emulator.Cpu.Execution;
using HyperLock.Emulator.Devices;
using HyperLock.Emulator.Loaders;
using HyperLock.Emulator.Memory;
using CpuCore = HyperLock.Emulator.Cpu.Cpu;

namespace HyperLock.Emulator.Machine;

/// <summary>
/// A PC-compatible machine with one x86-64 processor and no firmware: RAM with an e820 map,
/// COM1 (16550 UART, IRQ 4), the 8259 pair, the 8254 PIT, the CMOS RTC, a local APIC
/// (xAPIC/x2APIC, 0xFEE00000), an I/O APIC (0xFEC00000), an i8042 for reset, QEMU's
/// debug-exit port 0xF4, PCI configuration mechanism #1 with no devices and the ignored port
/// 0x80. Time is virtual (<see cref="VirtualClock"/>). The kernel is loaded by the loader its
/// format calls for, which sets the processor at the entry point. <see cref="Run"/> runs
/// until the guest exits through the debug-exit port, resets, halts for good, or reaches the
/// instruction limit.
/// </summary>
public sealed class X86Machine : IDisposable
{
    public MachineConfig Config { get; }
    public E820Map MemoryMap { get; }
    public PhysicalMemory Memory { get; }
    public CpuCore Cpu { get; }
    public VirtualClock Clock { get; }
    public IoBus Io { get; }
    public InterruptRouter Interrupts { get; }
    public Pic8259 Pic { get; }
    public Pit8254 Pit { get; }
    public CmosRtc Rtc { get; }
    public Uart16550 Serial { get; }
    public LocalApic LocalApic { get; }
    public IoApic IoApic { get; }
    public I8042 Keyboard { get; }
    public DebugExit DebugExit { get; }
    public PciConfigNoDevices Pci { get; }
    public IgnoredPorts Ignored { get; }
    public LoadedKernel Kernel { get; }

    private int? _debugExitStatus;
    private bool _resetRequested;
    private readonly ClockTimer _sliceTimer;

    /// <summary>Builds the machine and loads the kernel; bad input is a <see cref="MachineConfigException"/>.</summary>
    public X86Machine(MachineConfig config)
    {
        Config = config;
        if (config.TscFrequencyHz < Pit8254.FrequencyHz)
            throw new MachineConfigException($"TSC frequency {config.TscFrequencyHz} Hz is below the PIT's {Pit8254.FrequencyHz} Hz");
        MemoryMap = E820Map.ForMemory(config.MemorySize);
        Memory = new PhysicalMemory(MemoryMap.PhysicalTop);
        try
        {
            Cpu = new CpuCore(Memory, CpuidFor(config.TscFrequencyHz)) { Log = config.Log };
            Clock = new VirtualClock(Cpu, config.TscFrequencyHz);

            Pic = new Pic8259();
            LocalApic = new LocalApic(Cpu, Clock);
            IoApic = new IoApic(LocalApic);
            Interrupts = new InterruptRouter(Pic, LocalApic, IoApic);
            Cpu.Interrupts = Interrupts;
            Cpu.MsrHook = new LocalApicMsrs(LocalApic, Cpu.MsrHook);
            Memory.AddMmio(LocalApic.DefaultBase, LocalApic.PageSize, LocalApic);
            Memory.AddMmio(IoApic.DefaultBase, IoApic.WindowSize, IoApic);

            Io = new IoBus { Log = config.Log };
            Cpu.Io = Io;
            Pit = new Pit8254(Clock, Interrupts.Line(0));
            Rtc = new CmosRtc(Clock, Interrupts.Line(CmosRtc.Irq), config.RtcStart, config.MemorySize);
            Serial = new Uart16550(Uart16550.Com1Base, config.SerialOutput, Interrupts.Line(Uart16550.Com1Irq));
            Keyboard = new I8042(OnReset);
            DebugExit = new DebugExit(OnDebugExit);
            Pci = new PciConfigNoDevices();
            Ignored = new IgnoredPorts();

            Io.Register(Pic8259.MasterCommand, 2, Pic);
            Io.Register(Pic8259.SlaveCommand, 2, Pic);
            Io.Register(Pic8259.ElcrMaster, 2, Pic);
            Io.Register(Pit8254.Channel0Port, 4, Pit);
            Io.Register(Pit8254.SystemControlPort, 1, Pit);
            Io.Register(CmosRtc.IndexPort, 2, Rtc);
            Io.Register(Uart16550.Com1Base, 8, Serial);
            Io.Register(I8042.DataPort, 1, Keyboard);
            Io.Register(I8042.CommandPort, 1, Keyboard);
            Io.Register(DebugExit.Port, DebugExit.PortCount, DebugExit, byteWide: false);
            Io.Register(PciConfigNoDevices.AddressPort, 8, Pci, byteWide: false);
            Io.Register(IgnoredPorts.PostPort, 1, Ignored);

            // Ends each run slice after ProgressInterval cycles of virtual time, so that progress
            // reports and the time limit also work while the guest idles in HLT (where no
            // instructions retire).
            _sliceTimer = Clock.CreateTimer("machine-slice", () => Cpu.RequestStop(new StopReason(StopKind.Requested)));

            if (config.SerialInput != null) Serial.Enqueue(config.SerialInput);
            Kernel = KernelLoader.Load(config.Boot, Memory, Cpu, MemoryMap);
            if (config.X2Apic && !Cpu.TryWriteMsr(HyperLock.Emulator.Cpu.Msr.ApicBase, LocalApic.BaseMsr | LocalApic.BaseExtd))
                throw new MachineConfigException("x2APIC mode is not available in this CPU profile");
        }
        catch
        {
            Memory.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The default CPUID profile plus leaves 0x15 (TSC/crystal ratio and crystal frequency) and
    /// 0x16 (base frequency), as Intel processors report their TSC and core frequencies: the
    /// guest then knows the configured TSC frequency exactly instead of measuring it against the PIT (a measurement whose last
    /// digits would depend on how the core splits code into blocks).
    /// </summary>
    public static CpuidProfile CpuidFor(ulong tscHz)
    {
        var p = CpuidProfile.Default();
        uint denominator = 1, numerator, crystalHz;
        if (tscHz <= uint.MaxValue) { numerator = 1; crystalHz = (uint)tscHz; }
        else if (tscHz % 1_000_000 == 0 && tscHz / 1_000_000 <= uint.MaxValue) { numerator = (uint)(tscHz / 1_000_000); crystalHz = 1_000_000; }
        else return p;
        p.Set(0x15, 0, new CpuidProfile.Leaf(denominator, numerator, crystalHz, 0));
        uint maxLeaf = 0x15;
        if (tscHz % 1_000_000 == 0 && tscHz / 1_000_000 <= 0xFFFF)
        {
            // Leaf 0x16: base and maximum frequency in MHz (the processor runs at the TSC rate), bus 100 MHz.
            uint mhz = (uint)(tscHz / 1_000_000);
            p.Set(0x16, 0, new CpuidProfile.Leaf(mhz, mhz, 100, 0));
            maxLeaf = 0x16;
        }
        var leaf0 = p.Get(0, 0);
        if (leaf0.Eax < maxLeaf) p.Set(0, 0, leaf0 with { Eax = maxLeaf });
        return p;
    }

    private void OnDebugExit(int status)
    {
        _debugExitStatus ??= status;
        Cpu.RequestStop(new StopReason(StopKind.Requested));
    }

    private void OnReset()
    {
        _resetRequested = true;
        Cpu.RequestStop(new StopReason(StopKind.Requested));
    }

    /// <summary>Instructions retired so far.</summary>
    public ulong Instructions => Cpu.Retired;

    /// <summary>Runs the machine until it stops (see <see cref="MachineOutcome"/>).</summary>
    public MachineResult Run()
    {
        var wall = Stopwatch.StartNew();
        ulong limit = Config.InstructionLimit;
        ulong slice = Math.Max(1, Config.ProgressInterval);
        ulong timeLimit = Config.VirtualTimeLimitNs == ulong.MaxValue ? ulong.MaxValue : Clock.NanosecondsToCycles(Config.VirtualTimeLimitNs);
        for (; ; )
        {
            if (Config.Stop.IsCancellationRequested) return Finish(MachineOutcome.Stopped, MachineResult.StoppedStatus, "stopped", wall);
            ulong done = Cpu.Retired;
            if (done >= limit) return Finish(MachineOutcome.InstructionLimit, MachineResult.InstructionLimitStatus, "instruction limit reached", wall);
            if (Cpu.Now >= timeLimit) return Finish(MachineOutcome.TimeLimit, MachineResult.InstructionLimitStatus, "virtual time limit reached", wall);
            ulong budget = Math.Min(slice, limit - done);
            ulong sliceEnd = Cpu.Now + slice;
            if (sliceEnd < Cpu.Now || sliceEnd > timeLimit) sliceEnd = timeLimit;
            if (sliceEnd != ulong.MaxValue) _sliceTimer.Arm(sliceEnd);
            var stop = Cpu.Run(budget);
            _sliceTimer.Cancel();
            switch (stop.Kind)
            {
                case StopKind.InstructionLimit:
                    Config.Progress?.Invoke(this);
                    continue;
                case StopKind.Requested:
                    if (_debugExitStatus is int status)
                        return Finish(MachineOutcome.DebugExit, status, $"debug exit, status {status}", wall);
                    if (_resetRequested)
                        return Finish(MachineOutcome.Reset, 0, "reset by the i8042 keyboard controller", wall);
                    // The slice timer. A processor halted with nothing armed that could wake it
                    // stays halted for ever: end the run as HLT with nothing to wake it does.
                    if (Cpu.Halted && !Clock.AnyArmedExcept(_sliceTimer) && !Interrupts.HasInterrupt)
                        return Finish(MachineOutcome.Halted, 0, "halted with nothing left to wake it", wall);
                    Config.Progress?.Invoke(this);
                    continue;
                case StopKind.Shutdown:
                    return Finish(MachineOutcome.TripleFault, 0, $"triple fault ({stop}) at rip 0x{Cpu.Rip:x}", wall);
                case StopKind.Halted:
                    return Finish(MachineOutcome.Halted, 0,
                        Cpu.IF ? "halted with nothing left to wake it" : "halted with interrupts disabled", wall);
                case StopKind.Exception:
                    return Finish(MachineOutcome.TripleFault, 0, $"unexpected intercepted exception {stop}", wall);
                default:
                    continue;
            }
        }
    }

    private MachineResult Finish(MachineOutcome outcome, int status, string description, Stopwatch wall)
    {
        wall.Stop();
        Config.SerialOutput?.Flush();
        return new MachineResult(outcome, status, Cpu.Retired, Clock.Nanoseconds, wall.Elapsed, description);
    }

    public void Dispose() => Memory.Dispose();
}
