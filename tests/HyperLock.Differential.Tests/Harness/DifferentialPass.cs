using System.Diagnostics;
using FsCheck;
using FsCheck.Fluent;
using HyperLock.Differential.Tests.Harness.Native;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;

namespace HyperLock.Differential.Tests.Harness;

/// <summary>Options for one differential pass.</summary>
public sealed record PassOptions
{
    /// <summary>Seed for every FsCheck sample in the pass: the same seed gives the same cases.</summary>
    public ulong Seed { get; init; } = 0x4879_7065_724C_6F63;

    /// <summary>Cases for every implemented form (the sweep that guarantees coverage).</summary>
    public int CasesPerForm { get; init; } = 8;

    /// <summary>Additional cases over uniformly random implemented forms.</summary>
    public int RandomCases { get; init; }

    /// <summary>Minimize the first mismatching case of each form.</summary>
    public bool Minimize { get; init; } = true;

    /// <summary>Only forms whose Iced Code name matches one of these (exact, or a prefix ending in '*'); null for all.</summary>
    public IReadOnlyList<string>? FormFilter { get; init; }

    public bool Selects(Code code)
    {
        if (FormFilter == null || FormFilter.Count == 0) return true;
        string name = code.ToString();
        foreach (var f in FormFilter)
            if (f.EndsWith('*') ? name.StartsWith(f[..^1], StringComparison.OrdinalIgnoreCase) : name.Equals(f, StringComparison.OrdinalIgnoreCase))
                return true;
        return false;
    }

    /// <summary>Called with every case just before it runs natively (the runner's --trace: finds a case that kills the process).</summary>
    public Action<DiffCase>? Trace { get; init; }

    /// <summary>Called with progress text now and then (the runner prints it).</summary>
    public Action<string>? Progress { get; init; }

    /// <summary>The vendor policy (null: the host's vendor). Tests pass another vendor to simulate that host.</summary>
    public VendorPolicy? Vendor { get; init; }
}

/// <summary>A mismatch: the (minimized) case and how the two runs differ.</summary>
public sealed record Mismatch(DiffCase Case, List<Difference> Differences, string EmulatorStop, int MinimizationSteps);

/// <summary>Per-form counters.</summary>
public sealed class FormStats
{
    public int Cases;
    public int Mismatches;
}

/// <summary>What a pass found.</summary>
public sealed class PassResult
{
    public required PassOptions Options { get; init; }
    public SortedDictionary<Code, FormStats> Covered { get; } = new();
    public SortedDictionary<Code, Mismatch> Mismatches { get; } = new();
    public SortedSet<Code> Unimplemented { get; } = new();
    public SortedDictionary<Code, string> GenerationFailures { get; } = new();
    public IReadOnlyList<Exclusion> Excluded { get; init; } = [];

    /// <summary>The CPU vendor the pass applied its policy for.</summary>
    public string Vendor { get; init; } = "";

    /// <summary>Forms not run on this host's vendor (<see cref="VendorPolicy.VendorSpecificForm"/>), with the reason.</summary>
    public SortedDictionary<Code, string> VendorExcluded { get; } = new();

    /// <summary>Host exclusions: forms that faulted natively here (probe or sweep), with the signal and the case; never run again in the pass.</summary>
    public SortedDictionary<Code, string> HostFaults { get; } = new();

    /// <summary>Cases in which a vendor-specific NaN choice was forgiven (<see cref="VendorPolicy.ForgiveNanChoice"/>).</summary>
    public long NanChoiceForgivenCases;
    public long CasesRun;
    public long MismatchingCases;
    public long RejectedCases;
    public TimeSpan Elapsed;

    /// <summary>Implemented forms that ran at least one case.</summary>
    public int CoveredImplementedForms => Covered.Count(kv => kv.Value.Cases > 0);

    /// <summary>
    /// Implemented forms excluded only because this host lacks their CPUID feature: they count
    /// towards the coverage threshold, so the threshold does not depend on the CI machine's CPU.
    /// </summary>
    public int ImplementedButHostLacks => Excluded.Count(e => e.Class == "host-lacks-feature" && OpTable.IsImplemented(e.Code));
}

/// <summary>
/// Runs cases natively and in the emulator and collects coverage and mismatches.
/// Forms the emulator does not implement (<see cref="OpTable.IsImplemented"/>) are listed as
/// unimplemented and not run: they would only report #UD.
/// </summary>
public sealed class DifferentialPass : IDisposable
{
    private readonly NativeExecutor _native;
    private readonly EmulatorExecutor _emulator = new();

    /// <summary>The vendor policy <see cref="Check"/> and <see cref="RunBoth"/> apply (a pass's <see cref="PassOptions.Vendor"/> overrides it).</summary>
    public VendorPolicy Vendor { get; set; } = VendorPolicy.Host;

    /// <summary>Cases in which <see cref="RunBoth"/> forgave a vendor-specific NaN choice.</summary>
    public long NanChoiceForgiven { get; private set; }

