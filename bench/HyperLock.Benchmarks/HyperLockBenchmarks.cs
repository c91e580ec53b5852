using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
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
            // In process: each operation is a whole run (tens to hundreds of ms), and a separate
            // benchmark build times out on a loaded 2-core machine.
            AddJob(Job.Default.WithStrategy(RunStrategy.Monitoring).WithWarmupCount(2).WithIterationCount(10).WithLaunchCount(1)
                .WithToolchain(InProcessEmitToolchain.Instance));
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
    /// plus stopwatch times per exit: every configuration is warmed up, then the configurations
    /// run in turn <paramref name="rounds"/> times (so load changes hit them alike); median and best.
    /// </summary>
    public static void PrintExitCosts(TextWriter o, int rounds = 7)
    {
        Func<HyperLockBenchMachine> cpuid(bool confined) => () => new HyperLockBenchMachine(n => HyperLockBenchMachine.CpuidGuest(n, CpuidExits), confined);
        Func<HyperLockBenchMachine> work(bool confined, int guests) => () => Workload(confined, guests);
        var configs = new (string Name, Func<HyperLockBenchMachine>? Make)[]
        {
            ("CPUID round trip, bare VMX host", null),
            ("CPUID round trip, unconfined mini-KVM", cpuid(false)),
            ("CPUID round trip, confined mini-KVM", cpuid(true)),
            ("I/O workload, unconfined", work(false, 1)),
            ("I/O workload, confined", work(true, 1)),
            ("I/O workload, confined, two guests", work(true, 2)),
        };
        using var bare = VmxBenchMachine.CpuidLoop(CpuidExits);
        var times = configs.Select(_ => new List<double>()).ToArray();
        var lines = new string[configs.Length];
        for (int round = -1; round < rounds; round++) // round -1 warms up (JIT tiers)
            for (int c = 0; c < configs.Length; c++)
            {
                if (configs[c].Make is null)
                {
                    long allocated0 = GC.GetAllocatedBytesForCurrentThread();
                    var sw0 = Stopwatch.StartNew();
                    ulong n0 = bare.RunOnce();
                    if (round >= 0) times[c].Add(sw0.Elapsed.TotalNanoseconds / CpuidExits);
                    allocated0 = GC.GetAllocatedBytesForCurrentThread() - allocated0;
                    lines[c] = $"{n0 / (double)CpuidExits,8:F1} instr/exit  (all parties; {CpuidExits} exits; {allocated0 / (double)CpuidExits:F0} bytes allocated per exit)";
                    continue;
                }
                using var m = configs[c].Make!();
                long allocated = GC.GetAllocatedBytesForCurrentThread();
                var sw = Stopwatch.StartNew();
                ulong total = m.Run();
                double ns = sw.Elapsed.TotalNanoseconds;
                allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
                long exits = 0, gates = 0, transitions = 0;
                ulong guest = 0, hyp = 0, runtime = 0;
                foreach (var i in m.Runtime.Instances)
                {
                    exits += i.Exits; gates += i.GateCalls; transitions += i.Transitions;
                    guest += i.GuestInstructions; hyp += i.HypervisorInstructions; runtime += i.RuntimeInstructions;
                }
                if (round >= 0) times[c].Add(ns / exits);
                lines[c] = $"{total / (double)exits,8:F1} instr/exit  (guest {guest / (double)exits:F1}, hypervisor {hyp / (double)exits:F1}, runtime {runtime / (double)exits:F1}; "
                    + $"{gates / (double)exits:F2} gates, {transitions / (double)exits:F2} transitions per exit; {exits} exits; {allocated / (double)exits:F0} bytes allocated per exit)";
            }
        for (int c = 0; c < configs.Length; c++)
        {
            var t = times[c].OrderBy(x => x).ToList();
            o.WriteLine($"{configs[c].Name,-40} {lines[c]}  median {t[t.Count / 2],7:F0} ns/exit, best {t[0],7:F0}");
        }
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
