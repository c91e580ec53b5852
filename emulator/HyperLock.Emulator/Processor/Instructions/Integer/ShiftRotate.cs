using System.Runtime.CompilerServices;
using HyperLock.Emulator.Processor.Decode;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>
/// A shift or rotate: computes the result and the new arithmetic flags for a masked, non-zero
/// count. Flags the SDM leaves undefined follow what current Intel cores do: OF is computed as
/// for a count of 1 whatever the count, AF is cleared by shifts, and RCL/RCR by a multiple of
/// (size + 1) change nothing.
/// </summary>
internal interface IShiftOp
{
    /// <summary>Returns false when the instruction changes nothing (RCL/RCR by a multiple of size+1).</summary>
    static abstract bool Apply<S>(Cpu c, ulong v, int cnt, out ulong r, out ulong flags) where S : struct, ISize;
}

internal struct OpShl : IShiftOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Apply<S>(Cpu c, ulong v, int cnt, out ulong r, out ulong flags) where S : struct, ISize
    {
        int bits = S.Bits;
        r = (v << cnt) & S.Mask;
        ulong cf = cnt <= bits ? (v >> (bits - cnt)) & 1 : 0;
        ulong of = ((v >> (bits - 1)) ^ (v >> (bits - 2))) & 1;
        flags = cf | (of << 11) | IntForms.Szp(r, bits);
        return true;
    }
}

internal struct OpShr : IShiftOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Apply<S>(Cpu c, ulong v, int cnt, out ulong r, out ulong flags) where S : struct, ISize
    {
        int bits = S.Bits;
        r = v >> cnt;
        ulong cf = (v >> (cnt - 1)) & 1;
        ulong of = (v >> (bits - 1)) & 1;
        flags = cf | (of << 11) | IntForms.Szp(r, bits);
        return true;
    }
}

internal struct OpSar : IShiftOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Apply<S>(Cpu c, ulong v, int cnt, out ulong r, out ulong flags) where S : struct, ISize
    {
        long sv = S.Sx(v);
        r = (ulong)(sv >> cnt) & S.Mask;
        ulong cf = (ulong)(sv >> (cnt - 1)) & 1;
        flags = cf | IntForms.Szp(r, S.Bits);
        return true;
    }
}

internal struct OpRol : IShiftOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Apply<S>(Cpu c, ulong v, int cnt, out ulong r, out ulong flags) where S : struct, ISize
    {
        int bits = S.Bits;
        int k = cnt & (bits - 1);
        r = k == 0 ? v : ((v << k) | (v >> (bits - k))) & S.Mask;
        ulong cf = r & 1;
        ulong of = ((v >> (bits - 1)) ^ (v >> (bits - 2))) & 1;
        flags = (c.ArithFlags & ~(Bits.Cf | Bits.Of)) | cf | (of << 11);
        return true;
    }
}

internal struct OpRor : IShiftOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Apply<S>(Cpu c, ulong v, int cnt, out ulong r, out ulong flags) where S : struct, ISize
    {
        int bits = S.Bits;
        int k = cnt & (bits - 1);
        r = k == 0 ? v : ((v >> k) | (v << (bits - k))) & S.Mask;
        ulong cf = (r >> (bits - 1)) & 1;
        ulong of = ((v >> (bits - 1)) ^ v) & 1;
        flags = (c.ArithFlags & ~(Bits.Cf | Bits.Of)) | cf | (of << 11);
        return true;
    }
}

internal struct OpRcl : IShiftOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Apply<S>(Cpu c, ulong v, int cnt, out ulong r, out ulong flags) where S : struct, ISize
    {
        int bits = S.Bits;
        int k = bits < 32 ? cnt % (bits + 1) : cnt;
        if (k == 0) { r = v; flags = 0; return false; }
        ulong f = c.ArithFlags;
        ulong cin = f & 1;
        r = (v << k) | (cin << (k - 1));
        if (k > 1) r |= v >> (bits + 1 - k);
        r &= S.Mask;
        ulong cf = (v >> (bits - k)) & 1;
        ulong of = ((v >> (bits - 1)) ^ (v >> (bits - 2))) & 1;
        flags = (f & ~(Bits.Cf | Bits.Of)) | cf | (of << 11);
        return true;
    }
}

internal struct OpRcr : IShiftOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Apply<S>(Cpu c, ulong v, int cnt, out ulong r, out ulong flags) where S : struct, ISize
    {
        int bits = S.Bits;
        int k = bits < 32 ? cnt % (bits + 1) : cnt;
        if (k == 0) { r = v; flags = 0; return false; }
        ulong f = c.ArithFlags;
        ulong cin = f & 1;
        r = (v >> k) | (cin << (bits - k));
        if (k > 1) r |= v << (bits + 1 - k);
        r &= S.Mask;
        ulong cf = (v >> (k - 1)) & 1;
        ulong of = ((v >> (bits - 1)) ^ cin) & 1;
        flags = (f & ~(Bits.Cf | Bits.Of)) | cf | (of << 11);
        return true;
    }
}

