using System.Text;
using System.Text.Json;

namespace HyperLock.Cli.Commands;

/// <summary>
/// <c>hyperlock tcb</c>: lines of code of HyperLock's trusted and untrusted parts, counted from
/// the source tree by the folder classification in <c>hyperlock/tcb.json</c>, beside the paper's
/// figures. A line counts when it is not blank and not only a comment (C# files; bin/ and obj/
/// skipped).
/// </summary>
public static class TcbCommand
{
    public const string ClassificationFile = "hyperlock/tcb.json";

    public sealed record Folder(string Path, string Class, string Role);

    public static IReadOnlyList<Folder> LoadClassification(string root)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(System.IO.Path.Combine(root, ClassificationFile)));
        var list = new List<Folder>();
        foreach (var f in doc.RootElement.GetProperty("folders").EnumerateArray())
            list.Add(new Folder(f.GetProperty("path").GetString()!, f.GetProperty("class").GetString()!, f.GetProperty("role").GetString()!));
        return list;
    }

    /// <summary>Project folders (those holding a .csproj) that the classification does not name.</summary>
    public static IReadOnlyList<string> Unclassified(string root, IReadOnlyList<Folder> folders)
    {
        var known = new HashSet<string>(folders.Select(f => f.Path));
        return Directory.EnumerateFiles(root, "*.csproj", SearchOption.AllDirectories)
            .Select(p => System.IO.Path.GetRelativePath(root, System.IO.Path.GetDirectoryName(p)!).Replace('\\', '/'))
            .Where(p => !p.Split('/').Any(s => s is "bin" or "obj") && !known.Contains(p))
            .Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>Non-blank, non-comment lines of the C# files under <paramref name="folder"/>.</summary>
    public static long CountLines(string folder)
    {
        long n = 0;
        foreach (var file in Directory.EnumerateFiles(folder, "*.cs", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var rel = System.IO.Path.GetRelativePath(folder, file).Replace('\\', '/');
            if (rel.Split('/').Any(s => s is "bin" or "obj")) continue;
            bool inBlock = false;
            foreach (var raw in File.ReadLines(file))
            {
                var line = raw.Trim();
                if (inBlock)
                {
                    int end = line.IndexOf("*/", StringComparison.Ordinal);
                    if (end < 0) continue;
                    inBlock = false;
                    line = line[(end + 2)..].Trim();
                }
                if (line.StartsWith("/*", StringComparison.Ordinal))
                {
                    int end = line.IndexOf("*/", 2, StringComparison.Ordinal);
                    if (end < 0) { inBlock = true; continue; }
                    line = line[(end + 2)..].Trim();
                }
                if (line.Length == 0 || line.StartsWith("//", StringComparison.Ordinal)) continue;
                n++;
            }
        }
        return n;
    }

    /// <summary>The report text for the tree at <paramref name="root"/>.</summary>
    public static string Report(string root)
    {
        var folders = LoadClassification(root);
        var sb = new StringBuilder();
        sb.Append("HyperLock trusted computing base (lines of C#: not blank, not only a comment)\n");
        long trusted = 0, untrusted = 0;
        foreach (var (cls, title) in new[] { ("trusted", "trusted (the TCB)"), ("untrusted", "untrusted (outside the TCB)") })
        {
            sb.Append('\n').Append(title).Append('\n');
            long total = 0;
            foreach (var f in folders.Where(f => f.Class == cls))
            {
                string dir = System.IO.Path.Combine(root, f.Path);
                long n = Directory.Exists(dir) ? CountLines(dir) : 0;
                total += n;
                sb.Append(Inv($"  {f.Path,-34} {n,8:N0}  {f.Role}\n"));
            }
            sb.Append(Inv($"  {"total",-34} {total,8:N0}\n"));
            if (cls == "trusted") trusted = total; else untrusted = total;
        }
        var notCounted = folders.Where(f => f.Class is not ("trusted" or "untrusted")).Select(f => $"{f.Path} ({f.Class})");
        sb.Append("\nnot counted: ").Append(string.Join(", ", notCounted)).Append('\n');
        long all = trusted + untrusted;
        sb.Append(Inv($"\nTCB share of HyperLock's code: {(all == 0 ? 0 : 100.0 * trusted / all):F1}% ({trusted:N0} of {all:N0} lines)\n"));
        sb.Append("paper (HyperLock, EuroSys 2012): TCB about 12% of KVM's code; QEMU (over 531K SLOC) outside the TCB\n");
        var missing = Unclassified(root, folders);
        if (missing.Count > 0) sb.Append("unclassified project folders: ").Append(string.Join(", ", missing)).Append('\n');
        return sb.ToString();
    }

    /// <summary>The source tree: <paramref name="rootOption"/>, else the nearest directory upward from the current one that holds the classification.</summary>
    public static string? FindRoot(string? rootOption)
    {
        if (rootOption != null) return File.Exists(System.IO.Path.Combine(rootOption, ClassificationFile)) ? rootOption : null;
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var d = new DirectoryInfo(start); d != null; d = d.Parent)
                if (File.Exists(System.IO.Path.Combine(d.FullName, ClassificationFile))) return d.FullName;
        return null;
    }

    private static string Inv(FormattableString s) => FormattableString.Invariant(s);

    public static int Run(string? rootOption, TextWriter output)
    {
        var root = FindRoot(rootOption)
            ?? throw new UsageException($"no HyperLock source tree found ({ClassificationFile} missing{(rootOption != null ? " under " + rootOption : " here or above")})");
        output.Write(Report(root));
        return 0;
    }
}
