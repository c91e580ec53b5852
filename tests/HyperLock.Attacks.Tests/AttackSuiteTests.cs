using HyperLock.Cli.Commands;
using Snapshooter.Xunit;

namespace HyperLock.Attacks.Tests;

/// <summary>
/// Issue 12 items 2, 3: every built-in attack ends as its case file says (rejected by the verifier
/// with the named rule, contained with the named vector, or refused by a service) and nothing
/// escapes: the host, the other instance and the other guest are unchanged and the other guest
/// finishes correctly.
/// </summary>
public class AttackSuiteTests
{
    [Theory]
    [MemberData(nameof(BuiltInSuite.CaseNames), MemberType = typeof(BuiltInSuite))]
    public void TheBuiltInAttackIsStoppedAsItsCaseExpects(string caseFile)
    {
        var r = BuiltInSuite.Result(caseFile);
        Assert.NotEmpty(r.Runs);
        foreach (var run in r.Runs)
        {
            Assert.True(run.MatchesExpectation, $"{caseFile} [{run.Target?.Name}]: wanted '{r.Case.Expect.Text}', got {run.StoppedBy}: {run.Detail}");
            Assert.True(run.Contained, $"{caseFile} [{run.Target?.Name}]: changed {string.Join(", ", run.ChangedParties)}; other guest ok: {run.OtherGuestOk}");
            if (run.Ran)
            {
                Assert.True(run.Parties >= 11, "every party was hashed");
                Assert.True(run.OtherGuestOk);
            }
        }
        Assert.Equal(AttackVerdict.Stopped, r.Verdict);
    }

    [Fact]
    public void TheSuiteHasEveryAttackIssue12Names()
    {
        string[] required =
        [
            "privileged-instruction", "hidden-instruction", "unmasked-indirect-jump", "ret", "trampoline-past-int3", "jump-scan",
            "vmwrite-host-rip", "vmwrite-host-cr3", "vmwrite-eptp", "vmwrite-exec-control", "control-write-forbidden-bit",
            "ept-update-host-memory", "ept-update-other-guest", "map-gfn-outside-guest", "read-host-memory", "write-host-memory",
            "read-runtime-page-tables", "write-runtime-page-tables", "read-other-instance", "write-other-instance", "corrupted-return",
            "endless-loop", "raise-pf", "raise-gp", "raise-de", "raise-ud", "double-fault-attempt", "device-rpc-other-guest",
            "minikvm-hijack-loop", "minikvm-hijack-to-host", "minikvm-hijack-to-shellcode",
        ];
        var names = BuiltInSuite.CaseNames().Select(o => Path.GetFileNameWithoutExtension((string)o[0])).ToHashSet();
        Assert.All(required, n => Assert.Contains(n, names));
    }

    [Fact]
    public void TheJumpScanCoversEveryAlignedAddressOfEveryMappedPageOutsideTheImage()
    {
        var r = BuiltInSuite.Result("jump-scan.attack");
        var mapped = r.Runs.Where(x => x.Target!.Name == "mapped").Select(x => x.Target!.Value).ToList();
        // data (1 page), stack (2), GDT/IDT/TSS (3), IST (2) and the trampoline's pages: 128 addresses a page.
        Assert.Equal(0, mapped.Count % 128);
        Assert.True(mapped.Count >= 128 * 9, $"{mapped.Count} addresses");
        Assert.Contains(r.Runs, x => x.Target!.Name == "past the image" && x.Vector == 3);
        Assert.All(mapped, a => Assert.Equal(0UL, a % 32));
    }

    [Fact]
    public void TheTableReadsLikeThis()
    {
        var results = BuiltInSuite.CaseNames().Select(o => BuiltInSuite.Result((string)o[0])).ToList();
        Snapshot.Match(AttackTable.Format(results, maskTimings: true));
    }

    [Fact]
    public void TheCommandRunsTheBuiltInSuiteAndSucceeds()
    {
        // The built-in suite through the command, with the cases already run (the runner is the same).
        var dir = TempDir();
        foreach (string f in new[] { "ret.attack", "raise-ud.attack", "map-gfn-outside-guest.attack" })
            File.Copy(Path.Combine(AttackSuite.BuiltInFolder, f), Path.Combine(dir, f));
        var stdout = new StringWriter();
        int status = AttackCommand.Run([dir], verbose: true, stdout, new StringWriter());
        Assert.Equal(0, status);
        Assert.Contains("3 attacks: 3 stopped, 0 escaped, 0 unexpected", stdout.ToString());
        Assert.Contains("map-gfn-outside-guest [other-guest 0x1000000]: service check: OutOfRange", stdout.ToString());
    }

    internal static string TempDir()
    {
        string dir = Path.Combine(Path.GetTempPath(), "hyperlock-attack-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }
}