/// <summary>SHL/SAL, SHR, SAR, ROL, ROR, RCL, RCR (by 1, imm8, CL), SHLD, SHRD, and BMI2 SARX/SHLX/SHRX/RORX.</summary>
internal static unsafe partial class ShiftRotate
{
    public static void Register()
    {
        RegisterShift<OpShl>(Mnemonic.Shl);
        RegisterShift<OpShl>(Mnemonic.Sal);
        RegisterShift<OpShr>(Mnemonic.Shr);
        RegisterShift<OpSar>(Mnemonic.Sar);
        RegisterShift<OpRol>(Mnemonic.Rol);
        RegisterShift<OpRor>(Mnemonic.Ror);
        RegisterShift<OpRcl>(Mnemonic.Rcl);
        RegisterShift<OpRcr>(Mnemonic.Rcr);
        foreach (var code in FormTable.Legacy(Mnemonic.Shld)) RegisterDouble(code, left: true);
        foreach (var code in FormTable.Legacy(Mnemonic.Shrd)) RegisterDouble(code, left: false);

        OpTable.Set(Code.VEX_Shlx_r32_rm32_r32, &Shlx<S32>);
        OpTable.Set(Code.VEX_Shlx_r64_rm64_r64, &Shlx<S64>);
        OpTable.Set(Code.VEX_Shrx_r32_rm32_r32, &Shrx<S32>);
        OpTable.Set(Code.VEX_Shrx_r64_rm64_r64, &Shrx<S64>);
        OpTable.Set(Code.VEX_Sarx_r32_rm32_r32, &Sarx<S32>);
        OpTable.Set(Code.VEX_Sarx_r64_rm64_r64, &Sarx<S64>);
        OpTable.Set(Code.VEX_Rorx_r32_rm32_imm8, &Rorx<S32>);
        OpTable.Set(Code.VEX_Rorx_r64_rm64_imm8, &Rorx<S64>);
    }

    private static void RegisterShift<TOp>(Mnemonic m) where TOp : struct, IShiftOp
    {
        foreach (var code in FormTable.Legacy(m))
        {
            var op = code.ToOpCode();
            bool cl = op.GetOpKind(1) == OpCodeOperandKind.cl;
            switch (IntForms.SizeOf(op.GetOpKind(0)))
            {
                case 1: Set<TOp, S8>(code, cl); break;
                case 2: Set<TOp, S16>(code, cl); break;
                case 4: Set<TOp, S32>(code, cl); break;
                case 8: Set<TOp, S64>(code, cl); break;
            }
        }
    }

