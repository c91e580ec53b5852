using HyperLock.Emulator.Workloads;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace HyperLock.Benchmarks;

/// <summary>Guest memory bandwidth (MiB/s) for the copy and fill workloads.</summary>
public sealed class GuestBandwidthColumn : IColumn
{
    public string Id => "GuestMiBps";
    public string ColumnName => "Guest MiB/s";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 1;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "Guest bytes copied or stored per second of host time, in MiB/s (memory workloads)";

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var report = summary[benchmarkCase];
        if (report?.ResultStatistics == null || benchmarkCase.Parameters["Workload"] is not string name) return "-";
        ulong bytes = CpuWorkloads.BytesPerRun(name);
        if (bytes == 0) return "-";
        double seconds = report.ResultStatistics.Mean / 1e9;
        return (bytes / seconds / (1 << 20)).ToString("F0", System.Globalization.CultureInfo.InvariantCulture);
    }
}

/// <summary>
/// Guest MIPS: the workload's exact instruction count (re-counted here, deterministic) divided
/// by the measured mean time per operation.
/// </summary>
public sealed class MipsColumn : IColumn
{
    private readonly Dictionary<string, ulong> _counts = new();

    public string Id => "GuestMIPS";
    public string ColumnName => "Guest MIPS";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "Guest instructions retired per microsecond of host time";

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var report = summary[benchmarkCase];
        if (report?.ResultStatistics == null) return "-";
        if (benchmarkCase.Parameters["Workload"] is not string name) return "-";
        if (!_counts.TryGetValue(name, out ulong count)) _counts[name] = count = CpuWorkloads.InstructionCount(name);
        double ns = report.ResultStatistics.Mean;
        return (count / ns * 1000.0).ToString("F1", System.Globalization.CultureInfo.InvariantCulture);
    }
}
