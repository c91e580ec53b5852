using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Devices;
using HyperLock.Emulator.Memory;
using HyperLock.Emulator.Time;

namespace HyperLock.Emulator.Machine;

/// <summary>
/// Builds a <see cref="Board"/>: memory size, CPUID profile, TSC frequency, and the parts
/// (callbacks that attach devices to the new board, in order). Nothing is global: every
/// <see cref="Build"/> makes new memory, a new processor and new devices.
/// </summary>
/// <example>
/// <code>
/// using var board = new BoardBuilder().WithMemory(64 &lt;&lt; 20)
///     .With(b =&gt; b.AttachPort(Uart16550.Com1Base, 8, new Uart16550(Uart16550.Com1Base, output, null)))
///     .Build();
/// </code>
/// </example>
public sealed class BoardBuilder
{
    /// <summary>The default RAM size of a board: 64 MiB.</summary>
    public const ulong DefaultMemorySize = 64UL << 20;

    private ulong _memorySize = DefaultMemorySize;
    private CpuidProfile? _cpuid;
    private ulong _tscHz = VirtualClock.DefaultFrequencyHz;
    private Action<string>? _log;
    private readonly List<Action<Board>> _parts = new();

    /// <summary>Bytes of RAM from physical address 0.</summary>
    public BoardBuilder WithMemory(ulong bytes)
    {
        _memorySize = bytes;
        return this;
    }

    /// <summary>The processor's CPUID profile (default: <see cref="CpuidProfile.Default"/>).</summary>
    public BoardBuilder WithCpuid(CpuidProfile profile)
    {
        _cpuid = profile;
        return this;
    }

    /// <summary>Cycles (retired instructions) per second of virtual time.</summary>
    public BoardBuilder WithTscFrequency(ulong hz)
    {
        _tscHz = hz;
        return this;
    }

    /// <summary>Diagnostics from the processor and the I/O bus.</summary>
    public BoardBuilder WithLog(Action<string>? log)
    {
        _log = log;
        return this;
    }

    /// <summary>Adds a part: code that attaches devices to the board being built (runs in order during <see cref="Build"/>).</summary>
    public BoardBuilder With(Action<Board> part)
    {
        _parts.Add(part);
        return this;
    }

    /// <summary>Adds a <see cref="HostCallPort"/> at <paramref name="port"/> (the host seam; see the class).</summary>
    public BoardBuilder WithHostCallPort(ushort port = HostCallPort.DefaultPort) =>
        With(b => b.AttachPort(port, 1, new HostCallPort(b.Cpu, b.Memory), byteWide: false));

    /// <summary>Builds the board; the memory is released if a part throws.</summary>
    public Board Build()
    {
        var memory = new PhysicalMemory(_memorySize);
        try
        {
            var cpu = new Cpu(memory, _cpuid) { Log = _log };
            var clock = new VirtualClock(cpu, _tscHz);
            var io = new IoBus { Log = _log };
            cpu.Io = io;
            var board = new Board(memory, cpu, clock, io);
            foreach (var part in _parts) part(board);
            return board;
        }
        catch
        {
            memory.Dispose();
            throw;
        }
    }
}
