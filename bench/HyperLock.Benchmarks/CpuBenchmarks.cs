using HyperLock.Emulator.Workloads;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using HyperLock.Emulator.Loaders;

namespace HyperLock.Benchmarks;

/// <summary>Emulator speed on standard guest workloads, in guest MIPS (flat 64-bit, CPL3).</summary>
[Config(typeof(Config))]
public class CpuBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddJob(Job.Default.WithWarmupCount(2).WithIterationCount(8).WithLaunchCount(1));
            AddColumn(new MipsColumn(), new GuestBandwidthColumn());
        }
    }

    [Params(CpuWorkloads.IntegerLoop, CpuWorkloads.RepMemcpy, CpuWorkloads.SseMemcpy, CpuWorkloads.RepMemset,
        CpuWorkloads.Fib, CpuWorkloads.Sort)]
    public string Workload { get; set; } = CpuWorkloads.IntegerLoop;

    private SnippetEnvironment? _env;

    [GlobalSetup]
    public void Setup()
    {
        _env = CpuWorkloads.Create(Workload);
        CpuWorkloads.RunOnce(_env); // warm the decode cache and TLB
    }

    [GlobalCleanup]
    public void Cleanup() => _env?.Dispose();

    [Benchmark]
    public ulong Run() => CpuWorkloads.RunOnce(_env!);
}
