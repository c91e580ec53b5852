using HyperLock.Emulator.Processor.Execution;

namespace HyperLock.Emulator.Devices;

/// <summary>
/// The I/O-port space: a table of 65536 ports, each owned by at most one device. Ports no
/// device owns read as all ones and drop writes; each such port is logged once and every
/// access is counted. Accesses wider than a byte to a byte-wide device are split into byte
/// accesses on consecutive ports, as the ISA bus does.
/// </summary>
public sealed class IoBus : IIoBus
{
    private readonly IPortDevice?[] _owner = new IPortDevice?[65536];
    private readonly bool[] _byteWide = new bool[65536];
    private readonly HashSet<ushort> _reportedUnknown = new();

    /// <summary>Receives one line the first time each unknown port is accessed.</summary>
    public Action<string>? Log { get; set; }

    /// <summary>Accesses to ports no device owns.</summary>
    public long UnknownAccesses { get; private set; }

    /// <summary>The unknown ports accessed so far.</summary>
    public IReadOnlyCollection<ushort> UnknownPorts => _reportedUnknown;

    /// <summary>Gives <paramref name="count"/> ports from <paramref name="first"/> to a device.</summary>
    /// <param name="byteWide">The device decodes byte accesses only; wider accesses are split.</param>
    public void Register(ushort first, int count, IPortDevice device, bool byteWide = true)
    {
        for (int p = first; p < first + count; p++)
        {
            if (p > 0xFFFF) throw new ArgumentOutOfRangeException(nameof(count), "Port range runs past 0xFFFF.");
            if (_owner[p] != null) throw new InvalidOperationException($"Port 0x{p:x} is already registered.");
            _owner[p] = device;
            _byteWide[p] = byteWide;
        }
    }

    /// <summary>The device owning a port, or null.</summary>
    public IPortDevice? OwnerOf(ushort port) => _owner[port];

    public uint In(ushort port, int size)
    {
        if (size == 1 || (_owner[port] != null && !_byteWide[port]))
            return InOne(port, size);
        uint v = 0;
        for (int i = 0; i < size; i++)
            v |= InOne((ushort)(port + i), 1) << (8 * i);
        return v;
    }

    public void Out(ushort port, int size, uint value)
    {
        if (size == 1 || (_owner[port] != null && !_byteWide[port]))
        {
            OutOne(port, size, value);
            return;
        }
        for (int i = 0; i < size; i++)
            OutOne((ushort)(port + i), 1, (value >> (8 * i)) & 0xFF);
    }

    private uint InOne(ushort port, int size)
    {
        var d = _owner[port];
        if (d != null) return d.Read(port, size) & Mask(size);
        Unknown(port, size, "read");
        return Mask(size);
    }

    private void OutOne(ushort port, int size, uint value)
    {
        var d = _owner[port];
        if (d != null) d.Write(port, size, value & Mask(size));
        else Unknown(port, size, "write");
    }

    private static uint Mask(int size) => size >= 4 ? uint.MaxValue : (1u << (8 * size)) - 1;

    private void Unknown(ushort port, int size, string what)
    {
        UnknownAccesses++;
        if (_reportedUnknown.Add(port))
            Log?.Invoke($"io: unknown port 0x{port:x4} ({what}, {size} byte{(size == 1 ? "" : "s")}): reads as all ones, writes dropped");
    }
}
