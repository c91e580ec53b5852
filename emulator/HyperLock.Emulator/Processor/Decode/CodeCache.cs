namespace HyperLock.Emulator.Processor.Decode;

/// <summary>
/// Decoded blocks by physical frame. A frame's blocks are dropped together when the frame is
/// written (self-modifying code, loaders, DMA), so the cache never serves stale decodes.
/// </summary>
public sealed class CodeCache
{
    private readonly Dictionary<ulong, Dictionary<int, Block>> _byFrame = new();

    public int BlockCount { get; private set; }

    /// <summary>Total blocks ever decoded, for tests and benchmarks.</summary>
    public ulong Decodes { get; private set; }

    private static int Key(ulong phys, int bitness) => (int)(phys & 0xFFF) | (bitness << 12);

    public Block? Find(ulong phys, int bitness)
    {
        if (_byFrame.TryGetValue(phys >> 12, out var blocks) && blocks.TryGetValue(Key(phys, bitness), out var b))
            return b;
        return null;
    }

    public void Add(Block block)
    {
        Decodes++;
        BlockCount++;
        Register(block.Phys >> 12, block);
        // A block with an instruction crossing into a second frame is dropped when either is written.
        if (block.SecondFrame != ulong.MaxValue) Register(block.SecondFrame, block, secondary: true);
    }

    private void Register(ulong frame, Block block, bool secondary = false)
    {
        if (!_byFrame.TryGetValue(frame, out var blocks)) _byFrame[frame] = blocks = new Dictionary<int, Block>();
        // Secondary registrations use a key outside the primary range so they never shadow a primary block.
        int key = secondary ? -1 - (int)(block.Phys & 0xFFF) - (block.Bitness << 12) : Key(block.Phys, block.Bitness);
        blocks[key] = block;
    }

    /// <summary>Drops every block that depends on the frame. Returns true if any was dropped.</summary>
    public bool InvalidateFrame(ulong frame)
    {
        if (!_byFrame.Remove(frame, out var blocks)) return false;
        foreach (var b in blocks.Values)
        {
            if (!b.Valid) continue;
            b.Valid = false;
            BlockCount--;
        }
        return blocks.Count > 0;
    }

    public void Clear()
    {
        foreach (var blocks in _byFrame.Values)
            foreach (var b in blocks.Values) b.Valid = false;
        _byFrame.Clear();
        BlockCount = 0;
    }
}
