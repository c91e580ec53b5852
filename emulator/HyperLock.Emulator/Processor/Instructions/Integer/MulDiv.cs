using System.Runtime.CompilerServices;
using HyperLock.Emulator.Processor.Decode;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>
/// MUL, IMUL (one, two and three operands), DIV, IDIV, and BMI2 MULX. Flags the SDM leaves
/// undefined follow current Intel cores: after a multiply SF is the sign of the low half, PF its
/// low byte's parity, ZF and AF are clear; a divide leaves all flags unchanged.
/// </summary>
internal static unsafe class MulDiv
{
    public static void Register()
    {
        OpTable.Set(Code.Mul_rm8, &Mul8);
        OpTable.Set(Code.Mul_rm16, &Mul16);
        OpTable.Set(Code.Mul_rm32, &Mul32);
        OpTable.Set(Code.Mul_rm64, &Mul64);
        OpTable.Set(Code.Imul_rm8, &Imul8);
        OpTable.Set(Code.Imul_rm16, &Imul16);
        OpTable.Set(Code.Imul_rm32, &Imul32);
        OpTable.Set(Code.Imul_rm64, &Imul64);
        OpTable.Set(Code.Div_rm8, &Div8);
        OpTable.Set(Code.Div_rm16, &Div16);
        OpTable.Set(Code.Div_rm32, &Div32);
        OpTable.Set(Code.Div_rm64, &Div64);
        OpTable.Set(Code.Idiv_rm8, &Idiv8);
        OpTable.Set(Code.Idiv_rm16, &Idiv16);
        OpTable.Set(Code.Idiv_rm32, &Idiv32);
        OpTable.Set(Code.Idiv_rm64, &Idiv64);
        OpTable.Set(Code.Imul_r16_rm16, &Imul2<S16>);
        OpTable.Set(Code.Imul_r32_rm32, &Imul2<S32>);
        OpTable.Set(Code.Imul_r64_rm64, &Imul2<S64>);
        OpTable.Set(Code.Imul_r16_rm16_imm16, &Imul3<S16>);
        OpTable.Set(Code.Imul_r32_rm32_imm32, &Imul3<S32>);
        OpTable.Set(Code.Imul_r64_rm64_imm32, &Imul3<S64>);
        OpTable.Set(Code.Imul_r16_rm16_imm8, &Imul3<S16>);
        OpTable.Set(Code.Imul_r32_rm32_imm8, &Imul3<S32>);
        OpTable.Set(Code.Imul_r64_rm64_imm8, &Imul3<S64>);
        OpTable.Set(Code.VEX_Mulx_r32_r32_rm32, &Mulx32);
        OpTable.Set(Code.VEX_Mulx_r64_r64_rm64, &Mulx64);
    }

    /// <summary>Operand 0 (r/m) at size S.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Rm0<S>(Cpu c, ref Insn i) where S : struct, ISize =>
        i.Op0IsMem ? S.Load(c, c.Ea(ref i)) : S.Get(c, i.R0);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Rm1<S>(Cpu c, ref Insn i) where S : struct, ISize =>
        i.Op1IsMem ? S.Load(c, c.Ea(ref i)) : S.Get(c, i.R1);

    /// <summary>Multiply flags: CF = OF = <paramref name="overflow"/>; SF, PF from the low half; ZF = AF = 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void MulFlags(Cpu c, ulong lo, int bits, bool overflow) =>
        c.SetArithFlags((overflow ? Bits.Cf | Bits.Of : 0) | (((lo >> (bits - 1)) & 1) << 7) | IntForms.Parity(lo));

    private static void Mul8(Cpu c, ref Insn i)
    {
        ulong b = Rm0<S8>(c, ref i);
        if (c.Faulted) return;
        uint r = (uint)(byte)c.R(Reg.Rax) * (uint)b;
        c.Write16(Reg.Rax, (ushort)r);
        MulFlags(c, r & 0xFF, 8, (r >> 8) != 0);
    }

    private static void Mul16(Cpu c, ref Insn i)
    {
        ulong b = Rm0<S16>(c, ref i);
        if (c.Faulted) return;
        uint r = (uint)(ushort)c.R(Reg.Rax) * (uint)b;
        c.Write16(Reg.Rax, (ushort)r);
        c.Write16(Reg.Rdx, (ushort)(r >> 16));
        MulFlags(c, r & 0xFFFF, 16, (r >> 16) != 0);
    }

    private static void Mul32(Cpu c, ref Insn i)
    {
        ulong b = Rm0<S32>(c, ref i);
        if (c.Faulted) return;
        ulong r = (ulong)(uint)c.R(Reg.Rax) * b;
        c.R(Reg.Rax) = (uint)r;
        c.R(Reg.Rdx) = r >> 32;
        MulFlags(c, (uint)r, 32, (r >> 32) != 0);
    }

