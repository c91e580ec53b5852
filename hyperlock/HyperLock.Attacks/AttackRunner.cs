using System.Diagnostics;
using System.Text;
using HyperLock.Abi;
using HyperLock.DeviceModel;
using HyperLock.Hypervisor;
using HyperLock.Monitor;
using HyperLock.Runtime;
using HyperLock.Runtime.Loading;

namespace HyperLock.Attacks;

/// <summary>
/// Runs attack cases. Each run: verify the attacker's image (a rejection ends the run: nothing
/// ran); otherwise one machine with two instances — the other guest (<see cref="AttackGuests.Victim"/>)
/// under a healthy instance, scheduled first, and the attacker's guest under the attacker's
/// hypervisor — run to the end; the attacker's outcome is compared with the case's expectation and
/// every other party's memory is compared across the attacker's slices (<see cref="PartyHashes"/>).
/// </summary>
public sealed class AttackRunner
{
    /// <summary>Instruction limit of one run.</summary>
    public ulong MaxInstructions { get; init; } = 20_000_000;
    /// <summary>The runtime's budget per exit (an endless loop is stopped after this many instructions).</summary>
    public long BudgetPerExit { get; init; } = 100_000;

    /// <summary>
    /// Attach the reference monitor (<see cref="ReferenceMonitor"/>, a test oracle) to every run: its
    /// violations, over both instances, are part of what the run observed. On by default.
    /// </summary>
    public bool Monitor { get; init; } = true;

    /// <summary>Machines run at once for a case with several targets (default: one per processor).</summary>
    public int Parallelism { get; init; } = Environment.ProcessorCount;

    public AttackResult Run(AttackCase c)
    {
        var watch = Stopwatch.StartNew();
        var runs = new List<AttackRun>();
        if (c.Targets.Count == 0) runs.Add(RunOne(c, null));
        else
        {
            // Each target is its own machine: independent and deterministic, so they may run side by side.
            var targets = ResolveTargets(c);
            var done = new AttackRun[targets.Count];
            try
            {
                Parallel.For(0, targets.Count, new ParallelOptions { MaxDegreeOfParallelism = Parallelism }, k => done[k] = RunOne(c, targets[k]));
            }
            catch (AggregateException e) when (e.InnerExceptions.Count > 0 && e.InnerExceptions[0] is AttackFormatException f)
            {
                throw f;
            }
            runs.AddRange(done);
        }
        return new AttackResult(c, runs, watch.ElapsedMilliseconds);
    }

    // Built once: the toolchain's rewrite is the slow part of a run otherwise.
    private static readonly Lazy<HypervisorImage> MiniKvmImage = new(() => MiniKvm.Build());
    private static readonly Lazy<HypervisorImage> VulnerableImage = new(() => MiniKvm.Build(vulnerable: true));

    /// <summary>Memory of a run's machine: the runtime's 16 MiB and the two 2 MiB guests, with room to spare.</summary>
    private const ulong MachineMemory = 24UL << 20;

    private static HypervisorImage Image(AttackCase c, ulong target) => c.Hypervisor switch
    {
        HypervisorKind.MiniKvm => MiniKvmImage.Value,
        HypervisorKind.MiniKvmVulnerable => VulnerableImage.Value,
        HypervisorKind.File => ReadImageFile(c),
        _ => HypervisorImageFile.FromParts(HexCode.Assemble(c.HypervisorCode, c.File, target), c.ManifestText, c.File),
    };

    private static HypervisorImage ReadImageFile(AttackCase c)
    {
        try { return HypervisorImageFile.Read(c.HypervisorPath!); }
        catch (ManifestFormatException e) { throw new AttackFormatException($"{c.File}: {e.Message}"); }
    }

    private static GuestSpec AttackerGuest(AttackCase c, ulong target) =>
        new("attacker", c.Guest == GuestKind.Hex ? HexCode.Assemble(c.GuestCode, c.File, target) : AttackGuests.Exits());

    private static GuestSpec OtherGuest() => new("other", AttackGuests.Victim());

    private sealed record Machine(IsolationRuntime Rt, Instance Attacker, Instance Other, GuestDeviceModel OtherDevices) : IDisposable
    {
        public void Dispose() => Rt.Dispose();
    }

    /// <summary>The machine of one run; throws <see cref="ImageRejectedException"/> when the attacker's image is refused.</summary>
    private Machine Build(AttackCase c, HypervisorImage image, ulong target)
    {
        var rt = new IsolationRuntime(MachineMemory) { BudgetPerExit = BudgetPerExit };
        try
        {
            var attackerImage = rt.Load(image);
            var otherImage = c.Hypervisor is HypervisorKind.MiniKvm or HypervisorKind.MiniKvmVulnerable ? attackerImage : rt.Load(MiniKvmImage.Value);
            var otherDevices = new GuestDeviceModel("other");
            var other = rt.AddGuest(OtherGuest(), otherImage, deviceModel: otherDevices);
            var attacker = rt.AddGuest(AttackerGuest(c, target), attackerImage, deviceModel: new GuestDeviceModel("attacker"));
            return new Machine(rt, attacker, other, otherDevices);
        }
        catch
        {
            rt.Dispose();
            throw;
        }
    }

