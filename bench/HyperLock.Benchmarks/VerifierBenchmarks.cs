using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using HyperLock.Toolchain;
using HyperLock.Verifier;

namespace HyperLock.Benchmarks;

/// <summary>
/// Verifier throughput (SPEC §7, issue 5): (a) a toolchain-produced image of at least 4 MiB
/// with a realistic instruction mix, (b) 4 MiB of random bytes. The MiB/s column divides the
/// image size by the mean time. Target: at least 500 MiB/s on (a) in Release.
/// Run: <c>dotnet run -c Release --project bench/HyperLock.Benchmarks -- --filter '*Verifier*'</c>.
/// </summary>
[Config(typeof(VerifierBenchmarkConfig))]
[MemoryDiagnoser]
public class VerifierBenchmarks
{
    internal const int Size = 4 << 20;

    /// <summary>The realistic image's exact size (it is deterministic).</summary>
    internal static readonly Lazy<long> RealisticSize = new(() => SyntheticProgram.Build(seed: 1, minBytes: Size).Bytes.Length);

    private byte[] _realistic = [];
    private byte[] _random = [];
    private VerifierOptions _all = VerifierOptions.Default;

    [GlobalSetup]
    public void Setup()
    {
        _realistic = SyntheticProgram.Build(seed: 1, minBytes: Size).Bytes;
        if (!ImageVerifier.Verify(_realistic).Accepted) throw new InvalidOperationException("benchmark image does not verify");
        _random = new byte[Size];
        new Random(1).NextBytes(_random);
        _all = new VerifierOptions { MaxFindings = int.MaxValue };
    }

    /// <summary>(a) A ≥ 4 MiB toolchain image: accepted, every byte checked.</summary>
    [Benchmark(Baseline = true)]
    public bool RealisticImage() => ImageVerifier.Verify(_realistic).Accepted;

    /// <summary>(b) Random bytes, as a loader checks them: stop at the first finding.</summary>
    [Benchmark]
    public bool RandomBytesFirstFinding() => ImageVerifier.IsAccepted(_random);

    /// <summary>(b) Random bytes, full report: every finding with its disassembly.</summary>
    [Benchmark]
    public int RandomBytesAllFindings() => ImageVerifier.Verify(_random, _all).Findings.Count;
}

/// <summary>Adds the MiB/s column.</summary>
public sealed class VerifierBenchmarkConfig : ManualConfig
{
    public VerifierBenchmarkConfig() => AddColumn(new MiBPerSecondColumn());
}

/// <summary>Throughput: bytes per operation (recorded in setup) over the mean time.</summary>
public sealed class MiBPerSecondColumn : IColumn
{
    public string Id => "MiBPerSecond";
    public string ColumnName => "MiB/s";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "Image size in MiB divided by the mean time per operation";
    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var report = summary[benchmarkCase];
        var mean = report?.ResultStatistics?.Mean;
        if (mean is null or <= 0) return "-";
        string method = benchmarkCase.Descriptor.WorkloadMethod.Name;
        // The benchmark runs in another process; the sizes are fixed by construction.
        long bytes = method == nameof(VerifierBenchmarks.RealisticImage) ? VerifierBenchmarks.RealisticSize.Value : VerifierBenchmarks.Size;
        return (bytes / 1048576.0 / (mean.Value / 1e9)).ToString("F0", System.Globalization.CultureInfo.InvariantCulture);
    }
}
