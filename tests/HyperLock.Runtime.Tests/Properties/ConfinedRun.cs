using HyperLock.Abi;
using HyperLock.Monitor;
using HyperLock.Runtime.Loading;

namespace HyperLock.Runtime.Tests.Properties;

/// <summary>What one confined run of a random hypervisor showed.</summary>
internal sealed record ConfinedRunResult(
    IReadOnlyList<MonitorViolation> Violations, IReadOnlyList<string> ChangedDuringASlices, string? MappingProblem,
    InstanceState AState, InstanceState BState, int? BExitStatus, string BOutput, int Slices, ulong AInstructions, long AGateCalls, string? AReport)
{
    public override string ToString() =>
        $"A {AState} ({AInstructions} instructions, {AGateCalls} gate calls, {AReport}), B {BState} (exit {BExitStatus}, output '{BOutput}'), {Slices} slices; violations: [{string.Join("; ", Violations.Take(5))}]; changed during A's slices: [{string.Join(", ", ChangedDuringASlices)}]; mapping: {MappingProblem ?? "ok"}";
}

/// <summary>
/// Runs a random hypervisor (instance A, from <see cref="RandomHypervisor"/>) beside a healthy one
/// (instance B, <see cref="TestHypervisors.CpuidAndIo"/>) on one runtime, A first, with A's data
/// memory filled at random; hashes every other party (<see cref="PartyHashes"/>) at the start and
/// end of each of A's slices; optionally with the reference monitor attached.
/// </summary>
internal static class ConfinedRun
{
    public const long Budget = 4_000;
    public const ulong MaxInstructions = 400_000;

    /// <summary>Null when the toolchain or the verifier refused the generated program (not run).</summary>
    public static ConfinedRunResult? Run(RandomCase c, bool monitor)
    {
        var source = RandomHypervisor.Build(c);
        if (source is null) return null;
        using var rt = new IsolationRuntime { BudgetPerExit = Budget };
        LoadedImage image;
        try { image = rt.Load(source); }
        catch (ImageRejectedException) { return null; }
        var a = rt.AddGuest(TestGuests.CpuidAndIo("a"), image, deviceModel: new CountingDevice());
        var b = rt.AddGuest(TestGuests.CpuidAndIo("b"), rt.Load(TestHypervisors.CpuidAndIo()), deviceModel: new CountingDevice());
        var rng = new Random(c.Seed ^ 0x6D656D);
        var page = new byte[0x1000];
        foreach (ulong f in a.DataFrames)
        {
            rng.NextBytes(page);
            rt.Board.Memory.WriteBytes(f, page);
        }

        var changed = new List<string>();
        Dictionary<string, string>? before = null;
        Instance? running = null;
        void EndSlice()
        {
            if (running == a && before != null) changed.AddRange(PartyHashes.Changed(before, PartyHashes.Of(rt, a)));
        }
        rt.InstanceScheduled += inst =>
        {
            EndSlice();
            before = inst == a ? PartyHashes.Of(rt, a) : null;
            running = inst;
        };
        var observer = monitor ? ReferenceMonitor.Attach(rt) : null;
        rt.Run(MaxInstructions);
        EndSlice();
        var violations = observer?.Violations ?? [];
        observer?.Dispose();
        return new ConfinedRunResult(violations, changed.Distinct().ToList(), MappingProblem(rt, a), a.State, b.State, b.ExitStatus,
            System.Text.Encoding.ASCII.GetString(b.Output.ToArray()), rt.Schedule.Count, a.HypervisorInstructions, a.GateCalls, a.Report?.ToString());
    }

    /// <summary>
    /// Null when every mapping of <paramref name="a"/>'s space is one the layout allows (its code,
    /// the trampoline, its own frames, its own guest's pages at their window addresses) and its
    /// EPT maps only its own guest's memory, guest page g to frame GuestBase + g; else what is wrong.
    /// </summary>
    public static string? MappingProblem(IsolationRuntime rt, Instance a)
    {
        var own = new HashSet<ulong>(a.Image.CodeFrames.Concat(rt.TrampolineFrames).Concat(a.DataFrames).Concat(a.StackFrames)
            .Concat([a.GdtFrame, a.IdtFrame, a.TssFrame])
            .Concat(Enumerable.Range(0, (int)(ConfinedLayout.IstAreaSize / 0x1000)).Select(k => a.IstFrames + (ulong)k * 0x1000)
                .Where(f => ConfinedLayout.IsIstStackPage(f - a.IstFrames))));
        foreach (var m in a.Space.Mappings())
        {
            if (m.Size != 0x1000) return $"a {m.Size:x}-byte mapping at 0x{m.Linear:x}";
            if (m.Linear >= ConfinedLayout.GuestWindow && m.Linear < ConfinedLayout.GuestWindow + a.GuestSize)
            {
                if (m.Physical != a.GuestBase + (m.Linear - ConfinedLayout.GuestWindow) || !m.NoExecute)
                    return $"window page 0x{m.Linear:x} maps 0x{m.Physical:x} (nx {m.NoExecute})";
            }
            else if (!own.Contains(m.Physical)) return $"0x{m.Linear:x} maps frame 0x{m.Physical:x}, not the instance's";
        }
        foreach (var e in a.Ept.Mappings())
            if (e.HostPhysical != a.GuestBase + e.GuestPhysical || e.GuestPhysical + e.Size > a.GuestSize)
                return $"EPT maps guest-physical 0x{e.GuestPhysical:x} to 0x{e.HostPhysical:x}";
        return null;
    }
}
