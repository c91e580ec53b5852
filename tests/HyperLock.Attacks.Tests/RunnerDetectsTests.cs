using HyperLock.Cli;
using HyperLock.Cli.Commands;

namespace HyperLock.Attacks.Tests;

/// <summary>The runner's verdicts can fail: a wrong expectation is reported, a changed party is reported as an escape, the command exits 1.</summary>
public class RunnerDetectsTests
{
    private static AttackResult Run(string text) => new AttackRunner().Run(AttackCaseParser.Parse(text, "test.attack"));

    [Fact]
    public void AnOutcomeOtherThanTheExpectedOneIsUnexpected()
    {
        var r = Run("tries: ud2\nmust: x\nexpect: contained #PF\nhypervisor:\n  0f 0b eb fe .bundle\n");
        Assert.Equal(AttackVerdict.Unexpected, r.Verdict);
        Assert.Equal(6, r.Runs[0].Vector);
        Assert.Contains("UNEXPECTED", AttackTable.Format([r], maskTimings: true));
    }

    [Fact]
    public void AnAcceptedImageExpectedToBeRejectedIsUnexpected()
    {
        var r = Run("tries: x\nmust: x\nexpect: rejected 6\nhypervisor:\n  eb fe .bundle\n");
        Assert.Equal(AttackVerdict.Unexpected, r.Verdict);
        Assert.Equal(ExpectKind.Contained, r.Runs[0].Kind); // it ran, and the budget stopped it
    }

    [Fact]
    public void AChangeToTheRuntimesPageTablesIsSeenAsAnEscape()
    {
        // MapGfnToPfn of the guest's own frame 0x10 is allowed: it adds a mapping to the attacker's page
        // tables, which the runner counts as runtime memory the attacker must not change. That legitimate
        // change stands in for an escape here: the hashes notice it.
        var r = Run("tries: x\nmust: x\nexpect: finished 0\nhypervisor:\n"
            + "  bf imm32(0x10) 41 bb imm32(2) cd 82 .bundle\n  31 ff 41 bb imm32(16) cd 82 eb fe .bundle\n");
        Assert.Equal(AttackVerdict.Escaped, r.Verdict);
        Assert.Contains("attacker's page tables", r.Runs[0].ChangedParties);
        Assert.Contains("CHANGED: attacker's page tables", r.Observed);
    }

    [Fact]
    public void TheCommandExitsOneWhenAnAttackIsNotStoppedAsExpected()
    {
        string dir = AttackSuiteTests.TempDir();
        File.WriteAllText(Path.Combine(dir, "wrong.attack"), "tries: ud2\nmust: x\nexpect: contained #GP\nhypervisor:\n  0f 0b eb fe .bundle\n");
        var stdout = new StringWriter();
        Assert.Equal(1, AttackCommand.Run([dir], verbose: false, stdout, new StringWriter()));
        Assert.Contains("0 stopped", stdout.ToString());
    }

    [Theory]
    [InlineData("must: x\nexpect: contained #PF\nhypervisor:\n  eb fe\n", "test.attack: missing 'tries:'")]
    [InlineData("tries: x\nmust: x\nexpect: contained #XX\nhypervisor:\n  eb fe\n", "test.attack:3: unknown containment '#XX'")]
    [InlineData("tries: x\nmust: x\nexpect: rejected 9\nhypervisor:\n  eb fe\n", "test.attack:3: 'rejected' takes a rule number")]
    [InlineData("tries: x\nmust: x\nexpect: finished 0\nhypervisor:\n  eb zz\n", "test.attack:5: 'zz' is not a hex byte")]
    [InlineData("tries: x\nmust: x\nexpect: finished 0\nhypervisor:\n  eb rel8(nowhere)\n", "test.attack:5: unknown label 'nowhere'")]
    [InlineData("tries: x\nmust: x\nexpect: finished 0\nhypervisor:\n  48 b8 {target}\n", "test.attack: the code uses {target} but there is no 'targets:' line")]
    [InlineData("tries: x\nmust: x\nexpect: finished 0\nfoo: 1\n", "test.attack:4: unknown key 'foo'")]
    [InlineData("tries: x\nmust: x\nexpect: finished 0\nhypervisor: minikvm\ntargets: nowhere-at-all\nguest:\n  48 b8 {target}\n", "test.attack: 'nowhere-at-all' is not a number")]
    public void ABadCaseIsOneLineNamingFileAndLine(string text, string message)
    {
        var e = Assert.ThrowsAny<AttackFormatException>(() => Run(text));
        Assert.StartsWith(message, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void ACommandArgumentThatIsNoCaseIsAUsageError()
    {
        var e = Assert.Throws<UsageException>(() => AttackCommand.Run(["/no/such/case.attack"], false, new StringWriter(), new StringWriter()));
        Assert.Equal("/no/such/case.attack: no such file or folder", e.Message);
    }

    [Fact]
    public void AnEndlessCaseFileIsRefusedAtTheSizeLimit()
    {
        // /dev/zero reports length 0 and never ends: it used to be read whole (out of memory).
        var e = Assert.Throws<UsageException>(() => AttackCommand.Run(["/dev/zero"], false, new StringWriter(), new StringWriter()));
        Assert.Equal("/dev/zero: the attack case is larger than the 1 MiB limit", e.Message);
    }

    [Fact]
    public void HexCodeHasLabelsRelativeBranchesImmediatesAndBundlePadding()
    {
        var lines = new[] { "  start: 90 eb rel8(start)", "  imm16(0x1234) imm32(-2) {target32} .bundle", "  e9 rel32(start)" }
            .Select((t, k) => new HexCode.Line(k + 1, t)).ToList();
        byte[] b = HexCode.Assemble(lines, "t", target: 0xAABBCCDD);
        Assert.Equal(new byte[] { 0x90, 0xEB, 0xFD, 0x34, 0x12, 0xFE, 0xFF, 0xFF, 0xFF, 0xDD, 0xCC, 0xBB, 0xAA }, b[..13]);
        Assert.All(b[13..32], x => Assert.Equal(0x90, x));
        Assert.Equal(new byte[] { 0xE9, 0xDB, 0xFF, 0xFF, 0xFF }, b[32..]); // back to 0 from 37
    }
}
