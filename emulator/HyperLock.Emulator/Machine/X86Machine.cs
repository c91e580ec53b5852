using System.Diagnostics;
using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Processor.Execution;
using HyperLock.Emulator.Devices;
using HyperLock.Emulator.Loaders;
using HyperLock.Emulator.Time;
using HyperLock.Emulator.Memory;

namespace HyperLock.Emulator.Machine;

/// <summary>
/// A PC-compatible machine with one x86-64 processor and no firmware: a <see cref="Board"/>
/// with RAM sized by an e820 map and the <see cref="PcDevices"/> set (COM1, the 8259 pair, the
/// 8254 PIT, the CMOS RTC, local and I/O APICs, an i8042 for reset, QEMU's debug-exit port 0xF4,
/// PCI configuration mechanism #1 with no devices, the ignored port 0x80). Time is virtual
/// (<see cref="VirtualClock"/>). The kernel is loaded by the loader its format calls for, which
/// sets the processor at the entry point. <see cref="Run"/> runs until the guest exits through
/// the debug-exit port, resets, halts for good, or reaches the instruction limit.
/// </summary>
public sealed class X86Machine : IDisposable
{
    public MachineConfig Config { get; }
    public E820Map MemoryMap { get; }
    /// <summary>The parts: memory, processor, clock, I/O bus, devices.</summary>
    public Board Board { get; }
    /// <summary>The PC device set on <see cref="Board"/>.</summary>
    public PcDevices Pc { get; }
    public PhysicalMemory Memory => Board.Memory;
    public Cpu Cpu => Board.Cpu;
    public VirtualClock Clock => Board.Clock;
    public IoBus Io => Board.Io;
    public InterruptRouter Interrupts => Pc.Interrupts;
    public Pic8259 Pic => Pc.Pic;
    public Pit8254 Pit => Pc.Pit;
    public CmosRtc Rtc => Pc.Rtc;
    public Uart16550 Serial => Pc.Serial;
    public LocalApic LocalApic => Pc.LocalApic;
    public IoApic IoApic => Pc.IoApic;
    public I8042 Keyboard => Pc.Keyboard;
    public DebugExit DebugExit => Pc.DebugExit;
    public PciConfigNoDevices Pci => Pc.Pci;
    public IgnoredPorts Ignored => Pc.Ignored;
    public LoadedKernel Kernel { get; }

    private readonly ClockTimer _sliceTimer;

    /// <summary>Builds the machine and loads the kernel; bad input is a <see cref="MachineConfigException"/>.</summary>
    public X86Machine(MachineConfig config)
    {
        Config = config;
        if (config.TscFrequencyHz < Pit8254.FrequencyHz)
            throw new MachineConfigException($"TSC frequency {config.TscFrequencyHz} Hz is below the PIT's {Pit8254.FrequencyHz} Hz");
        MemoryMap = E820Map.ForMemory(config.MemorySize);
        PcDevices? pc = null;
        Board = new BoardBuilder()
            .WithMemory(MemoryMap.PhysicalTop)
            .WithCpuid(CpuidFor(config.TscFrequencyHz))
            .WithTscFrequency(config.TscFrequencyHz)
            .WithLog(config.Log)
            .With(b => pc = new PcDevices(b, config.SerialOutput, config.RtcStart, config.MemorySize))
            .Build();
        Pc = pc!;
        try
        {
            // Ends each run slice after ProgressInterval cycles of virtual time, so that progress
            // reports and the time limit also work while the guest idles in HLT (where no
            // instructions retire).
            _sliceTimer = Clock.CreateTimer("machine-slice", () => Cpu.RequestStop(new StopReason(StopKind.Requested)));

            if (config.SerialInput != null) Serial.Enqueue(config.SerialInput);
            Kernel = KernelLoader.Load(config.Boot, Memory, Cpu, MemoryMap);
            if (config.X2Apic && !Cpu.TryWriteMsr(HyperLock.Emulator.Processor.Msr.ApicBase, LocalApic.BaseMsr | LocalApic.BaseExtd))
                throw new MachineConfigException("x2APIC mode is not available in this CPU profile");
        }
        catch
        {
            Board.Dispose();
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
                    if (Pc.DebugExitStatus is int status)
                        return Finish(MachineOutcome.DebugExit, status, $"debug exit, status {status}", wall);
                    if (Pc.ResetRequested)
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

    public void Dispose() => Board.Dispose();
}
