using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Devices;

namespace HyperLock.Emulator.Tests.Devices;

public class LocalApicTests
{
    private sealed class Rig : IDisposable
    {
        public readonly DeviceTestBench Bench = new();
        public readonly LocalApic Apic;

        public Rig()
        {
            Apic = new LocalApic(Bench.Cpu, Bench.Clock);
            Bench.Cpu.MsrHook = new LocalApicMsrs(Apic, null);
        }

        public uint R(int reg) => (uint)Apic.Read((ulong)reg, 4);
        public void W(int reg, uint v) => Apic.Write((ulong)reg, 4, v);
        public void Dispose() => Bench.Dispose();
    }

    [Fact]
    public void ResetStateAsFirmwareLeavesIt()
    {
        using var r = new Rig();
        Assert.Equal(0u, r.R(0x20));
        Assert.Equal(LocalApic.VersionValue, r.R(0x30));
        Assert.Equal(0xFFu, r.R(0xF0));                       // software-disabled, vector 0xFF
        Assert.Equal(0x10000u, r.R(0x320));                   // timer masked
        Assert.Equal(0x700u, r.R(0x350));                     // LINT0 ExtINT
        Assert.True(r.Apic.PassesExtInt);
        Assert.True(r.Bench.Cpu.TryReadMsr(Msr.ApicBase, out ulong b));
        Assert.Equal(0xFEE00900UL, b);
    }

    [Fact]
    public void FixedInterruptPriorityTprPprAndEoi()
    {
        using var r = new Rig();
        r.W(0xF0, 0x1FF);
        r.Apic.AcceptInterrupt(0x41, false);
        r.Apic.AcceptInterrupt(0x62, false);
        Assert.True(r.Apic.HasDeliverable);
        Assert.Equal(0x62, r.Apic.Acknowledge());
        Assert.Equal(0x60u, r.R(0xA0));                       // PPR = class of in-service 0x62
        Assert.False(r.Apic.HasDeliverable);                  // 0x41 is below PPR
        r.W(0xB0, 0);                                         // EOI
        Assert.True(r.Apic.HasDeliverable);
        r.W(0x80, 0x50);                                      // TPR above 0x41's class
        Assert.False(r.Apic.HasDeliverable);
        Assert.Equal(5UL, r.Bench.Cpu.Cr8);                   // TPR[7:4] is CR8
        r.Bench.Cpu.Cr8 = 0;                                  // MOV CR8 lowers it
        Assert.Equal(0u, r.R(0x80));
        Assert.True(r.Apic.HasDeliverable);
        Assert.Equal(0x41, r.Apic.Acknowledge());
        // IRR/ISR registers show the bits.
        Assert.Equal(1u << 1, r.R(0x100 + 0x20));             // ISR word 2 (vectors 64-95), bit 1
    }

    [Fact]
    public void SoftwareDisabledApicDeliversNothingAndMasksLvts()
    {
        using var r = new Rig();
        r.Apic.AcceptInterrupt(0x40, false);
        Assert.False(r.Apic.HasDeliverable);
        r.W(0x350, 0x700);
        Assert.Equal(0x10700u, r.R(0x350));                   // mask stays set while disabled
    }

    [Fact]
    public void OneShotTimerFiresAfterInitialCountTimesDivisor()
    {
        using var r = new Rig();
        r.W(0xF0, 0x1FF);
        r.W(0x3E0, 0x3);                                      // divide by 16
        r.W(0x320, 0x30);                                     // one-shot, vector 0x30
        r.W(0x380, 1000);
        r.Bench.Advance(8000);
        Assert.Equal(500u, r.R(0x390));
        Assert.False(r.Apic.HasDeliverable);
        r.Bench.Advance(7999);
        Assert.False(r.Apic.HasDeliverable);
        r.Bench.Advance(1);
        Assert.True(r.Apic.HasDeliverable);
        Assert.Equal(0u, r.R(0x390));
        Assert.Equal(0x30, r.Apic.Acknowledge());
        r.W(0xB0, 0);
        r.Bench.Advance(100_000);
        Assert.False(r.Apic.HasDeliverable);                  // one-shot: no second interrupt
    }

