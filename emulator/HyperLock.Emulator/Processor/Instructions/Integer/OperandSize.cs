using System.Numerics;
using System.Runtime.CompilerServices;
using Iced.Intel;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>
/// An operand size as a type: handlers are generic over it, so each form's handler is compiled
/// for one size with its masks and accessors as constants (no switch on size at run time).
/// </summary>
internal interface ISize
{
    static abstract int Bytes { get; }
    static abstract int Bits { get; }
    static abstract ulong Mask { get; }
    /// <summary>Reads GPR number <paramref name="r"/> at this size (8-bit: 16-19 are AH-BH).</summary>
    static abstract ulong Get(Cpu c, int r);
    /// <summary>Writes a GPR with the x86-64 merge (8/16-bit) or zero-extend (32-bit) rule.</summary>
    static abstract void Set(Cpu c, int r, ulong v);
    static abstract ulong Load(Cpu c, ulong lin);
    static abstract void Store(Cpu c, ulong lin, ulong v);
    /// <summary>Sign-extends a value of this size to 64 bits.</summary>
    static abstract long Sx(ulong v);
}

internal struct S8 : ISize
{
    public static int Bytes => 1;
    public static int Bits => 8;
    public static ulong Mask => 0xFF;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ulong Get(Cpu c, int r) => c.Read8(r);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Set(Cpu c, int r, ulong v) => c.Write8(r, (byte)v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ulong Load(Cpu c, ulong lin) => c.ReadMem8(lin);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Cpu c, ulong lin, ulong v) => c.WriteMem8(lin, (byte)v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static long Sx(ulong v) => (sbyte)v;
}

internal struct S16 : ISize
{
    public static int Bytes => 2;
    public static int Bits => 16;
    public static ulong Mask => 0xFFFF;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ulong Get(Cpu c, int r) => (ushort)c.R(r);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Set(Cpu c, int r, ulong v) => c.Write16(r, (ushort)v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ulong Load(Cpu c, ulong lin) => c.ReadMem16(lin);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Cpu c, ulong lin, ulong v) => c.WriteMem16(lin, (ushort)v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static long Sx(ulong v) => (short)v;
}

internal struct S32 : ISize
{
    public static int Bytes => 4;
    public static int Bits => 32;
    public static ulong Mask => 0xFFFFFFFF;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ulong Get(Cpu c, int r) => (uint)c.R(r);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Set(Cpu c, int r, ulong v) => c.R(r) = (uint)v;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ulong Load(Cpu c, ulong lin) => c.ReadMem32(lin);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Cpu c, ulong lin, ulong v) => c.WriteMem32(lin, (uint)v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static long Sx(ulong v) => (int)v;
}

internal struct S64 : ISize
{
    public static int Bytes => 8;
    public static int Bits => 64;
    public static ulong Mask => ulong.MaxValue;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ulong Get(Cpu c, int r) => c.R(r);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Set(Cpu c, int r, ulong v) => c.R(r) = v;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ulong Load(Cpu c, ulong lin) => c.ReadMem64(lin);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Cpu c, ulong lin, ulong v) => c.WriteMem64(lin, v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static long Sx(ulong v) => (long)v;
}

/// <summary>Helpers shared by the integer families: form classification at registration, flag arithmetic.</summary>
internal static class IntForms
{
    /// <summary>Operand size in bytes implied by an Iced operand kind; 0 when the kind has no GPR size.</summary>
    public static int SizeOf(OpCodeOperandKind k) => k switch
    {
        OpCodeOperandKind.r8_or_mem or OpCodeOperandKind.r8_reg or OpCodeOperandKind.r8_opcode or OpCodeOperandKind.al
            or OpCodeOperandKind.cl => 1,
        OpCodeOperandKind.r16_or_mem or OpCodeOperandKind.r16_reg or OpCodeOperandKind.r16_opcode or OpCodeOperandKind.r16_rm
            or OpCodeOperandKind.r16_reg_mem or OpCodeOperandKind.ax or OpCodeOperandKind.dx => 2,
        OpCodeOperandKind.r32_or_mem or OpCodeOperandKind.r32_reg or OpCodeOperandKind.r32_opcode or OpCodeOperandKind.r32_rm
            or OpCodeOperandKind.r32_reg_mem or OpCodeOperandKind.r32_vvvv or OpCodeOperandKind.eax => 4,
        OpCodeOperandKind.r64_or_mem or OpCodeOperandKind.r64_reg or OpCodeOperandKind.r64_opcode or OpCodeOperandKind.r64_rm
            or OpCodeOperandKind.r64_reg_mem or OpCodeOperandKind.r64_vvvv or OpCodeOperandKind.rax => 8,
        _ => 0,
    };

