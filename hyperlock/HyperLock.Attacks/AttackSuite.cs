namespace HyperLock.Attacks;

/// <summary>The built-in cases (copied beside the assembly, AttackCases/*.attack) and case discovery for files and folders.</summary>
public static class AttackSuite
{
    public const string Extension = ".attack";

    /// <summary>The folder holding the built-in cases.</summary>
    public static string BuiltInFolder => Path.Combine(AppContext.BaseDirectory, "AttackCases");

    /// <summary>The built-in case files, by name.</summary>
    public static IReadOnlyList<string> BuiltInFiles() => Expand([BuiltInFolder]);

    /// <summary>Files as given and every *.attack file in the folders given (sorted), or a one-line error.</summary>
    public static IReadOnlyList<string> Expand(IEnumerable<string> paths)
    {
        var files = new List<string>();
        foreach (string p in paths)
        {
            if (Directory.Exists(p))
            {
                var found = Directory.GetFiles(p, "*" + Extension).OrderBy(f => f, StringComparer.Ordinal).ToList();
                if (found.Count == 0) throw new AttackFormatException($"{p}: no {Extension} files");
                files.AddRange(found);
            }
            else if (File.Exists(p)) files.Add(p);
            else throw new AttackFormatException($"{p}: no such file or folder");
        }
        return files;
    }
}
