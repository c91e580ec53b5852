using System.Globalization;
using System.Text.Json;
using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Loaders;
using HyperLock.Verifier.Cli;

namespace HyperLock.Cli.Commands;

/// <summary>
/// The <c>--state</c> file of <c>hyperlock exec</c>: a JSON object with registers by name
/// (<c>rax</c>…<c>r15</c>, <c>rip</c>, <c>rflags</c>, <c>xmm0</c>…<c>xmm15</c>) and
/// <c>scratch</c>, a list of <c>{"offset": N, "hex": "0011…"}</c> preloads. A value is a JSON
/// number (decimal) or a string of hex digits, with or without <c>0x</c>. Keys beginning with
/// <c>_</c> are comments and ignored; any other unknown key is an error.
/// </summary>
public static class ExecStateFile
{
    /// <summary>The largest state file read (a full scratch preload is 2 MiB of hex).</summary>
    public const long MaxSize = 16L << 20;

    private static readonly string[] XmmNames = Enumerable.Range(0, 16).Select(i => $"xmm{i}").ToArray();

    /// <summary>Applies the state file at <paramref name="path"/> to the environment.</summary>
    public static void Apply(SnippetEnvironment env, string path)
    {
        byte[] bytes = CliInput.Read(path, "state file", MaxSize);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(bytes);
        }
        catch (JsonException e)
        {
            throw new UsageException($"{path}: not valid JSON ({InputFile.FirstLine(e.Message)})");
        }
        using var _ = doc;
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new UsageException($"{path}: the state must be a JSON object");
        var cpu = env.Cpu;
        foreach (var prop in doc.RootElement.EnumerateObject())
        {
            string name = prop.Name;
            if (name.StartsWith('_')) continue;
            int gpr = Array.IndexOf(Reg.Names64, name);
            if (gpr >= 0) cpu.R(gpr) = Number64(prop.Value, $"field '{name}'", path);
            else if (name == "rip") cpu.Rip = Number64(prop.Value, "field 'rip'", path);
            else if (name == "rflags") cpu.SetRflags((Number64(prop.Value, "field 'rflags'", path) & 0x0CD5) | 0x202);
            else if (Array.IndexOf(XmmNames, name) is var x and >= 0) cpu.X(x) = Number128(prop.Value, name, path);
            else if (name == "scratch") ApplyScratch(env, prop.Value, path);
            else throw new UsageException($"{path}: unknown state field '{name}' (keys starting with '_' are comments)");
        }
    }

    /// <summary>A 64-bit value: a JSON number, or a hex string with or without 0x.</summary>
    private static ulong Number64(JsonElement v, string what, string path)
    {
        if (v.ValueKind == JsonValueKind.Number && v.TryGetUInt64(out ulong n)) return n;
        if (v.ValueKind == JsonValueKind.String && TryHex(v.GetString()!, 16, out UInt128 h)) return (ulong)h;
        throw new UsageException($"{path}: {what} must be a number from 0 to 2^64-1 or a hex string like \"0x1234\"");
    }

    private static Xmm Number128(JsonElement v, string name, string path)
    {
        UInt128 value;
        if (v.ValueKind == JsonValueKind.Number && v.TryGetUInt64(out ulong n)) value = n;
        else if (v.ValueKind != JsonValueKind.String || !TryHex(v.GetString()!, 32, out value))
            throw new UsageException($"{path}: field '{name}' must be a 128-bit hex string like \"0x00112233445566778899aabbccddeeff\"");
        return new Xmm((ulong)value, (ulong)(value >> 64));
    }

    /// <summary>1 to <paramref name="maxDigits"/> hex digits, with or without a 0x prefix.</summary>
    private static bool TryHex(string s, int maxDigits, out UInt128 value)
    {
        value = 0;
        var digits = s.AsSpan().Trim();
        if (digits.StartsWith("0x", StringComparison.OrdinalIgnoreCase)) digits = digits[2..];
        return digits.Length is > 0 && digits.Length <= maxDigits
            && UInt128.TryParse(digits, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
    }

    private static void ApplyScratch(SnippetEnvironment env, JsonElement list, string path)
    {
        const string Shape = "'scratch' must be a list of {\"offset\": N, \"hex\": \"0011...\"}";
        if (list.ValueKind != JsonValueKind.Array) throw new UsageException($"{path}: {Shape}");
        foreach (var item in list.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Object) throw new UsageException($"{path}: {Shape}");
            JsonElement? off = null, hex = null;
            foreach (var p in item.EnumerateObject())
            {
                if (p.Name == "offset") off = p.Value;
                else if (p.Name == "hex") hex = p.Value;
                else if (!p.Name.StartsWith('_')) throw new UsageException($"{path}: unknown scratch field '{p.Name}'");
            }
            if (off is not { } o || hex is not { } h) throw new UsageException($"{path}: each 'scratch' entry needs 'offset' and 'hex'");
            ulong offset = Number64(o, "scratch 'offset'", path);
            if (h.ValueKind != JsonValueKind.String)
                throw new UsageException($"{path}: scratch 'hex' at offset 0x{offset:x} must be a string of hex byte pairs");
            byte[] data;
            try
            {
                data = Convert.FromHexString(h.GetString()!.Replace(" ", ""));
            }
            catch (FormatException)
            {
                throw new UsageException($"{path}: scratch 'hex' at offset 0x{offset:x} is not a hex byte string");
            }
            // Compared without adding, so that an offset near 2^64 cannot wrap past the check.
            if (offset > env.ScratchSize || (ulong)data.Length > env.ScratchSize - offset)
                throw new UsageException($"{path}: scratch data at offset 0x{offset:x} ({data.Length} bytes) runs past the {env.ScratchSize >> 20} MiB scratch area");
            env.WriteScratch(offset, data);
        }
    }
}
