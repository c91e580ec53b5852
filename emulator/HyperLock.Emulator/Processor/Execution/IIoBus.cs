namespace HyperLock.Emulator.Processor.Execution;

/// <summary>The I/O-port space as the CPU sees it (IN/OUT and their string forms).</summary>
public interface IIoBus
{
    /// <summary>Reads <paramref name="size"/> bytes (1, 2 or 4) from a port.</summary>
    uint In(ushort port, int size);

    /// <summary>Writes the low <paramref name="size"/> bytes of <paramref name="value"/> to a port.</summary>
    void Out(ushort port, int size, uint value);
}
