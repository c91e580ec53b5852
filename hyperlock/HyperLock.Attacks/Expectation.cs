using System.Globalization;

namespace HyperLock.Attacks;

/// <summary>What a case must end with.</summary>
public enum ExpectKind
{
    /// <summary>The loader refuses the image: the verifier's finding names the rule (or a manifest entry is refused).</summary>
    Rejected,
    /// <summary>The attacker's instance is stopped and reported with one of the vectors (or budget, abort).</summary>
    Contained,
    /// <summary>The attacker's instance finishes its guest with this status (the case's hypervisor reports what it saw, e.g. a refusal code).</summary>
    Finished,
}

/// <summary>
/// A case's expected outcome: <c>rejected RULE</c> (1-8, or <c>entry</c>), <c>contained V|V…</c>
/// (#DE #DB #BP #UD #DF #SS #GP #PF, <c>budget</c>, <c>abort</c>), or <c>finished STATUS</c>. Whatever
/// the kind, every run must also leave the host, the other instance and the other guest unchanged
/// and the other guest must finish correctly.
/// </summary>
public sealed record Expectation(ExpectKind Kind, int Rule, IReadOnlyList<int> Vectors, long Status, string Text)
{
    /// <summary>Pseudo-vectors for containments that are not exceptions.</summary>
    public const int Budget = 0xF0, Abort = 0x82;
    /// <summary>Rule number used for a refused manifest entry.</summary>
    public const int EntryRule = 8;

    private static readonly Dictionary<string, int> VectorNames = new(StringComparer.OrdinalIgnoreCase)
    {
        ["#DE"] = 0, ["#DB"] = 1, ["#BP"] = 3, ["#UD"] = 6, ["#DF"] = 8, ["#SS"] = 12, ["#GP"] = 13, ["#PF"] = 14,
        ["budget"] = Budget, ["abort"] = Abort,
    };

    public static string VectorName(int vector) =>
        VectorNames.FirstOrDefault(kv => kv.Value == vector).Key ?? $"vector {vector}";

    public static Expectation Parse(string text, string where)
    {
        string[] words = text.Split([' ', '\t'], 2, StringSplitOptions.RemoveEmptyEntries);
        string arg = words.Length > 1 ? words[1].Trim() : "";
        switch (words.Length > 0 ? words[0] : "")
        {
            case "rejected":
                if (arg == "entry") return new(ExpectKind.Rejected, EntryRule, [], 0, text);
                if (int.TryParse(arg, NumberStyles.None, CultureInfo.InvariantCulture, out int rule) && rule is >= 1 and <= 8)
                    return new(ExpectKind.Rejected, rule, [], 0, text);
                throw new AttackFormatException($"{where}: 'rejected' takes a rule number 1-8 or 'entry', found '{arg}'");
            case "contained":
                var vectors = new List<int>();
                foreach (string v in arg.Split('|', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                    vectors.Add(VectorNames.TryGetValue(v, out int n) ? n : throw new AttackFormatException($"{where}: unknown containment '{v}' ({string.Join(", ", VectorNames.Keys)})"));
                if (vectors.Count == 0) throw new AttackFormatException($"{where}: 'contained' needs a vector (e.g. #PF, or #PF|#BP)");
                return new(ExpectKind.Contained, 0, vectors, 0, text);
            case "finished":
                return new(ExpectKind.Finished, 0, [], unchecked((long)HexCode.Number(arg, where)), text);
            default:
                throw new AttackFormatException($"{where}: expect is 'rejected RULE', 'contained VECTOR[|VECTOR]' or 'finished STATUS', found '{text}'");
        }
    }
}
