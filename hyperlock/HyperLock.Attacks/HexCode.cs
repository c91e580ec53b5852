using System.Globalization;

namespace HyperLock.Attacks;

/// <summary>A case file's code block could not be assembled; the message names the file and line.</summary>
public sealed class AttackFormatException(string message) : Exception(message);

/// <summary>
/// The hand-written code of a case file (docs/security.md, "Case files"): hex bytes, two digits
/// each, and a few helpers so nobody has to count bytes: <c>name:</c> defines a label at the
/// current offset; <c>rel8(name)</c> / <c>rel32(name)</c> emit a branch displacement to it (the
/// last field of a jmp/jcc/call: relative to the end of the field); <c>imm8(n)</c>,
/// <c>imm16(n)</c>, <c>imm32(n)</c>, <c>imm64(n)</c> emit a little-endian number; <c>{target}</c>
/// and <c>{target32}</c> emit the run's target (8 / 4 bytes); <c>.bundle</c> pads with NOPs
/// (0x90) to the next 32-byte boundary. <c>#</c> and <c>;</c> start comments.
/// </summary>
public static class HexCode
{
    public sealed record Line(int Number, string Text);

    /// <summary>Assembles <paramref name="lines"/>; <paramref name="target"/> fills the {target} fields.</summary>
    public static byte[] Assemble(IReadOnlyList<Line> lines, string source, ulong target = 0)
    {
        // Two passes: every token has a fixed size, so the first pass places the labels.
        var labels = new Dictionary<string, int>(StringComparer.Ordinal);
        Emit(lines, source, target, labels, null);
        var bytes = new List<byte>();
        Emit(lines, source, target, labels, bytes);
        return bytes.ToArray();
    }

    /// <summary>True when the code uses the run's target.</summary>
    public static bool UsesTarget(IReadOnlyList<Line> lines) => lines.Any(l => StripComment(l.Text).Contains("{target", StringComparison.Ordinal));

    private static string StripComment(string text)
    {
        int c = text.IndexOfAny(['#', ';']);
        return c >= 0 ? text[..c] : text;
    }

    private static void Emit(IReadOnlyList<Line> lines, string source, ulong target, Dictionary<string, int> labels, List<byte>? output)
    {
        int pos = 0;
        foreach (var line in lines)
        {
            string where = $"{source}:{line.Number}";
            foreach (string token in StripComment(line.Text).Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries))
            {
                if (token.EndsWith(':'))
                {
                    string name = token[..^1];
                    if (output is null && !labels.TryAdd(name, pos)) throw new AttackFormatException($"{where}: label '{name}' defined twice");
                    continue;
                }
                if (token == ".bundle")
                {
                    while (pos % 32 != 0) Put(output, ref pos, 0x90);
                    continue;
                }
                if (token == "{target}") { PutLe(output, ref pos, target, 8); continue; }
                if (token == "{target32}") { PutLe(output, ref pos, target, 4); continue; }
                if (token.StartsWith("rel8(", StringComparison.Ordinal) || token.StartsWith("rel32(", StringComparison.Ordinal))
                {
                    int size = token.StartsWith("rel8(", StringComparison.Ordinal) ? 1 : 4;
                    string name = Argument(token, where);
                    long disp = 0;
                    if (output is not null)
                    {
                        if (!labels.TryGetValue(name, out int at)) throw new AttackFormatException($"{where}: unknown label '{name}'");
                        disp = at - (pos + size);
                        if (size == 1 && disp is < sbyte.MinValue or > sbyte.MaxValue) throw new AttackFormatException($"{where}: '{name}' is out of rel8 range ({disp})");
                    }
                    PutLe(output, ref pos, unchecked((ulong)disp), size);
                    continue;
                }
                if (token.StartsWith("imm", StringComparison.Ordinal) && token.Contains('('))
                {
                    int size = token[..token.IndexOf('(')] switch
                    {
                        "imm8" => 1, "imm16" => 2, "imm32" => 4, "imm64" => 8,
                        _ => throw new AttackFormatException($"{where}: unknown helper '{token}' (imm8/16/32/64)"),
                    };
                    PutLe(output, ref pos, Number(Argument(token, where), where), size);
                    continue;
                }
                if (token.Length == 2 && byte.TryParse(token, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out byte b))
                {
                    Put(output, ref pos, b);
                    continue;
                }
                throw new AttackFormatException($"{where}: '{token}' is not a hex byte, label, rel8(), rel32(), imm*(), {{target}} or .bundle");
            }
        }
    }

    private static string Argument(string token, string where)
    {
        int open = token.IndexOf('(');
        if (!token.EndsWith(')') || open < 0) throw new AttackFormatException($"{where}: '{token}' needs one argument in parentheses");
        return token[(open + 1)..^1];
    }

    /// <summary>Decimal, 0x hex, or negative decimal (two's complement).</summary>
    public static ulong Number(string s, string where)
    {
        s = s.Replace("_", "");
        if (s.StartsWith('-') && long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long neg)) return unchecked((ulong)neg);
        if (s.StartsWith("0x", StringComparison.OrdinalIgnoreCase) && ulong.TryParse(s.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong h)) return h;
        if (ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out ulong d)) return d;
        throw new AttackFormatException($"{where}: '{s}' is not a number");
    }

    private static void Put(List<byte>? output, ref int pos, byte b)
    {
        output?.Add(b);
        pos++;
    }

    private static void PutLe(List<byte>? output, ref int pos, ulong v, int size)
    {
        for (int k = 0; k < size; k++) Put(output, ref pos, (byte)(v >> (8 * k)));
    }
}
