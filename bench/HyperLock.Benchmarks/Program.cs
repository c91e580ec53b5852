using HyperLock.Emulator.Workloads;
using System.Diagnostics;
using BenchmarkDotNet.Running;
using HyperLock.Benchmarks;

// Runs the benchmark classes in this assembly; pass --filter '*Cpu*' etc. to choose.
// "--quick" runs each CPU workload a few times with a stopwatch: a fast sanity check while
// developing, not a substitute for the BenchmarkDotNet figures in README.
// "--quick --observed" does the same with a counting execution observer attached.
if (args.Length > 0 && args[0] == "--quick")
{
    bool observed = args.Length > 1 && args[1] == "--observed";
    var names = args[(observed ? 2 : 1)..];
    foreach (var name in names.Length > 0 ? names : CpuWorkloads.All)
    {
        using var env = CpuWorkloads.Create(name);
        if (observed) env.Cpu.Observer = new CountingObserver();
        try
        {
            ulong count = CpuWorkloads.RunOnce(env);
            var sw = Stopwatch.StartNew();
            int runs = 0;
            while (sw.ElapsedMilliseconds < 2000) { CpuWorkloads.RunOnce(env); runs++; }
            double mips = count * (double)runs / sw.Elapsed.TotalMicroseconds;
            ulong bytes = CpuWorkloads.BytesPerRun(name);
            string bandwidth = bytes == 0 ? "" : $"  {bytes * (double)runs / sw.Elapsed.TotalSeconds / (1 << 20),8:F0} MiB/s";
            Console.WriteLine($"{name,-16} {count,12:N0} instructions  {mips,8:F1} MIPS{bandwidth}");
        }
        catch (InvalidOperationException e)
        {
            Console.WriteLine($"{name,-16} failed: {e.Message}");
        }
    }
    return;
}
// "--quick-switches" times a VM-exit round trip (with and without VPID/EPT) and a CR3 switch
// plus one load (with PCID no-flush, and without PCID) with a stopwatch, the same way.
if (args.Length > 0 && args[0] == "--quick-switches")
{
    static void Time(string name, Func<ulong> run, int ops)
    {
        run();
        var sw = Stopwatch.StartNew();
        int runs = 0;
        while (sw.ElapsedMilliseconds < 3000) { run(); runs++; }
        Console.WriteLine($"{name,-44} {sw.Elapsed.TotalNanoseconds / ((double)runs * ops),8:F0} ns");
    }
    using (var m = VmxBenchMachine.CpuidLoop(VmxBenchmarks.RoundTrips)) Time("VM-exit round trip, VPID + EPT", m.RunOnce, VmxBenchmarks.RoundTrips);
    using (var m = VmxBenchMachine.CpuidLoop(VmxBenchmarks.RoundTrips, eptAndVpid: false)) Time("VM-exit round trip, no VPID, no EPT", m.RunOnce, VmxBenchmarks.RoundTrips);
    using (var m = new AddressSpaceBenchMachine(pcid: false, AddressSpaceBenchmarks.Iterations)) Time("CR3 switch + first load, no PCID", m.RunOnce, 2 * AddressSpaceBenchmarks.Iterations);
    if (!args.Contains("--no-pcid"))
        using (var m = new AddressSpaceBenchMachine(pcid: true, AddressSpaceBenchmarks.Iterations)) Time("CR3 switch + first load, PCID no-flush", m.RunOnce, 2 * AddressSpaceBenchmarks.Iterations);
    return;
}
// "--exit-costs" prints the confinement figures' deterministic half (emulated instructions per
// exit, by party) and a stopwatch time per exit (HyperLockBenchmarks has the BenchmarkDotNet ones).
if (args.Length > 0 && args[0] == "--exit-costs")
{
    if (args.Contains("--profile"))
    {
        HyperLockBenchmarks.PrintExitProfile(Console.Out, confined: false);
        HyperLockBenchmarks.PrintExitProfile(Console.Out, confined: true);
    }
    else HyperLockBenchmarks.PrintExitCosts(Console.Out);
    return;
}
// "--write-verify-images DIR" writes the inputs of README's command-line verify measurement:
// tiny.bin (32 NOPs: start-up) and real64.bin (the toolchain's realistic mix, seed 1, padded
// with NOPs to 64 MiB).
if (args.Length > 1 && args[0] == "--write-verify-images")
{
    Directory.CreateDirectory(args[1]);
    File.WriteAllBytes(Path.Combine(args[1], "tiny.bin"), Enumerable.Repeat((byte)0x90, 32).ToArray());
    var image = HyperLock.Toolchain.SyntheticProgram.Build(seed: 1, minBytes: 58 << 20).Bytes;
    var padded = new byte[64 << 20];
    Array.Fill(padded, (byte)0x90);
    image.CopyTo(padded, 0);
    File.WriteAllBytes(Path.Combine(args[1], "real64.bin"), padded);
    Console.WriteLine($"wrote {args[1]}/tiny.bin and {args[1]}/real64.bin ({image.Length:N0} bytes of code, NOP-padded to 64 MiB)");
    return;
}
BenchmarkSwitcher.FromAssembly(typeof(CpuBenchmarks).Assembly).Run(args);