    [Fact]
    public void PeriodicTimerReloads()
    {
        using var r = new Rig();
        r.W(0xF0, 0x1FF);
        r.W(0x3E0, 0xB);                                      // divide by 1
        r.W(0x320, 0x20031);                                  // periodic, vector 0x31
        r.W(0x380, 250);
        for (int k = 1; k <= 4; k++)
        {
            r.Bench.Advance(249);
            Assert.False(r.Apic.HasDeliverable);
            r.Bench.Advance(1);
            Assert.True(r.Apic.HasDeliverable);
            Assert.Equal(0x31, r.Apic.Acknowledge());
            r.W(0xB0, 0);
        }
        Assert.Equal(4, r.Apic.TimerFires);
        r.Bench.Advance(100);
        Assert.Equal(150u, r.R(0x390));
    }

    [Fact]
    public void TscDeadlineTimerThroughTheMsr()
    {
        using var r = new Rig();
        var c = r.Bench.Cpu;
        r.W(0xF0, 0x1FF);
        Assert.True(c.TryWriteMsr(Msr.TscDeadline, 5000));    // ignored: not in deadline mode
        Assert.True(c.TryReadMsr(Msr.TscDeadline, out ulong v));
        Assert.Equal(0UL, v);
        r.W(0x320, 0x40032);                                  // TSC-deadline, vector 0x32
        Assert.True(c.TryWriteMsr(Msr.Tsc, 1000));            // TSC = Now + 1000
        Assert.True(c.TryWriteMsr(Msr.TscDeadline, 6000));
        r.W(0x380, 12345);                                    // ignored in deadline mode
        Assert.Equal(0u, r.R(0x380));
        r.Bench.Advance(4999);
        Assert.False(r.Apic.HasDeliverable);
        r.Bench.Advance(1);
        Assert.True(r.Apic.HasDeliverable);
        Assert.True(c.TryReadMsr(Msr.TscDeadline, out v));
        Assert.Equal(0UL, v);                                 // disarmed after firing
        Assert.Equal(0x32, r.Apic.Acknowledge());
        r.W(0xB0, 0);
        // A deadline in the past fires at once; writing 0 disarms.
        Assert.True(c.TryWriteMsr(Msr.TscDeadline, 10));
        r.Bench.Advance(0);
        Assert.True(r.Apic.HasDeliverable);
        r.Apic.Acknowledge();
        r.W(0xB0, 0);
        Assert.True(c.TryWriteMsr(Msr.TscDeadline, c.Tsc + 100));
        Assert.True(c.TryWriteMsr(Msr.TscDeadline, 0));
        r.Bench.Advance(1000);
        Assert.False(r.Apic.HasDeliverable);
    }

    [Fact]
    public void SelfIpiByShorthandAndByDestination()
    {
        using var r = new Rig();
        r.W(0xF0, 0x1FF);
        r.W(0x300, 0x40000 | 0x45);                           // shorthand self
        Assert.Equal(0x45, r.Apic.Acknowledge());
        r.W(0xB0, 0);
        r.W(0x310, 0x00000000);                               // destination APIC 0
        r.W(0x300, 0x46);
        Assert.Equal(0x46, r.Apic.Acknowledge());
        r.W(0xB0, 0);
        r.W(0x310, 0x05000000);                               // another processor
        r.W(0x300, 0x47);
        Assert.False(r.Apic.HasDeliverable);
        Assert.True(r.Apic.UnhandledAccesses > 0);
    }

    [Fact]
    public void IllegalVectorSetsEsrOnWrite()
    {
        using var r = new Rig();
        r.W(0xF0, 0x1FF);
        r.W(0x300, 0x40000 | 0x05);
        r.W(0x280, 0);                                        // latch
        Assert.Equal(LocalApic.EsrSendIllegalVector, r.R(0x280));
        r.W(0x280, 0);
        Assert.Equal(0u, r.R(0x280));
    }