    private static void Set<TOp, S>(Code code, bool cl) where TOp : struct, IShiftOp where S : struct, ISize
    {
        if (cl) OpTable.Set(code, &ShiftMemCl<TOp, S>, &ShiftRegCl<TOp, S>);
        else OpTable.Set(code, &ShiftMemImm<TOp, S>, &ShiftRegImm<TOp, S>);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int MaskCount<S>(ulong count) where S : struct, ISize => (int)count & (S.Bits == 64 ? 63 : 31);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ShiftReg<TOp, S>(Cpu c, ref Insn i, int cnt) where TOp : struct, IShiftOp where S : struct, ISize
    {
        if (cnt == 0)
        {
            // No flags change, but a 32-bit destination register is still written (upper half zeroed).
            if (S.Bits == 32) S.Set(c, i.R0, S.Get(c, i.R0));
            return;
        }
        if (!TOp.Apply<S>(c, S.Get(c, i.R0), cnt, out ulong r, out ulong f)) return;
        S.Set(c, i.R0, r);
        c.SetArithFlags(f);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ShiftMem<TOp, S>(Cpu c, ref Insn i, int cnt) where TOp : struct, IShiftOp where S : struct, ISize
    {
        ulong lin = c.Ea(ref i);
        ulong v = S.Load(c, lin);
        if (c.Faulted || cnt == 0) return;
        if (!TOp.Apply<S>(c, v, cnt, out ulong r, out ulong f)) return;
        S.Store(c, lin, r);
        if (c.Faulted) return;
        c.SetArithFlags(f);
    }

    private static void ShiftRegImm<TOp, S>(Cpu c, ref Insn i) where TOp : struct, IShiftOp where S : struct, ISize =>
        ShiftReg<TOp, S>(c, ref i, MaskCount<S>(i.Imm));

    private static void ShiftRegCl<TOp, S>(Cpu c, ref Insn i) where TOp : struct, IShiftOp where S : struct, ISize =>
        ShiftReg<TOp, S>(c, ref i, MaskCount<S>(c.R(Reg.Rcx)));

    private static void ShiftMemImm<TOp, S>(Cpu c, ref Insn i) where TOp : struct, IShiftOp where S : struct, ISize =>
        ShiftMem<TOp, S>(c, ref i, MaskCount<S>(i.Imm));

    private static void ShiftMemCl<TOp, S>(Cpu c, ref Insn i) where TOp : struct, IShiftOp where S : struct, ISize =>
        ShiftMem<TOp, S>(c, ref i, MaskCount<S>(c.R(Reg.Rcx)));

    // ---- SHLD / SHRD ------------------------------------------------------------------

    private static void RegisterDouble(Code code, bool left)
    {
        var op = code.ToOpCode();
        bool cl = op.GetOpKind(2) == OpCodeOperandKind.cl;
        switch (IntForms.SizeOf(op.GetOpKind(0)))
        {
            case 2: OpTable.Set(code, left ? (cl ? &ShldCl<S16> : &ShldImm<S16>) : (cl ? &ShrdCl<S16> : &ShrdImm<S16>)); break;
            case 4: OpTable.Set(code, left ? (cl ? &ShldCl<S32> : &ShldImm<S32>) : (cl ? &ShrdCl<S32> : &ShrdImm<S32>)); break;
            case 8: OpTable.Set(code, left ? (cl ? &ShldCl<S64> : &ShldImm<S64>) : (cl ? &ShrdCl<S64> : &ShrdImm<S64>)); break;
        }
    }

    private static void ShldImm<S>(Cpu c, ref Insn i) where S : struct, ISize => Double<S>(c, ref i, MaskCount<S>(i.Imm), true);
    private static void ShldCl<S>(Cpu c, ref Insn i) where S : struct, ISize => Double<S>(c, ref i, MaskCount<S>(c.R(Reg.Rcx)), true);
    private static void ShrdImm<S>(Cpu c, ref Insn i) where S : struct, ISize => Double<S>(c, ref i, MaskCount<S>(i.Imm), false);
    private static void ShrdCl<S>(Cpu c, ref Insn i) where S : struct, ISize => Double<S>(c, ref i, MaskCount<S>(c.R(Reg.Rcx)), false);

    /// <summary>
    /// SHLD/SHRD. For 16-bit operands with a count above 16 (undefined in the SDM) Intel shifts the
    /// 48-bit value dest:src:dest, which is what this does.
    /// </summary>
    private static void Double<S>(Cpu c, ref Insn i, int cnt, bool left) where S : struct, ISize
    {
        bool mem = i.Op0IsMem;
        ulong lin = mem ? c.Ea(ref i) : 0;
        ulong a = mem ? S.Load(c, lin) : S.Get(c, i.R0);
        if (c.Faulted) return;
        if (cnt == 0)
        {
            if (!mem && S.Bits == 32) S.Set(c, i.R0, a); // the 32-bit register write still zero-extends
            return;
        }
        ulong b = S.Get(c, i.R1);
        int bits = S.Bits;
        ulong r, cf, of;
        if (left)
        {
            UInt128 x = ((UInt128)a << bits) | b;
            int w = 2 * bits;
            if (bits == 16) { x = (x << 16) | a; w = 48; }
            UInt128 y = x << cnt;
            r = (ulong)(y >> (w - bits)) & S.Mask;
            // The last bit shifted out of the destination (a UInt128 shift by 128 would wrap to 0).
            cf = bits == 64 ? (a >> (64 - cnt)) & 1 : (ulong)(y >> w) & 1;
            of = ((a >> (bits - 1)) ^ (a >> (bits - 2))) & 1;
        }
        else
        {
            UInt128 x = ((UInt128)b << bits) | a;
            if (bits == 16) x |= (UInt128)a << 32;
            r = (ulong)(x >> cnt) & S.Mask;
            cf = (ulong)(x >> (cnt - 1)) & 1;
            of = ((a >> (bits - 1)) ^ b) & 1;
        }
        if (mem)
        {
            S.Store(c, lin, r);
            if (c.Faulted) return;
        }
        else S.Set(c, i.R0, r);
        c.SetArithFlags(cf | (of << 11) | IntForms.Szp(r, bits));
    }

    // ---- BMI2 shifts (no flags) ---------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Src1<S>(Cpu c, ref Insn i, out bool faulted) where S : struct, ISize
    {
        ulong v = i.Op1IsMem ? S.Load(c, c.Ea(ref i)) : S.Get(c, i.R1);
        faulted = c.Faulted;
        return v;
    }

    private static void Shlx<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong v = Src1<S>(c, ref i, out bool f);
        if (f) return;
        S.Set(c, i.R0, (v << (int)(S.Get(c, i.R2) & (ulong)(S.Bits - 1))) & S.Mask);
    }

    private static void Shrx<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong v = Src1<S>(c, ref i, out bool f);
        if (f) return;
        S.Set(c, i.R0, v >> (int)(S.Get(c, i.R2) & (ulong)(S.Bits - 1)));
    }

    private static void Sarx<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong v = Src1<S>(c, ref i, out bool f);
        if (f) return;
        S.Set(c, i.R0, (ulong)(S.Sx(v) >> (int)(S.Get(c, i.R2) & (ulong)(S.Bits - 1))) & S.Mask);
    }

    private static void Rorx<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong v = Src1<S>(c, ref i, out bool f);
        if (f) return;
        int k = (int)i.Imm & (S.Bits - 1);
        S.Set(c, i.R0, k == 0 ? v : ((v >> k) | (v << (S.Bits - k))) & S.Mask);
    }
}
