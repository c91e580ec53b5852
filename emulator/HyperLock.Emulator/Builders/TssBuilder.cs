using HyperLock.Emulator.Memory;

namespace HyperLock.Emulator.Builders;

/// <summary>
/// Writes a 64-bit task-state segment (SDM Vol. 3 §8.7): RSP0-2, the seven IST stack
/// pointers, and the I/O-map base (by default at the end of the segment, so there is no I/O
/// bitmap and CPL &gt; IOPL I/O faults).
/// </summary>
public sealed class TssBuilder
{
    /// <summary>Bytes of a 64-bit TSS without I/O bitmap (limit 0x67).</summary>
    public const uint Size = 0x68;
    public const int Rsp0Offset = 4, Ist1Offset = 0x24, IoMapBaseOffset = 0x66;

    private readonly PhysicalMemory _memory;

    public TssBuilder(PhysicalMemory memory, ulong baseAddress)
    {
        _memory = memory;
        Base = baseAddress;
        _memory.Write(Base + IoMapBaseOffset, 2, Size);
    }

    public ulong Base { get; }

    /// <summary>RSP<paramref name="cpl"/>: the stack loaded when an interrupt or call gate enters privilege level 0-2.</summary>
    public TssBuilder Rsp(int cpl, ulong top)
    {
        if (cpl is < 0 or > 2) throw new ArgumentOutOfRangeException(nameof(cpl));
        _memory.Write(Base + Rsp0Offset + (ulong)cpl * 8, 8, top);
        return this;
    }

    /// <summary>IST<paramref name="index"/> (1-7): the stack a gate with that IST index always switches to.</summary>
    public TssBuilder Ist(int index, ulong top)
    {
        if (index is < 1 or > 7) throw new ArgumentOutOfRangeException(nameof(index));
        _memory.Write(Base + Ist1Offset + (ulong)(index - 1) * 8, 8, top);
        return this;
    }

    /// <summary>The I/O-map base (offset of the I/O permission bitmap from the TSS base).</summary>
    public TssBuilder IoMapBase(ushort offset)
    {
        _memory.Write(Base + IoMapBaseOffset, 2, offset);
        return this;
    }

    public ulong ReadRsp(int cpl) => _memory.Read(Base + Rsp0Offset + (ulong)cpl * 8, 8);
    public ulong ReadIst(int index) => _memory.Read(Base + Ist1Offset + (ulong)(index - 1) * 8, 8);
}
