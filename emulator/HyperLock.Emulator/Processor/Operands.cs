using System.Runtime.CompilerServices;
using HyperLock.Emulator.Processor.Decode;

namespace HyperLock.Emulator.Processor;

/// <summary>
/// Operand access for handlers: effective and linear addresses, generic operand read/write
/// by kind, and stack push/pop. Hot handlers use the typed accessors directly; the generic
/// ones serve the many rarely executed forms.
/// </summary>
public sealed partial class Cpu
{
    /// <summary>Linear address of the instruction's memory operand (segment base added outside 64-bit mode, FS/GS always).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Ea(ref Insn i)
    {
        ulong a = (ulong)i.Disp;
        if (i.Base != Reg.None) a += i.Base == Reg.Rip ? Rip : R(i.Base);
        if (i.Index != Reg.None) a += R(i.Index) << i.Scale;
        if (i.AddrSize != 8) a = i.AddrSize == 4 ? (uint)a : (ushort)a;
        return Bitness == 64 ? (i.Segment >= Seg.Fs ? a + Segs[i.Segment].Base : a) : LegacyLinear(i.Segment, a);
    }

    /// <summary>Segment base applied outside 64-bit mode, after the limit check (System/Segmentation.cs).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private ulong LegacyLinear(int segment, ulong offset) => SegmentCheck(segment, offset);

    /// <summary>Linear address of segment:offset for implicit operands (string ops, stack).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong SegLinear(int segment, ulong offset) =>
        Bitness == 64 ? (segment >= Seg.Fs ? offset + Segs[segment].Base : offset) : LegacyLinear(segment, offset);

    /// <summary>Reads operand <paramref name="n"/> at <paramref name="size"/> bytes (register, memory or immediate).</summary>
    public ulong GetOp(ref Insn i, int n, int size)
    {
        switch (i.Kind(n))
        {
            case OperandKind.Register:
                return ReadGpr(n == 0 ? i.R0 : n == 1 ? i.R1 : n == 2 ? i.R2 : i.R3, size);
            case OperandKind.Memory:
                return ReadMem(Ea(ref i), size);
            default:
                return i.Imm & SizeMask(size * 8);
        }
    }

    /// <summary>Writes operand <paramref name="n"/> (register or memory) at <paramref name="size"/> bytes.</summary>
    public void SetOp(ref Insn i, int n, int size, ulong value)
    {
        if (i.Kind(n) == OperandKind.Memory) WriteMem(Ea(ref i), size, value);
        else WriteGpr(n == 0 ? i.R0 : n == 1 ? i.R1 : n == 2 ? i.R2 : i.R3, size, value);
    }

    /// <summary>Stack-pointer width: 8 in 64-bit mode, else SS.B.</summary>
    public int StackAddrSize => Bitness == 64 ? 8 : Segs[Seg.Ss].DefaultBig ? 4 : 2;

    /// <summary>Pushes <paramref name="size"/> bytes; on fault nothing changes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Push(ulong value, int size)
    {
        if (Bitness == 64)
        {
            ulong rsp = R(Reg.Rsp) - (ulong)size;
            if (size == 8) WriteMem64(rsp, value); else WriteMem16(rsp, (ushort)value);
            if (!Faulted) R(Reg.Rsp) = rsp;
            return;
        }
        PushLegacy(value, size);
    }

    private void PushLegacy(ulong value, int size)
    {
        int sas = StackAddrSize;
        ulong sp = (R(Reg.Rsp) - (ulong)size) & SizeMask(sas * 8);
        WriteMem(SegLinear(Seg.Ss, sp), size, value);
        if (Faulted) return;
        if (sas == 4) R(Reg.Rsp) = (uint)sp; else Write16(Reg.Rsp, (ushort)sp);
    }

    /// <summary>Pops <paramref name="size"/> bytes; on fault RSP is unchanged and 0 is returned.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Pop(int size)
    {
        if (Bitness == 64)
        {
            ulong rsp = R(Reg.Rsp);
            ulong v = size == 8 ? ReadMem64(rsp) : ReadMem16(rsp);
            if (!Faulted) R(Reg.Rsp) = rsp + (ulong)size;
            return v;
        }
        return PopLegacy(size);
    }

    private ulong PopLegacy(int size)
    {
        int sas = StackAddrSize;
        ulong sp = R(Reg.Rsp) & SizeMask(sas * 8);
        ulong v = ReadMem(SegLinear(Seg.Ss, sp), size);
        if (Faulted) return 0;
        sp = (sp + (ulong)size) & SizeMask(sas * 8);
        if (sas == 4) R(Reg.Rsp) = (uint)sp; else Write16(Reg.Rsp, (ushort)sp);
        return v;
    }

    /// <summary>Reads the value at the stack top without popping (for multi-part pops that must be all-or-nothing).</summary>
    public ulong PeekStack(int offset, int size)
    {
        int sas = StackAddrSize;
        ulong sp = (R(Reg.Rsp) + (ulong)offset) & SizeMask(sas * 8);
        return ReadMem(SegLinear(Seg.Ss, sp), size);
    }

    /// <summary>Sets RIP to a branch target, truncated to the operand size outside 64-bit mode.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Branch(ulong target, int opSize)
    {
        if (Bitness == 64) Rip = target;
        else Rip = opSize == 2 ? target & 0xFFFF : target & 0xFFFFFFFF;
    }
}
