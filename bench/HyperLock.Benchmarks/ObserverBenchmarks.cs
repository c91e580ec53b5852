using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Loaders;
using HyperLock.Emulator.Workloads;

namespace HyperLock.Benchmarks;

/// <summary>
/// The execution observer's cost: the CPU workloads with a counting observer attached (every
/// instruction and access reported, all through the slow path) next to the same workloads
/// detached. The detached rows are what every other run pays for the feature being compiled in;
/// compare them with <see cref="CpuBenchmarks"/> on main.
/// </summary>
[Config(typeof(Config))]
public class ObserverBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddJob(Job.Default.WithWarmupCount(2).WithIterationCount(8).WithLaunchCount(1));
            AddColumn(new MipsColumn());
        }
    }

    [Params(CpuWorkloads.IntegerLoop, CpuWorkloads.SseMemcpy, CpuWorkloads.Sort)]
    public string Workload { get; set; } = CpuWorkloads.IntegerLoop;

    [Params(false, true)]
    public bool Observed { get; set; }

    private SnippetEnvironment? _env;

    [GlobalSetup]
    public void Setup()
    {
        _env = CpuWorkloads.Create(Workload);
        if (Observed) _env.Cpu.Observer = new CountingObserver();
        CpuWorkloads.RunOnce(_env);
    }

    [GlobalCleanup]
    public void Cleanup() => _env?.Dispose();

    [Benchmark]
    public ulong Run() => CpuWorkloads.RunOnce(_env!);
}

/// <summary>Counts what it is told; the least an observer can do.</summary>
public sealed class CountingObserver : IExecutionObserver
{
    public ulong Instructions, Accesses;
    public void InstructionStarted(in InstructionObservation instruction) => Instructions++;
    public void MemoryAccessed(in AccessObservation access) => Accesses++;
}