    public DifferentialPass()
    {
        _native = NativeExecutor.TryGet(out string failure)
            ?? throw new InvalidOperationException("native execution is unavailable: " + failure);
    }

    /// <summary>Called with every case (minimization candidates included) just before it runs natively.</summary>
    public Action<DiffCase>? Trace { get; set; }

    public PassResult Run(PassOptions options)
    {
        if (options.Trace != null) Trace = options.Trace;
        var sw = Stopwatch.StartNew();
        if (options.Vendor != null) Vendor = options.Vendor;
        long forgivenBefore = NanChoiceForgiven;
        var result = new PassResult { Options = options, Excluded = FormCatalog.Excluded, Vendor = Vendor.Vendor };
        var runnable = new List<Form>();
        foreach (var f in FormCatalog.Forms)
        {
            if (!options.Selects(f.Code)) continue;
            if (Vendor.VendorSpecificForm(f.Code) is string why) result.VendorExcluded[f.Code] = why;
            else if (OpTable.IsImplemented(f.Code)) runnable.Add(f);
            else result.Unimplemented.Add(f.Code);
        }

        // Probe: one case of every form natively before the sweep; a form that faults on this
        // host becomes a host exclusion (the fault handler brought the process back).
        foreach (var form in runnable)
        {
            var rnd = new Rnd(options.Seed ^ 0x50B3_50B3UL ^ ((ulong)form.Code * 0xD1B54A32D192ED03UL));
            foreach (var r in Gen.Sample(Generators.CaseFor(form), 1, rnd, 16))
                if (r.Case != null) ProbeNative(r.Case, result);
        }
        runnable.RemoveAll(f => result.HostFaults.ContainsKey(f.Code));

        int done = 0;
        foreach (var form in runnable)
        {
            if (options.CasesPerForm > 0)
            {
                var rnd = new Rnd(options.Seed ^ ((ulong)form.Code * 0x9E3779B97F4A7C15UL));
                var samples = Gen.Sample(Generators.CaseFor(form), options.CasesPerForm, rnd, 16);
                foreach (var r in samples) Execute(form, r, result, options);
            }
            if (++done % 200 == 0) options.Progress?.Invoke($"sweep: {done}/{runnable.Count} forms, {result.CasesRun} cases");
        }

        runnable.RemoveAll(f => result.HostFaults.ContainsKey(f.Code));
        if (options.RandomCases > 0 && runnable.Count > 0)
        {
            const int Batch = 500;
            var gen = Generators.AnyCase(runnable);
            for (int start = 0, b = 0; start < options.RandomCases; start += Batch, b++)
            {
                int n = Math.Min(Batch, options.RandomCases - start);
                var rnd = new Rnd(options.Seed + 0x632BE59BD9B4E019UL * (ulong)(b + 1));
                foreach (var (form, r) in Gen.Sample(gen, n, rnd, 16)) Execute(form, r, result, options);
                if (b % 20 == 19 || start + n >= options.RandomCases)
                    options.Progress?.Invoke($"random: {start + n}/{options.RandomCases} cases, {result.MismatchingCases} mismatching");
            }
        }
        result.NanChoiceForgivenCases = NanChoiceForgiven - forgivenBefore;
        result.Elapsed = sw.Elapsed;
        return result;
    }

    /// <summary>Runs a case natively only; a fault makes its form a host exclusion. True when it completed.</summary>
    private bool ProbeNative(DiffCase c, PassResult result)
    {
        Trace?.Invoke(c);
        MachineState native;
        lock (NativeExecutor.Lock) native = _native.Run(c.Bytes, c.Initial);
        if (native.HostSignal == 0) return true;
        result.HostFaults.TryAdd(c.Form.Code, HostFaultReason(c, native));
        return false;
    }

    public string HostFaultReason(DiffCase c, MachineState native) =>
        $"{Libc.SignalName(native.HostSignal)} natively at 0x{native.Rip:x} on this host ({HostVendor.Current.Value}): {c.Hex} ({c.Text})";

    private void Execute(Form form, BuildResult r, PassResult result, PassOptions options)
    {
        if (r.Case == null)
        {
            result.RejectedCases++;
            if (!result.Covered.ContainsKey(form.Code)) result.GenerationFailures.TryAdd(form.Code, r.Failure ?? "?");
            return;
        }
        result.GenerationFailures.Remove(form.Code);
        if (result.HostFaults.ContainsKey(form.Code)) return;
        var (diffs, stop, native) = RunBoth(r.Case);
        if (native.HostSignal != 0)
        {
            // Not a mismatch: the host cannot run this form (or these values); the report lists it.
            result.HostFaults.TryAdd(form.Code, HostFaultReason(r.Case, native));
            return;
        }
        if (!result.Covered.TryGetValue(form.Code, out var stats)) result.Covered[form.Code] = stats = new FormStats();
        stats.Cases++;
        result.CasesRun++;
        if (diffs.Count == 0) return;
        stats.Mismatches++;
        result.MismatchingCases++;
        if (result.Mismatches.ContainsKey(form.Code)) return;
        var c = r.Case;
        int steps = 0;
        if (options.Minimize) (c, diffs, stop, steps) = Minimize(c, diffs, stop);
        result.Mismatches[form.Code] = new Mismatch(c, diffs, stop, steps);
    }

