using System.Globalization;
using System.Text;
using HyperLock.Abi;
using HyperLock.Verifier.Cli;

namespace HyperLock.Runtime.Loading;

/// <summary>
/// The on-disk form of a hypervisor image (docs/runtime.md, "Bring your own hypervisor"): the raw
/// bundled code in one file, loaded at <see cref="ConfinedLayout.Code"/>, and a text manifest
/// beside it (<c>IMAGE.manifest</c>), one <c>key = value</c> per line:
/// <c>dispatch</c> (required), <c>exit.N</c> (entry for basic exit reason N), <c>data</c>,
/// <c>stack</c>; numbers decimal or 0x hex; <c>#</c> starts a comment. Parsing only reads the
/// declaration: the loader verifies the code and the entries.
/// </summary>
public static class HypervisorImageFile
{
    /// <summary>Upper bounds that keep a file from asking the runtime's pool for more than it has.</summary>
    public const long MaxCodeSize = 1 << 20;
    public const ulong MaxDataSize = 1 << 20, MaxStackSize = 1 << 20;
    public const int MaxExitReason = 79;

    /// <summary>The manifest path that goes with <paramref name="imagePath"/>.</summary>
    public static string ManifestPathFor(string imagePath) => imagePath + ".manifest";

    /// <summary>Parses manifest text; <paramref name="source"/> names the file in errors.</summary>
    public static HypervisorManifest ParseManifest(string text, string source)
    {
        long? dispatch = null;
        ulong? data = null, stack = null;
        var exits = new Dictionary<int, long>();
        string[] lines = text.Split('\n');
        for (int n = 0; n < lines.Length; n++)
        {
            string line = lines[n];
            int hash = line.IndexOf('#');
            if (hash >= 0) line = line[..hash];
            line = line.Trim();
            if (line.Length == 0) continue;
            string where = $"{source}:{n + 1}";
            int eq = line.IndexOf('=');
            if (eq < 0) throw new ManifestFormatException($"{where}: expected 'key = value', found '{line}'");
            string key = line[..eq].Trim(), value = line[(eq + 1)..].Trim();
            if (!TryNumber(value, out ulong v)) throw new ManifestFormatException($"{where}: '{value}' is not a number (decimal or 0x hex)");
            switch (key)
            {
                case "dispatch":
                    if (dispatch is not null) throw new ManifestFormatException($"{where}: dispatch given twice");
                    dispatch = Offset(v, where);
                    break;
                case "data":
                    if (data is not null) throw new ManifestFormatException($"{where}: data given twice");
                    if (v < ConfinedLayout.GuestRegistersSize || v > MaxDataSize) throw new ManifestFormatException($"{where}: data must be {ConfinedLayout.GuestRegistersSize}..0x{MaxDataSize:x} bytes");
                    data = v;
                    break;
                case "stack":
                    if (stack is not null) throw new ManifestFormatException($"{where}: stack given twice");
                    if (v == 0 || v > MaxStackSize) throw new ManifestFormatException($"{where}: stack must be 1..0x{MaxStackSize:x} bytes");
                    stack = v;
                    break;
                default:
                    if (!key.StartsWith("exit.", StringComparison.Ordinal)
                        || !int.TryParse(key.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out int reason) || reason > MaxExitReason)
                        throw new ManifestFormatException($"{where}: unknown key '{key}' (dispatch, exit.N with N 0..{MaxExitReason}, data, stack)");
                    if (!exits.TryAdd(reason, Offset(v, where))) throw new ManifestFormatException($"{where}: exit.{reason} given twice");
                    break;
            }
        }
        if (dispatch is null) throw new ManifestFormatException($"{source}: no 'dispatch = OFFSET' line");
        var m = new HypervisorManifest { DispatchEntry = dispatch.Value, ExitEntries = exits };
        return m with { DataSize = data ?? m.DataSize, StackSize = stack ?? m.StackSize };
    }

    /// <summary>The manifest as <see cref="ParseManifest"/> reads it.</summary>
    public static string FormatManifest(HypervisorManifest m)
    {
        var sb = new StringBuilder("# hyperlock hypervisor manifest (docs/runtime.md, \"Bring your own hypervisor\")\n");
        sb.Append(CultureInfo.InvariantCulture, $"dispatch = 0x{m.DispatchEntry:x}\n");
        foreach (var (reason, entry) in m.ExitEntries.OrderBy(e => e.Key)) sb.Append(CultureInfo.InvariantCulture, $"exit.{reason} = 0x{entry:x}\n");
        sb.Append(CultureInfo.InvariantCulture, $"data = 0x{m.DataSize:x}\n");
        sb.Append(CultureInfo.InvariantCulture, $"stack = 0x{m.StackSize:x}\n");
        return sb.ToString();
    }

    /// <summary>An image from its code bytes and manifest text (nothing verified yet).</summary>
    public static HypervisorImage FromParts(byte[] code, string manifestText, string source)
    {
        if (code.Length == 0) throw new ManifestFormatException($"{source}: the image is empty");
        if (code.Length > MaxCodeSize) throw new ManifestFormatException($"{source}: the image is larger than 0x{MaxCodeSize:x} bytes");
        return new HypervisorImage(code, ParseManifest(manifestText, ManifestPathFor(source)));
    }

    /// <summary>Reads <paramref name="imagePath"/> and its manifest (<paramref name="manifestPath"/>, default <c>IMAGE.manifest</c>).</summary>
    public static HypervisorImage Read(string imagePath, string? manifestPath = null)
    {
        manifestPath ??= ManifestPathFor(imagePath);
        byte[] code = ReadBytes(imagePath, "hypervisor image", MaxCodeSize);
        string text = Encoding.UTF8.GetString(ReadBytes(manifestPath, "manifest", 64 * 1024));
        if (code.Length == 0) throw new ManifestFormatException($"{imagePath}: the image is empty");
        return new HypervisorImage(code, ParseManifest(text, manifestPath));
    }

    /// <summary>Writes the code to <paramref name="imagePath"/> and the manifest beside it; returns the manifest's path.</summary>
    public static string Write(HypervisorImage image, string imagePath)
    {
        File.WriteAllBytes(imagePath, image.Code);
        string manifestPath = ManifestPathFor(imagePath);
        File.WriteAllText(manifestPath, FormatManifest(image.Manifest));
        return manifestPath;
    }

    private static byte[] ReadBytes(string path, string what, long limit)
    {
        if (!File.Exists(path)) throw new ManifestFormatException($"{path}: no such file");
        try
        {
            return InputFile.ReadAll(path, what, limit); // bounded: a device or FIFO may never end
        }
        catch (InputFileException e)
        {
            throw new ManifestFormatException(e.Message);
        }
    }

    private static long Offset(ulong v, string where) =>
        v <= (ulong)MaxCodeSize ? (long)v : throw new ManifestFormatException($"{where}: offset 0x{v:x} is beyond any image");

    private static bool TryNumber(string s, out ulong v)
    {
        s = s.Replace("_", "");
        return s.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? ulong.TryParse(s.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out v)
            : ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out v);
    }
}
