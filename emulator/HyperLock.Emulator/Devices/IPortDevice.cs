namespace HyperLock.Emulator.Devices;

/// <summary>
/// A device on the I/O-port bus. <paramref name="port"/> is the absolute port number; the bus
/// only calls a device for ports it registered. Byte-wide devices see only 1-byte accesses
/// (the bus splits wider ones).
/// </summary>
public interface IPortDevice
{
    /// <summary>Reads <paramref name="size"/> bytes (1, 2 or 4) from <paramref name="port"/>.</summary>
    uint Read(ushort port, int size);

    /// <summary>Writes the low <paramref name="size"/> bytes of <paramref name="value"/> to <paramref name="port"/>.</summary>
    void Write(ushort port, int size, uint value);
}
