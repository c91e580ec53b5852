using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using static HyperLock.Emulator.Tests.Processor.SystemInstructions.BareMetal;

namespace HyperLock.Emulator.Tests.Processor.SystemInstructions;

/// <summary>IN/OUT/INS/OUTS through an I/O bus, and the IOPL / TSS-bitmap permission check.</summary>
public class PortIoTests
{
    /// <summary>Records every access; reads return a per-port sequence of values.</summary>
    private sealed class FakeIo : IIoBus
    {
        public readonly List<(string Dir, ushort Port, int Size, uint Value)> Log = new();
        public readonly Dictionary<ushort, Queue<uint>> Replies = new();

        public uint In(ushort port, int size)
        {
            uint v = Replies.TryGetValue(port, out var q) && q.Count > 0 ? q.Dequeue() : 0xFFFFFFFF;
            Log.Add(("in", port, size, v));
            return v;
        }

        public void Out(ushort port, int size, uint value) => Log.Add(("out", port, size, value));
    }

    [Fact]
    public void InOutAndStringFormsReachTheBus()
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        var io = new FakeIo();
        io.Replies[0x71] = new Queue<uint>([0x5A]);
        io.Replies[0x60] = new Queue<uint>([0x1234, 0x5678]);
        m.Cpu.Io = io;
        m.Write(0x8100, 4, 0x00214948); // "HI!"
        m.Asm(KernelCode, 64, a =>
        {
            a.mov(al, 0x41);
            a.@out(0x80, al);
            a.mov(dx, 0x3F8);
            a.mov(eax, 0x12345678);
            a.@out(dx, eax);
            a.xor(eax, eax);
            a.@in(al, 0x71);
            a.mov(__qword_ptr[Results + 8], rax);
            a.mov(esi, 0x8100);
            a.mov(ecx, 3);
            a.mov(dx, 0xE9);
            a.rep.outsb();
            a.mov(edi, 0x8200);
            a.mov(ecx, 2);
            a.mov(dx, 0x60);
            a.rep.insw();
            a.mov(__qword_ptr[Results + 16], rdi);
            a.hlt();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(
            new (string, ushort, int, uint)[]
            {
                ("out", 0x80, 1, 0x41), ("out", 0x3F8, 4, 0x12345678), ("in", 0x71, 1, 0x5A),
                ("out", 0xE9, 1, (uint)'H'), ("out", 0xE9, 1, (uint)'I'), ("out", 0xE9, 1, (uint)'!'),
                ("in", 0x60, 2, 0x1234), ("in", 0x60, 2, 0x5678),
            },
            io.Log);
        Assert.Equal(0x5AUL, m.Result(1));
        Assert.Equal(0x56781234UL, m.Read(0x8200, 4));
        Assert.Equal(0x8204UL, m.Result(2));
    }

    [Fact]
    public void UnconnectedBusReadsAllOnes()
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        m.Asm(KernelCode, 64, a =>
        {
            a.xor(eax, eax);
            a.mov(dx, 0x1234);
            a.@in(ax, dx);
            a.hlt();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(0xFFFFUL, m.Cpu.R(Reg.Rax));
    }

    [Fact]
    public void Cpl3AccessIsCheckedAgainstTheTssBitmap()
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        var io = new FakeIo();
        io.Replies[0x3F8] = new Queue<uint>([0x42]);
        m.Cpu.Io = io;
        // Bitmap at TSS+0x68 covering ports 0-0x3FF, all denied but 0x3F8; limit includes it.
        for (ulong b = 0; b < 0x80; b++) m.Write(TssBase + 0x68 + b, 1, 0xFF);
        m.Write(TssBase + 0x68 + (0x3F8 >> 3), 1, 0xFE);
        m.Cpu.Tr.Limit = 0x68 + 0x80;
        LongModeTests.Recorder(m, Vector.GP, hasError: true);
        m.Asm(KernelCode, 64, a => LongModeTests.IretToUser(a));
        var denied = default(Label);
        var r = m.Asm(UserCode, 64, a =>
        {
            denied = a.CreateLabel();
            a.mov(dx, 0x3F8);
            a.xor(eax, eax);
            a.@in(al, dx);
            a.mov(__qword_ptr[Results + 0x40], rax);
            a.mov(dx, 0x3F9);
            a.Label(ref denied);
            a.@in(al, dx);
            a.hlt();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(0x42UL, m.Read(Results + 0x40, 8));
        Assert.Equal((ulong)Vector.GP, m.Result(0));
        Assert.Equal(r.GetLabelRIP(denied), m.Result(2));
        Assert.Single(io.Log);
    }
}
