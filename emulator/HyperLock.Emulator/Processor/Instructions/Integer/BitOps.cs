using System.Numerics;
using System.Runtime.CompilerServices;
using HyperLock.Emulator.Processor.Decode;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>
/// BT/BTS/BTR/BTC, BSF/BSR, TZCNT/LZCNT/POPCNT, BMI1 (ANDN, BEXTR, BLSI, BLSMSK, BLSR) and BMI2
/// (BZHI, PDEP, PEXT). Undefined flags follow current Intel cores: BT* change only CF; BSF/BSR
/// set PF from the index (ZF = PF = 1, destination kept, for a zero source) and clear the others;
/// the BMI and count instructions clear the flags they leave undefined.
/// </summary>
internal static unsafe partial class BitOps
{
    private const int Bt = 0, Bts = 1, Btr = 2, Btc = 3;

    public static void Register()
    {
        RegisterBt(Mnemonic.Bt, Bt);
        RegisterBt(Mnemonic.Bts, Bts);
        RegisterBt(Mnemonic.Btr, Btr);
        RegisterBt(Mnemonic.Btc, Btc);
        RegisterScan(Mnemonic.Bsf, 0);
        RegisterScan(Mnemonic.Bsr, 1);
        RegisterScan(Mnemonic.Tzcnt, 2);
        RegisterScan(Mnemonic.Lzcnt, 3);
        RegisterScan(Mnemonic.Popcnt, 4);

        OpTable.Set(Code.VEX_Andn_r32_r32_rm32, &Andn<S32>);
        OpTable.Set(Code.VEX_Andn_r64_r64_rm64, &Andn<S64>);
        OpTable.Set(Code.VEX_Bextr_r32_rm32_r32, &Bextr<S32>);
        OpTable.Set(Code.VEX_Bextr_r64_rm64_r64, &Bextr<S64>);
        OpTable.Set(Code.VEX_Blsi_r32_rm32, &Blsi<S32>);
        OpTable.Set(Code.VEX_Blsi_r64_rm64, &Blsi<S64>);
        OpTable.Set(Code.VEX_Blsmsk_r32_rm32, &Blsmsk<S32>);
        OpTable.Set(Code.VEX_Blsmsk_r64_rm64, &Blsmsk<S64>);
        OpTable.Set(Code.VEX_Blsr_r32_rm32, &Blsr<S32>);
        OpTable.Set(Code.VEX_Blsr_r64_rm64, &Blsr<S64>);
        OpTable.Set(Code.VEX_Bzhi_r32_rm32_r32, &Bzhi<S32>);
        OpTable.Set(Code.VEX_Bzhi_r64_rm64_r64, &Bzhi<S64>);
        OpTable.Set(Code.VEX_Pdep_r32_r32_rm32, &Pdep<S32>);
        OpTable.Set(Code.VEX_Pdep_r64_r64_rm64, &Pdep<S64>);
        OpTable.Set(Code.VEX_Pext_r32_r32_rm32, &Pext<S32>);
        OpTable.Set(Code.VEX_Pext_r64_r64_rm64, &Pext<S64>);
    }

    // ---- BT family -------------------------------------------------------------------------

    private static void RegisterBt(Mnemonic m, int kind)
    {
        foreach (var code in FormTable.Legacy(m))
        {
            var op = code.ToOpCode();
            bool imm = IntForms.IsImm(op.GetOpKind(1));
            switch (IntForms.SizeOf(op.GetOpKind(0)))
            {
                case 2: SetBt<S16>(code, kind, imm); break;
                case 4: SetBt<S32>(code, kind, imm); break;
                case 8: SetBt<S64>(code, kind, imm); break;
            }
        }
    }