    [Fact]
    public void X2ApicModeThroughMsrsWithTheSdmRules()
    {
        using var r = new Rig();
        var c = r.Bench.Cpu;
        Assert.False(c.TryReadMsr(0x802, out _));             // x2APIC MSRs #GP in xAPIC mode
        Assert.False(c.TryWriteMsr(Msr.ApicBase, 0xFEE00000 | LocalApic.BaseExtd)); // EXTD without EN
        Assert.True(c.TryWriteMsr(Msr.ApicBase, 0xFEE00000 | LocalApic.BaseEnable | LocalApic.BaseExtd));
        Assert.True(r.Apic.X2ApicMode);
        Assert.False(c.TryWriteMsr(Msr.ApicBase, 0xFEE00000 | LocalApic.BaseEnable)); // x2APIC → xAPIC
        Assert.True(c.TryReadMsr(0x802, out ulong id));
        Assert.Equal(0UL, id);
        Assert.True(c.TryReadMsr(0x80D, out ulong ldr));
        Assert.Equal(1UL, ldr);                               // cluster 0, bit 0
        Assert.False(c.TryWriteMsr(0x802, 1));                // ID is read-only
        Assert.False(c.TryReadMsr(0x80B, out _));             // EOI is write-only
        Assert.False(c.TryReadMsr(0x80E, out _));             // no DFR in x2APIC mode
        Assert.True(c.TryWriteMsr(0x80F, 0x1FF));             // SVR
        Assert.True(c.TryWriteMsr(0x83F, 0x51));              // SELF IPI
        Assert.Equal(0x51, r.Apic.Acknowledge());
        Assert.False(c.TryWriteMsr(0x80B, 1));                // EOI with a nonzero value
        Assert.True(c.TryWriteMsr(0x80B, 0));
        Assert.True(c.TryWriteMsr(0x830, 0x00000000_00040052)); // ICR self shorthand
        Assert.Equal(0x52, r.Apic.Acknowledge());
        Assert.Equal(ulong.MaxValue >> 32, r.Apic.Read(0x20, 4)); // MMIO is off in x2APIC mode
        // Disable, then back to xAPIC.
        Assert.True(c.TryWriteMsr(Msr.ApicBase, 0xFEE00000));
        Assert.False(r.Apic.GloballyEnabled);
        Assert.True(r.Apic.PassesExtInt);
        Assert.True(c.TryWriteMsr(Msr.ApicBase, 0xFEE00000 | LocalApic.BaseEnable));
        Assert.Equal(0xFFu, (uint)r.Apic.Read(0xF0, 4));     // state was reset
    }

    /// <summary>SDM Vol. 3 §11.12.11: SELF IPI defines only the vector (bits 7:0); a write with any of bits 63:8 set raises #GP.</summary>
    [Theory]
    [InlineData(0x151UL)]
    [InlineData(0x8000_0051UL)]
    [InlineData(0x1_0000_0051UL)]
    public void X2ApicSelfIpiRejectsReservedBits(ulong value)
    {
        using var r = new Rig();
        var c = r.Bench.Cpu;
        Assert.True(c.TryWriteMsr(Msr.ApicBase, 0xFEE00000 | LocalApic.BaseEnable | LocalApic.BaseExtd));
        Assert.True(c.TryWriteMsr(0x80F, 0x1FF));
        Assert.False(c.TryWriteMsr(0x83F, value));
        Assert.Equal(0xFF, r.Apic.Acknowledge());             // nothing was sent: the spurious vector
        Assert.True(c.TryWriteMsr(0x83F, value & 0xFF));
        Assert.Equal((int)(value & 0xFF), r.Apic.Acknowledge());
    }

    [Fact]
    public void LevelTriggeredEoiIsBroadcast()
    {
        using var r = new Rig();
        var seen = new List<int>();
        r.Apic.EoiBroadcast = seen.Add;
        r.W(0xF0, 0x1FF);
        r.Apic.AcceptInterrupt(0x70, level: true);
        Assert.Equal(1u << 16, r.R(0x180 + 0x30));            // TMR bit of 0x70
        Assert.Equal(0x70, r.Apic.Acknowledge());
        r.W(0xB0, 0);
        Assert.Equal(new[] { 0x70 }, seen);
    }
}
