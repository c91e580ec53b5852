using System.Globalization;
using System.Text;
using Iced.Intel;

namespace HyperLock.Differential.Tests.Harness;

/// <summary>
/// Renders a pass as text: a summary (deterministic for a fixed seed and emulator: no timings,
/// suitable for snapshots), then mismatches with minimized reproductions, the covered forms
/// with case counts, unimplemented forms, generation failures and every excluded form grouped
/// by class with the reason.
/// </summary>
public static class CoverageReport
{
    public static string Summary(PassResult r)
    {
        var sb = new StringBuilder();
        int candidates = r.Covered.Count + r.Unimplemented.Count + r.GenerationFailures.Count(kv => !r.Covered.ContainsKey(kv.Key));
        sb.AppendLine($"seed 0x{r.Options.Seed:x}, {r.Options.CasesPerForm} cases per form, {r.Options.RandomCases} random cases");
        sb.AppendLine($"candidate forms:          {candidates}");
        sb.AppendLine($"implemented and covered:  {r.CoveredImplementedForms}");
        sb.AppendLine($"implemented, host lacks:  {r.ImplementedButHostLacks}");
        sb.AppendLine($"unimplemented (#UD):      {r.Unimplemented.Count}");
        sb.AppendLine($"not generated:            {r.GenerationFailures.Count}");
        sb.AppendLine($"excluded forms:           {r.Excluded.Count}");
        if (r.VendorExcluded.Count > 0) sb.AppendLine($"vendor-specific forms:    {r.VendorExcluded.Count} (not run on {r.Vendor})");
        if (r.HostFaults.Count > 0) sb.AppendLine($"host exclusions (fault):  {r.HostFaults.Count}");
        sb.AppendLine($"cases run:                {r.CasesRun}");
        sb.AppendLine($"mismatching cases:        {r.MismatchingCases} in {r.Mismatches.Count} forms");
        return sb.ToString();
    }

