using System.Globalization;

namespace HyperLock.Verifier.Tests;

/// <summary>
/// One adversarial corpus case (Corpus/*.txt), one concern per file:
/// <code>
/// # what the case pins down
/// @hex: 48 83 e0 e0 ff e0 90*3   (bytes; XX*N repeats a byte)
/// @fill: 90                      (optional: pad to whole bundles with this byte)
/// @gate: 0x90                    (optional gate vector)
/// @entry: 0x20                   (optional, repeatable)
/// @expect: accept                (or one "@expect: rule R at 0xOFF" per finding, exactly)
/// </code>
/// </summary>
public sealed record CorpusCase(string Name, string Description, byte[] Bytes, byte? Gate, long[] Entries, (int Rule, long Offset)[] Expected)
{
    public static string Directory => Path.Combine(AppContext.BaseDirectory, "Corpus");

    public static IEnumerable<CorpusCase> All() =>
        System.IO.Directory.GetFiles(Directory, "*.txt").OrderBy(f => f, StringComparer.Ordinal).Select(Load);

    public VerifierOptions Options => new() { GateVector = Gate ?? VerifierOptions.DefaultGateVector, EntryPoints = Entries };

    public static CorpusCase Load(string path)
    {
        string desc = "";
        var bytes = new List<byte>();
        byte? gate = null;
        var entries = new List<long>();
        var expected = new List<(int, long)>();
        bool accept = false;
        foreach (var raw in File.ReadAllLines(path))
        {
            var line = raw.Trim();
            if (line.Length == 0) continue;
            if (line.StartsWith('#')) { desc = line[1..].Trim(); continue; }
            int colon = line.IndexOf(':');
            if (!line.StartsWith('@') || colon < 0) throw new FormatException($"{path}: bad line '{line}'");
            string key = line[1..colon], val = line[(colon + 1)..].Trim();
            switch (key)
            {
                case "hex":
                    foreach (var tok in val.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                    {
                        var parts = tok.Split('*');
                        byte b = byte.Parse(parts[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                        int n = parts.Length > 1 ? int.Parse(parts[1], CultureInfo.InvariantCulture) : 1;
                        for (int i = 0; i < n; i++) bytes.Add(b);
                    }
                    break;
                case "fill":
                    byte fb = byte.Parse(val, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                    while (bytes.Count % 32 != 0) bytes.Add(fb);
                    break;
                case "gate": gate = (byte)Num(val); break;
                case "entry": entries.Add(Num(val)); break;
                case "expect":
                    if (val == "accept") accept = true;
                    else
                    {
                        var w = val.Split(' ', StringSplitOptions.RemoveEmptyEntries); // rule R at 0xOFF
                        expected.Add((int.Parse(w[1], CultureInfo.InvariantCulture), Num(w[3])));
                    }
                    break;
                default: throw new FormatException($"{path}: unknown key '{key}'");
            }
        }
        if (accept == (expected.Count > 0)) throw new FormatException($"{path}: needs either '@expect: accept' or findings");
        return new CorpusCase(Path.GetFileNameWithoutExtension(path), desc, [.. bytes], gate, [.. entries], [.. expected]);
    }

    private static long Num(string s) => s.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
        ? long.Parse(s.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture)
        : long.Parse(s, CultureInfo.InvariantCulture);

    public override string ToString() => Name;
}
