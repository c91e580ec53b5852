using FsCheck;
using FsCheck.Fluent;

namespace HyperLock.Runtime.Tests.Properties;

/// <summary>
/// Issue 12 item 4, SPEC §7: soundness (whatever the verifier accepts, run confined from any
/// bundle start with any registers and data, makes the reference monitor record nothing and
/// leaves the host and the other instance and its guest unchanged), services never map outside
/// the instance whatever the arguments, shadowing (instance A doing anything leaves B and guest B
/// unchanged, and B still runs its guest to the right end). Fixed seed in CI; long runs:
/// docs/security.md, "Properties and the reference monitor".
/// </summary>
public class ConfinementProperties
{
    private static Arbitrary<RandomCase> Cases(params ProgramFlavour[] flavours) =>
        (from flavour in Gen.Elements(flavours)
         from seed in Gen.Choose(0, int.MaxValue)
         from length in Gen.Choose(8, 120)
         from bundle in Gen.Choose(0, 1000)
         from rsp in Gen.Elements(false, false, false, true)
         select new RandomCase(seed, length, bundle, rsp, flavour)).ToArbitrary();

    [Fact]
    public void SoundnessTheMonitorRecordsNothingAndNoOtherPartyChanges()
    {
        int run = 0, tried = 0;
        PropertyRuns.Check(nameof(SoundnessTheMonitorRecordsNothingAndNoOtherPartyChanges), 40,
            Prop.ForAll(Cases(ProgramFlavour.Mixed), c =>
            {
                tried++;
                var r = ConfinedRun.Run(c, monitor: true);
                if (r is null) return true.Label("not accepted by the toolchain and verifier: not run");
                run++;
                return (r.Violations.Count == 0 && r.ChangedDuringASlices.Count == 0).Label(r.ToString());
            }));
        Assert.True(run * 2 >= tried, $"only {run} of {tried} generated programs were accepted and run");
    }

    [Fact]
    public void ServicesNeverMapOutsideTheInstanceWhateverTheArguments()
    {
        int run = 0, tried = 0;
        PropertyRuns.Check(nameof(ServicesNeverMapOutsideTheInstanceWhateverTheArguments), 40,
            Prop.ForAll(Cases(ProgramFlavour.ServiceCalls), c =>
            {
                tried++;
                var r = ConfinedRun.Run(c, monitor: false);
                if (r is null) return true.Label("not run");
                run++;
                return (r.MappingProblem is null).Label(r.ToString());
            }));
        Assert.True(run * 2 >= tried, $"only {run} of {tried} generated programs were accepted and run");
    }

    [Fact]
    public void ShadowingAnInstanceDoingAnythingLeavesTheOtherAndItsGuestUnchanged()
    {
        int run = 0, tried = 0, interleaved = 0;
        PropertyRuns.Check(nameof(ShadowingAnInstanceDoingAnythingLeavesTheOtherAndItsGuestUnchanged), 20,
            Prop.ForAll(Cases(ProgramFlavour.ServiceCalls, ProgramFlavour.Mixed), c =>
            {
                tried++;
                var r = ConfinedRun.Run(c, monitor: false);
                if (r is null) return true.Label("not run");
                run++;
                if (r.Slices > 2) interleaved++;
                // When A is done (contained or finished), B runs its guest to the right end.
                bool bFine = r.AState is InstanceState.Running or InstanceState.Ready
                    || (r.BState == InstanceState.Finished && r.BExitStatus == 7 && r.BOutput == "Hi");
                return (r.ChangedDuringASlices.Count == 0 && bFine).Label(r.ToString());
            }));
        Assert.True(run * 2 >= tried, $"only {run} of {tried} generated programs were accepted and run");
    }
}
