using System.Text.RegularExpressions;
using FsCheck;
using FsCheck.Fluent;
using HyperLock.Abi;
using HyperLock.Verifier;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.Runtime.Tests.Properties;

/// <summary>
/// The VMCS policy over every field encoding (issue 12 item 4): for each of the 2^15 encodings
/// and both directions, the verifier accepts <c>mov edx, field; vmread rax, rdx</c> (or
/// <c>vmwrite rdx, rax</c>) exactly when the documented allow-table (docs/verifier.md, "VMCS field
/// policy") lists the field with that right, and every row of that table agrees with the rule its
/// prose states, restated here from the encoding's type bits. Random 32-bit values (bits above
/// 15 set) are never accepted.
/// </summary>
public partial class VmcsPolicyProperties
{
    private static readonly Dictionary<uint, (bool Read, bool Write)> Documented = ReadDocumentedTable();

    /// <summary>The rule as docs/verifier.md's prose states it, from the encoding alone (SDM Vol. 3 App. B: bits 11:10 = type).</summary>
    private static (bool Read, bool Write) ProseRule(uint encoding)
    {
        uint full = ((encoding >> 13) & 3) == 1 ? encoding & ~1u : encoding; // 64-bit fields: the high access has the full field's rights
        if (full is 0x4016 or 0x4018 or 0x401A) return (true, true); // VM-entry event injection
        if (full is 0x2800 or 0x0812) return (false, false);          // VMCS link pointer, PML index: runtime-only
        return ((encoding >> 10) & 3) switch
        {
            2 => (true, true),   // guest state
            1 => (true, false),  // read-only data, exit information
            _ => (false, false), // controls, host state
        };
    }

    [Fact]
    public void EveryRowOfTheDocumentedTableFollowsItsProseAndTheAbiTable()
    {
        Assert.Equal(VmcsFieldTable.Fields.Count, Documented.Count);
        foreach (var (encoding, rights) in Documented)
        {
            Assert.Equal(ProseRule(encoding), rights);
            Assert.Equal(rights, (VmcsFieldTable.MayRead(encoding), VmcsFieldTable.MayWrite(encoding)));
        }
    }

    [Fact]
    public void TheVerifierAcceptsAVmcsAccessExactlyWhenTheTableAllowsItForEveryEncodingAndDirection()
    {
        byte[] read = Bundle(a => a.vmread(rax, rdx)), write = Bundle(a => a.vmwrite(rdx, rax));
        var mismatches = new List<string>();
        int acceptedReads = 0, acceptedWrites = 0;
        for (uint encoding = 0; encoding < 0x8000; encoding++)
        {
            var rights = Documented.GetValueOrDefault(encoding);
            bool r = Accepted(read, encoding), w = Accepted(write, encoding);
            if (r != rights.Read) mismatches.Add($"vmread 0x{encoding:x4}: verifier {r}, table {rights.Read}");
            if (w != rights.Write) mismatches.Add($"vmwrite 0x{encoding:x4}: verifier {w}, table {rights.Write}");
            if (r) acceptedReads++;
            if (w) acceptedWrites++;
        }
        Assert.Empty(mismatches);
        Assert.Equal(Documented.Count(d => d.Value.Read), acceptedReads);
        Assert.Equal(Documented.Count(d => d.Value.Write), acceptedWrites);
        Assert.True(acceptedWrites > 0 && acceptedReads > acceptedWrites);
    }

    [Fact]
    public void EncodingsWithHighBitsAreNeverAccepted()
    {
        byte[] read = Bundle(a => a.vmread(rax, rdx)), write = Bundle(a => a.vmwrite(rdx, rax));
        PropertyRuns.Check(nameof(EncodingsWithHighBitsAreNeverAccepted), 2000,
            Prop.ForAll(Gen.Choose(1, int.MaxValue).Select(x => (uint)x << 1 | 0x8000u).ToArbitrary(), field =>
                (!Accepted(read, field) && !Accepted(write, field)).Label($"0x{field:x}")));
    }

    private static bool Accepted(byte[] template, uint field)
    {
        var image = (byte[])template.Clone();
        BitConverter.GetBytes(field).CopyTo(image, 1); // mov edx, imm32: BA + imm32
        return ImageVerifier.IsAccepted(image, new VerifierOptions { GateVector = ServiceRegisters.GateVector });
    }

    /// <summary>One bundle: <c>mov edx, imm32</c>, the VMX instruction, NOP padding.</summary>
    private static byte[] Bundle(Action<Assembler> vmx)
    {
        var bytes = TestGuests.Assemble(0, a =>
        {
            a.mov(edx, 0x1234_5678u);
            vmx(a);
        }).ToList();
        Assert.Equal(0xBA, bytes[0]);
        while (bytes.Count < 32) bytes.Add(0x90);
        return bytes.ToArray();
    }

    [GeneratedRegex(@"^\| `0x([0-9a-f]{4})` \| [^|]+ \| \w+ \| (yes|no) \| (yes|no) \|$")]
    private static partial Regex Row();

    private static Dictionary<uint, (bool, bool)> ReadDocumentedTable()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "HyperLock.sln"))) dir = dir.Parent;
        var lines = File.ReadAllLines(Path.Combine(dir!.FullName, "docs", "verifier.md"));
        int start = Array.FindIndex(lines, l => l.StartsWith("<!-- BEGIN GENERATED: vmcs-policy", StringComparison.Ordinal));
        var table = new Dictionary<uint, (bool, bool)>();
        for (int k = start + 1; k < lines.Length && !lines[k].StartsWith("<!-- END", StringComparison.Ordinal); k++)
        {
            var m = Row().Match(lines[k]);
            if (m.Success) table.Add(Convert.ToUInt32(m.Groups[1].Value, 16), (m.Groups[2].Value == "yes", m.Groups[3].Value == "yes"));
        }
        return table;
    }
}