    private static void Mul64(Cpu c, ref Insn i)
    {
        ulong b = Rm0<S64>(c, ref i);
        if (c.Faulted) return;
        ulong hi = Math.BigMul(c.R(Reg.Rax), b, out ulong lo);
        c.R(Reg.Rax) = lo;
        c.R(Reg.Rdx) = hi;
        MulFlags(c, lo, 64, hi != 0);
    }

    private static void Imul8(Cpu c, ref Insn i)
    {
        ulong b = Rm0<S8>(c, ref i);
        if (c.Faulted) return;
        int r = (sbyte)c.R(Reg.Rax) * (sbyte)b;
        c.Write16(Reg.Rax, (ushort)r);
        MulFlags(c, (ulong)r & 0xFF, 8, r != (sbyte)r);
    }

    private static void Imul16(Cpu c, ref Insn i)
    {
        ulong b = Rm0<S16>(c, ref i);
        if (c.Faulted) return;
        int r = (short)c.R(Reg.Rax) * (short)b;
        c.Write16(Reg.Rax, (ushort)r);
        c.Write16(Reg.Rdx, (ushort)(r >> 16));
        MulFlags(c, (ulong)r & 0xFFFF, 16, r != (short)r);
    }

    private static void Imul32(Cpu c, ref Insn i)
    {
        ulong b = Rm0<S32>(c, ref i);
        if (c.Faulted) return;
        long r = (long)(int)c.R(Reg.Rax) * (int)b;
        c.R(Reg.Rax) = (uint)r;
        c.R(Reg.Rdx) = (uint)(r >> 32);
        MulFlags(c, (uint)r, 32, r != (int)r);
    }

    private static void Imul64(Cpu c, ref Insn i)
    {
        ulong b = Rm0<S64>(c, ref i);
        if (c.Faulted) return;
        long hi = Math.BigMul((long)c.R(Reg.Rax), (long)b, out long lo);
        c.R(Reg.Rax) = (ulong)lo;
        c.R(Reg.Rdx) = (ulong)hi;
        MulFlags(c, (ulong)lo, 64, hi != (lo >> 63));
    }

    /// <summary>Signed product of two values of size S: low half and whether it overflowed S.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong SignedProduct<S>(ulong a, ulong b, out bool overflow) where S : struct, ISize
    {
        if (S.Bits == 64)
        {
            long hi = Math.BigMul((long)a, (long)b, out long lo);
            overflow = hi != (lo >> 63);
            return (ulong)lo;
        }
        long p = S.Sx(a) * S.Sx(b);
        overflow = p != S.Sx((ulong)p & S.Mask);
        return (ulong)p & S.Mask;
    }

