using System.Text;
using HyperLock.Emulator.Devices;

namespace HyperLock.Emulator.Tests.Devices;

public class Uart16550Tests
{
    private const ushort B = 0x3F8;

    private static (Uart16550 Uart, MemoryStream Sink, IrqProbe Irq) Make()
    {
        var sink = new MemoryStream();
        var irq = new IrqProbe(() => 0);
        return (new Uart16550(B, sink, irq.Set), sink, irq);
    }

    [Fact]
    public void TransmitsToTheSink()
    {
        var (u, sink, _) = Make();
        foreach (byte c in "hello\n"u8) u.Write(B, 1, c);
        Assert.Equal("hello\n", Encoding.ASCII.GetString(sink.ToArray()));
        Assert.Equal(0x60u, u.Read(B + 5, 1) & 0x60); // THRE and TEMT
    }

    [Fact]
    public void PassesLinux8250AutoconfigProbes()
    {
        var (u, _, _) = Make();
        // IER test: only the low four bits exist.
        u.Write(B + 1, 1, 0);
        Assert.Equal(0u, u.Read(B + 1, 1) & 0x0F);
        u.Write(B + 1, 1, 0xFF);
        Assert.Equal(0x0Fu, u.Read(B + 1, 1));
        u.Write(B + 1, 1, 0);
        // Loopback test: MCR = LOOP | OUT2 | RTS → MSR high nibble 0x90.
        u.Write(B + 4, 1, 0x1A);
        Assert.Equal(0x90u, u.Read(B + 6, 1) & 0xF0);
        u.Write(B + 4, 1, 0);
        // FIFO detection: IIR bits 7:6 = 11 with FIFOs enabled (16550A).
        u.Write(B + 2, 1, 0x01);
        Assert.Equal(0xC0u, u.Read(B + 2, 1) & 0xC0);
        u.Write(B + 2, 1, 0x00);
        Assert.Equal(0x00u, u.Read(B + 2, 1) & 0xC0);
        // Scratch register.
        u.Write(B + 7, 1, 0x5A);
        Assert.Equal(0x5Au, u.Read(B + 7, 1));
        // LSR safety check: not 0xFF.
        Assert.NotEqual(0xFFu, u.Read(B + 5, 1));
    }

    [Fact]
    public void EnablingThriWithEmptyHolderRaisesThreInterruptUntilIirRead()
    {
        var (u, _, irq) = Make();
        Assert.Equal(0x01u, u.Read(B + 2, 1) & 0x0F);   // no interrupt
        u.Write(B + 1, 1, 0x02);
        Assert.True(irq.Level);
        Assert.Equal(0x02u, u.Read(B + 2, 1) & 0x0F);   // THRE; reading clears it
        Assert.False(irq.Level);
        Assert.Equal(0x01u, u.Read(B + 2, 1) & 0x0F);
        u.Write(B, 1, (byte)'x');                        // transmitted: empty again
        Assert.True(irq.Level);
    }

    [Fact]
    public void ReceivedDataInterruptsAndReads()
    {
        var (u, _, irq) = Make();
        u.Write(B + 1, 1, 0x01);
        Assert.False(irq.Level);
        u.Enqueue("ab"u8);
        Assert.True(irq.Level);
        Assert.Equal(0x04u, u.Read(B + 2, 1) & 0x0F);
        Assert.Equal(1u, u.Read(B + 5, 1) & 1);
        Assert.Equal((uint)'a', u.Read(B, 1));
        Assert.Equal((uint)'b', u.Read(B, 1));
        Assert.Equal(0u, u.Read(B + 5, 1) & 1);
        Assert.False(irq.Level);
    }

    [Fact]
    public void LoopbackReceivesWhatIsSentAndNothingReachesTheSink()
    {
        var (u, sink, _) = Make();
        u.Write(B + 4, 1, 0x10);
        u.Write(B, 1, 0x42);
        Assert.Equal(0L, sink.Length);
        Assert.Equal(1u, u.Read(B + 5, 1) & 1);
        Assert.Equal(0x42u, u.Read(B, 1));
    }

    [Fact]
    public void DivisorLatchIsSeparateFromDataAndIer()
    {
        var (u, sink, _) = Make();
        u.Write(B + 3, 1, 0x80);
        u.Write(B, 1, 0x01);
        u.Write(B + 1, 1, 0x00);
        Assert.Equal(0x01u, u.Read(B, 1));
        u.Write(B + 3, 1, 0x03);
        Assert.Equal(0L, sink.Length);
        Assert.Equal(0u, u.Read(B + 1, 1));
    }

    [Fact]
    public void ModemStatusDeltasInLoopbackAndClearOnRead()
    {
        var (u, _, irq) = Make();
        u.Write(B + 1, 1, 0x08);
        u.Write(B + 4, 1, 0x10);             // loopback, all outputs off: CTS/DSR/DCD drop
        uint msr = u.Read(B + 6, 1);
        Assert.Equal(0x0Bu, msr & 0x0F);     // DCTS, DDSR, DDCD
        Assert.Equal(0u, u.Read(B + 6, 1) & 0x0F);
        Assert.False(irq.Level);
    }

    [Fact]
    public void WritingLsrIsCounted()
    {
        var (u, _, _) = Make();
        u.Write(B + 5, 1, 0);
        Assert.Equal(1, u.UnhandledAccesses);
    }
}
