namespace HyperLock.Emulator.Devices;

/// <summary>
/// Ports that exist on a PC but have no effect worth emulating: port 0x80 (the POST-code /
/// I/O-delay port Linux writes between slow accesses). Reads return all ones; writes are
/// accepted silently and counted.
/// </summary>
public sealed class IgnoredPorts : IPortDevice
{
    /// <summary>The POST diagnostic port, used by Linux as an I/O delay.</summary>
    public const ushort PostPort = 0x80;

    /// <summary>Writes accepted (and discarded).</summary>
    public long Writes { get; private set; }

    /// <summary>Reads answered with all ones.</summary>
    public long Reads { get; private set; }

    public uint Read(ushort port, int size)
    {
        Reads++;
        return uint.MaxValue;
    }

    public void Write(ushort port, int size, uint value) => Writes++;
}
