using System.Diagnostics;
using HyperLock.DeviceModel;
using HyperLock.Emulator.Loaders;
using HyperLock.Emulator.Machine;
using HyperLock.Emulator.Processor.Execution;
using HyperLock.Hypervisor;
using HyperLock.Runtime;

namespace HyperLock.Demo;

/// <summary>
/// Boots a kernel (Debian's, in practice) as a VMX guest of the mini-KVM: <c>hyperlock run
/// --hyperlock</c> (confined instances) or <c>--unconfined</c>. Each guest gets its own instance
/// and its own <see cref="PcDeviceModel"/>; the untrusted <see cref="LinuxGuestLoader"/> fills its
/// memory. Confined guests share one machine (the runtime schedules them round robin); the
/// unconfined instance lives in the host space, so there is one per machine and N unconfined
/// guests run on N machines one after another.
/// </summary>
public static class LinuxRunner
{
    /// <summary>The runtime's own memory below the guests (hypervisor pool, tables, trampoline).</summary>
    public const ulong RuntimeMemory = 16UL << 20;

    public sealed record Options(BootImage Boot, ulong GuestMemory, int Guests, bool Confined, Func<int, Stream?> Serial)
    {
        public ulong InstructionLimit { get; init; } = ulong.MaxValue;
        public ulong SliceInstructions { get; init; } = 10_000_000;
        public CancellationToken Stop { get; init; }
        /// <summary>Called between slices with the instructions retired so far on the current machine.</summary>
        public Action<ulong>? Progress { get; init; }
        /// <summary>Called once per machine before it runs (tests hash parties, or contain an instance).</summary>
        public Action<IsolationRuntime, IReadOnlyList<LinuxGuest>>? Starting { get; init; }
        /// <summary>Called after each slice (tests act on a running machine).</summary>
        public Action<IsolationRuntime, IReadOnlyList<LinuxGuest>>? AfterSlice { get; init; }
    }

    /// <summary>One guest: its name, instance and device model.</summary>
    public sealed record LinuxGuest(string Name, Instance Instance, PcDeviceModel Devices);

    public sealed record GuestOutcome(string Name, string Description, int ExitStatus, Instance Instance, PcDeviceModel Devices);

    public sealed record RunResult(IReadOnlyList<GuestOutcome> Guests, MachineResult Machine, long Transitions);

    public static string GuestName(int k) => $"guest{k + 1}";

    public static RunResult Run(Options o)
    {
        if (o.Guests < 1) throw new ArgumentOutOfRangeException(nameof(o), "at least one guest");
        var wall = Stopwatch.StartNew();
        var image = MiniKvm.Build();
        var outcomes = new List<GuestOutcome>();
        ulong instructions = 0, virtualNs = 0;
        long transitions = 0;
        MachineOutcome? stopped = null;
        int machines = o.Confined ? 1 : o.Guests;
        int perMachine = o.Confined ? o.Guests : 1;
        for (int m = 0; m < machines && stopped == null; m++)
        {
            using var rt = new IsolationRuntime(RuntimeMemory + (ulong)perMachine * o.GuestMemory);
            var loaded = rt.Load(image);
            var cpu = rt.Board.Cpu;
            var guests = new List<LinuxGuest>();
            try
            {
                for (int g = 0; g < perMachine; g++)
                {
                    int k = m * perMachine + g;
                    string name = GuestName(k);
                    var devices = new PcDeviceModel(name, () => cpu.Tsc, o.Serial(k), o.GuestMemory);
                    var spec = new GuestSpec(name, []) { MemorySize = o.GuestMemory, Loader = mem => { devices.Memory = mem; return LinuxGuestLoader.Load(o.Boot, mem); } };
                    guests.Add(new LinuxGuest(name, rt.AddGuest(spec, loaded, o.Confined, devices), devices));
                }
                o.Starting?.Invoke(rt, guests);
                ulong start = cpu.Retired;
                while (!AllDone(guests))
                {
                    if (o.Stop.IsCancellationRequested) { stopped = MachineOutcome.Stopped; break; }
                    ulong done = instructions + (cpu.Retired - start);
                    if (done >= o.InstructionLimit) { stopped = MachineOutcome.InstructionLimit; break; }
                    var stop = rt.Run(Math.Min(o.SliceInstructions, o.InstructionLimit - done));
                    o.Progress?.Invoke(instructions + (cpu.Retired - start));
                    o.AfterSlice?.Invoke(rt, guests);
                    if (stop.Kind is StopKind.Shutdown or StopKind.Halted or StopKind.Exception && !AllDone(guests))
                        throw new InvalidOperationException($"the host stopped: {stop}");
                }
                instructions += cpu.Retired - start;
                virtualNs += rt.Board.Clock.Nanoseconds;
                transitions += rt.Transitions;
                foreach (var g in guests) outcomes.Add(Outcome(g, stopped));
            }
            finally
            {
                foreach (var g in guests) g.Devices.Dispose();
            }
        }
        wall.Stop();
        var (kind, status, description) = Overall(outcomes, stopped);
        return new RunResult(outcomes, new MachineResult(kind, status, instructions, virtualNs, wall.Elapsed, description), transitions);
    }

    private static bool AllDone(List<LinuxGuest> guests)
    {
        foreach (var g in guests)
            if (g.Instance.State is InstanceState.Ready or InstanceState.Running) return false;
        return true;
    }

    /// <summary>Exit status of a guest whose instance was contained.</summary>
    public const int ContainedStatus = 1;

    private static GuestOutcome Outcome(LinuxGuest g, MachineOutcome? stopped)
    {
        var inst = g.Instance;
        return inst.State switch
        {
            InstanceState.Finished => new GuestOutcome(g.Name, g.Devices.Outcome ?? $"exit, status {inst.ExitStatus}", inst.ExitStatus ?? 0, inst, g.Devices),
            InstanceState.Contained => new GuestOutcome(g.Name, $"instance contained: {inst.Report}", ContainedStatus, inst, g.Devices),
            _ => new GuestOutcome(g.Name, stopped == MachineOutcome.Stopped ? "stopped" : "instruction limit reached",
                stopped == MachineOutcome.Stopped ? MachineResult.StoppedStatus : MachineResult.InstructionLimitStatus, inst, g.Devices),
        };
    }

    private static (MachineOutcome, int, string) Overall(List<GuestOutcome> guests, MachineOutcome? stopped)
    {
        if (stopped == MachineOutcome.Stopped) return (MachineOutcome.Stopped, MachineResult.StoppedStatus, "stopped");
        if (stopped == MachineOutcome.InstructionLimit) return (MachineOutcome.InstructionLimit, MachineResult.InstructionLimitStatus, "instruction limit reached");
        if (guests.Count == 1) return (KindOf(guests[0]), guests[0].ExitStatus, guests[0].Description);
        int status = 0;
        foreach (var g in guests)
            if (g.ExitStatus != 0) { status = g.ExitStatus; break; }
        return (MachineOutcome.Halted, status, $"{guests.Count} guests done");
    }

    private static MachineOutcome KindOf(GuestOutcome g) =>
        g.Description.StartsWith("debug exit", StringComparison.Ordinal) ? MachineOutcome.DebugExit
        : g.Description.StartsWith("reset", StringComparison.Ordinal) ? MachineOutcome.Reset
        : MachineOutcome.Halted;
}
