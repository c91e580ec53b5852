using HyperLock.Emulator.Devices;

namespace HyperLock.Emulator.Tests.Devices;

public class Pit8254Tests
{
    // At 1 GHz one PIT tick is 838.1 cycles.
    private static ulong Cycles(ulong ticks) => (ulong)Math.Ceiling(ticks * 1e9 / Pit8254.FrequencyHz);

    [Fact]
    public void RateGeneratorPulsesIrq0EveryPeriod()
    {
        using var b = new DeviceTestBench();
        var irq = new IrqProbe(() => b.Cpu.Now);
        var pit = new Pit8254(b.Clock, irq.Set);
        pit.Write(0x43, 1, 0x34);           // ch0, lo/hi, mode 2
        pit.Write(0x40, 1, 11932 & 0xFF);
        pit.Write(0x40, 1, 11932 >> 8);     // ~100 Hz
        b.Advance(51_000_000);              // 51 ms
        Assert.Equal(5, irq.RisingEdges);
        var rises = irq.RiseTimes();
        for (int k = 0; k < 5; k++) Assert.Equal(Cycles((ulong)(k + 1) * 11932), rises[k]);
    }

    [Fact]
    public void Mode0RaisesOutAtTerminalCountOnce()
    {
        using var b = new DeviceTestBench();
        var irq = new IrqProbe(() => b.Cpu.Now);
        var pit = new Pit8254(b.Clock, irq.Set);
        pit.Write(0x43, 1, 0x30);           // ch0, lo/hi, mode 0
        pit.Write(0x40, 1, 0x00);
        pit.Write(0x40, 1, 0x10);           // 4096 ticks
        b.Advance(Cycles(4096) - 1);
        Assert.False(irq.Level);
        b.Advance(1);
        Assert.True(irq.Level);
        b.Advance(100_000_000);
        Assert.Equal(1, irq.RisingEdges);
    }

    [Fact]
    public void LatchedCountReadsLowThenHigh()
    {
        using var b = new DeviceTestBench();
        var pit = new Pit8254(b.Clock, null);
        pit.Write(0x43, 1, 0x34);
        pit.Write(0x40, 1, 0x00);
        pit.Write(0x40, 1, 0x00);           // 65536
        b.Advance(Cycles(1000));
        pit.Write(0x43, 1, 0x00);           // latch ch0
        b.Advance(Cycles(500));             // the latched value does not move
        uint lo = pit.Read(0x40, 1), hi = pit.Read(0x40, 1);
        Assert.Equal(65536u - 1000, lo | (hi << 8));
        uint lo2 = pit.Read(0x40, 1), hi2 = pit.Read(0x40, 1);
        Assert.Equal(65536u - 1500, lo2 | (hi2 << 8));
    }

    [Fact]
    public void ReadBackStatusReportsModeAccessOutAndNullCount()
    {
        using var b = new DeviceTestBench();
        var pit = new Pit8254(b.Clock, null);
        pit.Write(0x43, 1, 0xB0);           // ch2, lo/hi, mode 0
        pit.Write(0x43, 1, 0xE8);           // read-back status of ch2
        Assert.Equal(0x40u | 0x30u | 0x00u, pit.Read(0x42, 1)); // null count, lo/hi, mode 0, OUT low
        pit.Write(0x61, 1, 0x01);           // gate high
        pit.Write(0x42, 1, 0x10);
        pit.Write(0x42, 1, 0x00);
        b.Advance(Cycles(0x10));
        pit.Write(0x43, 1, 0xC8);           // read-back count and status of ch2
        Assert.Equal(0x80u | 0x30u, pit.Read(0x42, 1)); // OUT high, count loaded
        Assert.Equal(0u, pit.Read(0x42, 1) | (pit.Read(0x42, 1) << 8));
    }