    public static string Render(PassResult r)
    {
        var sb = new StringBuilder();
        sb.AppendLine("HyperLock differential coverage report (native x86-64 vs emulator)");
        sb.AppendLine(new string('=', 68));
        sb.Append(Summary(r));
        sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"elapsed:                  {r.Elapsed.TotalSeconds:F1} s"));
        sb.AppendLine($"CPUID bits the harness turned on in the emulated profile (host has them): {(EmulatorExecutor.AdvertisedExtra.Count == 0 ? "none" : string.Join(", ", EmulatorExecutor.AdvertisedExtra))}");
        sb.AppendLine();

        sb.AppendLine($"Host CPU vendor: {r.Vendor}; vendor-specific NaN choice forgiven in {r.NanChoiceForgivenCases} cases");
        sb.AppendLine();
        sb.AppendLine($"## Host exclusions ({r.HostFaults.Count}): forms that faulted natively on this host (caught, not run again)");
        foreach (var (code, why) in r.HostFaults) sb.AppendLine($"{code,-48} {why}");
        sb.AppendLine();
        sb.AppendLine($"## Vendor-specific forms ({r.VendorExcluded.Count}): not run on this host's vendor");
        foreach (var (code, why) in r.VendorExcluded) sb.AppendLine($"{code,-48} {why}");
        sb.AppendLine();

        sb.AppendLine($"## Mismatches ({r.Mismatches.Count} forms)");
        foreach (var (code, mm) in r.Mismatches)
        {
            sb.AppendLine();
            sb.AppendLine($"### {code}: {mm.Case.Text}   ({r.Covered[code].Mismatches}/{r.Covered[code].Cases} cases)");
            sb.Append(Reproduction(mm));
        }
        sb.AppendLine();

        sb.AppendLine($"## Covered forms ({r.Covered.Count}): Iced Code, cases, mismatching cases");
        foreach (var (code, st) in r.Covered)
            sb.AppendLine($"{code,-48} {st.Cases,6} {(st.Mismatches > 0 ? st.Mismatches.ToString(CultureInfo.InvariantCulture) : "")}");
        sb.AppendLine();

        sb.AppendLine($"## Unimplemented in the emulator ({r.Unimplemented.Count}): #UD, not compared");
        foreach (var line in Columns(r.Unimplemented.Select(c => c.ToString()))) sb.AppendLine(line);
        sb.AppendLine();

        sb.AppendLine($"## Not generated ({r.GenerationFailures.Count}): no case could be built");
        foreach (var (code, why) in r.GenerationFailures) sb.AppendLine($"{code,-48} {why}");
        sb.AppendLine();

        sb.AppendLine($"## Excluded forms ({r.Excluded.Count}), by class");
        foreach (var group in r.Excluded.GroupBy(e => e.Class).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            sb.AppendLine();
            sb.AppendLine($"### {group.Key} ({group.Count()}): {FormCatalog.ExclusionClasses[group.Key]}");
            foreach (var e in group)
                sb.AppendLine(e.Reason == FormCatalog.ExclusionClasses[group.Key] ? e.Code.ToString() : $"{e.Code,-48} {e.Reason}");
        }
        return sb.ToString();
    }

    /// <summary>A mismatch as a self-contained reproduction: bytes, disassembly, initial state, differences.</summary>
    public static string Reproduction(Mismatch mm)
    {
        var c = mm.Case;
        var sb = new StringBuilder();
        sb.AppendLine($"bytes: {c.Hex}   ({c.Text})");
        sb.AppendLine($"emulator stop: {mm.EmulatorStop}; minimized in {mm.MinimizationSteps} steps");
        sb.AppendLine("differences (native vs emulated):");
        foreach (var d in mm.Differences) sb.AppendLine("  " + d);
        sb.AppendLine("initial state (hyperlock exec --state JSON, plus mxcsr and x87 fields; code = bytes + cc at 0x400000):");
        sb.AppendLine(StateJson(c.Initial));
        return sb.ToString();
    }

    /// <summary>The initial state in the <c>hyperlock exec --state</c> format (non-zero scratch bytes as runs).</summary>
    public static string StateJson(MachineState s)
    {
        var parts = new List<string>();
        for (int i = 0; i < 16; i++) parts.Add($"\"{MachineState.GprNames[i]}\": \"0x{s.Gpr[i]:x}\"");
        parts.Add($"\"rflags\": \"0x{s.Rflags:x}\"");
        parts.Add($"\"mxcsr\": \"0x{s.Mxcsr:x}\"");
        for (int i = 0; i < 16; i++)
            if (s.Xmm[2 * i] != 0 || s.Xmm[2 * i + 1] != 0) parts.Add($"\"xmm{i}\": \"0x{s.Xmm[2 * i + 1]:x16}{s.Xmm[2 * i]:x16}\"");
        if (s.Fcw != 0x037F || s.Fsw != 0 || s.Ftw != 0)
        {
            parts.Add($"\"fcw\": \"0x{s.Fcw:x}\"");
            parts.Add($"\"fsw\": \"0x{s.Fsw:x}\"");
            parts.Add($"\"ftw\": \"0x{s.Ftw:x}\"");
            for (int i = 0; i < 8; i++)
                if (s.StValid(i)) parts.Add($"\"st{i}\": \"{s.StSignExp[i]:x4}:{s.StMantissa[i]:x16}\"");
        }
        var scratch = new List<string>();
        AddRuns(scratch, s.Data, ScratchLayout.DataBase - ScratchLayout.ScratchBase);
        AddRuns(scratch, s.Stack, ScratchLayout.StackWindowBase - ScratchLayout.ScratchBase);
        parts.Add("\"scratch\": [" + string.Join(", ", scratch) + "]");
        return "{ " + string.Join(", ", parts) + " }";
    }

    /// <summary>Parses <see cref="StateJson"/> output back into a state (for replaying a traced or reported case).</summary>
    public static MachineState ParseStateJson(string json)
    {
        var s = new MachineState();
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        static ulong Hex(string v) => ulong.Parse(v.AsSpan(v.StartsWith("0x", StringComparison.Ordinal) ? 2 : 0), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        var st = new List<(int Index, ushort SignExp, ulong Mantissa)>();
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            string name = p.Name;
            int gpr = Array.IndexOf(MachineState.GprNames, name);
            if (gpr >= 0) { s.Gpr[gpr] = Hex(p.Value.GetString()!); continue; }
            switch (name)
            {
                case "rflags": s.Rflags = Hex(p.Value.GetString()!); continue;
                case "mxcsr": s.Mxcsr = (uint)Hex(p.Value.GetString()!); continue;
                case "fcw": s.Fcw = (ushort)Hex(p.Value.GetString()!); continue;
                case "fsw": s.Fsw = (ushort)Hex(p.Value.GetString()!); continue;
                case "ftw": s.Ftw = (byte)Hex(p.Value.GetString()!); continue;
                case "scratch":
                    foreach (var run in p.Value.EnumerateArray())
                    {
                        ulong at = ScratchLayout.ScratchBase + Hex(run.GetProperty("offset").GetString()!);
                        byte[] bytes = Convert.FromHexString(run.GetProperty("hex").GetString()!);
                        for (int k = 0; k < bytes.Length; k++) s.WriteMemory(at + (ulong)k, 1, bytes[k]);
                    }
                    continue;
            }
            if (name.StartsWith("xmm", StringComparison.Ordinal))
            {
                int i = int.Parse(name.AsSpan(3), CultureInfo.InvariantCulture);
                string v = p.Value.GetString()!.PadLeft(34, '0')[2..];
                s.Xmm[2 * i + 1] = Hex(v[..16]);
                s.Xmm[2 * i] = Hex(v[16..]);
            }
            else if (name.StartsWith("st", StringComparison.Ordinal))
            {
                string[] parts = p.Value.GetString()!.Split(':');
                st.Add((int.Parse(name.AsSpan(2), CultureInfo.InvariantCulture), (ushort)Hex(parts[0]), Hex(parts[1])));
            }
        }
        foreach (var (i, se, m) in st) { s.StSignExp[i] = se; s.StMantissa[i] = m; }
        return s;
    }

    private static void AddRuns(List<string> runs, byte[] bytes, ulong offset)
    {
        int i = 0;
        while (i < bytes.Length)
        {
            if (bytes[i] == 0) { i++; continue; }
            int start = i;
            while (i < bytes.Length && (bytes[i] != 0 || (i + 1 < bytes.Length && bytes[i + 1] != 0))) i++;
            runs.Add($"{{\"offset\": \"0x{offset + (ulong)start:x}\", \"hex\": \"{Convert.ToHexString(bytes, start, i - start).ToLowerInvariant()}\"}}");
        }
    }

    private static IEnumerable<string> Columns(IEnumerable<string> items)
    {
        var line = new StringBuilder();
        foreach (var item in items)
        {
            if (line.Length > 0 && line.Length + item.Length + 2 > 110) { yield return line.ToString(); line.Clear(); }
            if (line.Length > 0) line.Append("  ");
            line.Append(item);
        }
        if (line.Length > 0) yield return line.ToString();
    }

    /// <summary>Exclusion counts per class (host-independent classes only): stable across machines for a given Iced version.</summary>
    public static string ExclusionTable(IEnumerable<Exclusion> excluded)
    {
        var sb = new StringBuilder();
        foreach (var g in excluded.Where(e => e.Class != "host-lacks-feature").GroupBy(e => e.Class).OrderBy(g => g.Key, StringComparer.Ordinal))
            sb.AppendLine($"{g.Key}: {g.Count()}");
        return sb.ToString();
    }
}
