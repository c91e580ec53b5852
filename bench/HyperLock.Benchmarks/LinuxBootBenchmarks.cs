using System.Globalization;
using System.Text;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using HyperLock.Emulator.Loaders;
using HyperLock.Emulator.Machine;

namespace HyperLock.Benchmarks;

/// <summary>
/// Boots Debian 12's cloud kernel with a busybox initramfs on the bare machine until /init has
/// printed its marker and powered off (the guest fetched by scripts/fetch-linux-guest.sh into
/// .cache/guest). One boot per iteration; the instruction count is exact and deterministic.
/// </summary>
[Config(typeof(Config))]
public class LinuxBootBenchmarks
{
    public const string Marker = "HYPERLOCK-INIT-REACHED";

    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddJob(Job.Default.WithStrategy(RunStrategy.Monitoring).WithWarmupCount(1).WithIterationCount(3).WithLaunchCount(1));
            AddColumn(new BootColumn(instructions: true), new BootColumn(instructions: false));
        }
    }

    private MachineConfig? _config;

    [GlobalSetup]
    public void Setup() => _config = Configure();

    [Benchmark]
    public ulong BootToInit()
    {
        using var machine = new X86Machine(_config!);
        var result = machine.Run();
        return result.Instructions;
    }

    /// <summary>The machine configuration: kernel, busybox initramfs, the documented command line.</summary>
    public static MachineConfig Configure(Stream? serial = null)
    {
        string guest = FindGuest();
        byte[] busybox = File.ReadAllBytes(Path.Combine(guest, "busybox"));
        string init = "#!/bin/busybox sh\n/bin/busybox echo " + Marker + "\n/bin/busybox poweroff -f\n";
        var cpio = new CpioArchive().AddStandardDevices().AddDirectory("bin")
            .AddFile("bin/busybox", busybox, 0x1ED).AddFile("init", Encoding.ASCII.GetBytes(init), 0x1ED);
        return new MachineConfig
        {
            Boot = new BootImage
            {
                Kernel = File.ReadAllBytes(Path.Combine(guest, "vmlinuz")),
                KernelName = "vmlinuz",
                CommandLine = "console=ttyS0 reboot=k panic=-1 nokaslr",
                Initrd = cpio.ToArray(),
            },
            SerialOutput = serial,
        };
    }

    private static string FindGuest()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, ".cache", "guest");
            if (File.Exists(Path.Combine(candidate, "vmlinuz"))) return candidate;
        }
        throw new InvalidOperationException("No Linux guest: run scripts/fetch-linux-guest.sh first (it fills .cache/guest).");
    }

    /// <summary>Guest instructions of one boot, or MIPS = instructions / mean time.</summary>
    private sealed class BootColumn(bool instructions) : IColumn
    {
        private static ulong? _count;

        public string Id => instructions ? "BootInstructions" : "BootMIPS";
        public string ColumnName => instructions ? "Guest instructions" : "Guest MIPS";
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => instructions ? 0 : 1;
        public bool IsNumeric => true;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => instructions ? "Instructions retired by one boot (deterministic)" : "Guest instructions per microsecond of host time";
        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
        public bool IsAvailable(Summary summary) => true;
        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            var report = summary[benchmarkCase];
            if (report?.ResultStatistics == null) return "-";
            if (_count == null)
            {
                var serial = new MemoryStream();
                using var m = new X86Machine(Configure(serial));
                var r = m.Run();
                if (!Encoding.ASCII.GetString(serial.ToArray()).Contains(Marker)) return "no /init marker";
                _count = r.Instructions;
            }
            return instructions
                ? _count.Value.ToString("N0", CultureInfo.InvariantCulture)
                : (_count.Value / report.ResultStatistics.Mean * 1000.0).ToString("F1", CultureInfo.InvariantCulture);
        }
    }
}
