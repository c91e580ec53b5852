using HyperLock.Toolchain;
using Snapshooter.Xunit;
using Xunit;

namespace HyperLock.Verifier.Tests;

/// <summary>Snapshots of the text people read: the verifier's reports and the rewriter's report.</summary>
public class SnapshotTests
{
    /// <summary>One image that breaks every rule once.</summary>
    internal static byte[] EveryRuleImage()
    {
        var hex =
            "EB01" + "4889C3" /* jmp into the middle of the mov (rule 2) */ + "C3" /* ret (5) */ + "FA" /* cli (6) */ +
            "FFE0" /* bare jmp rax (4) */ + "B8166C00000F79C3" /* vmwrite host RIP (7) */ + "909090909090909090909090" +
            "E8DEFFFFFF" /* call at 0x1d crosses the bundle end (1) and ends off-boundary (3) */;
        var bytes = Convert.FromHexString(hex).ToList();
        while (bytes.Count % 32 != 0) bytes.Add(0x90);
        return [.. bytes];
    }

    [Fact]
    public void RejectionReport()
    {
        var r = ImageVerifier.Verify(EveryRuleImage(), new VerifierOptions { EntryPoints = [0, 5] });
        Snapshot.Match(r.ToText("every-rule.bin"));
    }

    [Fact]
    public void RejectionReportJson()
    {
        var r = ImageVerifier.Verify(EveryRuleImage(), new VerifierOptions { EntryPoints = [0, 5] });
        Snapshot.Match(r.ToJson("every-rule.bin"));
    }

    [Fact]
    public void AcceptanceReport()
    {
        var img = SyntheticProgram.Build(3, 1024);
        Snapshot.Match(img.Verification.ToText("synthetic.bin"));
    }

    [Fact]
    public void RewriterProblemReport()
    {
        var code = Convert.FromHexString("EB01" + "B80F059090" + "FA" + "B8166C00000F79C3" + "CD80" + "0F22D8" + "C3");
        Snapshot.Match(Rewriter.Rewrite(code, [0, 2]).ToText());
    }
}
