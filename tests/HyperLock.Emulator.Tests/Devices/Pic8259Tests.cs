using HyperLock.Emulator.Devices;

namespace HyperLock.Emulator.Tests.Devices;

public class Pic8259Tests
{
    /// <summary>The initialization Linux's init_8259A performs (vectors 0x30/0x38, cascade on 2).</summary>
    private static Pic8259 LinuxInit(bool autoEoi = false)
    {
        var p = new Pic8259();
        p.Write(0x21, 1, 0xFF);
        p.Write(0xA1, 1, 0xFF);
        p.Write(0x20, 1, 0x11);             // ICW1: edge, cascade, ICW4
        p.Write(0x21, 1, 0x30);             // ICW2: vector base
        p.Write(0x21, 1, 0x04);             // ICW3: slave on IRQ2
        p.Write(0x21, 1, autoEoi ? 0x03u : 0x01u);
        p.Write(0xA0, 1, 0x11);
        p.Write(0xA1, 1, 0x38);
        p.Write(0xA1, 1, 0x02);             // ICW3: cascade identity
        p.Write(0xA1, 1, 0x01);
        p.Write(0x21, 1, 0x00);             // unmask all
        p.Write(0xA1, 1, 0x00);
        return p;
    }

    [Fact]
    public void ImrReadsBackAsLinuxProbesIt()
    {
        var p = new Pic8259();
        p.Write(0xA1, 1, 0xFF);
        p.Write(0x21, 1, 0xA5);
        Assert.Equal(0xA5u, p.Read(0x21, 1));
        Assert.Equal(0xFFu, p.Read(0xA1, 1));
    }

    [Fact]
    public void EdgeIrqDeliversVectorAndNeedsEoi()
    {
        var p = LinuxInit();
        p.SetIrq(3, true);
        Assert.True(p.Output);
        Assert.Equal(0x33, p.Acknowledge());
        Assert.False(p.Output);
        Assert.Equal(0x08, p.Master.InServiceRegister);
        p.Write(0x20, 1, 0x0B);             // OCW3: read ISR
        Assert.Equal(0x08u, p.Read(0x20, 1));
        // A lower-priority request waits behind the in-service one; a higher one does not.
        p.SetIrq(5, true);
        Assert.False(p.Output);
        p.SetIrq(1, true);
        Assert.True(p.Output);
        Assert.Equal(0x31, p.Acknowledge());
        p.Write(0x20, 1, 0x20);             // non-specific EOI: clears IRQ1 (highest in service)
        Assert.Equal(0x08, p.Master.InServiceRegister);
        p.Write(0x20, 1, 0x63);             // specific EOI for IRQ3
        Assert.Equal(0, p.Master.InServiceRegister);
        Assert.True(p.Output);
        Assert.Equal(0x35, p.Acknowledge());
    }

    [Fact]
    public void EdgeTriggeredNeedsANewRisingEdge()
    {
        var p = LinuxInit();
        p.SetIrq(4, true);
        Assert.Equal(0x34, p.Acknowledge());
        p.Write(0x20, 1, 0x20);
        p.SetIrq(4, true);                  // still high: no new edge
        Assert.False(p.Output);
        p.SetIrq(4, false);
        p.SetIrq(4, true);
        Assert.True(p.Output);
    }

    [Fact]
    public void MaskedIrqIsHeldInIrrUntilUnmasked()
    {
        var p = LinuxInit();
        p.Write(0x21, 1, 0x01);
        p.SetIrq(0, true);
        Assert.False(p.Output);
        p.Write(0x20, 1, 0x0A);             // OCW3: read IRR
        Assert.Equal(0x01u, p.Read(0x20, 1));
        p.Write(0x21, 1, 0x00);
        Assert.True(p.Output);
        Assert.Equal(0x30, p.Acknowledge());
    }

