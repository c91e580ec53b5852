using HyperLock.Emulator.Devices;

namespace HyperLock.Emulator.Tests.Devices;

public class I8042Tests
{
    [Fact]
    public void ResetCommandPulsesReset()
    {
        int resets = 0;
        var k = new I8042(() => resets++);
        Assert.Equal(0u, k.Read(0x64, 1) & 0x02);   // input buffer empty, as reboot=k waits for
        k.Write(0x64, 1, 0xFE);
        Assert.Equal(1, resets);
    }

    [Fact]
    public void SelfTestInterfaceTestAndCommandByte()
    {
        var k = new I8042(() => { });
        k.Write(0x64, 1, 0xAA);
        Assert.Equal(1u, k.Read(0x64, 1) & 1);
        Assert.Equal(0x55u, k.Read(0x60, 1));
        Assert.Equal(0u, k.Read(0x64, 1) & 1);
        k.Write(0x64, 1, 0xAB);
        Assert.Equal(0x00u, k.Read(0x60, 1));
        k.Write(0x64, 1, 0x60);
        k.Write(0x60, 1, 0x47);
        k.Write(0x64, 1, 0x20);
        Assert.Equal(0x47u, k.Read(0x60, 1));
        Assert.Equal(0x04u, k.Read(0x64, 1) & 0x04); // system flag
    }

    [Fact]
    public void OutputPortWriteWithResetBitClearResets()
    {
        int resets = 0;
        var k = new I8042(() => resets++);
        k.Write(0x64, 1, 0xD1);
        k.Write(0x60, 1, 0x03);
        Assert.Equal(0, resets);
        k.Write(0x64, 1, 0xD1);
        k.Write(0x60, 1, 0x02);
        Assert.Equal(1, resets);
    }

    [Fact]
    public void UnknownCommandsAndKeyboardBytesAreCounted()
    {
        var k = new I8042(() => { });
        k.Write(0x64, 1, 0xC5);
        k.Write(0x60, 1, 0xFF);                      // keyboard reset: no keyboard
        Assert.Equal(2, k.UnhandledAccesses);
    }
}

public class DebugExitTests
{
    [Theory]
    [InlineData(0u, 1)]
    [InlineData(1u, 3)]
    [InlineData(0x31u, 0x63)]
    public void StatusIsValueShiftedLeftOrOne(uint value, int status)
    {
        int got = -1;
        var d = new DebugExit(s => got = s);
        d.Write(0xF4, 1, value);
        Assert.Equal(status, got);
        Assert.Equal(uint.MaxValue, d.Read(0xF4, 1));
    }
}

public class PciConfigTests
{
    [Fact]
    public void Type1DetectionAndNoDevices()
    {
        var bus = new IoBus();
        var pci = new PciConfigNoDevices();
        bus.Register(0xCF8, 8, pci, byteWide: false);
        // Linux's pci_check_type1.
        bus.Out(0xCFB, 1, 0x01);
        uint saved = bus.In(0xCF8, 4);
        bus.Out(0xCF8, 4, 0x80000000);
        Assert.Equal(0x80000000u, bus.In(0xCF8, 4));
        bus.Out(0xCF8, 4, saved);
        Assert.Equal(0x01000000u, saved);
        bus.Out(0xCF8, 4, 0x80000000);               // bus 0 device 0 vendor id
        Assert.Equal(0xFFFFFFFFu, bus.In(0xCFC, 4));
        Assert.Equal(0xFFFFu, bus.In(0xCFE, 2));
        bus.Out(0xCFC, 4, 0x12345678);               // dropped
        Assert.Equal(0xFFFFFFFFu, bus.In(0xCFC, 4));
    }
}

public class IoBusTests
{
    private sealed class Recorder : IPortDevice
    {
        public readonly List<string> Log = new();
        public uint Read(ushort port, int size) { Log.Add($"r{port:x}/{size}"); return port & 0xFFu; }
        public void Write(ushort port, int size, uint value) => Log.Add($"w{port:x}/{size}={value:x}");
    }

