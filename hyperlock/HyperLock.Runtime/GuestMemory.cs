using HyperLock.Emulator.Memory;

namespace HyperLock.Runtime;

/// <summary>
/// One guest's memory as its loader sees it: guest-physical [0, <see cref="Size"/>), nothing else.
/// Handed to the guest's (untrusted) loader, which can reach no other memory through it.
/// </summary>
public sealed class GuestMemory
{
    private readonly PhysicalMemory _memory;
    private readonly ulong _base;

    internal GuestMemory(PhysicalMemory memory, ulong hostBase, ulong size)
    {
        _memory = memory;
        _base = hostBase;
        Size = size;
    }

    public ulong Size { get; }

    /// <summary>Copies <paramref name="data"/> to guest-physical <paramref name="gpa"/>; the range must lie inside the guest.</summary>
    public void Write(ulong gpa, ReadOnlySpan<byte> data)
    {
        if (gpa > Size || (ulong)data.Length > Size - gpa) throw new ArgumentOutOfRangeException(nameof(gpa), $"0x{gpa:x}+{data.Length} is outside the guest's {Size} bytes");
        _memory.WriteBytes(_base + gpa, data);
    }

    /// <summary>Reads guest-physical memory into <paramref name="dest"/>; the range must lie inside the guest.</summary>
    public void Read(ulong gpa, Span<byte> dest)
    {
        if (gpa > Size || (ulong)dest.Length > Size - gpa) throw new ArgumentOutOfRangeException(nameof(gpa), $"0x{gpa:x}+{dest.Length} is outside the guest's {Size} bytes");
        _memory.ReadBytes(_base + gpa, dest);
    }
}
