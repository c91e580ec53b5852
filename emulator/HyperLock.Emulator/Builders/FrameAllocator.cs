using HyperLock.Emulator.Memory;

namespace HyperLock.Emulator.Builders;

/// <summary>
/// Hands out zeroed 4 KiB physical frames from a range, in increasing order (so a layout built
/// twice lands at the same addresses). Used by the table builders for their tables; the host
/// uses it for whatever memory it owns (VMCS regions, stacks, guest RAM).
/// </summary>
public sealed class FrameAllocator
{
    public const ulong FrameSize = PhysicalMemory.PageSize;

    private static readonly byte[] Zeros = new byte[FrameSize];
    private readonly PhysicalMemory _memory;

    /// <param name="start">First byte of the range (rounded up to a frame).</param>
    /// <param name="end">End of the range (exclusive).</param>
    public FrameAllocator(PhysicalMemory memory, ulong start, ulong end)
    {
        _memory = memory;
        Start = (start + FrameSize - 1) & ~(FrameSize - 1);
        End = end;
        Next = Start;
    }

    public ulong Start { get; }
    public ulong End { get; }

    /// <summary>The next frame <see cref="Allocate"/> returns.</summary>
    public ulong Next { get; private set; }

    /// <summary>Frames handed out so far.</summary>
    public ulong Allocated => (Next - Start) / FrameSize;

    /// <summary>One zeroed frame.</summary>
    public ulong Allocate() => AllocateContiguous(1);

    /// <summary><paramref name="frames"/> zeroed, physically contiguous frames; returns the first.</summary>
    public ulong AllocateContiguous(int frames)
    {
        if (frames <= 0) throw new ArgumentOutOfRangeException(nameof(frames), "At least one frame.");
        ulong bytes = (ulong)frames * FrameSize;
        if (Next + bytes > End || Next + bytes < Next)
            throw new InvalidOperationException($"Frame range 0x{Start:x}-0x{End:x} is exhausted.");
        ulong first = Next;
        for (ulong f = first; f < first + bytes; f += FrameSize) _memory.WriteBytes(f, Zeros);
        Next += bytes;
        return first;
    }

    /// <summary>True when <paramref name="address"/> lies in a frame this allocator has handed out.</summary>
    public bool Owns(ulong address) => address >= Start && address < Next;
}