    [Fact]
    public void UnknownPortsReadAllOnesAndAreLoggedOnceButCountedEachTime()
    {
        var lines = new List<string>();
        var bus = new IoBus { Log = lines.Add };
        Assert.Equal(0xFFu, bus.In(0x1234, 1));
        Assert.Equal(0xFFFFu, bus.In(0x1234, 2));
        Assert.Equal(0xFFFFFFFFu, bus.In(0x1234, 4));
        bus.Out(0x1234, 1, 0);
        Assert.Single(lines, l => l.Contains("0x1234"));
        Assert.Equal(4 + 3 + 1, bus.UnknownAccesses); // wide accesses split across unowned ports
        Assert.Contains((ushort)0x1234, bus.UnknownPorts);
    }

    [Fact]
    public void WideAccessToByteDeviceIsSplit()
    {
        var bus = new IoBus();
        var d = new Recorder();
        bus.Register(0x3F8, 8, d);
        Assert.Equal(0xFBFAu, bus.In(0x3FA, 2));
        bus.Out(0x3F8, 2, 0xBBAA);
        Assert.Equal(new[] { "r3fa/1", "r3fb/1", "w3f8/1=aa", "w3f9/1=bb" }, d.Log);
    }

    [Fact]
    public void DoubleRegistrationIsRejected()
    {
        var bus = new IoBus();
        bus.Register(0x60, 1, new Recorder());
        Assert.Throws<InvalidOperationException>(() => bus.Register(0x60, 1, new Recorder()));
    }

    [Fact]
    public void Port80IsSwallowed()
    {
        var lines = new List<string>();
        var bus = new IoBus { Log = lines.Add };
        var ign = new IgnoredPorts();
        bus.Register(0x80, 1, ign);
        bus.Out(0x80, 1, 0x12);
        Assert.Empty(lines);
        Assert.Equal(1, ign.Writes);
    }
}

public class InterruptRouterTests
{
    [Fact]
    public void PicReachesTheCpuThroughLint0ExtIntAndNotWhenMasked()
    {
        using var b = new DeviceTestBench();
        var pic = new Pic8259();
        var lapic = new LocalApic(b.Cpu, b.Clock);
        var io = new IoApic(lapic);
        var router = new InterruptRouter(pic, lapic, io);
        pic.Write(0x20, 1, 0x11); pic.Write(0x21, 1, 0x20); pic.Write(0x21, 1, 0x04); pic.Write(0x21, 1, 0x01);
        pic.Write(0x21, 1, 0x00);
        router.SetIrq(0, true);
        Assert.True(router.HasInterrupt);             // LINT0 is ExtINT at reset
        lapic.Write(0xF0, 4, 0x1FF);
        lapic.Write(0x350, 4, 0x10700);               // mask LINT0
        Assert.False(router.HasInterrupt);
        lapic.Write(0x350, 4, 0x700);
        Assert.True(router.HasInterrupt);
        Assert.Equal(0x20, router.Acknowledge());
        Assert.Equal(1, router.PicAcknowledged);
    }

    [Fact]
    public void Irq0GoesToIoApicPin2()
    {
        using var b = new DeviceTestBench();
        var pic = new Pic8259();
        var lapic = new LocalApic(b.Cpu, b.Clock);
        var io = new IoApic(lapic);
        var router = new InterruptRouter(pic, lapic, io);
        lapic.Write(0xF0, 4, 0x1FF);
        lapic.Write(0x350, 4, 0x10700);
        io.Write(0, 4, 0x14);                         // pin 2 low dword
        io.Write(0x10, 4, 0x40);
        router.SetIrq(0, true);
        Assert.True(router.HasInterrupt);
        Assert.Equal(0x40, router.Acknowledge());
        Assert.Equal(1, router.ApicAcknowledged);
    }
}
