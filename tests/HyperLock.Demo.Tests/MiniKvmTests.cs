using HyperLock.Demo;
using HyperLock.Hypervisor;
using HyperLock.Runtime;

namespace HyperLock.Demo.Tests;

/// <summary>The mini-KVM runs the demo guests, confined and unconfined, from one verified image.</summary>
public class MiniKvmTests
{
    [Fact]
    public void TheMiniKvmImageIsAcceptedByTheVerifierAtLoad()
    {
        using var rt = new IsolationRuntime();
        var loaded = rt.Load(MiniKvm.Build());
        Assert.True(loaded.Verification.Accepted, loaded.Verification.ToString());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void BothGuestsFinishCorrectly(bool confined)
    {
        var lines = new List<string>();
        var r = DemoRunner.Run(confined, (g, l) => lines.Add($"{g}: {l}"));
        foreach (var g in r.Guests)
            Assert.True(g.Correct, $"{g.Name}: {g.State} exit {g.ExitStatus} {g.Report}\nserial: {g.SerialOutput}\nconsole: {g.HypercallOutput}");
        Assert.Contains($"primes: primes: sum of primes below 1000 = {DemoGuests.PrimeSum}", lines);
        Assert.Contains($"ticker: ticker: ticks = {DemoGuests.TicksWanted}", lines);
        var ticker = r.Guests.Single(g => g.Name == "ticker");
        Assert.True(ticker.ExitsByReason.GetValueOrDefault("preemption-timer") > 0);
        Assert.True(ticker.ExitsByReason.GetValueOrDefault("hlt") > 0);
        foreach (var g in r.Guests)
            Assert.All(g.OtherParties, p => Assert.True(p.Unchanged, $"{g.Name}: {p.Party} changed"));
    }
}
