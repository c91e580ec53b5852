using System.Text;
using HyperLock.Abi;
using HyperLock.Verifier.Policy;
using Iced.Intel;
using Xunit;

namespace HyperLock.Verifier.Tests;

/// <summary>
/// docs/verifier.md carries tables generated from the policy data. These tests fail when the
/// document is stale; run with HYPERLOCK_UPDATE_DOCS=1 to rewrite the generated sections.
/// </summary>
public class DocsTests
{
    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "HyperLock.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repository root not found");
    }

    private static string DocPath => Path.Combine(RepoRoot(), "docs", "verifier.md");

    internal static string AllowListTable()
    {
        var sb = new StringBuilder();
        var all = AllowList.All().ToList();
        sb.Append($"Iced {typeof(Iced.Intel.Decoder).Assembly.GetName().Version} knows {all.Count} instruction forms (`Code` values): ");
        foreach (var g in all.GroupBy(x => x.Policy.Kind).OrderBy(g => g.Key)) sb.Append($"{g.Key} {g.Count()}; ");
        sb.Length -= 2;
        sb.Append(".\n\n### Pseudo-instruction and gate forms\n\n| Code | Kind | Rule | Condition |\n|---|---|---|---|\n");
        foreach (var (code, p) in all.Where(x => x.Policy.Kind is PolicyKind.PseudoOnly or PolicyKind.GateOnly))
            sb.Append($"| `{code}` | {p.Kind} | {(int)p.Rule} | {p.Reason} |\n");
        sb.Append("\n### Allowed forms, by mnemonic\n\n| Mnemonic | Forms | Codes |\n|---|---|---|\n");
        foreach (var g in all.Where(x => x.Policy.Kind == PolicyKind.Allowed).GroupBy(x => x.Code.Mnemonic()).OrderBy(g => g.Key.ToString(), StringComparer.Ordinal))
            sb.Append($"| {g.Key.ToString().ToLowerInvariant()} | {g.Count()} | {string.Join(", ", g.Select(x => $"`{x.Code}`"))} |\n");
        sb.Append("\n### Forbidden forms, by reason\n\n| Rule | Reason | Forms | Mnemonics |\n|---|---|---|---|\n");
        foreach (var g in all.Where(x => x.Policy.Kind == PolicyKind.Forbidden).GroupBy(x => (x.Policy.Rule, x.Policy.Reason))
                     .OrderBy(g => (int)g.Key.Rule).ThenBy(g => g.Key.Reason, StringComparer.Ordinal))
        {
            var mnemonics = g.Select(x => x.Code.Mnemonic().ToString().ToLowerInvariant()).Distinct().OrderBy(m => m, StringComparer.Ordinal).ToList();
            sb.Append($"| {(int)g.Key.Rule} | {g.Key.Reason} | {g.Count()} | {string.Join(", ", mnemonics)} |\n");
        }
        return sb.ToString();
    }

    internal static string VmcsTable()
    {
        var sb = new StringBuilder("| Encoding | Field | Group | VMREAD | VMWRITE |\n|---|---|---|---|---|\n");
        foreach (var f in VmcsFieldPolicy.Fields)
            sb.Append($"| `0x{f.Encoding:x4}` | {f.Name} | {f.Group} | {(f.Readable ? "yes" : "no")} | {(f.Writable ? "yes" : "no")} |\n");
        return sb.ToString();
    }

    internal static string ServiceTable()
    {
        var sb = new StringBuilder("| Number | Service |\n|---|---|\n");
        foreach (var s in Enum.GetValues<RuntimeService>()) sb.Append($"| {(uint)s} | `{s}` |\n");
        return sb.ToString();
    }

    private static string Replace(string doc, string name, string body)
    {
        string begin = $"<!-- BEGIN GENERATED: {name} (by DocsTests; do not edit) -->\n", end = $"<!-- END GENERATED: {name} -->";
        int a = doc.IndexOf(begin, StringComparison.Ordinal), b = doc.IndexOf(end, StringComparison.Ordinal);
        if (a < 0 || b < a) throw new InvalidOperationException($"docs/verifier.md lacks the markers for '{name}'");
        return doc[..(a + begin.Length)] + body + doc[b..];
    }

    [Fact]
    public void GeneratedSectionsOfTheVerifierDocAreCurrent()
    {
        string doc = File.ReadAllText(DocPath).Replace("\r\n", "\n");
        string fresh = Replace(Replace(Replace(doc, "allow-list", AllowListTable()), "vmcs-policy", VmcsTable()), "services", ServiceTable());
        if (Environment.GetEnvironmentVariable("HYPERLOCK_UPDATE_DOCS") == "1" && fresh != doc) File.WriteAllText(DocPath, fresh);
        else Assert.True(fresh == doc, "docs/verifier.md is stale: run the tests with HYPERLOCK_UPDATE_DOCS=1");
    }
}