    /// <summary>
    /// Runs one case both ways; null when they agree, else the minimized mismatch. A case that
    /// faults natively is a mismatch whose only difference names the signal.
    /// </summary>
    public Mismatch? Check(DiffCase c, bool minimize = true)
    {
        var (diffs, stop, native) = RunBoth(c);
        if (native.HostSignal != 0)
            return new Mismatch(c, [new Difference("host fault", HostFaultReason(c, native), stop)], stop, 0);
        if (diffs.Count == 0) return null;
        int steps = 0;
        if (minimize) (c, diffs, stop, steps) = Minimize(c, diffs, stop);
        return new Mismatch(c, diffs, stop, steps);
    }

    /// <summary>
    /// Runs one case both ways and compares (applying the vendor policy's NaN forgiveness). When
    /// the native run faulted (<see cref="MachineState.HostSignal"/>), the emulator is not run
    /// and there are no differences: the caller decides.
    /// </summary>
    public (List<Difference> Diffs, string EmulatorStop, MachineState Native) RunBoth(DiffCase c)
    {
        Trace?.Invoke(c);
        MachineState native;
        lock (NativeExecutor.Lock) native = _native.Run(c.Bytes, c.Initial);
        if (native.HostSignal != 0) return ([], "not run", native);
        var emu = _emulator.Run(c.Bytes, c.Initial);
        var compared = Vendor.ForgiveNanChoice(c.Form.Code, native, emu.State, out int forgiven);
        if (forgiven > 0) NanChoiceForgiven++;
        var diffs = Comparison.Compare(c, compared, emu.State);
        if (!emu.ReachedInt3) diffs.Insert(0, new Difference("stop", "completed", emu.Stop.ToString()));
        if (emu.StrayWrite is ulong stray) diffs.Add(new Difference($"mem[0x{stray:x}] (outside the compared windows)", "untouched", "written"));
        return (diffs, emu.Stop.ToString(), native);
    }

    /// <summary>
    /// Shrinks a mismatching case's initial state: zeroes registers, XMM registers and memory,
    /// resets RFLAGS and MXCSR, keeping each simplification only when the case stays safe and
    /// still mismatches. The instruction bytes stay as they are.
    /// </summary>
    private (DiffCase, List<Difference>, string, int) Minimize(DiffCase c, List<Difference> diffs, string stop)
    {
        int steps = 0;
        bool Try(Action<MachineState> change)
        {
            var s = c.Initial.Clone();
            change(s);
            var candidate = new DiffCase { Form = c.Form, Instruction = c.Instruction, Bytes = c.Bytes, Initial = s, ChoiceSeed = c.ChoiceSeed };
            if (SafetyGate.Check(c.Form, c.Instruction, s) != null) return false;
            var (d, st, n) = RunBoth(candidate);
            if (d.Count == 0 || n.HostSignal != 0) return false;
            c = candidate; diffs = d; stop = st; steps++;
            return true;
        }
        Try(s => s.Rflags = 0x202);
        Try(s => s.Mxcsr = 0x1F80);
        Try(s => { s.Fcw = 0x037F; s.Fsw = 0; s.Ftw = 0; });
        for (int i = 0; i < 8; i++)
        {
            int k = i;
            if (c.Initial.StValid(k)) Try(s => s.Ftw &= (byte)~(1 << ((s.Top + k) & 7)));
        }
        for (int i = 0; i < 16; i++)
        {
            int k = i;
            if (k != 4 && c.Initial.Gpr[k] != 0) Try(s => s.Gpr[k] = 0);
        }
        for (int i = 0; i < 16; i++)
        {
            int k = i;
            if (c.Initial.Xmm[2 * k] != 0 || c.Initial.Xmm[2 * k + 1] != 0) Try(s => { s.Xmm[2 * k] = 0; s.Xmm[2 * k + 1] = 0; });
        }
        if (!Try(s => Array.Clear(s.Data)))
            for (int chunk = 0; chunk < ScratchLayout.DataSize; chunk += 256)
            {
                int at = chunk;
                Try(s => Array.Clear(s.Data, at, 256));
            }
        if (!Try(s => Array.Clear(s.Stack)))
            for (int chunk = 0; chunk < ScratchLayout.StackWindowSize; chunk += 32)
            {
                int at = chunk;
                Try(s => Array.Clear(s.Stack, at, 32));
            }
        // Then try small values for what is left.
        for (int i = 0; i < 16; i++)
        {
            int k = i;
            if (k != 4 && c.Initial.Gpr[k] > 0xFF) Try(s => s.Gpr[k] &= 0xFF);
        }
        return (c, diffs, stop, steps);
    }

    public void Dispose() => _emulator.Dispose();
}
