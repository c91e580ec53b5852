using HyperLock.Emulator.Devices;

namespace HyperLock.Emulator.Tests.Devices;

public class CmosRtcTests
{
    private static uint Reg(CmosRtc r, int index)
    {
        r.Write(0x70, 1, (uint)index);
        return r.Read(0x71, 1);
    }

    private static void SetReg(CmosRtc r, int index, uint v)
    {
        r.Write(0x70, 1, (uint)index);
        r.Write(0x71, 1, v);
    }

    [Fact]
    public void TimeIsStartDatePlusVirtualTimeInBcd()
    {
        using var b = new DeviceTestBench();
        var rtc = new CmosRtc(b.Clock, null, new DateTime(2023, 12, 31, 23, 59, 58, DateTimeKind.Utc));
        Assert.Equal(0x58u, Reg(rtc, 0));
        b.Advance(2_500_000_000);            // 2.5 s
        Assert.Equal(0x00u, Reg(rtc, 0));
        Assert.Equal(0x00u, Reg(rtc, 2));
        Assert.Equal(0x00u, Reg(rtc, 4));
        Assert.Equal(0x01u, Reg(rtc, 7));
        Assert.Equal(0x01u, Reg(rtc, 8));
        Assert.Equal(0x24u, Reg(rtc, 9));
        Assert.Equal(0x20u, Reg(rtc, 0x32));
        Assert.Equal(2u, Reg(rtc, 6));       // Monday
    }

    [Fact]
    public void BinaryAnd12HourModes()
    {
        using var b = new DeviceTestBench();
        var rtc = new CmosRtc(b.Clock, null, new DateTime(2024, 5, 6, 15, 4, 5, DateTimeKind.Utc));
        SetReg(rtc, 0x0B, 0x04);             // binary, 12-hour
        Assert.Equal(5u, Reg(rtc, 0));
        Assert.Equal(0x83u, Reg(rtc, 4));    // 3 PM
        SetReg(rtc, 0x0B, 0x06);             // binary, 24-hour
        Assert.Equal(15u, Reg(rtc, 4));
    }

    [Fact]
    public void UpdateInProgressInTheLast244MicrosecondsOfEachSecond()
    {
        using var b = new DeviceTestBench();
        var rtc = new CmosRtc(b.Clock, null);
        Assert.Equal(0x26u, Reg(rtc, 0x0A));
        b.Advance(1_000_000_000 - 244_000 - 1);
        Assert.Equal(0u, Reg(rtc, 0x0A) & 0x80);
        b.Advance(1);
        Assert.Equal(0x80u, Reg(rtc, 0x0A) & 0x80);
        b.Advance(244_000);
        Assert.Equal(0u, Reg(rtc, 0x0A) & 0x80);
        Assert.Equal(0x01u, Reg(rtc, 0));
    }

    [Fact]
    public void SetBitFreezesAndWritesMoveTheClock()
    {
        using var b = new DeviceTestBench();
        var rtc = new CmosRtc(b.Clock, null);
        SetReg(rtc, 0x0B, 0x82);             // SET, 24h, BCD
        SetReg(rtc, 4, 0x12);
        SetReg(rtc, 2, 0x34);
        b.Advance(5_000_000_000);
        Assert.Equal(0x12u, Reg(rtc, 4));
        Assert.Equal(0x00u, Reg(rtc, 0));    // frozen
        SetReg(rtc, 0x0B, 0x02);
        b.Advance(3_000_000_000);
        Assert.Equal(0x03u, Reg(rtc, 0));
        Assert.Equal(0x34u, Reg(rtc, 2));
    }

    [Fact]
    public void PeriodicInterruptAtTheProgrammedRateClearedByReadingC()
    {
        using var b = new DeviceTestBench();
        var irq = new IrqProbe(() => b.Cpu.Now);
        var rtc = new CmosRtc(b.Clock, irq.Set);
        SetReg(rtc, 0x0A, 0x2F);             // rate 15: 2 Hz
        SetReg(rtc, 0x0B, 0x42);             // PIE
        b.Advance(499_999_999);
        Assert.False(irq.Level);
        b.Advance(1);
        Assert.True(irq.Level);
        Assert.Equal(0xC0u, Reg(rtc, 0x0C) & 0xC0);   // IRQF | PF
        Assert.False(irq.Level);
        Assert.Equal(0u, Reg(rtc, 0x0C) & 0xC0);
        b.Advance(500_000_000);
        Assert.Equal(2, irq.RisingEdges);
    }

    [Fact]
    public void UpdateEndedAndAlarmInterrupts()
    {
        using var b = new DeviceTestBench();
        var irq = new IrqProbe(() => b.Cpu.Now);
        var rtc = new CmosRtc(b.Clock, irq.Set);
        SetReg(rtc, 1, 0x03);                // alarm at hh:mm:03 (hours, minutes don't care)
        SetReg(rtc, 3, 0xC0);
        SetReg(rtc, 5, 0xC0);
        SetReg(rtc, 0x0B, 0x32);             // AIE | UIE
        b.Advance(1_000_000_000);
        Assert.Equal(0x90u, Reg(rtc, 0x0C)); // IRQF | UF
        b.Advance(2_000_000_000);
        Assert.Equal(0xB0u, Reg(rtc, 0x0C)); // IRQF | AF | UF at second 3
    }

    [Fact]
    public void CmosRamAndMemorySizeBytes()
    {
        using var b = new DeviceTestBench();
        var rtc = new CmosRtc(b.Clock, null, memoryBytes: 512UL << 20);
        Assert.Equal(0x80u, Reg(rtc, 0x15)); // 640 KiB = 0x280
        Assert.Equal(0x02u, Reg(rtc, 0x16));
        Assert.Equal(0x00u, Reg(rtc, 0x17)); // 63 MiB cap = 0xFC00
        Assert.Equal(0xFCu, Reg(rtc, 0x18));
        SetReg(rtc, 0x40, 0x77);
        Assert.Equal(0x77u, Reg(rtc, 0x40));
        Assert.Equal(0x80u, Reg(rtc, 0x0D));
        rtc.Write(0x70, 1, 0x80 | 0x40);
        Assert.True(rtc.NmiDisabled);
        Assert.Equal(0x77u, rtc.Read(0x71, 1));
    }
}