    [Fact]
    public void SlaveIrqCascadesThroughIrq2()
    {
        var p = LinuxInit();
        p.SetIrq(12, true);
        Assert.True(p.Output);
        Assert.Equal(0x3C, p.Acknowledge());
        Assert.Equal(0x04, p.Master.InServiceRegister);
        Assert.Equal(0x10, p.Slave.InServiceRegister);
        p.Write(0xA0, 1, 0x20);
        p.Write(0x20, 1, 0x20);
        Assert.Equal(0, p.Master.InServiceRegister);
        Assert.Equal(0, p.Slave.InServiceRegister);
    }

    [Fact]
    public void AutoEoiLeavesIsrClear()
    {
        var p = LinuxInit(autoEoi: true);
        p.SetIrq(6, true);
        Assert.Equal(0x36, p.Acknowledge());
        Assert.Equal(0, p.Master.InServiceRegister);
    }

    [Fact]
    public void VanishedRequestGivesSpuriousIrq7()
    {
        var p = LinuxInit();
        p.Write(0x4D0, 1, 0x20);            // IRQ5 level-triggered
        p.SetIrq(5, true);
        Assert.True(p.Output);
        p.SetIrq(5, false);                 // gone before INTA
        Assert.Equal(0x37, p.Acknowledge());
        Assert.Equal(0, p.Master.InServiceRegister);
    }

    [Fact]
    public void LevelTriggeredStaysRequestedWhileHigh()
    {
        var p = LinuxInit();
        p.Write(0x4D1, 1, 0x08);            // IRQ11 level
        Assert.Equal(0x08u, p.Read(0x4D1, 1));
        p.SetIrq(11, true);
        Assert.Equal(0x3B, p.Acknowledge());
        p.Write(0xA0, 1, 0x20);
        p.Write(0x20, 1, 0x20);
        Assert.True(p.Output);              // still asserted: requests again
        p.SetIrq(11, false);
        Assert.Equal(0, p.Slave.RequestRegister);
        // The master latched the cascade edge: acknowledging now gives the slave's spurious IRQ 15.
        Assert.Equal(0x3F, p.Acknowledge());
        Assert.Equal(0, p.Slave.InServiceRegister);
        Assert.False(p.Output);
    }

    [Fact]
    public void ElcrReservedBitsReadAsZero()
    {
        var p = new Pic8259();
        p.Write(0x4D0, 1, 0xFF);
        p.Write(0x4D1, 1, 0xFF);
        Assert.Equal(0xF8u, p.Read(0x4D0, 1));
        Assert.Equal(0xDEu, p.Read(0x4D1, 1));
    }

    [Fact]
    public void PollCommandAcknowledgesWithoutInta()
    {
        var p = LinuxInit();
        p.SetIrq(2 + 1, true);
        p.Write(0x20, 1, 0x0C);             // OCW3: poll
        Assert.Equal(0x83u, p.Read(0x20, 1));
        Assert.Equal(0x08, p.Master.InServiceRegister);
        p.Write(0x20, 1, 0x0C);
        Assert.Equal(0x00u, p.Read(0x20, 1)); // nothing else pending
    }

    [Fact]
    public void RotatingPriorityAfterRotateOnEoi()
    {
        var p = LinuxInit();
        p.SetIrq(0, true);
        Assert.Equal(0x30, p.Acknowledge());
        p.Write(0x20, 1, 0xA0);             // rotate on non-specific EOI: IRQ0 becomes lowest
        p.SetIrq(0, false);
        p.SetIrq(0, true);
        p.SetIrq(4, true);
        Assert.Equal(0x34, p.Acknowledge()); // IRQ4 now outranks IRQ0
    }

    [Fact]
    public void Ltim8080ModeIsCountedAsUnhandled()
    {
        var p = new Pic8259();
        p.Write(0x20, 1, 0x19);             // ICW1 with LTIM
        p.Write(0x21, 1, 0x20);
        p.Write(0x21, 1, 0x04);
        p.Write(0x21, 1, 0x00);             // ICW4 in 8080 mode
        Assert.Equal(2, p.UnhandledAccesses);
    }
}
