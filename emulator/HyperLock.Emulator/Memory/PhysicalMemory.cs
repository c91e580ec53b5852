using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace HyperLock.Emulator.Memory;

/// <summary>
/// Sparse guest-physical memory: 4 KiB frames allocated (zeroed) on first touch, in native
/// memory so the CPU's TLB can hold raw pointers. Frames that hold decoded code are tracked
/// so that any write to them (from the CPU, a device or a loader) invalidates the decode cache.
/// MMIO regions are page-granular and always take the slow path.
/// </summary>
public sealed unsafe class PhysicalMemory : IDisposable
{
    public const int PageShift = 12;
    public const int PageSize = 1 << PageShift;
    public const ulong PageMask = PageSize - 1;

    // Two-level frame table: 2^18 frames (1 GiB) per leaf, up to 2^40 bytes of address space.
    private const int LeafShift = 18;
    private const int LeafSize = 1 << LeafShift;
    private const int RootSize = 1 << (40 - PageShift - LeafShift);
    public const ulong MaxAddressExclusive = 1UL << 40;

    private readonly nint[]?[] _frames = new nint[]?[RootSize];
    private readonly byte[]?[] _flags = new byte[]?[RootSize];
    private readonly List<MmioRegion> _mmio = new();
    private bool _disposed;

    private const byte FlagCode = 1;
    private const byte FlagMmio = 2;

    /// <summary>Bytes of RAM the machine is configured with; frames above it (and not MMIO) read as all ones.</summary>
    public ulong RamSize { get; }

    /// <summary>Called with the frame number when a frame that holds decoded code is written.</summary>
    public Action<ulong>? CodeWritten { get; set; }

    public long AllocatedFrames { get; private set; }

    public PhysicalMemory(ulong ramSize)
    {
        if (ramSize == 0 || ramSize > MaxAddressExclusive)
            throw new ArgumentOutOfRangeException(nameof(ramSize), "RAM size must be between 1 byte and 1 TiB.");
        RamSize = ramSize;
    }

    private readonly record struct MmioRegion(ulong Start, ulong Length, IMmioHandler Handler);

    /// <summary>Maps a device window; the range is rounded out to whole pages.</summary>
    public void AddMmio(ulong start, ulong length, IMmioHandler handler)
    {
        _mmio.Add(new MmioRegion(start, length, handler));
        for (ulong p = start & ~PageMask; p < start + length; p += PageSize)
            SetFlag(p >> PageShift, FlagMmio, true);
    }

    public bool IsMmio(ulong frame) => (GetFlags(frame) & FlagMmio) != 0;

    /// <summary>True when the frame is backed by RAM (below <see cref="RamSize"/> and not MMIO).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsRam(ulong frame) => (frame << PageShift) < RamSize && !IsMmio(frame);

    /// <summary>
    /// Host pointer to the start of a RAM frame, allocating it on first touch; null for
    /// MMIO frames and for addresses outside RAM.
    /// </summary>
    public byte* FramePointer(ulong frame)
    {
        if ((frame << PageShift) >= RamSize || frame >= (MaxAddressExclusive >> PageShift)) return null;
        var leaf = _frames[frame >> LeafShift];
        if (leaf != null)
        {
            nint p = leaf[frame & (LeafSize - 1)];
            if (p != 0) return (byte*)p;
        }
        if (IsMmio(frame)) return null;
        return Allocate(frame);
    }

    /// <summary>True when the RAM frame has been touched (allocated); never allocates.</summary>
    public bool IsAllocated(ulong frame)
    {
        if (frame >= (MaxAddressExclusive >> PageShift)) return false;
        var leaf = _frames[frame >> LeafShift];
        return leaf != null && leaf[frame & (LeafSize - 1)] != 0;
    }

