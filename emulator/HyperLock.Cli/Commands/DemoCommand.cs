using System.Text;
using System.Text.Json;
using HyperLock.Demo;
using HyperLock.Runtime.Loading;

namespace HyperLock.Cli.Commands;

/// <summary>
/// <c>hyperlock demo</c>: two bare-metal guests, each under its own confined instance of the one
/// mini-KVM image with its own device model; each guest's serial lines stream as they are
/// printed, prefixed with its name; then a table per guest. Status 0 only if both guests
/// finished correctly and no other party's memory changed while a guest ran.
/// </summary>
public static class DemoCommand
{
    public static int Run(bool unconfined, bool json, TextWriter stdout, TextWriter stderr, string? hypervisorPath = null, string? manifestPath = null)
    {
        if (manifestPath is not null && hypervisorPath is null) throw new UsageException("--manifest needs --hypervisor IMAGE");
        HypervisorImage? image = null;
        if (hypervisorPath is not null)
        {
            try { image = HypervisorImageFile.Read(hypervisorPath, manifestPath); }
            catch (ManifestFormatException e) { throw new UsageException(e.Message); }
        }
        string who = hypervisorPath is null ? "mini-KVM" : $"'{Path.GetFileName(hypervisorPath)}'";
        if (!json) stderr.WriteLine($"hyperlock demo: two guests, each under its own {(unconfined ? "unconfined" : "confined")} {who} instance");
        DemoResult result;
        try
        {
            result = DemoRunner.Run(!unconfined, json ? null : (guest, line) => stdout.WriteLine($"[{guest}] {line}"), hypervisor: image);
        }
        catch (ImageRejectedException e)
        {
            // The verifier's findings, as 'hyperlock verify' prints them; status 1 as a rejection there.
            stderr.WriteLine($"hyperlock: {hypervisorPath}: {e.Message}");
            stderr.Write(e.Verification.ToText(hypervisorPath ?? "image"));
            return 1;
        }
        stdout.Write(json ? Json(result) : Table(result, maskTimings: false));
        return result.Succeeded ? 0 : 1;
    }

    /// <summary>The table people read (timings replaced by "(masked)" for snapshots).</summary>
    public static string Table(DemoResult r, bool maskTimings)
    {
        var sb = new StringBuilder();
        foreach (var g in r.Guests)
        {
            sb.Append('\n').Append($"== {g.Name} ({(g.Confined ? "confined" : "unconfined")}): {g.State}, exit code {g.ExitStatus?.ToString() ?? "-"}, {(g.Correct ? "correct" : "WRONG")} ==\n");
            if (g.Report is not null) sb.Append($"  report: {g.Report}\n");
            if (g.HypercallOutput.Length > 0) sb.Append($"  hypercall console: {g.HypercallOutput.TrimEnd('\n').Replace("\n", "\\n")}\n");
            sb.Append("  VM exits by reason:\n");
            foreach (var (reason, n) in g.ExitsByReason) sb.Append($"    {reason,-36} {n,8}\n");
            sb.Append($"    {"total",-36} {g.ExitsByReason.Values.Sum(),8}\n");
            // Split at the host calls: the trampoline's exit stub counts with the guest, its gate and
            // IRETQ paths with the hypervisor (docs/runtime.md, "Counters").
            sb.Append("  instructions retired:\n");
            sb.Append($"    {"guest (+ exit stub)",-36} {g.GuestInstructions,8}\n");
            sb.Append($"    {"hypervisor (+ gate/IRETQ paths)",-36} {g.HypervisorInstructions,8}\n");
            sb.Append($"    {"runtime (other trampoline x86)",-36} {g.RuntimeInstructions,8}\n");
            sb.Append($"  slices {g.Slices}\n");
            sb.Append($"  confined<->host transitions {g.Transitions} (gate calls {g.GateCalls}, device-model requests {g.DeviceRequests})\n");
            sb.Append("  memory of every other party, hashed at the start and end of each of this guest's slices (last slice shown):\n");
            foreach (var p in g.OtherParties)
                sb.Append($"    {p.Party,-36} {p.Before} -> {p.After}  {(p.Unchanged ? $"unchanged in all {p.Slices} slices" : $"CHANGED in {p.ChangedSlices} of {p.Slices} slices")}\n");
        }
        sb.Append('\n').Append($"schedule: {r.Schedule}\n");
        sb.Append($"{(r.Succeeded ? "both guests finished correctly" : "FAILED")}; elapsed {(maskTimings ? "(masked)" : $"{r.ElapsedMilliseconds} ms")}\n");
        return sb.ToString();
    }

    public static string Json(DemoResult r) =>
        JsonSerializer.Serialize(new { succeeded = r.Succeeded, elapsedMilliseconds = r.ElapsedMilliseconds, guests = r.Guests },
            new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase }) + "\n";
}
