using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using HyperLock.Abi;
using HyperLock.Emulator.Processor;
using HyperLock.Runtime;

namespace HyperLock.Benchmarks;

/// <summary>
/// The cost of confinement (issue 11 item 7): a CPUID-exit round trip under a bare VMX host (no
/// runtime: <see cref="VmxBenchMachine"/>), the unconfined mini-KVM and the confined mini-KVM;
/// a workload with one port-I/O exit per 10,000 guest instructions, unconfined and confined;
/// and that workload split over two confined guests against one. Each operation starts a fresh
/// runtime (built in the iteration set-up, not timed) and runs its guests to the end.
/// </summary>
[Config(typeof(Config))]
public class HyperLockBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddJob(Job.Default.WithStrategy(RunStrategy.Monitoring).WithWarmupCount(2).WithIterationCount(10).WithLaunchCount(1));
        }
    }

    public const int CpuidExits = 10_000, WorkloadExits = 1_000, InstructionsPerExit = 10_000;

    private VmxBenchMachine? _bare;
    private HyperLockBenchMachine? _machine;

    [GlobalSetup(Target = nameof(CpuidRoundTripBareVmxHost))]
    public void SetupBare()
    {
        _bare = VmxBenchMachine.CpuidLoop(CpuidExits);
        _bare.RunOnce();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _bare?.Dispose();
        _machine?.Dispose();
    }

    [IterationSetup(Target = nameof(CpuidRoundTripUnconfinedMiniKvm))]
    public void SetupCpuidUnconfined() => Fresh(new HyperLockBenchMachine(n => HyperLockBenchMachine.CpuidGuest(n, CpuidExits), confined: false));

    [IterationSetup(Target = nameof(CpuidRoundTripConfinedMiniKvm))]
    public void SetupCpuidConfined() => Fresh(new HyperLockBenchMachine(n => HyperLockBenchMachine.CpuidGuest(n, CpuidExits), confined: true));

    [IterationSetup(Target = nameof(IoWorkloadUnconfined))]
    public void SetupWorkloadUnconfined() => Fresh(Workload(confined: false, guests: 1));

    [IterationSetup(Target = nameof(IoWorkloadConfined))]
    public void SetupWorkloadConfined() => Fresh(Workload(confined: true, guests: 1));

    [IterationSetup(Target = nameof(IoWorkloadConfinedTwoGuests))]
    public void SetupWorkloadTwoGuests() => Fresh(Workload(confined: true, guests: 2));

    private void Fresh(HyperLockBenchMachine m)
    {
        _machine?.Dispose();
        _machine = m;
    }

    /// <summary>The workload: <see cref="WorkloadExits"/> exits in all, split evenly over <paramref name="guests"/> guests.</summary>
    public static HyperLockBenchMachine Workload(bool confined, int guests) =>
        new(n => HyperLockBenchMachine.IoWorkloadGuest(n, WorkloadExits / guests, InstructionsPerExit), confined, guests);

    /// <summary>CPUID → VM exit → host handler (skips the instruction) → VMRESUME, on a hand-written VMX host.</summary>
    [Benchmark(OperationsPerInvoke = CpuidExits, Baseline = true)]
    public ulong CpuidRoundTripBareVmxHost() => _bare!.RunOnce();

    /// <summary>CPUID → VM exit → runtime → mini-KVM in the host space (Cpuid service) → VMRESUME.</summary>
    [Benchmark(OperationsPerInvoke = CpuidExits)]
    public ulong CpuidRoundTripUnconfinedMiniKvm() => _machine!.Run();

    /// <summary>The same with the mini-KVM confined (its own space, gate calls through the trampoline).</summary>
    [Benchmark(OperationsPerInvoke = CpuidExits)]
    public ulong CpuidRoundTripConfinedMiniKvm() => _machine!.Run();

    /// <summary>10,000,000 guest instructions with one port-I/O exit per 10,000, unconfined.</summary>
    [Benchmark]
    public ulong IoWorkloadUnconfined() => _machine!.Run();

    [Benchmark]
    public ulong IoWorkloadConfined() => _machine!.Run();

    /// <summary>The same work split over two guests, each under its own confined instance.</summary>
    [Benchmark]
    public ulong IoWorkloadConfinedTwoGuests() => _machine!.Run();

    /// <summary>
    /// The deterministic half of the figures: emulated instructions per exit, split by party
    /// (guest incl. exit stub, hypervisor incl. gate/IRETQ paths, runtime's trampoline paths),
    /// plus a stopwatch time per exit (three runs, the best) for a quick look.
    /// </summary>
    public static void PrintExitCosts(TextWriter o)
    {
        using (var bare = VmxBenchMachine.CpuidLoop(CpuidExits))
        {
            ulong n = bare.RunOnce();
            double best = double.MaxValue;
            for (int k = 0; k < 3; k++)
            {
                var sw = Stopwatch.StartNew();
                bare.RunOnce();
                best = Math.Min(best, sw.Elapsed.TotalNanoseconds / CpuidExits);
            }
            o.WriteLine($"{"CPUID round trip, bare VMX host",-44} {n / (double)CpuidExits,8:F1} instr/exit  (all parties)  {best,8:F0} ns/exit");
        }
        Row(o, "CPUID round trip, unconfined mini-KVM", () => new HyperLockBenchMachine(n => HyperLockBenchMachine.CpuidGuest(n, CpuidExits), confined: false));
        Row(o, "CPUID round trip, confined mini-KVM", () => new HyperLockBenchMachine(n => HyperLockBenchMachine.CpuidGuest(n, CpuidExits), confined: true));
        Row(o, "I/O workload, unconfined", () => Workload(confined: false, guests: 1));
        Row(o, "I/O workload, confined", () => Workload(confined: true, guests: 1));
        Row(o, "I/O workload, confined, two guests", () => Workload(confined: true, guests: 2));
    }

    private static void Row(TextWriter o, string name, Func<HyperLockBenchMachine> make)
    {
        double best = double.MaxValue;
        ulong total = 0;
        long exits = 0, gates = 0, transitions = 0;
        ulong guest = 0, hyp = 0, runtime = 0;
        for (int k = 0; k < 3; k++)
        {
            using var m = make();
            var sw = Stopwatch.StartNew();
            total = m.Run();
            double ns = sw.Elapsed.TotalNanoseconds;
            exits = gates = transitions = 0;
            guest = hyp = runtime = 0;
            foreach (var i in m.Runtime.Instances)
            {
                exits += i.Exits; gates += i.GateCalls; transitions += i.Transitions;
                guest += i.GuestInstructions; hyp += i.HypervisorInstructions; runtime += i.RuntimeInstructions;
            }
            best = Math.Min(best, ns);
        }
        o.WriteLine($"{name,-44} {total / (double)exits,8:F1} instr/exit  (guest {guest / (double)exits:F1}, hypervisor {hyp / (double)exits:F1}, runtime {runtime / (double)exits:F1}; {gates / (double)exits:F2} gates, {transitions / (double)exits:F2} transitions per exit; {exits} exits)  {best / exits,8:F0} ns/exit  {best / 1e6,8:F1} ms/run");
    }

    /// <summary>
    /// Where the instructions of one exit go: runs the CPUID guest with an observer that bins every
    /// instruction by the trampoline label it lies under (the vector bundles as one bin), the
    /// hypervisor, or the guest, and prints instructions per exit for each bin.
    /// </summary>
    public static void PrintExitProfile(TextWriter o, bool confined)
    {
        const int exits = 1000;
        using var m = new HyperLockBenchMachine(n => HyperLockBenchMachine.CpuidGuest(n, exits), confined);
        var labels = m.Runtime.Trampoline.Labels.Where(l => !l.Key.StartsWith('v')).OrderBy(l => l.Value).ToArray();
        var bins = new SortedDictionary<string, long>();
        m.Runtime.Board.Cpu.Observer = new Binner(labels, bins);
        m.Run();
        long total = bins.Values.Sum();
        o.WriteLine($"{(confined ? "confined" : "unconfined")}: {total / (double)(exits + 1):F1} instructions per exit");
        foreach (var (bin, n) in bins.OrderByDescending(b => b.Value))
            o.WriteLine($"  {bin,-28} {n / (double)(exits + 1),8:F1}");
    }

    private sealed class Binner(KeyValuePair<string, int>[] labels, SortedDictionary<string, long> bins) : IExecutionObserver
    {
        public void InstructionStarted(in InstructionObservation i)
        {
            string bin;
            if (i.Context.NonRoot) bin = "guest";
            else if (i.Linear >= ConfinedLayout.Trampoline && i.Linear < ConfinedLayout.Trampoline + 0x100000)
            {
                ulong off = i.Linear - ConfinedLayout.Trampoline;
                bin = "trampoline: vector bundles";
                foreach (var l in labels) if ((ulong)l.Value <= off) bin = "trampoline: " + l.Key;
            }
            else if (i.Linear >= ConfinedLayout.Code && i.Linear < ConfinedLayout.Data) bin = "hypervisor code";
            else bin = $"other {i.Linear:X}";
            bins[bin] = bins.GetValueOrDefault(bin) + 1;
        }

        public void MemoryAccessed(in AccessObservation access) { }
    }
}
