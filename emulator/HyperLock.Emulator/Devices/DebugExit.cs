namespace HyperLock.Emulator.Devices;

/// <summary>
/// QEMU's isa-debug-exit device at port 0xF4: a write of <c>value</c> ends the run with exit
/// status <c>(value &lt;&lt; 1) | 1</c>. Reads return all ones. Nothing else is emulated.
/// </summary>
public sealed class DebugExit : IPortDevice
{
    /// <summary>The port QEMU's default configuration uses (iobase=0xf4).</summary>
    public const ushort Port = 0xF4;
    /// <summary>Ports the device decodes (iosize=4).</summary>
    public const int PortCount = 4;

    private readonly Action<int> _exit;

    /// <param name="exit">Called with the exit status the guest asked for.</param>
    public DebugExit(Action<int> exit) => _exit = exit;

    /// <summary>The exit status of a write of <paramref name="value"/>.</summary>
    public static int StatusOf(uint value) => (int)((value << 1) | 1);

    public uint Read(ushort port, int size) => uint.MaxValue;

    public void Write(ushort port, int size, uint value) => _exit(StatusOf(value));
}
