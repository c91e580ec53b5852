namespace HyperLock.Emulator.Devices;

/// <summary>
/// PCI configuration mechanism #1 with an empty bus: the address register at 0xCF8 reads back
/// what was written (bit 31 enable, bus, device, function, register), which is how Linux
/// detects the mechanism; the data window at 0xCFC-0xCFF reads as 0xFFFFFFFF ("no device" at
/// every address) and drops writes. Mechanism #2 and config-space devices are not emulated.
/// </summary>
public sealed class PciConfigNoDevices : IPortDevice
{
    /// <summary>CONFIG_ADDRESS (32-bit; byte writes to 0xCF8-0xCFB update their lane).</summary>
    public const ushort AddressPort = 0xCF8;
    /// <summary>CONFIG_DATA window.</summary>
    public const ushort DataPort = 0xCFC;
    /// <summary>CONFIG_ADDRESS bit 31: configuration access enabled.</summary>
    public const uint AddressEnable = 0x80000000;
    /// <summary>Bits of CONFIG_ADDRESS that hold state (bits 1:0 are reserved, read as 0).</summary>
    public const uint AddressMask = 0xFFFFFFFC;

    private uint _address;

    /// <summary>Data-window accesses (each answered "no device").</summary>
    public long DataAccesses { get; private set; }

    public uint Read(ushort port, int size)
    {
        if (port >= DataPort) { DataAccesses++; return uint.MaxValue; }
        int shift = (port - AddressPort) * 8;
        return (_address >> shift) & (size >= 4 ? uint.MaxValue : (1u << (8 * size)) - 1);
    }

    public void Write(ushort port, int size, uint value)
    {
        if (port >= DataPort) { DataAccesses++; return; }
        int shift = (port - AddressPort) * 8;
        uint mask = (size >= 4 ? uint.MaxValue : (1u << (8 * size)) - 1) << shift;
        _address = ((_address & ~mask) | ((value << shift) & mask)) & AddressMask;
    }
}
