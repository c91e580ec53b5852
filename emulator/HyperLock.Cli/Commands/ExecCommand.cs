using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using HyperLock.Emulator.Cpu;
using HyperLock.Emulator.Cpu.Execution;
using HyperLock.Emulator.Loaders;

namespace HyperLock.Cli.Commands;

/// <summary>
/// <c>hyperlock exec CODE.bin [--state STATE.json] [--max-steps N]</c>: runs a raw code snippet
/// in the flat 64-bit CPL3 environment and prints the final state as JSON.
/// </summary>
public static class ExecCommand
{
    public const ulong DefaultMaxSteps = 10_000_000;

    private static readonly string[] XmmNames = Enumerable.Range(0, 16).Select(i => $"xmm{i}").ToArray();

    public static int Run(string codePath, string? statePath, string? maxSteps, TextWriter stdout)
    {
        byte[] code = ReadInput(codePath, "code file");
        if (code.Length == 0) throw new UsageException($"{codePath}: the code file is empty");
        ulong steps = maxSteps == null ? DefaultMaxSteps : NumberParser.Parse(maxSteps, "--max-steps");

        using var env = new SnippetEnvironment(code, user: true);
        if (statePath != null) ApplyState(env, statePath);
        var stop = env.Cpu.Run(steps);
        stdout.WriteLine(FormatState(env, stop));
        return stop.Kind == StopKind.InstructionLimit ? 124 : 0;
    }

    private static byte[] ReadInput(string path, string what)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new UsageException($"{path}: cannot read the {what}: {e.Message}");
        }
    }

    /// <summary>Applies a state file: registers by name and scratch preloads.</summary>
    public static void ApplyState(SnippetEnvironment env, string statePath)
    {
        byte[] bytes = ReadInput(statePath, "state file");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(bytes);
        }
        catch (JsonException e)
        {
            throw new UsageException($"{statePath}: not valid JSON ({e.Message})");
        }
        using var _ = doc;
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new UsageException($"{statePath}: the state must be a JSON object");
        var cpu = env.Cpu;
        foreach (var prop in doc.RootElement.EnumerateObject())
        {
            string name = prop.Name;
            int gpr = Array.IndexOf(Reg.Names64, name);
            if (gpr >= 0) cpu.R(gpr) = ParseHex64(prop.Value, name, statePath);
            else if (name == "rip") cpu.Rip = ParseHex64(prop.Value, name, statePath);
            else if (name == "rflags") cpu.SetRflags((ParseHex64(prop.Value, name, statePath) & 0x0CD5) | 0x202);
            else if (Array.IndexOf(XmmNames, name) is var x and >= 0) cpu.X(x) = ParseXmm(prop.Value, name, statePath);
            else if (name == "scratch") ApplyScratch(env, prop.Value, statePath);
            else throw new UsageException($"{statePath}: unknown state field '{name}'");
        }
    }

    private static ulong ParseHex64(JsonElement v, string name, string path)
    {
        if (v.ValueKind == JsonValueKind.String && NumberParser.TryParse(v.GetString()!, out ulong x)
            && v.GetString()!.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
            return x;
        throw new UsageException($"{path}: field '{name}' must be a hex string like \"0x1234\"");
    }

    private static Xmm ParseXmm(JsonElement v, string name, string path)
    {
        string? s = v.ValueKind == JsonValueKind.String ? v.GetString() : null;
        if (s == null || !s.StartsWith("0x", StringComparison.OrdinalIgnoreCase) || s.Length < 3 || s.Length > 34
            || !UInt128.TryParse(s.AsSpan(2), System.Globalization.NumberStyles.AllowHexSpecifier, null, out UInt128 value))
            throw new UsageException($"{path}: field '{name}' must be a 128-bit hex string like \"0x00112233445566778899aabbccddeeff\"");
        return new Xmm((ulong)value, (ulong)(value >> 64));
    }

    private static void ApplyScratch(SnippetEnvironment env, JsonElement list, string path)
    {
        if (list.ValueKind != JsonValueKind.Array) throw new UsageException($"{path}: 'scratch' must be a list of {{offset, hex}}");
        foreach (var item in list.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Object || !item.TryGetProperty("offset", out var off) || !item.TryGetProperty("hex", out var hex))
                throw new UsageException($"{path}: each 'scratch' entry needs 'offset' and 'hex'");
            ulong offset = off.ValueKind == JsonValueKind.Number && off.TryGetUInt64(out ulong o) ? o
                : off.ValueKind == JsonValueKind.String && NumberParser.TryParse(off.GetString()!, out o) ? o
                : throw new UsageException($"{path}: scratch 'offset' must be a number or hex string");
            byte[] data;
            try
            {
                data = Convert.FromHexString((hex.GetString() ?? "").Replace(" ", ""));
            }
            catch (FormatException)
            {
                throw new UsageException($"{path}: scratch 'hex' at offset {offset} is not a hex byte string");
            }
            if (offset + (ulong)data.Length > env.ScratchSize)
                throw new UsageException($"{path}: scratch data at offset {offset} ({data.Length} bytes) runs past the 1 MiB scratch area");
            env.WriteScratch(offset, data);
        }
    }

    /// <summary>The final state as JSON, keys in a fixed order.</summary>
    public static string FormatState(SnippetEnvironment env, StopReason stop)
    {
        var cpu = env.Cpu;
        var sb = new StringBuilder();
        sb.Append("{\n");
        for (int i = 0; i < 16; i++) sb.Append($"  \"{Reg.Names64[i]}\": \"0x{cpu.R(i):x}\",\n");
        sb.Append($"  \"rip\": \"0x{cpu.Rip:x}\",\n");
        sb.Append($"  \"rflags\": \"0x{cpu.GetRflags():x}\",\n");
        for (int i = 0; i < 16; i++)
        {
            UInt128 v = ((UInt128)cpu.X(i).Hi << 64) | cpu.X(i).Lo;
            sb.Append($"  \"xmm{i}\": \"0x{v:x32}\",\n");
        }
        sb.Append($"  \"steps\": {cpu.Retired},\n");
        sb.Append($"  \"stop\": \"{stop}\",\n");
        string sha = Convert.ToHexStringLower(SHA256.HashData(env.ReadScratch()));
        sb.Append($"  \"scratch_sha256\": \"{sha}\"\n");
        sb.Append('}');
        return sb.ToString();
    }
}
