using HyperLock.Emulator.Processor.Execution;
using HyperLock.Emulator.Devices;
using HyperLock.Emulator.Memory;
using HyperLock.Emulator.Time;
using HyperLock.Emulator.Processor;

namespace HyperLock.Emulator.Machine;

/// <summary>
/// A machine built from parts (<see cref="BoardBuilder"/>): physical memory, one x86-64
/// processor, virtual time, an I/O-port bus, and whatever devices were attached. No firmware
/// and no kernel: the processor starts in its reset state (or wherever the caller puts it), and
/// the caller loads code. Every board owns its own devices, so one process can hold a board
/// per guest with nothing shared between them. <see cref="X86Machine"/> is a board with the PC
/// device set and a kernel loader on top.
/// </summary>
public sealed class Board : IDisposable
{
    private readonly List<object> _devices = new();

    internal Board(PhysicalMemory memory, Cpu cpu, VirtualClock clock, IoBus io)
    {
        Memory = memory;
        Cpu = cpu;
        Clock = clock;
        Io = io;
    }

    public PhysicalMemory Memory { get; }
    public Cpu Cpu { get; }
    public VirtualClock Clock { get; }
    public IoBus Io { get; }

    /// <summary>The attached devices, in attachment order.</summary>
    public IReadOnlyList<object> Devices => _devices;

    /// <summary>Gives ports <paramref name="first"/>..first+count-1 to <paramref name="device"/>.</summary>
    public T AttachPort<T>(ushort first, int count, T device, bool byteWide = true) where T : class, IPortDevice
    {
        Io.Register(first, count, device, byteWide);
        Remember(device);
        return device;
    }

    /// <summary>Maps <paramref name="device"/> as MMIO over [<paramref name="start"/>, start + length).</summary>
    public T AttachMmio<T>(ulong start, ulong length, T device) where T : class, IMmioHandler
    {
        Memory.AddMmio(start, length, device);
        Remember(device);
        return device;
    }

    /// <summary>Records a device that has no bus presence of its own (an interrupt router, a timer source).</summary>
    public T Attach<T>(T device) where T : class
    {
        Remember(device);
        return device;
    }

    /// <summary>The first attached device of type <typeparamref name="T"/>.</summary>
    public T Device<T>() where T : class =>
        TryGetDevice<T>(out var d) ? d : throw new InvalidOperationException($"No {typeof(T).Name} on this board.");

    public bool TryGetDevice<T>(out T device) where T : class
    {
        foreach (var d in _devices)
            if (d is T t) { device = t; return true; }
        device = null!;
        return false;
    }

    /// <summary>Runs the processor for at most <paramref name="maxInstructions"/> instructions.</summary>
    public StopReason Run(ulong maxInstructions) => Cpu.Run(maxInstructions);

    private void Remember(object device)
    {
        foreach (var d in _devices)
            if (ReferenceEquals(d, device)) return;
        _devices.Add(device);
    }

    public void Dispose() => Memory.Dispose();
}