    private static void Imul2<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong b = Rm1<S>(c, ref i);
        if (c.Faulted) return;
        ulong r = SignedProduct<S>(S.Get(c, i.R0), b, out bool ov);
        S.Set(c, i.R0, r);
        MulFlags(c, r, S.Bits, ov);
    }

    private static void Imul3<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong a = Rm1<S>(c, ref i);
        if (c.Faulted) return;
        ulong r = SignedProduct<S>(a, i.Imm & S.Mask, out bool ov);
        S.Set(c, i.R0, r);
        MulFlags(c, r, S.Bits, ov);
    }

    // ---- division: #DE on a zero divisor or a quotient that does not fit -----------------

    private static void Div8(Cpu c, ref Insn i)
    {
        ulong d = Rm0<S8>(c, ref i);
        if (c.Faulted) return;
        uint n = (ushort)c.R(Reg.Rax);
        if (d == 0 || n / (uint)d > 0xFF) { c.RaiseFault(Vector.DE); return; }
        c.Write16(Reg.Rax, (ushort)((n / (uint)d) | ((n % (uint)d) << 8)));
    }

    private static void Div16(Cpu c, ref Insn i)
    {
        ulong d = Rm0<S16>(c, ref i);
        if (c.Faulted) return;
        uint n = ((uint)(ushort)c.R(Reg.Rdx) << 16) | (ushort)c.R(Reg.Rax);
        if (d == 0 || n / (uint)d > 0xFFFF) { c.RaiseFault(Vector.DE); return; }
        c.Write16(Reg.Rax, (ushort)(n / (uint)d));
        c.Write16(Reg.Rdx, (ushort)(n % (uint)d));
    }

    private static void Div32(Cpu c, ref Insn i)
    {
        ulong d = Rm0<S32>(c, ref i);
        if (c.Faulted) return;
        ulong n = ((ulong)(uint)c.R(Reg.Rdx) << 32) | (uint)c.R(Reg.Rax);
        if (d == 0 || n / d > 0xFFFFFFFF) { c.RaiseFault(Vector.DE); return; }
        c.R(Reg.Rax) = n / d;
        c.R(Reg.Rdx) = n % d;
    }

    private static void Div64(Cpu c, ref Insn i)
    {
        ulong d = Rm0<S64>(c, ref i);
        if (c.Faulted) return;
        ulong hi = c.R(Reg.Rdx), lo = c.R(Reg.Rax);
        if (d == 0 || hi >= d) { c.RaiseFault(Vector.DE); return; }
        UInt128 n = ((UInt128)hi << 64) | lo;
        c.R(Reg.Rax) = (ulong)(n / d);
        c.R(Reg.Rdx) = (ulong)(n % d);
    }

    private static void Idiv8(Cpu c, ref Insn i)
    {
        ulong dv = Rm0<S8>(c, ref i);
        if (c.Faulted) return;
        int n = (short)c.R(Reg.Rax), d = (sbyte)dv;
        if (d == 0) { c.RaiseFault(Vector.DE); return; }
        int q = n / d, r = n % d;
        if (q != (sbyte)q) { c.RaiseFault(Vector.DE); return; }
        c.Write16(Reg.Rax, (ushort)((byte)q | ((byte)r << 8)));
    }

    private static void Idiv16(Cpu c, ref Insn i)
    {
        ulong dv = Rm0<S16>(c, ref i);
        if (c.Faulted) return;
        int n = (int)(((uint)(ushort)c.R(Reg.Rdx) << 16) | (ushort)c.R(Reg.Rax)), d = (short)dv;
        if (d == 0) { c.RaiseFault(Vector.DE); return; }
        long q = (long)n / d, r = (long)n % d;
        if (q != (short)q) { c.RaiseFault(Vector.DE); return; }
        c.Write16(Reg.Rax, (ushort)q);
        c.Write16(Reg.Rdx, (ushort)r);
    }

    private static void Idiv32(Cpu c, ref Insn i)
    {
        ulong dv = Rm0<S32>(c, ref i);
        if (c.Faulted) return;
        long n = (long)(((ulong)(uint)c.R(Reg.Rdx) << 32) | (uint)c.R(Reg.Rax)), d = (int)dv;
        if (d == 0) { c.RaiseFault(Vector.DE); return; }
        if (d == -1)
        {
            // n / -1 overflows the C# division only for long.MinValue, which also overflows 32 bits.
            if (n == long.MinValue || -n != (int)(-n)) { c.RaiseFault(Vector.DE); return; }
            c.R(Reg.Rax) = (uint)(int)(-n);
            c.R(Reg.Rdx) = 0;
            return;
        }
        long q = n / d, r = n % d;
        if (q != (int)q) { c.RaiseFault(Vector.DE); return; }
        c.R(Reg.Rax) = (uint)q;
        c.R(Reg.Rdx) = (uint)r;
    }

    private static void Idiv64(Cpu c, ref Insn i)
    {
        ulong dv = Rm0<S64>(c, ref i);
        if (c.Faulted) return;
        Int128 n = (Int128)(((UInt128)c.R(Reg.Rdx) << 64) | c.R(Reg.Rax));
        long d = (long)dv;
        if (d == 0) { c.RaiseFault(Vector.DE); return; }
        Int128 q, r;
        if (d == -1)
        {
            if (n == Int128.MinValue) { c.RaiseFault(Vector.DE); return; }
            q = -n;
            r = 0;
        }
        else
        {
            q = n / d;
            r = n % d;
        }
        if (q != (long)q) { c.RaiseFault(Vector.DE); return; }
        c.R(Reg.Rax) = (ulong)(long)q;
        c.R(Reg.Rdx) = (ulong)(long)r;
    }

    // ---- MULX: rdx * r/m → hi (operand 0), lo (operand 1); flags unchanged ------------------

    private static void Mulx32(Cpu c, ref Insn i)
    {
        ulong b = i.Kind(2) == OperandKind.Memory ? c.ReadMem32(c.Ea(ref i)) : (uint)c.R(i.R2);
        if (c.Faulted) return;
        ulong p = (ulong)(uint)c.R(Reg.Rdx) * b;
        c.R(i.R1) = (uint)p;
        c.R(i.R0) = p >> 32; // when both destinations are the same register, the high half wins
    }

    private static void Mulx64(Cpu c, ref Insn i)
    {
        ulong b = i.Kind(2) == OperandKind.Memory ? c.ReadMem64(c.Ea(ref i)) : c.R(i.R2);
        if (c.Faulted) return;
        ulong hi = Math.BigMul(c.R(Reg.Rdx), b, out ulong lo);
        c.R(i.R1) = lo;
        c.R(i.R0) = hi;
    }
}
