using System.Text.Json;
using HyperLock.Cli.Commands;
using Snapshooter.Xunit;

namespace HyperLock.Demo.Tests;

/// <summary><c>hyperlock demo</c>: its table, its determinism, its exit status and JSON.</summary>
public class DemoCommandTests
{
    [Fact]
    public void TheTableReadsLikeThis() =>
        Snapshot.Match(DemoCommand.Table(DemoRunner.Run(confined: true), maskTimings: true));

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void TwoRunsGiveTheSameOutputAndCounts(bool confined)
    {
        var firstLines = new List<string>();
        var secondLines = new List<string>();
        var first = DemoRunner.Run(confined, (g, l) => firstLines.Add($"{g}: {l}"));
        var second = DemoRunner.Run(confined, (g, l) => secondLines.Add($"{g}: {l}"));
        Assert.NotEmpty(firstLines);
        Assert.Equal(firstLines, secondLines);
        Assert.Equal(DemoCommand.Table(first, maskTimings: true), DemoCommand.Table(second, maskTimings: true));
    }

    [Fact]
    public void TheGuestsShareTheCpuInSlicesAndTheirOutputInterleaves()
    {
        var lines = new List<string>();
        var r = DemoRunner.Run(confined: true, (g, l) => lines.Add(g));
        Assert.True(r.Succeeded);
        // Round robin from the first instance; each yields at a preemption-timer slice end or HLT.
        Assert.StartsWith("PTPT", r.Schedule);
        Assert.All(r.Guests, g => Assert.True(g.Slices >= 2, $"{g.Name}: {g.Slices} slices"));
        Assert.Equal(r.Schedule.Length, r.Guests.Sum(g => g.Slices));
        int firstTicker = lines.IndexOf("ticker"), lastPrimes = lines.LastIndexOf("primes");
        Assert.True(firstTicker < lastPrimes, "the ticker printed before primes finished");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TheCommandSucceedsAndStreamsPrefixedLines(bool unconfined)
    {
        var stdout = new StringWriter();
        int status = DemoCommand.Run(unconfined, json: false, stdout, new StringWriter());
        Assert.Equal(0, status);
        string text = stdout.ToString();
        Assert.Contains($"[primes] primes: sum of primes below 1000 = {DemoGuests.PrimeSum}\n", text);
        Assert.Contains($"[ticker] ticker: ticks = {DemoGuests.TicksWanted}\n", text);
        Assert.Contains("both guests finished correctly", text);
        Assert.Contains(unconfined ? "(unconfined)" : "(confined)", text);
    }

    [Fact]
    public void JsonHasOneEntryPerGuestWithItsExitsAndParties()
    {
        var stdout = new StringWriter();
        Assert.Equal(0, DemoCommand.Run(unconfined: false, json: true, stdout, new StringWriter()));
        using var doc = JsonDocument.Parse(stdout.ToString());
        Assert.True(doc.RootElement.GetProperty("succeeded").GetBoolean());
        var guests = doc.RootElement.GetProperty("guests").EnumerateArray().ToList();
        Assert.Equal(["primes", "ticker"], guests.Select(g => g.GetProperty("name").GetString()));
        foreach (var g in guests)
        {
            Assert.True(g.GetProperty("exitsByReason").GetProperty("io").GetInt64() > 0);
            Assert.All(g.GetProperty("otherParties").EnumerateArray(), p => Assert.True(p.GetProperty("unchanged").GetBoolean()));
        }
    }
}
