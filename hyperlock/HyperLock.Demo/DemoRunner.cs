using System.Diagnostics;
using System.Text;
using HyperLock.DeviceModel;
using HyperLock.Emulator.Builders;
using HyperLock.Emulator.Vmx;
using HyperLock.Hypervisor;
using HyperLock.Runtime;

namespace HyperLock.Demo;

/// <summary>
/// A party's memory, hashed at the start and end of every slice in which a guest's instance had
/// the CPU: <see cref="Slices"/> slices, <see cref="ChangedSlices"/> of them with a different hash
/// at the end; <see cref="Before"/>/<see cref="After"/> are the last slice's hashes.
/// </summary>
public sealed record PartyHash(string Party, int Slices, int ChangedSlices, string Before, string After)
{
    public bool Unchanged => ChangedSlices == 0;
}

/// <summary>What one guest did, as the demo's table shows it.</summary>
public sealed record GuestResult(
    string Name, bool Confined, string State, int? ExitStatus, bool Correct, string? Report,
    string SerialOutput, string HypercallOutput,
    IReadOnlyDictionary<string, long> ExitsByReason, ulong GuestInstructions, ulong HypervisorInstructions,
    ulong RuntimeInstructions, long Transitions, long GateCalls, long DeviceRequests, int Slices, IReadOnlyList<PartyHash> OtherParties);

/// <summary>The guests' results; <see cref="Schedule"/>: who had the CPU, slice by slice (first letter of each guest's name).</summary>
public sealed record DemoResult(IReadOnlyList<GuestResult> Guests, string Schedule, long ElapsedMilliseconds)
{
    public bool Succeeded => Guests.All(g => g.Correct && g.OtherParties.All(p => p.Unchanged));
}

/// <summary>
/// Runs the two demo guests, each under its own instance of the one mini-KVM image with its own
/// device model. Confined: one machine, two confined instances. Unconfined (the stock-KVM
/// baseline): the runtime allows one unconfined instance per machine, so each guest gets its own.
/// </summary>
public static class DemoRunner
{
    private static readonly (Func<GuestSpec> Spec, Func<string, string, int?, bool> Correct)[] Guests =
    [
        (DemoGuests.Primes, (serial, console, exit) => exit == 0 && serial.Contains($"= {DemoGuests.PrimeSum}\n") && console == "bye from primes\n"),
        (DemoGuests.Ticker, (serial, _, exit) => exit == 0 && serial.Contains($"ticks = {DemoGuests.TicksWanted}\n")),
    ];

    /// <summary>
    /// Runs both guests; <paramref name="line"/> receives each completed serial line (guest name, text);
    /// <paramref name="prepared"/> is called with each runtime once its guests are added, before it runs
    /// (tests attach a reference monitor there). <paramref name="hypervisor"/> replaces the mini-KVM
    /// ("bring your own hypervisor"); it is verified at load like any image
    /// (<see cref="Runtime.Loading.ImageRejectedException"/> when refused).
    /// </summary>
    public static DemoResult Run(bool confined, Action<string, string>? line = null, ulong maxInstructions = 50_000_000,
        Action<IsolationRuntime>? prepared = null, Runtime.Loading.HypervisorImage? hypervisor = null)
    {
        var watch = Stopwatch.StartNew();
        var image = hypervisor ?? MiniKvm.Build();
        var results = new List<GuestResult>();
        string schedule;
        if (confined)
        {
            using var rt = new IsolationRuntime();
            var loaded = rt.Load(image);
            var runs = Guests.Select(g => AddGuest(rt, loaded, g.Spec(), true, line)).ToList();
            var hashes = TrackHashes(rt);
            prepared?.Invoke(rt);
            rt.Run(maxInstructions);
            hashes.Finish();
            for (int k = 0; k < runs.Count; k++) results.Add(Result(rt, runs[k], Guests[k].Correct, hashes.For(runs[k].Inst)));
            schedule = string.Concat(rt.Schedule.Select(id => char.ToUpperInvariant(rt.Instances[id].Guest.Name[0])));
        }
        else
        {
            for (int k = 0; k < Guests.Length; k++)
            {
                using var rt = new IsolationRuntime();
                var run = AddGuest(rt, rt.Load(image), Guests[k].Spec(), false, line);
                var hashes = TrackHashes(rt);
                prepared?.Invoke(rt);
                rt.Run(maxInstructions);
                hashes.Finish();
                results.Add(Result(rt, run, Guests[k].Correct, hashes.For(run.Inst)));
            }
            schedule = "one machine per guest (unconfined: one unconfined instance per machine)";
        }
        return new DemoResult(results, schedule, watch.ElapsedMilliseconds);
    }

    private sealed record Run1(Instance Inst, GuestDeviceModel Devices);

    private static Run1 AddGuest(IsolationRuntime rt, Runtime.Loading.LoadedImage image, GuestSpec spec, bool confined, Action<string, string>? line)
    {
        var devices = new GuestDeviceModel(spec.Name);
        var pending = new StringBuilder();
        devices.Serial.Transmitted = b =>
        {
            if (b != '\n') { pending.Append((char)b); return; }
            line?.Invoke(spec.Name, pending.ToString());
            pending.Clear();
        };
        return new Run1(rt.AddGuest(spec, image, confined, devices), devices);
    }

