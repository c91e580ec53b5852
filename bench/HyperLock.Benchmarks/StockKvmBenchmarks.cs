using System.Globalization;
using System.Text;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using HyperLock.Demo;
using HyperLock.Emulator.Loaders;
using HyperLock.Emulator.Machine;
using HyperLock.Emulator.Vmx;

namespace HyperLock.Benchmarks;

/// <summary>
/// Issue 14's table on one guest and workload: the KVM guest's initramfs of
/// scripts/build-stock-kvm-initrd.sh (busybox, /init, scripts/linux-workload.sh) booted with
/// Debian's cloud kernel (1) on the bare machine, (2) as a guest of stock KVM: the same kernel
/// on the bare machine loads Debian's kvm_intel and QEMU's microvm runs it, (3) as a guest of the
/// unconfined mini-KVM and (4) of the confined mini-KVM (<see cref="LinuxRunner"/>, the path behind
/// <c>hyperlock run --unconfined</c> and <c>--hyperlock</c>), with the bare machine's memory. One run
/// per iteration (the instruction counts are deterministic; a stock-KVM run takes minutes), in
/// process (with a long time-out) so that the columns report the runs measured: instructions
/// (deterministic), VM exits, the most frequent exit reasons and confined↔host transitions.
/// </summary>
[Config(typeof(Config))]
public class StockKvmBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddJob(Job.Default.WithStrategy(RunStrategy.Monitoring).WithWarmupCount(0).WithIterationCount(1)
                .WithLaunchCount(1).WithToolchain(new InProcessEmitToolchain(TimeSpan.FromHours(2), logOutput: true)));
            AddColumn(new RunColumn(RunColumn.Kind.Instructions), new RunColumn(RunColumn.Kind.Exits), new RunColumn(RunColumn.Kind.TopReasons),
                new RunColumn(RunColumn.Kind.Transitions));
        }
    }

    /// <summary>The last run of each benchmark: instructions, exits by reason, transitions (mini-KVM only), and whether the workload ran to its end.</summary>
    private static readonly Dictionary<string, (ulong Instructions, ulong[] Exits, long? Transitions, bool Completed)> Runs = new();

    private const string EndMarker = "=== kvm guest end ===";

    private BootImage? _bare, _stockKvm;

    [GlobalSetup]
    public void Setup()
    {
        string dir = FindBuild();
        string append = File.ReadAllText(Path.Combine(dir, "append")).Trim();
        _bare = Configure(File.ReadAllBytes(Path.Combine(dir, "rootfs", "guest", "vmlinuz")),
            File.ReadAllBytes(Path.Combine(dir, "rootfs", "guest", "initrd.cpio")), append);
        _stockKvm = Configure(File.ReadAllBytes(Path.Combine(dir, "vmlinuz")),
            CpioArchive.FromDirectory(Path.Combine(dir, "rootfs")).ToArray(), append);
    }

    [Benchmark(Baseline = true)]
    public ulong Bare() => Run(nameof(Bare), _bare!);

    [Benchmark]
    public ulong StockKvm() => Run(nameof(StockKvm), _stockKvm!);

    [Benchmark]
    public ulong Unconfined() => RunMiniKvm(nameof(Unconfined), _bare!, confined: false);

    [Benchmark]
    public ulong Confined() => RunMiniKvm(nameof(Confined), _bare!, confined: true);

    private static ulong Run(string name, BootImage boot)
    {
        var serial = new MemoryStream();
        using var machine = new X86Machine(new MachineConfig { Boot = boot, SerialOutput = serial });
        var result = machine.Run();
        bool completed = Encoding.ASCII.GetString(serial.ToArray()).Contains(EndMarker)
            && result.Outcome == MachineOutcome.Halted;
        Runs[name] = (result.Instructions, (ulong[])machine.Cpu.VmExitsByReason.Clone(), null, completed);
        return result.Instructions;
    }

    /// <summary>The bare run's kernel, initramfs and command line as the one guest of a mini-KVM instance with the bare machine's memory.</summary>
    private static ulong RunMiniKvm(string name, BootImage boot, bool confined)
    {
        var serial = new MemoryStream();
        var result = LinuxRunner.Run(new LinuxRunner.Options(boot, MachineConfig.DefaultMemorySize, 1, confined, _ => serial));
        var guest = result.Guests[0];
        var exits = new ulong[guest.Instance.ExitsByReason.Length];
        for (int r = 0; r < exits.Length; r++) exits[r] = (ulong)guest.Instance.ExitsByReason[r];
        bool completed = Encoding.ASCII.GetString(serial.ToArray()).Contains(EndMarker)
            && guest.Instance.State == HyperLock.Runtime.InstanceState.Finished;
        Runs[name] = (result.Machine.Instructions, exits, result.Transitions, completed);
        return result.Machine.Instructions;
    }

    private static BootImage Configure(byte[] kernel, byte[] initrd, string append) =>
        new() { Kernel = kernel, KernelName = "vmlinuz", CommandLine = append, Initrd = initrd };

    private static string FindBuild()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, ".cache", "stock-kvm");
            if (File.Exists(Path.Combine(candidate, "rootfs", "init"))) return candidate;
        }
        throw new InvalidOperationException("No stock-KVM build: run scripts/build-stock-kvm-initrd.sh first (it fills .cache/stock-kvm).");
    }

    private sealed class RunColumn(RunColumn.Kind kind) : IColumn
    {
        public enum Kind { Instructions, Exits, TopReasons, Transitions }

        public string Id => "StockKvm" + kind;
        public string ColumnName => kind switch
        {
            Kind.Instructions => "Instructions",
            Kind.Exits => "VM exits",
            Kind.Transitions => "Transitions",
            _ => "Top exit reasons",
        };
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => (int)kind;
        public bool IsNumeric => kind != Kind.TopReasons;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => kind switch
        {
            Kind.Instructions => "Instructions retired by one run: bare guest; host and KVM guest; guest, mini-KVM and trampoline (deterministic)",
            Kind.Exits => "VM exits of one run (the emulated CPU's VMX model; the mini-KVM instance's count for its guest)",
            Kind.Transitions => "Mini-KVM instance <-> host transitions of one run (confined: across the trampoline)",
            _ => "The most frequent basic exit reasons of one run",
        };
        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
        public bool IsAvailable(Summary summary) => true;
        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            if (!Runs.TryGetValue(benchmarkCase.Descriptor.WorkloadMethod.Name, out var run)) return "-";
            if (!run.Completed) return "workload did not complete";
            var c = CultureInfo.InvariantCulture;
            ulong total = 0;
            foreach (ulong n in run.Exits) total += n;
            switch (kind)
            {
                case Kind.Instructions: return run.Instructions.ToString("N0", c);
                case Kind.Exits: return total.ToString("N0", c);
                case Kind.Transitions: return run.Transitions is long t ? t.ToString("N0", c) : "-";
            }
            var top = new List<(int Reason, ulong Count)>();
            for (int r = 0; r < run.Exits.Length; r++) if (run.Exits[r] != 0) top.Add((r, run.Exits[r]));
            top.Sort((a, b) => b.Count.CompareTo(a.Count));
            var parts = new List<string>();
            for (int k = 0; k < top.Count && k < 5; k++) parts.Add($"{ExitReason.Name(top[k].Reason)} {top[k].Count.ToString("N0", c)}");
            return parts.Count == 0 ? "none" : string.Join("; ", parts);
        }
    }
}