    public static bool IsImm(OpCodeOperandKind k) => k is OpCodeOperandKind.imm8 or OpCodeOperandKind.imm8sex16
        or OpCodeOperandKind.imm8sex32 or OpCodeOperandKind.imm8sex64 or OpCodeOperandKind.imm16 or OpCodeOperandKind.imm32
        or OpCodeOperandKind.imm32sex64 or OpCodeOperandKind.imm64 or OpCodeOperandKind.imm8_const_1;

    /// <summary>True for operand kinds that may be memory (the r/m operand).</summary>
    public static bool IsRm(OpCodeOperandKind k) => k is OpCodeOperandKind.r8_or_mem or OpCodeOperandKind.r16_or_mem
        or OpCodeOperandKind.r32_or_mem or OpCodeOperandKind.r64_or_mem or OpCodeOperandKind.mem;

    /// <summary>Size of operand <paramref name="n"/> of a form.</summary>
    public static int Size(Code code, int n) => SizeOf(code.ToOpCode().GetOpKind(n));

    /// <summary>Even parity of the low byte, as PF.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Parity(ulong v) => (ulong)(~BitOperations.PopCount(v & 0xFF) & 1) << 2;

    /// <summary>SF, ZF and PF of a result of <paramref name="bits"/> bits, as RFLAGS bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Szp(ulong r, int bits) =>
        ((r >> (bits - 1)) & 1) << 7 | (r == 0 ? Bits.Zf : 0) | Parity(r);

    /// <summary>Linear address of the memory operand with an extra byte offset (bit-string and multi-part operands).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong EaPlus(Cpu c, ref Decode.Insn i, long delta)
    {
        ulong a = c.Ea(ref i) + (ulong)delta;
        return c.Bitness == 64 ? a : a & 0xFFFFFFFF;
    }

    /// <summary>
    /// Sets RIP to a near-branch target after truncating it to the operand size; in 64-bit mode a
    /// non-canonical target raises #GP(0) at the branch (RIP unchanged). Returns false on fault.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Jump(Cpu c, ulong target, int opSize)
    {
        if (c.Bitness == 64)
        {
            if (opSize == 2) target &= 0xFFFF;
            else if (!Cpu.IsCanonical(target)) { c.RaiseGp(0); return false; }
            c.Rip = target;
            return true;
        }
        c.Rip = opSize == 2 ? target & 0xFFFF : target & 0xFFFFFFFF;
        return true;
    }

    /// <summary>Mask of an address size in bytes (2, 4, 8).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong AddrMask(int addrSize) => addrSize == 8 ? ulong.MaxValue : addrSize == 4 ? 0xFFFFFFFFUL : 0xFFFFUL;

    /// <summary>Writes a register at an address width (the rSI/rDI/rCX update rule: 16-bit merges, 32-bit zero-extends).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SetAddrReg(Cpu c, int r, int addrSize, ulong v)
    {
        if (addrSize == 8) c.R(r) = v;
        else if (addrSize == 4) c.R(r) = (uint)v;
        else c.Write16(r, (ushort)v);
    }
}