    private static GuestResult Result(IsolationRuntime rt, Run1 run, Func<string, string, int?, bool> correct, IReadOnlyList<PartyHash> parties)
    {
        var inst = run.Inst;
        string serial = Encoding.ASCII.GetString(run.Devices.Serial.Output.ToArray());
        string console = Encoding.ASCII.GetString(inst.Output.ToArray());
        var exits = new SortedDictionary<string, long>(StringComparer.Ordinal);
        for (int r = 0; r < inst.ExitsByReason.Length; r++)
            if (inst.ExitsByReason[r] > 0) exits[ReasonName(r)] = inst.ExitsByReason[r];
        bool ok = inst.State == InstanceState.Finished && correct(serial, console, inst.ExitStatus);
        return new GuestResult(inst.Guest.Name, inst.Confined, inst.State.ToString(), inst.ExitStatus, ok, inst.Report?.ToString(),
            serial, console, exits, inst.GuestInstructions, inst.HypervisorInstructions, inst.RuntimeInstructions,
            inst.Transitions, inst.GateCalls, run.Devices.Requests, rt.Schedule.Count(id => id == inst.Id), parties);
    }

    public static string ReasonName(int reason) => reason switch
    {
        ExitReason.ExternalInterrupt => "external-interrupt",
        ExitReason.InterruptWindow => "interrupt-window",
        ExitReason.Cpuid => "cpuid",
        ExitReason.Hlt => "hlt",
        ExitReason.Vmcall => "vmcall",
        ExitReason.CrAccess => "cr-access",
        ExitReason.Io => "io",
        ExitReason.Rdmsr => "rdmsr",
        ExitReason.Wrmsr => "wrmsr",
        ExitReason.EptViolation => "ept-violation",
        ExitReason.PreemptionTimer => "preemption-timer",
        ExitReason.Xsetbv => "xsetbv",
        _ => $"reason-{reason}",
    };

    // ---- memory hashes of the other parties ---------------------------------------------------

    private sealed class HashTracker(IsolationRuntime rt)
    {
        private readonly Dictionary<Instance, Dictionary<string, PartyHash>> _parties = new();
        private Dictionary<string, string>? _sliceStart;
        private Instance? _running;

        public void Scheduled(Instance inst)
        {
            EndSlice();
            _sliceStart = Snapshot(inst);
            _running = inst;
        }

        public void Finish() => EndSlice();

        private void EndSlice()
        {
            if (_running is null || _sliceStart is null) return;
            var end = Snapshot(_running);
            if (!_parties.TryGetValue(_running, out var parties)) _parties[_running] = parties = new();
            foreach (var (party, before) in _sliceStart)
            {
                var old = parties.GetValueOrDefault(party) ?? new PartyHash(party, 0, 0, before, before);
                parties[party] = old with { Slices = old.Slices + 1, ChangedSlices = old.ChangedSlices + (before == end[party] ? 0 : 1), Before = before, After = end[party] };
            }
            _running = null;
        }

        public IReadOnlyList<PartyHash> For(Instance inst) =>
            _parties.TryGetValue(inst, out var p) ? p.Values.ToList() : [];

        /// <summary>Every party but <paramref name="self"/> and its guest: host tables and trampoline, the shared hypervisor code, every other instance and its guest.</summary>
        private Dictionary<string, string> Snapshot(Instance self)
        {
            var mem = rt.Board.Memory;
            var parties = new Dictionary<string, string>
            {
                ["host page tables"] = Hash(mem, [(HostLayout.HostTables, HostLayout.HostTablesEnd - HostLayout.HostTables)], pageTables: true),
                ["trampoline"] = Hash(mem, rt.TrampolineFrames.Select(f => (f, 0x1000UL))),
                ["hypervisor code (shared)"] = Hash(mem, self.Image.CodeFrames.Select(f => (f, 0x1000UL))),
            };
            foreach (var other in rt.Instances)
            {
                if (other == self) continue;
                // Not the VMCS frame: the CPU writes its cached copy back when the runtime loads the next
                // VMCS (VMPTRLD), which is the runtime's act, not the running instance's.
                var frames = other.DataFrames.Concat(other.StackFrames)
                    .Concat([other.GdtFrame, other.IdtFrame, other.TssFrame, other.FxFrame]);
                parties[$"instance of {other.Guest.Name}"] = Hash(mem, frames.Select(f => (f, 0x1000UL)));
                if (other.Confined)
                    parties[$"page tables of {other.Guest.Name}'s instance"] = Hash(mem, PageTableBuilder.TableFrames(mem, other.Cr3).Select(f => (f, 0x1000UL)), pageTables: true);
                parties[$"guest {other.Guest.Name}"] = Hash(mem, [(other.GuestBase, other.GuestSize)]);
            }
            return parties;
        }

        /// <summary>SHA-256 (first 16 hex digits) of <paramref name="ranges"/>; for page tables without the accessed and dirty bits, which the CPU's own walks set.</summary>
        private static string Hash(Emulator.Memory.PhysicalMemory mem, IEnumerable<(ulong Base, ulong Size)> ranges, bool pageTables = false) =>
            Convert.ToHexString(Emulator.Memory.MemoryDigest.Of(mem, ranges, pageTables))[..16].ToLowerInvariant();
    }

    private static HashTracker TrackHashes(IsolationRuntime rt)
    {
        var t = new HashTracker(rt);
        rt.InstanceScheduled += t.Scheduled;
        return t;
    }
}
