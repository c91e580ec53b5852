using HyperLock.Emulator.Time;

namespace HyperLock.Emulator.Tests.Devices;

public class VirtualClockTests
{
    [Fact]
    public void TimersFireInDeadlineOrderAndTiesInCreationOrder()
    {
        using var b = new DeviceTestBench();
        var fired = new List<string>();
        var t1 = b.Clock.CreateTimer("a", () => fired.Add($"a@{b.Cpu.Now}"));
        var t2 = b.Clock.CreateTimer("b", () => fired.Add($"b@{b.Cpu.Now}"));
        var t3 = b.Clock.CreateTimer("c", () => fired.Add($"c@{b.Cpu.Now}"));
        t3.Arm(500);
        t2.Arm(100);
        t1.Arm(500);
        Assert.Equal(100UL, b.Cpu.EventDeadline);
        b.Advance(1000);
        Assert.Equal(new[] { "b@100", "a@500", "c@500" }, fired);
        Assert.Equal(ulong.MaxValue, b.Cpu.EventDeadline);
    }

    [Fact]
    public void CancelAndRearmMoveTheCpuDeadline()
    {
        using var b = new DeviceTestBench();
        int n = 0;
        var t = b.Clock.CreateTimer("t", () => n++);
        t.Arm(300);
        Assert.Equal(300UL, b.Cpu.EventDeadline);
        t.Cancel();
        Assert.Equal(ulong.MaxValue, b.Cpu.EventDeadline);
        t.Arm(50);
        b.Advance(49);
        Assert.Equal(0, n);
        b.Advance(1);
        Assert.Equal(1, n);
    }

    [Fact]
    public void ConversionsRoundSoTimersNeverFireEarly()
    {
        using var b = new DeviceTestBench(hz: 3_000_000_000);
        Assert.Equal(3UL, b.Clock.NanosecondsToCycles(1));
        Assert.Equal(1UL, b.Clock.CyclesToNanoseconds(3));
        Assert.Equal(0UL, b.Clock.CyclesToNanoseconds(2));
        // 1.193182 MHz tick 1 at 3 GHz: 2514.28 cycles → the first whole cycle after it.
        Assert.Equal(2515UL, b.Clock.CycleOfTick(1, 1_193_182));
        Assert.Equal(1UL, b.Clock.TicksAt(2515, 1_193_182));
        Assert.Equal(0UL, b.Clock.TicksAt(2514, 1_193_182));
    }

    [Fact]
    public void PeriodicRearmFromCallbackKeepsExactPeriod()
    {
        using var b = new DeviceTestBench();
        var times = new List<ulong>();
        ClockTimer? t = null;
        t = b.Clock.CreateTimer("p", () => { times.Add(b.Cpu.Now); t!.Arm(t.Deadline + 1000); });
        t.Arm(1000);
        b.Advance(5500);
        Assert.Equal(new ulong[] { 1000, 2000, 3000, 4000, 5000 }, times);
    }
}
