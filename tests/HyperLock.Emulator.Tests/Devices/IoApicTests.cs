using HyperLock.Emulator.Devices;

namespace HyperLock.Emulator.Tests.Devices;

public class IoApicTests
{
    private sealed class Rig : IDisposable
    {
        public readonly DeviceTestBench Bench = new();
        public readonly LocalApic Lapic;
        public readonly IoApic Io;

        public Rig()
        {
            Lapic = new LocalApic(Bench.Cpu, Bench.Clock);
            Io = new IoApic(Lapic);
            Lapic.EoiBroadcast = Io.EndOfInterrupt;
            Lapic.Write(0xF0, 4, 0x1FF);
        }

        public void Program(int pin, ulong entry)
        {
            Io.Write(0x00, 4, (ulong)(0x10 + 2 * pin));
            Io.Write(0x10, 4, entry & 0xFFFFFFFF);
            Io.Write(0x00, 4, (ulong)(0x11 + 2 * pin));
            Io.Write(0x10, 4, entry >> 32);
        }

        public uint Reg(int index)
        {
            Io.Write(0x00, 4, (ulong)index);
            return (uint)Io.Read(0x10, 4);
        }

        public void Dispose() => Bench.Dispose();
    }

    [Fact]
    public void VersionAndMaskedResetState()
    {
        using var r = new Rig();
        Assert.Equal(0x00170020u, r.Reg(1));
        Assert.Equal(0x10000u, r.Reg(0x10));
        r.Io.SetPin(4, true);
        Assert.False(r.Lapic.HasDeliverable);
    }

    [Fact]
    public void EdgePinDeliversOnRisingEdge()
    {
        using var r = new Rig();
        r.Program(2, 0x30);                          // fixed, physical, dest 0, edge, unmasked
        r.Io.SetPin(2, true);
        Assert.Equal(0x30, r.Lapic.Acknowledge());
        r.Lapic.Write(0xB0, 4, 0);
        r.Io.SetPin(2, true);                        // no new edge
        Assert.False(r.Lapic.HasDeliverable);
        r.Io.SetPin(2, false);
        r.Io.SetPin(2, true);
        Assert.True(r.Lapic.HasDeliverable);
    }

    [Fact]
    public void LevelPinSetsRemoteIrrUntilEoiAndRedeliversWhileAsserted()
    {
        using var r = new Rig();
        r.Program(9, 0x8000 | 0x49);                 // level
        r.Io.SetPin(9, true);
        Assert.Equal(0x4000u, r.Reg(0x10 + 18) & 0x4000); // remote IRR
        Assert.Equal(0x49, r.Lapic.Acknowledge());
        r.Lapic.Write(0xB0, 4, 0);                   // EOI broadcast → remote IRR clear → redeliver
        Assert.True(r.Lapic.HasDeliverable);
        Assert.Equal(0x4000u, r.Reg(0x10 + 18) & 0x4000);
        Assert.Equal(0x49, r.Lapic.Acknowledge());
        r.Io.SetPin(9, false);
        r.Lapic.Write(0xB0, 4, 0);
        Assert.Equal(0u, r.Reg(0x10 + 18) & 0x4000);
        Assert.False(r.Lapic.HasDeliverable);
    }

    [Fact]
    public void DestinationMustMatch()
    {
        using var r = new Rig();
        r.Program(5, (3UL << 56) | 0x35);            // physical destination 3: not us
        r.Io.SetPin(5, true);
        Assert.False(r.Lapic.HasDeliverable);
        r.Program(6, (0xFFUL << 56) | 0x36);         // broadcast
        r.Io.SetPin(6, true);
        Assert.Equal(0x36, r.Lapic.Acknowledge());
        r.Lapic.Write(0xB0, 4, 0);
        r.Lapic.Write(0xD0, 4, 0x01000000);          // LDR: logical 1
        r.Program(7, (0x01UL << 56) | 0x800 | 0x37); // logical destination 1
        r.Io.SetPin(7, true);
        Assert.Equal(0x37, r.Lapic.Acknowledge());
    }

    [Fact]
    public void UnmaskingAnAssertedLevelPinDelivers()
    {
        using var r = new Rig();
        r.Program(10, 0x10000 | 0x8000 | 0x4A);
        r.Io.SetPin(10, true);
        Assert.False(r.Lapic.HasDeliverable);
        r.Program(10, 0x8000 | 0x4A);
        Assert.True(r.Lapic.HasDeliverable);
    }

    [Fact]
    public void EoiRegisterClearsRemoteIrr()
    {
        using var r = new Rig();
        r.Program(11, 0x8000 | 0x4B);
        r.Io.SetPin(11, true);
        r.Lapic.Acknowledge();
        r.Io.SetPin(11, false);
        r.Io.Write(0x40, 4, 0x4B);
        Assert.Equal(0u, r.Reg(0x10 + 22) & 0x4000);
    }

    [Fact]
    public void NmiDeliveryModeIsCounted()
    {
        using var r = new Rig();
        r.Program(3, 0x400);
        r.Io.SetPin(3, true);
        Assert.Equal(1, r.Io.UnhandledAccesses);
    }
}
