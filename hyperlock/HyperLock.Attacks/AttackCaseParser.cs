using System.Text;
using HyperLock.Verifier.Cli;

namespace HyperLock.Attacks;

/// <summary>
/// Reads case files: <c>key: value</c> lines; a key with no value takes the indented lines after
/// it as a block (code, manifest); lines starting with <c>#</c> outside blocks are comments.
/// Keys: name, tries, must, expect, hypervisor, manifest, guest, targets.
/// </summary>
public static class AttackCaseParser
{
    public const string DefaultManifest = "dispatch = 0\ndata = 0x1000\nstack = 0x2000\n";
    private static readonly string[] Keys = ["name", "tries", "must", "expect", "hypervisor", "manifest", "guest", "targets"];

    public static AttackCase ParseFile(string path)
    {
        if (!File.Exists(path)) throw new AttackFormatException($"{path}: no such file");
        string text;
        try
        {
            text = Encoding.UTF8.GetString(InputFile.ReadAll(path, "attack case", 1 << 20)); // bounded: a device or FIFO may never end
        }
        catch (InputFileException e)
        {
            throw new AttackFormatException(e.Message);
        }
        return Parse(text, path);
    }

    public static AttackCase Parse(string text, string source)
    {
        var values = new Dictionary<string, (int Line, string Value, List<HexCode.Line> Block)>(StringComparer.Ordinal);
        string[] lines = text.Replace("\r\n", "\n").Split('\n');
        string? openBlock = null;
        for (int n = 0; n < lines.Length; n++)
        {
            string line = lines[n];
            if (line.Length > 0 && char.IsWhiteSpace(line[0]))
            {
                if (line.Trim().Length == 0) continue;
                if (openBlock is null) throw new AttackFormatException($"{source}:{n + 1}: indented line outside a block");
                values[openBlock].Block.Add(new HexCode.Line(n + 1, line));
                continue;
            }
            openBlock = null;
            if (line.Trim().Length == 0 || line.TrimStart().StartsWith('#')) continue;
            int colon = line.IndexOf(':');
            if (colon < 0) throw new AttackFormatException($"{source}:{n + 1}: expected 'key: value', found '{line.Trim()}'");
            string key = line[..colon].Trim(), value = line[(colon + 1)..].Trim();
            if (!Keys.Contains(key)) throw new AttackFormatException($"{source}:{n + 1}: unknown key '{key}' ({string.Join(", ", Keys)})");
            if (values.ContainsKey(key)) throw new AttackFormatException($"{source}:{n + 1}: '{key}' given twice");
            values[key] = (n + 1, value, new List<HexCode.Line>());
            if (value.Length == 0 || key == "hypervisor" && value == "hex" || key == "guest" && value == "hex") openBlock = key;
        }

        string Required(string key) => values.TryGetValue(key, out var v) && v.Value.Length > 0 ? v.Value
            : throw new AttackFormatException($"{source}: missing '{key}:'");
        string At(string key) => $"{source}:{values[key].Line}";

        string name = values.TryGetValue("name", out var nm) && nm.Value.Length > 0 ? nm.Value : Path.GetFileNameWithoutExtension(source);
        var expect = Expectation.Parse(Required("expect"), At("expect"));

        if (!values.TryGetValue("hypervisor", out var hv)) throw new AttackFormatException($"{source}: missing 'hypervisor:'");
        HypervisorKind hk;
        string? hvPath = null;
        switch (hv.Value)
        {
            case "" or "hex":
                hk = HypervisorKind.Hex;
                if (hv.Block.Count == 0) throw new AttackFormatException($"{At("hypervisor")}: no code lines after 'hypervisor:'");
                break;
            case "minikvm": hk = HypervisorKind.MiniKvm; break;
            case "minikvm-vulnerable": hk = HypervisorKind.MiniKvmVulnerable; break;
            default:
                if (!hv.Value.StartsWith("file ", StringComparison.Ordinal))
                    throw new AttackFormatException($"{At("hypervisor")}: hypervisor is a code block, 'minikvm', 'minikvm-vulnerable' or 'file PATH'");
                hk = HypervisorKind.File;
                hvPath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(source)) ?? ".", hv.Value[5..].Trim());
                break;
        }
        string manifest = DefaultManifest;
        if (values.TryGetValue("manifest", out var mf))
        {
            if (hk is not HypervisorKind.Hex) throw new AttackFormatException($"{At("manifest")}: a manifest block goes with a code block (built-in and file hypervisors bring theirs)");
            manifest = string.Join('\n', mf.Block.Select(l => l.Text.Trim())) + "\n";
        }

        GuestKind gk = GuestKind.Exits;
        var guestCode = new List<HexCode.Line>();
        if (values.TryGetValue("guest", out var g))
        {
            if (g.Value is "" or "hex")
            {
                gk = GuestKind.Hex;
                guestCode = g.Block;
                if (guestCode.Count == 0) throw new AttackFormatException($"{At("guest")}: no code lines after 'guest:'");
            }
            else if (g.Value != "exits") throw new AttackFormatException($"{At("guest")}: guest is a code block or 'exits'");
        }

        var targets = values.TryGetValue("targets", out var t)
            ? t.Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList()
            : new List<string>();
        bool usesTarget = HexCode.UsesTarget(hv.Block) || HexCode.UsesTarget(guestCode);
        if (usesTarget && targets.Count == 0) throw new AttackFormatException($"{source}: the code uses {{target}} but there is no 'targets:' line");
        if (!usesTarget && targets.Count > 0) throw new AttackFormatException($"{At("targets")}: 'targets:' given but no code uses {{target}}");

        return new AttackCase(name, source, Required("tries"), Required("must"), expect, hk, hv.Block, hvPath, manifest, gk, guestCode, targets);
    }
}