    private static void SetBt<S>(Code code, int kind, bool imm) where S : struct, ISize
    {
        switch (kind)
        {
            case Bt: OpTable.Set(code, imm ? &BtMemImm<S> : &BtMemReg<S>, &BtReg<S>); break;
            case Bts: OpTable.Set(code, imm ? &BtsMemImm<S> : &BtsMemReg<S>, &BtsReg<S>); break;
            case Btr: OpTable.Set(code, imm ? &BtrMemImm<S> : &BtrMemReg<S>, &BtrReg<S>); break;
            default: OpTable.Set(code, imm ? &BtcMemImm<S> : &BtcMemReg<S>, &BtcReg<S>); break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SetCf(Cpu c, ulong bit)
    {
        if (bit != 0) c.UpdateArithFlags(Bits.Cf, 0); else c.UpdateArithFlags(0, Bits.Cf);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Modify(int kind, ulong v, int bit) => kind switch
    {
        Bts => v | (1UL << bit),
        Btr => v & ~(1UL << bit),
        Btc => v ^ (1UL << bit),
        _ => v,
    };

    /// <summary>Register destination: the bit offset is taken modulo the operand size.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void BtRegCore<S>(Cpu c, ref Insn i, int kind) where S : struct, ISize
    {
        ulong v = S.Get(c, i.R0);
        ulong src = i.Kind(1) == OperandKind.Register ? S.Get(c, i.R1) : i.Imm;
        int bit = (int)src & (S.Bits - 1);
        if (kind != Bt) S.Set(c, i.R0, Modify(kind, v, bit));
        SetCf(c, (v >> bit) & 1);
    }

    /// <summary>
    /// Memory destination. With a register offset the offset is signed and may address memory
    /// outside the operand: the operand-sized unit at EA + (offset >> log2(size)) * size.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void BtMemCore<S>(Cpu c, ref Insn i, int kind, bool regOffset) where S : struct, ISize
    {
        int bit;
        ulong lin;
        if (regOffset)
        {
            long off = S.Sx(S.Get(c, i.R1));
            int shift = BitOperations.Log2((uint)S.Bits);
            lin = IntForms.EaPlus(c, ref i, (off >> shift) * S.Bytes);
            bit = (int)(off & (S.Bits - 1));
        }
        else
        {
            lin = c.Ea(ref i);
            bit = (int)i.Imm & (S.Bits - 1);
        }
        ulong v = S.Load(c, lin);
        if (c.Faulted) return;
        if (kind != Bt)
        {
            S.Store(c, lin, Modify(kind, v, bit));
            if (c.Faulted) return;
        }
        SetCf(c, (v >> bit) & 1);
    }

    private static void BtReg<S>(Cpu c, ref Insn i) where S : struct, ISize => BtRegCore<S>(c, ref i, Bt);
    private static void BtsReg<S>(Cpu c, ref Insn i) where S : struct, ISize => BtRegCore<S>(c, ref i, Bts);
    private static void BtrReg<S>(Cpu c, ref Insn i) where S : struct, ISize => BtRegCore<S>(c, ref i, Btr);
    private static void BtcReg<S>(Cpu c, ref Insn i) where S : struct, ISize => BtRegCore<S>(c, ref i, Btc);
    private static void BtMemReg<S>(Cpu c, ref Insn i) where S : struct, ISize => BtMemCore<S>(c, ref i, Bt, true);
    private static void BtsMemReg<S>(Cpu c, ref Insn i) where S : struct, ISize => BtMemCore<S>(c, ref i, Bts, true);
    private static void BtrMemReg<S>(Cpu c, ref Insn i) where S : struct, ISize => BtMemCore<S>(c, ref i, Btr, true);
    private static void BtcMemReg<S>(Cpu c, ref Insn i) where S : struct, ISize => BtMemCore<S>(c, ref i, Btc, true);
    private static void BtMemImm<S>(Cpu c, ref Insn i) where S : struct, ISize => BtMemCore<S>(c, ref i, Bt, false);
    private static void BtsMemImm<S>(Cpu c, ref Insn i) where S : struct, ISize => BtMemCore<S>(c, ref i, Bts, false);
    private static void BtrMemImm<S>(Cpu c, ref Insn i) where S : struct, ISize => BtMemCore<S>(c, ref i, Btr, false);
    private static void BtcMemImm<S>(Cpu c, ref Insn i) where S : struct, ISize => BtMemCore<S>(c, ref i, Btc, false);

    // ---- bit scans and counts ------------------------------------------------------------------

    private static void RegisterScan(Mnemonic m, int kind)
    {
        foreach (var code in FormTable.Legacy(m))
        {
            switch (IntForms.Size(code, 0))
            {
                case 2: OpTable.Set(code, Scan<S16>(kind)); break;
                case 4: OpTable.Set(code, Scan<S32>(kind)); break;
                case 8: OpTable.Set(code, Scan<S64>(kind)); break;
            }
        }
    }

    private static delegate*<Cpu, ref Insn, void> Scan<S>(int kind) where S : struct, ISize => kind switch
    {
        0 => &Bsf<S>,
        1 => &Bsr<S>,
        2 => &Tzcnt<S>,
        3 => &Lzcnt<S>,
        _ => &Popcnt<S>,
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Src1<S>(Cpu c, ref Insn i) where S : struct, ISize =>
        i.Op1IsMem ? S.Load(c, c.Ea(ref i)) : S.Get(c, i.R1);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Src2<S>(Cpu c, ref Insn i) where S : struct, ISize =>
        i.Kind(2) == OperandKind.Memory ? S.Load(c, c.Ea(ref i)) : S.Get(c, i.R2);

    private static void Bsf<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong v = Src1<S>(c, ref i);
        if (c.Faulted) return;
        if (v == 0) { c.SetArithFlags(Bits.Zf | Bits.Pf); return; } // destination unchanged
        ulong r = (ulong)BitOperations.TrailingZeroCount(v);
        S.Set(c, i.R0, r);
        c.SetArithFlags(IntForms.Parity(r));
    }

    private static void Bsr<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong v = Src1<S>(c, ref i);
        if (c.Faulted) return;
        if (v == 0) { c.SetArithFlags(Bits.Zf | Bits.Pf); return; }
        ulong r = (ulong)BitOperations.Log2(v);
        S.Set(c, i.R0, r);
        c.SetArithFlags(IntForms.Parity(r));
    }

    private static void Tzcnt<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong v = Src1<S>(c, ref i);
        if (c.Faulted) return;
        ulong r = v == 0 ? (ulong)S.Bits : (ulong)BitOperations.TrailingZeroCount(v);
        S.Set(c, i.R0, r);
        c.SetArithFlags((v == 0 ? Bits.Cf : 0) | (r == 0 ? Bits.Zf : 0));
    }

    private static void Lzcnt<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong v = Src1<S>(c, ref i);
        if (c.Faulted) return;
        ulong r = (ulong)(BitOperations.LeadingZeroCount(v) - (64 - S.Bits));
        S.Set(c, i.R0, r);
        c.SetArithFlags((v == 0 ? Bits.Cf : 0) | (r == 0 ? Bits.Zf : 0));
    }

