namespace HyperLock.Emulator.Processor.Decode;

/// <summary>
/// A straight-line run of decoded instructions starting at one physical address, ending at
/// the first terminator or at the end of its page. Keyed by physical address and code size,
/// so aliases of the same code share one decode; invalidated when its page is written.
/// </summary>
public sealed class Block
{
    public Insn[] Insns;
    public int Count;

    /// <summary>Physical address of the first byte.</summary>
    public readonly ulong Phys;

    /// <summary>Second physical frame the block depends on (an instruction crossing a page), or ulong.MaxValue.</summary>
    public ulong SecondFrame = ulong.MaxValue;

    /// <summary>Linear address the block was last entered at (the jump cache key).</summary>
    public ulong Linear;

    /// <summary>Code size: 16, 32 or 64.</summary>
    public readonly int Bitness;

    /// <summary>False once the code it was decoded from has been written.</summary>
    public bool Valid = true;

    public Block(ulong phys, int bitness, Insn[] insns, int count)
    {
        Phys = phys;
        Bitness = bitness;
        Insns = insns;
        Count = count;
    }
}
