using System.Globalization;

namespace HyperLock.Verifier.Cli;

/// <summary>
/// <c>hyperlock verify FILE [--json] [--gate VECTOR] [--entry OFFSET]...</c>: verify a code
/// image and print the report. Exit status 0 accepted, 1 rejected, 2 unusable input or
/// arguments (one line on stderr, no stack trace). Numbers accept <c>0x</c> hex; offsets also
/// accept K/M/G suffixes.
/// </summary>
public static class VerifyCommand
{
    /// <summary>The usage line.</summary>
    public const string Usage = "usage: verify FILE [--json] [--gate VECTOR] [--entry OFFSET]...";

    /// <summary>The largest image the command reads (a regular file is memory-mapped, not copied).</summary>
    public const long MaxImageSize = 1L << 30;

    /// <summary>Run the command; returns the exit status.</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        string? file = null;
        bool json = false;
        byte gate = VerifierOptions.DefaultGateVector;
        var entries = new List<long>();
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            switch (a)
            {
                case "--json":
                    json = true;
                    break;
                case "--gate":
                    if (++i >= args.Length) return Fail(stderr, "--gate needs a vector");
                    if (!TryParseNumber(args[i], out long g) || g < 0 || g > 255)
                        return Fail(stderr, $"--gate: '{args[i]}' is not a vector 0-255");
                    gate = (byte)g;
                    break;
                case "--entry":
                    if (++i >= args.Length) return Fail(stderr, "--entry needs an offset");
                    if (!TryParseNumber(args[i], out long e) || e < 0)
                        return Fail(stderr, $"--entry: '{args[i]}' is not an offset");
                    entries.Add(e);
                    break;
                case "-h" or "--help":
                    stdout.WriteLine(Usage);
                    return 0;
                default:
                    if (a.StartsWith('-') && a.Length > 1) return Fail(stderr, $"unknown option '{a}'");
                    if (file is not null) return Fail(stderr, "only one FILE may be given");
                    file = a;
                    break;
            }
        }
        if (file is null) return Fail(stderr, Usage);
        InputBytes bytes;
        try
        {
            bytes = InputFile.Map(file, "image", MaxImageSize);
        }
        catch (InputFileException ex)
        {
            return Fail(stderr, ex.Message);
        }
        VerificationResult result;
        using (bytes)
        {
            if (bytes.Length == 0) return Fail(stderr, $"'{file}' is empty");
            result = ImageVerifier.Verify(bytes.Span, new VerifierOptions { GateVector = gate, EntryPoints = entries, KeepValidatedStarts = false });
        }
        string name = Path.GetFileName(file);
        stdout.Write(json ? result.ToJson(name) : result.ToText(name));
        return result.Accepted ? 0 : 1;
    }

    private static int Fail(TextWriter stderr, string message)
    {
        stderr.WriteLine($"verify: {message}");
        return 2;
    }

    /// <summary>Parse decimal (optional K/M/G suffix) or 0x hex.</summary>
    internal static bool TryParseNumber(string s, out long value)
    {
        value = 0;
        s = s.Trim();
        if (s.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
            return s.Length > 2 && long.TryParse(s.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value) && value >= 0;
        long mult = 1;
        if (s.Length > 1)
        {
            mult = char.ToUpperInvariant(s[^1]) switch { 'K' => 1L << 10, 'M' => 1L << 20, 'G' => 1L << 30, _ => 1 };
            if (mult != 1) s = s[..^1];
        }
        if (!long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out value)) return false;
        try { value = checked(value * mult); } catch (OverflowException) { return false; }
        return true;
    }
}