    private List<AttackTarget> ResolveTargets(AttackCase c)
    {
        Machine? probe = null;
        try
        {
            probe = Build(c, Image(c, 0), 0);
        }
        catch (ImageRejectedException)
        {
            // Nothing will run; only targets that need no machine can be named.
        }
        using (probe)
        {
            var list = new List<AttackTarget>();
            foreach (string name in c.Targets)
            {
                if (probe is null && AttackTargets.Symbols.Contains(name) && name is not ("guest-window" or "trampoline" or "trampoline+1" or "host-idt-linear" or "host-gdt" or "host-idt" or "host-stack" or "runtime-pool"))
                    throw new AttackFormatException($"{c.File}: target '{name}' needs a machine, but the image is rejected (use a number)");
                list.AddRange(probe is null
                    ? [new AttackTarget(name, name switch
                    {
                        "guest-window" => ConfinedLayout.GuestWindow + GuestSpec.CodeAddress,
                        "trampoline" => ConfinedLayout.Trampoline,
                        "trampoline+1" => ConfinedLayout.Trampoline + 1,
                        "host-idt-linear" => ConfinedLayout.Idt,
                        "host-gdt" => HostLayout.HostGdt,
                        "host-idt" => HostLayout.HostIdt,
                        "host-stack" => HostLayout.HostStackTop - 8,
                        "runtime-pool" => HostLayout.PoolStart,
                        _ => HexCode.Number(name, c.File),
                    })]
                    : AttackTargets.Resolve(name, probe.Rt, probe.Attacker, probe.Other, c.File));
            }
            return list;
        }
    }

    private AttackRun RunOne(AttackCase c, AttackTarget? target)
    {
        ulong t = target?.Value ?? 0;
        var image = Image(c, t);
        Machine m;
        try
        {
            m = Build(c, image, t);
        }
        catch (ImageRejectedException e)
        {
            var f = e.Verification.Findings.FirstOrDefault();
            int rule = f is null ? Expectation.EntryRule : (int)f.Rule;
            string by = f is null ? "loader: entry is not a validated bundle start" : $"verifier: rule {rule} ({f.Rule})";
            string detail = f is null ? e.Message : $"at 0x{f.Offset:x}: {f.Detail}: {f.Instruction}";
            bool match = c.Expect.Kind == ExpectKind.Rejected && c.Expect.Rule == rule;
            return new AttackRun(target, ExpectKind.Rejected, rule, 0, 0, by, detail, match, [], 0, true, [], 0, Ran: false);
        }
        using (m)
        {
            var hashes = new PartyHashes(m.Rt, m.Attacker, m.Other, m.OtherDevices);
            using var monitor = Monitor ? ReferenceMonitor.Attach(m.Rt) : null;
            m.Rt.Run(MaxInstructions);
            hashes.Finish();
            var findings = monitor?.Violations.Select(v => v.ToString()).ToList() ?? [];
            long checkedInstructions = monitor?.InstructionsChecked ?? 0;
            var a = m.Attacker;
            string otherSerial = Encoding.ASCII.GetString(m.OtherDevices.Serial.Output.ToArray());
            bool otherOk = m.Other.State == InstanceState.Finished && m.Other.ExitStatus == 0 && otherSerial == AttackGuests.VictimOutput;
            ExpectKind? kind = null;
            int vector = 0;
            long status = 0;
            string by, detail;
            switch (a.State)
            {
                case InstanceState.Contained:
                    kind = ExpectKind.Contained;
                    var r = a.Report!;
                    vector = r.Vector;
                    by = Stopper(r.Vector, r.ErrorCode, r.Reason);
                    detail = r.ToString();
                    break;
                case InstanceState.Finished:
                    kind = ExpectKind.Finished;
                    status = a.ExitStatus ?? 0;
                    by = status < 0 && Enum.IsDefined((RuntimeStatus)status) ? $"service check: {(RuntimeStatus)status}" : $"runtime: finished, status {status} (see the case)";
                    detail = $"exit status {status}";
                    break;
                default:
                    by = "NOT STOPPED";
                    detail = $"attacker instance {a.State} at the instruction limit";
                    break;
            }
            bool match = kind == c.Expect.Kind && kind switch
            {
                ExpectKind.Contained => c.Expect.Vectors.Contains(vector),
                ExpectKind.Finished => c.Expect.Status == status,
                _ => false,
            };
            return new AttackRun(target, kind, 0, vector, status, by, detail, match, hashes.Changed.ToList(), hashes.Parties, otherOk, findings, checkedInstructions, Ran: true);
        }
    }

    /// <summary>What stopped a contained instance, from the vector and error code the trampoline saw.</summary>
    private static string Stopper(int vector, ulong error, string reason) => vector switch
    {
        14 => "page tables: #PF, " + ((error & 1) == 0 ? "not present" : (error & 0x10) != 0 ? "no-execute" : (error & 2) != 0 ? "read-only" : "protection"),
        3 => "trampoline INT3: #BP",
        BudgetTimerVector => "budget timer (APIC interrupt via IST)",
        Expectation.Abort => reason,
        < 32 => $"{Expectation.VectorName(vector)} via IST: instance contained",
        _ => reason,
    };

    private const int BudgetTimerVector = Runtime.Containment.BudgetTimer.Vector;
}
