using System.Globalization;
using System.Text;
using System.Text.Json;

namespace HyperLock.Verifier;

/// <summary>The verifier's verdict on one image: accepted, or the findings that reject it.</summary>
public sealed class VerificationResult
{
    internal VerificationResult(int size, byte gateVector, IReadOnlyList<Finding> findings, bool truncated,
        InstructionStartSet validatedStarts)
    {
        ValidatedStarts = validatedStarts;
        Size = size;
        GateVector = gateVector;
        Findings = findings.OrderBy(f => f.Offset).ThenBy(f => f.Rule).ToArray();
        Truncated = truncated;
    }

    /// <summary>True when the image satisfies every rule.</summary>
    public bool Accepted => Findings.Count == 0;

    /// <summary>Image size in bytes.</summary>
    public int Size { get; }

    /// <summary>The gate vector the image was checked against.</summary>
    public byte GateVector { get; }

    /// <summary>The findings, by offset then rule.</summary>
    public IReadOnlyList<Finding> Findings { get; }

    /// <summary>True when verification stopped at <see cref="VerifierOptions.MaxFindings"/> findings.</summary>
    public bool Truncated { get; }

    /// <summary>
    /// The validated instruction starts of an accepted image (where control may enter);
    /// empty when the image is rejected.
    /// </summary>
    public InstructionStartSet ValidatedStarts { get; }

    /// <summary>The report for people.</summary>
    public string ToText(string name = "image")
    {
        var sb = new StringBuilder();
        int bundles = (Size + 31) / 32;
        if (Accepted)
        {
            sb.Append(CultureInfo.InvariantCulture, $"{name}: ACCEPTED ({Size} bytes, {bundles} bundles, gate int 0x{GateVector:x2})\n");
            return sb.ToString();
        }
        sb.Append(CultureInfo.InvariantCulture,
            $"{name}: REJECTED, {Findings.Count} finding{(Findings.Count == 1 ? "" : "s")}{(Truncated ? " (stopped early)" : "")} ({Size} bytes, {bundles} bundles, gate int 0x{GateVector:x2})\n");
        foreach (var f in Findings)
        {
            sb.Append(CultureInfo.InvariantCulture, $"  0x{f.Offset:x8}  rule {(int)f.Rule}: {f.Detail}\n");
            if (f.Instruction.Length > 0) sb.Append(CultureInfo.InvariantCulture, $"              {f.Instruction}\n");
            sb.Append(CultureInfo.InvariantCulture, $"              ({f.RuleText})\n");
        }
        return sb.ToString();
    }

    /// <summary>The report as JSON (one object; findings as an array).</summary>
    public string ToJson(string? name = null)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            if (name is not null) w.WriteString("file", name);
            w.WriteBoolean("accepted", Accepted);
            w.WriteNumber("size", Size);
            w.WriteNumber("bundles", (Size + 31) / 32);
            w.WriteString("gateVector", $"0x{GateVector:x2}");
            w.WriteBoolean("truncated", Truncated);
            w.WriteStartArray("findings");
            foreach (var f in Findings)
            {
                w.WriteStartObject();
                w.WriteNumber("offset", f.Offset);
                w.WriteString("offsetHex", $"0x{f.Offset:x}");
                w.WriteNumber("rule", (int)f.Rule);
                w.WriteString("ruleText", f.RuleText);
                w.WriteString("detail", f.Detail);
                w.WriteString("instruction", f.Instruction);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }
}