    [Fact]
    public void Channel2GateAndOut2OnPort61AsLinuxTscCalibrationUsesThem()
    {
        using var b = new DeviceTestBench();
        var pit = new Pit8254(b.Clock, null);
        // pit_calibrate_tsc: gate on, speaker off, mode 0 with a 50 ms latch, wait for OUT2.
        pit.Write(0x61, 1, (pit.Read(0x61, 1) & ~0x02u) | 0x01u);
        pit.Write(0x43, 1, 0xB0);
        const uint latch = 1193182 / 20;
        pit.Write(0x42, 1, latch & 0xFF);
        pit.Write(0x42, 1, latch >> 8);
        Assert.Equal(0u, pit.Read(0x61, 1) & 0x20);
        b.Advance(Cycles(latch) - 1);
        Assert.Equal(0u, pit.Read(0x61, 1) & 0x20);
        b.Advance(1);
        Assert.Equal(0x20u, pit.Read(0x61, 1) & 0x20);
        Assert.Equal(0x01u, pit.Read(0x61, 1) & 0x03);
    }

    [Fact]
    public void UnlatchedLowHighReadsFollowTheCounterLikeQuickPitCalibrate()
    {
        using var b = new DeviceTestBench();
        var pit = new Pit8254(b.Clock, null);
        pit.Write(0x61, 1, 0x01);
        pit.Write(0x43, 1, 0xB0);
        pit.Write(0x42, 1, 0xFF);
        pit.Write(0x42, 1, 0xFF);
        // The MSB decrements once every 256 ticks.
        for (uint msb = 0xFF; msb > 0xF0; msb--)
        {
            pit.Read(0x42, 1);
            Assert.Equal(msb, pit.Read(0x42, 1));
            b.Advance(Cycles(256));
        }
    }

    [Fact]
    public void GateLowStopsChannel2()
    {
        using var b = new DeviceTestBench();
        var pit = new Pit8254(b.Clock, null);
        pit.Write(0x43, 1, 0xB0);
        pit.Write(0x42, 1, 100);
        pit.Write(0x42, 1, 0);
        b.Advance(Cycles(1000));
        Assert.Equal(0u, pit.Read(0x61, 1) & 0x20); // gate was never raised
        pit.Write(0x61, 1, 0x01);
        b.Advance(Cycles(100));
        Assert.Equal(0x20u, pit.Read(0x61, 1) & 0x20);
    }

    [Fact]
    public void SquareWaveCountsDownByTwo()
    {
        using var b = new DeviceTestBench();
        var pit = new Pit8254(b.Clock, null);
        pit.Write(0x43, 1, 0x36);           // ch0 mode 3
        pit.Write(0x40, 1, 0xE8);
        pit.Write(0x40, 1, 0x03);           // 1000
        b.Advance(Cycles(100));
        pit.Write(0x43, 1, 0x00);
        Assert.Equal(800u, pit.Read(0x40, 1) | (pit.Read(0x40, 1) << 8));
    }

    [Fact]
    public void BcdCountingReadsDecimalDigits()
    {
        using var b = new DeviceTestBench();
        var pit = new Pit8254(b.Clock, null);
        pit.Write(0x43, 1, 0x35);           // ch0 lo/hi mode 2 BCD
        pit.Write(0x40, 1, 0x00);
        pit.Write(0x40, 1, 0x10);           // 1000 in BCD
        b.Advance(Cycles(1));
        pit.Write(0x43, 1, 0x00);
        Assert.Equal(0x0999u, pit.Read(0x40, 1) | (pit.Read(0x40, 1) << 8));
    }

    [Fact]
    public void OneShotMode4PulsesOnce()
    {
        using var b = new DeviceTestBench();
        var irq = new IrqProbe(() => b.Cpu.Now);
        var pit = new Pit8254(b.Clock, irq.Set);
        pit.Write(0x43, 1, 0x38);           // Linux's oneshot: ch0 mode 4
        pit.Write(0x40, 1, 200);
        pit.Write(0x40, 1, 0);
        b.Advance(Cycles(10_000));
        Assert.Equal(1, irq.RisingEdges);
        Assert.Equal(Cycles(200), irq.RiseTimes()[0]);
    }

    [Fact]
    public void ReadingTheCommandPortIsCounted()
    {
        using var b = new DeviceTestBench();
        var pit = new Pit8254(b.Clock, null);
        Assert.Equal(0xFFu, pit.Read(0x43, 1));
        Assert.Equal(1, pit.UnhandledAccesses);
    }
}
