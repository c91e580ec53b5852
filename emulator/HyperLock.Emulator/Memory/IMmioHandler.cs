namespace HyperLock.Emulator.Memory;

/// <summary>
/// A device window in guest-physical address space. Accesses are never cached in the CPU's
/// TLB; each one reaches the device through this narrow interface.
/// </summary>
public interface IMmioHandler
{
    /// <summary>Reads <paramref name="size"/> bytes (1, 2, 4 or 8) at <paramref name="offset"/> into the region.</summary>
    ulong Read(ulong offset, int size);

    /// <summary>Writes the low <paramref name="size"/> bytes of <paramref name="value"/> at <paramref name="offset"/>.</summary>
    void Write(ulong offset, int size, ulong value);
}
