using HyperLock.Emulator.Builders;
using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Processor.Execution;
using HyperLock.Emulator.Devices;
using HyperLock.Emulator.Loaders;
using HyperLock.Emulator.Machine;
using HyperLock.Emulator.Time;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.Emulator.Tests.Machine;

/// <summary>A machine from parts: a board with no kernel, its own devices, run by host code that set it up with the builders.</summary>
public class BoardTests
{
    private const ulong Code = 0x100000, Stack = 0x80000;

    /// <summary>64-bit CPL0 on an identity map of the first 16 MiB, set up with the builders; <paramref name="program"/> at <see cref="Code"/>.</summary>
    private static void Boot(Board board, Action<Assembler> program)
    {
        var m = board.Memory;
        var tables = new PageTableBuilder(m, new FrameAllocator(m, 0x1000, 0x5000));
        tables.IdentityMap2M(16 << 20, PageFlags.Writable);
        var gdt = new GdtBuilder(m, 0x5000, entries: 5);
        gdt.Code64(0x08);
        gdt.Data(0x10);
        gdt.Tss64(0x18, 0x7000, busy: true);
        new TssBuilder(m, 0x7000).Rsp(0, Stack);
        new LongModeState { Cr3 = tables.Root, GdtBase = gdt.Base, TssBase = 0x7000 }.Enter(board.Cpu, Code, Stack);
        m.WriteBytes(Code, AssembledCode.Bytes(64, Code, program));
    }

    private static void Print(Assembler a, string text)
    {
        a.mov(dx, Uart16550.Com1Base);
        foreach (char ch in text)
        {
            a.mov(al, (byte)ch);
            a.@out(dx, al);
        }
    }

    [Fact]
    public void ABoardWithNoKernelRunsAProgramOnTheDevicesItWasGiven()
    {
        var output = new MemoryStream();
        using var board = new BoardBuilder()
            .WithMemory(16 << 20)
            .With(b => b.AttachPort(Uart16550.Com1Base, 8, new Uart16550(Uart16550.Com1Base, output, null)))
            .Build();
        Boot(board, a => { Print(a, "parts"); a.hlt(); });
        var stop = board.Run(10_000);
        Assert.Equal(StopKind.Halted, stop.Kind);
        Assert.Equal("parts", System.Text.Encoding.ASCII.GetString(output.ToArray()));
        Assert.Single(board.Devices);
        Assert.Same(board.Io, board.Cpu.Io);
        Assert.Equal(0, board.Io.UnknownAccesses);
        Assert.False(board.TryGetDevice<Pit8254>(out _));     // only what was asked for
    }

    [Fact]
    public void TwoBoardsInOneProcessShareNothing()
    {
        var out1 = new MemoryStream();
        var out2 = new MemoryStream();
        Board Make(Stream sink) => new BoardBuilder().WithMemory(16 << 20)
            .With(b => b.AttachPort(Uart16550.Com1Base, 8, new Uart16550(Uart16550.Com1Base, sink, null)))
            .With(b => new TimerDevice(b))
            .Build();
        using var b1 = Make(out1);
        using var b2 = Make(out2);
        Boot(b1, a => { Print(a, "one"); a.hlt(); });
        Boot(b2, a => { a.mov(ecx, 500); var l = a.CreateLabel(); a.Label(ref l); a.dec(ecx); a.jnz(l); Print(a, "two"); a.hlt(); });
        b1.Memory.Write(0x300000, 8, 0x1111);
        Assert.Equal(StopKind.Halted, b1.Run(10_000).Kind);
        Assert.Equal(StopKind.Halted, b2.Run(10_000).Kind);
        Assert.Equal("one", System.Text.Encoding.ASCII.GetString(out1.ToArray()));
        Assert.Equal("two", System.Text.Encoding.ASCII.GetString(out2.ToArray()));
        Assert.NotSame(b1.Device<Uart16550>(), b2.Device<Uart16550>());
        Assert.NotSame(b1.Clock, b2.Clock);
        Assert.True(b2.Clock.Now > b1.Clock.Now);               // each board has its own time
        Assert.Equal(0UL, b2.Memory.Read(0x300000, 8));          // and its own memory
        Assert.NotSame(b1.Device<TimerDevice>(), b2.Device<TimerDevice>());
        Assert.Equal(1, b2.Device<TimerDevice>().Fired);         // fired on b2's clock at cycle 100
    }

    /// <summary>A device with a timer on its board's clock (a stand-in for a guest's own timer device).</summary>
    private sealed class TimerDevice
    {
        public int Fired;
        public TimerDevice(Board board)
        {
            board.Attach(this);
            var timer = board.Clock.CreateTimer("test", () => Fired++);
            timer.Arm(100);
        }
    }

    [Fact]
    public void X86MachineIsABoardWithThePcDevices()
    {
        using var m = new X86Machine(new MachineConfig
        {
            Boot = new BootImage { Kernel = [0xF4], Format = KernelFormat.Flat },
            MemorySize = 32 << 20,
        });
        Assert.Same(m.Board.Cpu, m.Cpu);
        Assert.Same(m.Pit, m.Board.Device<Pit8254>());
        Assert.Same(m.Serial, m.Board.Device<Uart16550>());
        Assert.Same(m.Board.Device<Pit8254>(), m.Io.OwnerOf(Pit8254.Channel0Port));
        Assert.Same(m.Pc.Interrupts, m.Cpu.Interrupts);
        Assert.False(m.Board.TryGetDevice<HostCallPort>(out _)); // a PC has no host seam unless asked
    }
}