    private byte* Allocate(ulong frame)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var leaf = _frames[frame >> LeafShift] ??= new nint[LeafSize];
        var p = (byte*)NativeMemory.AlignedAlloc(PageSize, PageSize);
        NativeMemory.Clear(p, PageSize);
        leaf[frame & (LeafSize - 1)] = (nint)p;
        AllocatedFrames++;
        return p;
    }

    private byte GetFlags(ulong frame)
    {
        if (frame >= (MaxAddressExclusive >> PageShift)) return 0;
        var f = _flags[frame >> LeafShift];
        return f == null ? (byte)0 : f[frame & (LeafSize - 1)];
    }

    private void SetFlag(ulong frame, byte flag, bool on)
    {
        if (frame >= (MaxAddressExclusive >> PageShift)) return;
        var f = _flags[frame >> LeafShift] ??= new byte[LeafSize];
        ref byte b = ref f[frame & (LeafSize - 1)];
        b = on ? (byte)(b | flag) : (byte)(b & ~flag);
    }

    /// <summary>Marks a frame as holding decoded code: writes to it must invalidate the decode cache.</summary>
    public void MarkCode(ulong frame) => SetFlag(frame, FlagCode, true);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsCode(ulong frame) => (GetFlags(frame) & FlagCode) != 0;

    /// <summary>Called before a frame is modified by anything; drops decoded code that it held.</summary>
    public void NotifyWrite(ulong frame)
    {
        if ((GetFlags(frame) & FlagCode) == 0) return;
        SetFlag(frame, FlagCode, false);
        CodeWritten?.Invoke(frame);
    }

    private IMmioHandler? FindMmio(ulong address, out ulong offset)
    {
        foreach (var r in _mmio)
        {
            if (address >= r.Start && address - r.Start < r.Length)
            {
                offset = address - r.Start;
                return r.Handler;
            }
        }
        offset = 0;
        return null;
    }

    /// <summary>Reads 1, 2, 4 or 8 bytes; the access must not cross a page. Unbacked addresses read as all ones.</summary>
    public ulong Read(ulong address, int size)
    {
        byte* p = FramePointer(address >> PageShift);
        if (p != null)
        {
            p += address & PageMask;
            return size switch
            {
                1 => *p,
                2 => Unsafe.ReadUnaligned<ushort>(p),
                4 => Unsafe.ReadUnaligned<uint>(p),
                _ => Unsafe.ReadUnaligned<ulong>(p),
            };
        }
        var h = FindMmio(address, out ulong off);
        if (h != null) return h.Read(off, size);
        return size == 8 ? ulong.MaxValue : (1UL << (size * 8)) - 1;
    }

    /// <summary>Writes 1, 2, 4 or 8 bytes; the access must not cross a page. Writes to unbacked addresses are dropped.</summary>
    public void Write(ulong address, int size, ulong value)
    {
        ulong frame = address >> PageShift;
        byte* p = FramePointer(frame);
        if (p != null)
        {
            NotifyWrite(frame);
            p += address & PageMask;
            switch (size)
            {
                case 1: *p = (byte)value; break;
                case 2: Unsafe.WriteUnaligned(p, (ushort)value); break;
                case 4: Unsafe.WriteUnaligned(p, (uint)value); break;
                default: Unsafe.WriteUnaligned(p, value); break;
            }
            return;
        }
        FindMmio(address, out ulong off)?.Write(off, size, value);
    }

    /// <summary>Copies bytes into guest-physical memory (loaders, DMA), invalidating decoded code as needed.</summary>
    public void WriteBytes(ulong address, ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            int chunk = (int)Math.Min((ulong)data.Length, PageSize - (address & PageMask));
            ulong frame = address >> PageShift;
            byte* p = FramePointer(frame);
            if (p == null) throw new ArgumentOutOfRangeException(nameof(address), $"Guest-physical 0x{address:x} is not RAM.");
            NotifyWrite(frame);
            data[..chunk].CopyTo(new Span<byte>(p + (address & PageMask), chunk));
            data = data[chunk..];
            address += (ulong)chunk;
        }
    }

    /// <summary>Copies bytes out of guest-physical memory; unbacked bytes read as 0xFF.</summary>
    public void ReadBytes(ulong address, Span<byte> dest)
    {
        while (!dest.IsEmpty)
        {
            int chunk = (int)Math.Min((ulong)dest.Length, PageSize - (address & PageMask));
            byte* p = FramePointer(address >> PageShift);
            if (p == null) dest[..chunk].Fill(0xFF);
            else new ReadOnlySpan<byte>(p + (address & PageMask), chunk).CopyTo(dest);
            dest = dest[chunk..];
            address += (ulong)chunk;
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var leaf in _frames)
        {
            if (leaf == null) continue;
            foreach (nint p in leaf)
                if (p != 0) NativeMemory.AlignedFree((void*)p);
        }
    }
}
