using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Memory;

namespace HyperLock.Emulator.Builders;

/// <summary>
/// Writes an IA-32e interrupt descriptor table (16-byte gates with IST indexes) or a legacy
/// 32-bit one (8-byte gates) in physical memory, and reads 64-bit gates back.
/// </summary>
public sealed class IdtBuilder
{
    public const int InterruptGate = 0xE, TrapGate = 0xF;

    private readonly PhysicalMemory _memory;

    /// <param name="longMode">16-byte gates (IA-32e) or 8-byte gates (protected mode).</param>
    public IdtBuilder(PhysicalMemory memory, ulong baseAddress, bool longMode = true, int vectors = 256)
    {
        _memory = memory;
        Base = baseAddress;
        GateSize = longMode ? 16 : 8;
        Limit = (ushort)(vectors * GateSize - 1);
    }

    public ulong Base { get; }
    public ushort Limit { get; }
    public int GateSize { get; }

    /// <summary>The IDTR value that loads this table.</summary>
    public TableRegister Register => new() { Base = Base, Limit = Limit };

    /// <summary>A 64-bit gate for <paramref name="vector"/>.</summary>
    /// <param name="ist">Interrupt-stack-table index 1-7 (0: no stack switch unless the CPL changes).</param>
    public void Gate64(int vector, ulong handler, ushort selector, int ist = 0, int dpl = 0, bool trap = false, bool present = true)
    {
        ulong lo = (handler & 0xFFFF) | ((ulong)selector << 16) | ((ulong)(ist & 7) << 32) | ((ulong)(trap ? TrapGate : InterruptGate) << 40)
            | ((ulong)(dpl & 3) << 45) | ((present ? 1UL : 0) << 47) | (((handler >> 16) & 0xFFFF) << 48);
        _memory.Write(Base + (ulong)vector * 16, 8, lo);
        _memory.Write(Base + (ulong)vector * 16 + 8, 8, handler >> 32);
    }

    /// <summary>A 32-bit gate for <paramref name="vector"/>.</summary>
    public void Gate32(int vector, uint handler, ushort selector, int dpl = 0, bool trap = false)
    {
        ulong g = (handler & 0xFFFF) | ((ulong)selector << 16) | ((ulong)(trap ? TrapGate : InterruptGate) << 40) | ((ulong)(dpl & 3) << 45)
            | (1UL << 47) | ((ulong)(handler >> 16) << 48);
        _memory.Write(Base + (ulong)vector * 8, 8, g);
    }

    /// <summary>The 64-bit gate of <paramref name="vector"/> as the processor reads it.</summary>
    public IdtGate ReadGate64(int vector)
    {
        ulong lo = _memory.Read(Base + (ulong)vector * 16, 8), hi = _memory.Read(Base + (ulong)vector * 16 + 8, 8);
        ulong offset = (lo & 0xFFFF) | (((lo >> 48) & 0xFFFF) << 16) | ((hi & 0xFFFFFFFF) << 32);
        return new IdtGate(offset, (ushort)(lo >> 16), (int)((lo >> 32) & 7), (int)((lo >> 40) & 0xF),
            (int)((lo >> 45) & 3), ((lo >> 47) & 1) != 0);
    }
}
