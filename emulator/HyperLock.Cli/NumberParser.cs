using System.Globalization;

namespace HyperLock.Cli;

/// <summary>Command-line numbers: decimal or 0x hex, with optional K/M/G (binary) suffixes for sizes.</summary>
public static class NumberParser
{
    public static bool TryParse(string text, out ulong value)
    {
        value = 0;
        string s = text.Trim().Replace("_", "");
        if (s.Length == 0) return false;
        ulong multiplier = 1;
        char last = char.ToUpperInvariant(s[^1]);
        bool hex = s.StartsWith("0x", StringComparison.OrdinalIgnoreCase);
        if (!hex || last is 'K' or 'M' or 'G')
        {
            multiplier = last switch { 'K' => 1UL << 10, 'M' => 1UL << 20, 'G' => 1UL << 30, _ => 1 };
            if (multiplier != 1) s = s[..^1];
        }
        bool ok = hex
            ? ulong.TryParse(s.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong v)
            : ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out v);
        if (!ok) return false;
        value = v * multiplier;
        return multiplier == 1 || value / multiplier == v;
    }

    /// <summary>Parses or throws a <see cref="UsageException"/> naming the option.</summary>
    public static ulong Parse(string text, string what)
    {
        if (!TryParse(text, out ulong v))
            throw new UsageException($"{what}: '{text}' is not a number (decimal or 0x hex, optional K/M/G suffix)");
        return v;
    }
}