    private static void Popcnt<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong v = Src1<S>(c, ref i);
        if (c.Faulted) return;
        S.Set(c, i.R0, (ulong)BitOperations.PopCount(v));
        c.SetArithFlags(v == 0 ? Bits.Zf : 0);
    }

    // ---- BMI1 / BMI2 ---------------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong SfZf<S>(ulong r) where S : struct, ISize => (((r >> (S.Bits - 1)) & 1) << 7) | (r == 0 ? Bits.Zf : 0);

    private static void Andn<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong b = Src2<S>(c, ref i);
        if (c.Faulted) return;
        ulong r = ~S.Get(c, i.R1) & b & S.Mask;
        S.Set(c, i.R0, r);
        c.SetArithFlags(SfZf<S>(r));
    }

    private static void Bextr<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong v = Src1<S>(c, ref i);
        if (c.Faulted) return;
        ulong ctl = S.Get(c, i.R2);
        int start = (int)(ctl & 0xFF), len = (int)((ctl >> 8) & 0xFF);
        ulong r = start >= S.Bits ? 0 : v >> start;
        if (len < 64) r &= (1UL << len) - 1;
        S.Set(c, i.R0, r);
        c.SetArithFlags(r == 0 ? Bits.Zf : 0);
    }

    private static void Blsi<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong v = Src1<S>(c, ref i);
        if (c.Faulted) return;
        ulong r = v & (0 - v) & S.Mask;
        S.Set(c, i.R0, r);
        c.SetArithFlags(SfZf<S>(r) | (v != 0 ? Bits.Cf : 0));
    }

    private static void Blsmsk<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong v = Src1<S>(c, ref i);
        if (c.Faulted) return;
        ulong r = (v ^ (v - 1)) & S.Mask;
        S.Set(c, i.R0, r);
        c.SetArithFlags((((r >> (S.Bits - 1)) & 1) << 7) | (v == 0 ? Bits.Cf : 0));
    }

    private static void Blsr<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong v = Src1<S>(c, ref i);
        if (c.Faulted) return;
        ulong r = v & (v - 1) & S.Mask;
        S.Set(c, i.R0, r);
        c.SetArithFlags(SfZf<S>(r) | (v == 0 ? Bits.Cf : 0));
    }

    private static void Bzhi<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong v = Src1<S>(c, ref i);
        if (c.Faulted) return;
        int n = (int)(S.Get(c, i.R2) & 0xFF);
        ulong r = n >= S.Bits ? v : v & ((1UL << n) - 1);
        S.Set(c, i.R0, r);
        c.SetArithFlags(SfZf<S>(r) | (n > S.Bits - 1 ? Bits.Cf : 0));
    }

    private static void Pdep<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong mask = Src2<S>(c, ref i);
        if (c.Faulted) return;
        ulong src = S.Get(c, i.R1), r = 0;
        for (ulong m = mask, k = 1; m != 0; m &= m - 1, k <<= 1)
            if ((src & k) != 0) r |= m & (0 - m);
        S.Set(c, i.R0, r);
    }

    private static void Pext<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong mask = Src2<S>(c, ref i);
        if (c.Faulted) return;
        ulong src = S.Get(c, i.R1), r = 0;
        for (ulong m = mask, k = 1; m != 0; m &= m - 1, k <<= 1)
            if ((src & m & (0 - m)) != 0) r |= k;
        S.Set(c, i.R0, r);
    }
}
