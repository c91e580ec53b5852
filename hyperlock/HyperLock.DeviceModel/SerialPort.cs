namespace HyperLock.DeviceModel;

/// <summary>
/// The part of a 16550 UART a polling guest uses: THR (base + 0) collects output, LSR (base + 5)
/// always reports the transmitter empty; other registers read as 0 and ignore writes.
/// </summary>
public sealed class SerialPort(ushort basePort = SerialPort.Com1)
{
    public const ushort Com1 = 0x3F8;
    private const byte LsrThrEmpty = 0x20, LsrIdle = 0x40;

    /// <summary>Called with each byte the guest transmits.</summary>
    public Action<byte>? Transmitted { get; set; }

    public List<byte> Output { get; } = new();

    public bool Claims(ushort port) => port >= basePort && port < basePort + 8;

    public ulong Read(ushort port) => port - basePort == 5 ? LsrThrEmpty | LsrIdle : 0UL;

    public void Write(ushort port, ulong value)
    {
        if (port != basePort) return;
        byte b = (byte)value;
        Output.Add(b);
        Transmitted?.Invoke(b);
    }
}
