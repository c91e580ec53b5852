using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using HyperLock.Emulator.Processor.Decode;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;
using V = System.Runtime.Intrinsics.Vector128<byte>;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>
/// MMX forms (mm operands) of the integer operations, the MMX moves, EMMS, and the MMX↔XMM
/// conversions. MMi is the significand of x87 physical register Ri (the x87 family's
/// <see cref="Cpu.Mmx"/>, <see cref="Cpu.MmxWrite"/>, <see cref="Cpu.MmxEnter"/>): every MMX
/// instruction sets TOP = 0 and all tags valid, a write sets the exponent field to all ones.
/// Checks: CR0.EM → #UD, CR0.TS → #NM, pending unmasked x87 exception → #MF (CR0.NE = 1).
/// The element-wise operations reuse the XMM operation structs on a vector whose low
/// quadword holds the MMX value; packs and horizontal operations run on (dest, src) joined
/// in one vector; high unpacks on the high dwords.
/// </summary>
internal static unsafe partial class Sse
{
    private static void RegisterMmx()
    {
        SetM(Mnemonic.Paddb, &Mmx<Paddb>); SetM(Mnemonic.Paddw, &Mmx<Paddw>); SetM(Mnemonic.Paddd, &Mmx<Paddd>); SetM(Mnemonic.Paddq, &Mmx<Paddq>);
        SetM(Mnemonic.Psubb, &Mmx<Psubb>); SetM(Mnemonic.Psubw, &Mmx<Psubw>); SetM(Mnemonic.Psubd, &Mmx<Psubd>); SetM(Mnemonic.Psubq, &Mmx<Psubq>);
        SetM(Mnemonic.Paddsb, &Mmx<Paddsb>); SetM(Mnemonic.Paddsw, &Mmx<Paddsw>); SetM(Mnemonic.Paddusb, &Mmx<Paddusb>); SetM(Mnemonic.Paddusw, &Mmx<Paddusw>);
        SetM(Mnemonic.Psubsb, &Mmx<Psubsb>); SetM(Mnemonic.Psubsw, &Mmx<Psubsw>); SetM(Mnemonic.Psubusb, &Mmx<Psubusb>); SetM(Mnemonic.Psubusw, &Mmx<Psubusw>);
        SetM(Mnemonic.Pmullw, &Mmx<Pmullw>); SetM(Mnemonic.Pmulhw, &Mmx<Pmulhw>); SetM(Mnemonic.Pmulhuw, &Mmx<Pmulhuw>);
        SetM(Mnemonic.Pmuludq, &Mmx<Pmuludq>); SetM(Mnemonic.Pmaddwd, &Mmx<Pmaddwd>); SetM(Mnemonic.Pmaddubsw, &Mmx<Pmaddubsw>);
        SetM(Mnemonic.Pmulhrsw, &Mmx<Pmulhrsw>); SetM(Mnemonic.Pavgb, &Mmx<Pavgb>); SetM(Mnemonic.Pavgw, &Mmx<Pavgw>);
        SetM(Mnemonic.Pminub, &Mmx<Pminub>); SetM(Mnemonic.Pmaxub, &Mmx<Pmaxub>); SetM(Mnemonic.Pminsw, &Mmx<Pminsw>); SetM(Mnemonic.Pmaxsw, &Mmx<Pmaxsw>);
        SetM(Mnemonic.Pabsb, &Mmx<Pabsb>); SetM(Mnemonic.Pabsw, &Mmx<Pabsw>); SetM(Mnemonic.Pabsd, &Mmx<Pabsd>);
        SetM(Mnemonic.Psignb, &Mmx<Psignb>); SetM(Mnemonic.Psignw, &Mmx<Psignw>); SetM(Mnemonic.Psignd, &Mmx<Psignd>);
        SetM(Mnemonic.Psadbw, &Mmx<Psadbw>);
        SetM(Mnemonic.Pcmpeqb, &Mmx<Pcmpeqb>); SetM(Mnemonic.Pcmpeqw, &Mmx<Pcmpeqw>); SetM(Mnemonic.Pcmpeqd, &Mmx<Pcmpeqd>);
        SetM(Mnemonic.Pcmpgtb, &Mmx<Pcmpgtb>); SetM(Mnemonic.Pcmpgtw, &Mmx<Pcmpgtw>); SetM(Mnemonic.Pcmpgtd, &Mmx<Pcmpgtd>);
        SetM(Mnemonic.Pand, &Mmx<And>); SetM(Mnemonic.Pandn, &Mmx<AndNot>); SetM(Mnemonic.Por, &Mmx<Or>); SetM(Mnemonic.Pxor, &Mmx<Xor>);
        OpTable.Set(Code.Psllw_mm_mmm64, &Mmx<Psllw>); OpTable.Set(Code.Pslld_mm_mmm64, &Mmx<Pslld>); OpTable.Set(Code.Psllq_mm_mmm64, &Mmx<Psllq>);
        OpTable.Set(Code.Psrlw_mm_mmm64, &Mmx<Psrlw>); OpTable.Set(Code.Psrld_mm_mmm64, &Mmx<Psrld>); OpTable.Set(Code.Psrlq_mm_mmm64, &Mmx<Psrlq>);
        OpTable.Set(Code.Psraw_mm_mmm64, &Mmx<Psraw>); OpTable.Set(Code.Psrad_mm_mmm64, &Mmx<Psrad>);
        OpTable.Set(Code.Psllw_mm_imm8, &MmxShiftImm<Psllw>); OpTable.Set(Code.Pslld_mm_imm8, &MmxShiftImm<Pslld>); OpTable.Set(Code.Psllq_mm_imm8, &MmxShiftImm<Psllq>);
        OpTable.Set(Code.Psrlw_mm_imm8, &MmxShiftImm<Psrlw>); OpTable.Set(Code.Psrld_mm_imm8, &MmxShiftImm<Psrld>); OpTable.Set(Code.Psrlq_mm_imm8, &MmxShiftImm<Psrlq>);
        OpTable.Set(Code.Psraw_mm_imm8, &MmxShiftImm<Psraw>); OpTable.Set(Code.Psrad_mm_imm8, &MmxShiftImm<Psrad>);
        OpTable.Set(Code.Punpcklbw_mm_mmm32, &MmxLow<Punpcklbw>); OpTable.Set(Code.Punpcklwd_mm_mmm32, &MmxLow<Punpcklwd>);
        OpTable.Set(Code.Punpckldq_mm_mmm32, &MmxLow<Punpckldq>);
        OpTable.Set(Code.Punpckhbw_mm_mmm64, &MmxHigh<Punpcklbw>); OpTable.Set(Code.Punpckhwd_mm_mmm64, &MmxHigh<Punpcklwd>);
        OpTable.Set(Code.Punpckhdq_mm_mmm64, &MmxHigh<Punpckldq>);
        SetM(Mnemonic.Packsswb, &MmxJoined<Packsswb>); SetM(Mnemonic.Packssdw, &MmxJoined<Packssdw>); SetM(Mnemonic.Packuswb, &MmxJoined<Packuswb>);
        SetM(Mnemonic.Phaddw, &MmxJoined<Phaddw>); SetM(Mnemonic.Phaddd, &MmxJoined<Phaddd>); SetM(Mnemonic.Phaddsw, &MmxJoined<Phaddsw>);
        SetM(Mnemonic.Phsubw, &MmxJoined<Phsubw>); SetM(Mnemonic.Phsubd, &MmxJoined<Phsubd>); SetM(Mnemonic.Phsubsw, &MmxJoined<Phsubsw>);
        SetM(Mnemonic.Pshufb, &Mmx<PshufbMmx>);
        SetM(Mnemonic.Palignr, &Mmx<PalignrMmx>);
        SetM(Mnemonic.Pshufw, &Mmx<Pshuflw>);
        OpTable.Set(Code.Emms, &Emms);
        OpTable.Set(Code.Movd_mm_rm32, &MovToMmx<V4>); OpTable.Set(Code.Movq_mm_rm64, &MovToMmx<V8>); OpTable.Set(Code.Movq_mm_mmm64, &MovToMmx<V8>);
        OpTable.Set(Code.Movd_rm32_mm, &MovFromMmx<V4>); OpTable.Set(Code.Movq_rm64_mm, &MovFromMmx<V8>); OpTable.Set(Code.Movq_mmm64_mm, &MovFromMmx<V8>);
        OpTable.Set(Code.Movntq_m64_mm, &MovFromMmx<V8>);
        OpTable.Set(Code.Pinsrw_mm_r32m16_imm8, &PinsrwMmx); OpTable.Set(Code.Pinsrw_mm_r64m16_imm8, &PinsrwMmx);
        OpTable.Set(Code.Pextrw_r32_mm_imm8, &PextrwMmx); OpTable.Set(Code.Pextrw_r64_mm_imm8, &PextrwMmx);
        OpTable.Set(Code.Pmovmskb_r32_mm, &PmovmskbMmx); OpTable.Set(Code.Pmovmskb_r64_mm, &PmovmskbMmx);
        OpTable.Set(Code.Maskmovq_rDI_mm_mm, &Maskmovq);
        OpTable.Set(Code.Movq2dq_xmm_mm, &Movq2dq); OpTable.Set(Code.Movdq2q_mm_xmm, &Movdq2q);
        OpTable.Set(Code.Cvtpi2ps_xmm_mmm64, &Cvtpi2ps); OpTable.Set(Code.Cvtpi2pd_xmm_mmm64, &Cvtpi2pd);
        OpTable.Set(Code.Cvtps2pi_mm_xmmm64, &Cvtps2pi<Quiet>); OpTable.Set(Code.Cvttps2pi_mm_xmmm64, &Cvtps2pi<Signaling>);
        OpTable.Set(Code.Cvtpd2pi_mm_xmmm128, &Cvtpd2pi<Quiet>); OpTable.Set(Code.Cvttpd2pi_mm_xmmm128, &Cvtpd2pi<Signaling>);
    }

    private static bool IsMmxForm(Code c)
    {
        var op = c.ToOpCode();
        bool mm = false;
        for (int n = 0; n < op.OpCount; n++)
        {
            switch (op.GetOpKind(n))
            {
                case OpCodeOperandKind.xmm_reg:
                case OpCodeOperandKind.xmm_rm:
                case OpCodeOperandKind.xmm_or_mem:
                    return false;
                case OpCodeOperandKind.mm_reg:
                case OpCodeOperandKind.mm_rm:
                case OpCodeOperandKind.mm_or_mem:
                    mm = true;
                    break;
            }
        }
        return mm;
    }

    private static void SetM(Mnemonic m, delegate*<Cpu, ref Insn, void> h)
    {
        foreach (var c in FormTable.Legacy(m))
            if (IsMmxForm(c)) OpTable.Set(c, h);
    }

    /// <summary>The MMX checks: CR0.EM → #UD, CR0.TS → #NM, pending x87 exception → #MF.</summary>
    private static bool MmxAvailable(Cpu c)
    {
        if ((c.Cr0 & Bits.Cr0Em) != 0) { c.RaiseUd(); return false; }
        if ((c.Cr0 & Bits.Cr0Ts) != 0) { c.RaiseFault(Vector.NM); return false; }
        if ((c.FpuSw & Cpu.FswEs) != 0 && (c.Cr0 & Bits.Cr0Ne) != 0) { c.RaiseFault(Vector.MF); return false; }
        return true;
    }

    /// <summary>Operand 1 as an MMX value: the register, or 8 (or <paramref name="size"/>) bytes of memory.</summary>
    private static ulong MmxSrc(Cpu c, ref Insn i, int size = 8)
    {
        if (i.Op1IsMem) return c.ReadMem(c.Ea(ref i), size);
        return c.Mmx(i.R1);
    }

    private static V Low(ulong v) => Vector128.CreateScalar(v).AsByte();

    private static void Mmx<T>(Cpu c, ref Insn i) where T : struct, IVecOp
    {
        if (!MmxAvailable(c)) return;
        ulong s = MmxSrc(c, ref i);
        if (c.Faulted) return;
        ulong r = T.Op(Low(c.Mmx(i.R0)), Low(s), (byte)i.Imm).AsUInt64().GetElement(0);
        c.MmxEnter();
        c.MmxWrite(i.R0, r);
    }

    private static void MmxShiftImm<T>(Cpu c, ref Insn i) where T : struct, IVecOp
    {
        if (!MmxAvailable(c)) return;
        ulong r = T.Op(Low(c.Mmx(i.R0)), Low((byte)i.Imm), 0).AsUInt64().GetElement(0);
        c.MmxEnter();
        c.MmxWrite(i.R0, r);
    }

    /// <summary>Low unpacks: the memory form reads 4 bytes.</summary>
    private static void MmxLow<T>(Cpu c, ref Insn i) where T : struct, IVecOp
    {
        if (!MmxAvailable(c)) return;
        ulong s = MmxSrc(c, ref i, 4);
        if (c.Faulted) return;
        ulong r = T.Op(Low(c.Mmx(i.R0)), Low(s), 0).AsUInt64().GetElement(0);
        c.MmxEnter();
        c.MmxWrite(i.R0, r);
    }

    /// <summary>High unpacks: the low unpack of the high dwords.</summary>
    private static void MmxHigh<T>(Cpu c, ref Insn i) where T : struct, IVecOp
    {
        if (!MmxAvailable(c)) return;
        ulong s = MmxSrc(c, ref i);
        if (c.Faulted) return;
        ulong r = T.Op(Low(c.Mmx(i.R0) >> 32), Low(s >> 32), 0).AsUInt64().GetElement(0);
        c.MmxEnter();
        c.MmxWrite(i.R0, r);
    }

    /// <summary>Packs and horizontal operations: run on (dest, src) as one vector; the low quadword is the result.</summary>
    private static void MmxJoined<T>(Cpu c, ref Insn i) where T : struct, IVecOp
    {
        if (!MmxAvailable(c)) return;
        ulong s = MmxSrc(c, ref i);
        if (c.Faulted) return;
        V x = Vector128.Create(c.Mmx(i.R0), s).AsByte();
        ulong r = T.Op(x, x, 0).AsUInt64().GetElement(0);
        c.MmxEnter();
        c.MmxWrite(i.R0, r);
    }

    /// <summary>PSHUFB mm: index bits 2:0, bit 7 zeroes.</summary>
    private struct PshufbMmx : IVecOp
    {
        public static V Op(V d, V s, byte m) => Ssse3.Shuffle(d, s & Vector128.Create((byte)0x87));
    }

    /// <summary>PALIGNR mm: (dest:src) >> (imm8 × 8), low 8 bytes.</summary>
    private struct PalignrMmx : IVecOp
    {
        public static V Op(V d, V s, byte m)
        {
            UInt128 x = new(d.AsUInt64().GetElement(0), s.AsUInt64().GetElement(0));
            ulong r = m >= 16 ? 0 : (ulong)(x >> (m * 8));
            return Low(r);
        }
    }

    /// <summary>EMMS: all tags empty; the host CPU also resets TOP to 0 (checked differentially), so we do too.</summary>
    private static void Emms(Cpu c, ref Insn i)
    {
        if (!MmxAvailable(c)) return;
        c.MmxEnter();
        c.MmxEmms();
    }

    private static void MovToMmx<TSize>(Cpu c, ref Insn i) where TSize : struct, IVecSize
    {
        if (!MmxAvailable(c)) return;
        ulong v;
        if (i.Op1IsMem) v = c.ReadMem(c.Ea(ref i), TSize.Bytes);
        else if (i.Raw.Op1Register.IsMM()) v = c.Mmx(i.R1);
        else v = TSize.Bytes == 8 ? c.R(i.R1) : (uint)c.R(i.R1);
        if (c.Faulted) return;
        c.MmxEnter();
        c.MmxWrite(i.R0, v);
    }

    private static void MovFromMmx<TSize>(Cpu c, ref Insn i) where TSize : struct, IVecSize
    {
        if (!MmxAvailable(c)) return;
        ulong v = c.Mmx(i.R1);
        if (TSize.Bytes == 4) v = (uint)v;
        if (i.Op0IsMem)
        {
            c.WriteMem(c.Ea(ref i), TSize.Bytes, v);
            if (c.Faulted) return;
            c.MmxEnter();
            return;
        }
        c.MmxEnter();
        if (i.Raw.Op0Register.IsMM()) c.MmxWrite(i.R0, v);
        else c.R(i.R0) = v;
    }

    private static void PinsrwMmx(Cpu c, ref Insn i)
    {
        if (!MmxAvailable(c)) return;
        ulong v = i.Op1IsMem ? c.ReadMem16(c.Ea(ref i)) : (ushort)c.R(i.R1);
        if (c.Faulted) return;
        int sh = (int)(i.Imm & 3) * 16;
        ulong r = (c.Mmx(i.R0) & ~(0xFFFFUL << sh)) | (v << sh);
        c.MmxEnter();
        c.MmxWrite(i.R0, r);
    }

    private static void PextrwMmx(Cpu c, ref Insn i)
    {
        if (!MmxAvailable(c)) return;
        c.R(i.R0) = (c.Mmx(i.R1) >> ((int)(i.Imm & 3) * 16)) & 0xFFFF;
        c.MmxEnter();
    }

    private static void PmovmskbMmx(Cpu c, ref Insn i)
    {
        if (!MmxAvailable(c)) return;
        c.R(i.R0) = (uint)Sse2.MoveMask(Low(c.Mmx(i.R1))) & 0xFF;
        c.MmxEnter();
    }

    /// <summary>MASKMOVQ: bytes of mm1 whose mask byte (mm2) has bit 7 set are stored at DS:rDI.</summary>
    private static void Maskmovq(Cpu c, ref Insn i)
    {
        if (!MmxAvailable(c)) return;
        ulong v = c.Mmx(i.R1), m = c.Mmx(i.R2);
        ulong addr = c.R(Reg.Rdi);
        if (i.AddrSize == 4) addr = (uint)addr; else if (i.AddrSize == 2) addr = (ushort)addr;
        ulong lin = c.SegLinear(InsnBuilder.SegmentNumber(i.Raw.MemorySegment), addr);
        if ((m & 0x8080808080808080UL) != 0)
        {
            if (!c.ProbeWrite(lin, 8, c.Cpl == 3)) return;
            for (int k = 0; k < 8; k++)
            {
                if (((m >> (8 * k)) & 0x80) == 0) continue;
                c.WriteMem8(lin + (ulong)k, (byte)(v >> (8 * k)));
                if (c.Faulted) return;
            }
        }
        c.MmxEnter();
    }

    private static void Movq2dq(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable() || !MmxAvailable(c)) return;
        c.X(i.R0) = new Xmm(c.Mmx(i.R1), 0);
        c.MmxEnter();
    }

    private static void Movdq2q(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable() || !MmxAvailable(c)) return;
        ulong v = c.X(i.R1).Lo;
        c.MmxEnter();
        c.MmxWrite(i.R0, v);
    }

    /// <summary>CVTPI2PS xmm, mm/m64: two int32 → two floats in the low half (RC rounding); upper half kept.</summary>
    private static void Cvtpi2ps(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        bool reg = !i.Op1IsMem;
        if (reg && !MmxAvailable(c)) return;
        ulong s = MmxSrc(c, ref i);
        if (c.Faulted) return;
        var e = new FpEnv(c.Mxcsr);
        ulong r0 = FromIntFast32(ref e, (int)s), r1 = FromIntFast32(ref e, (int)(s >> 32));
        if (!c.SseCommitFlags(e.Flags)) return;
        if (reg) c.MmxEnter();
        c.X(i.R0).Lo = r0 | (r1 << 32);
    }

    private static ulong FromIntFast32(ref FpEnv e, int v) => e.Fast ? Bi((float)v) : SoftFp.FromInt(SoftFp.F32, v, ref e);

    /// <summary>CVTPI2PD xmm, mm/m64: two int32 → two doubles (exact).</summary>
    private static void Cvtpi2pd(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        bool reg = !i.Op1IsMem;
        if (reg && !MmxAvailable(c)) return;
        ulong s = MmxSrc(c, ref i);
        if (c.Faulted) return;
        if (reg) c.MmxEnter();
        c.X(i.R0) = new Xmm(Bi((double)(int)s), Bi((double)(int)(s >> 32)));
    }

    /// <summary>CVT(T)PS2PI mm, xmm/m64.</summary>
    private static void Cvtps2pi<TTrunc>(Cpu c, ref Insn i) where TTrunc : struct, IBool
    {
        if (!c.SseAvailable() || !MmxAvailable(c)) return;
        ulong s = i.Op1IsMem ? c.ReadMem64(c.Ea(ref i)) : c.X(i.R1).Lo;
        if (c.Faulted) return;
        var e = new FpEnv(c.Mxcsr);
        ulong r0 = (uint)SoftFp.ToInt(SoftFp.F32, (uint)s, 32, TTrunc.Value, ref e);
        ulong r1 = (uint)SoftFp.ToInt(SoftFp.F32, s >> 32, 32, TTrunc.Value, ref e);
        if (!c.SseCommitFlags(e.Flags)) return;
        c.MmxEnter();
        c.MmxWrite(i.R0, r0 | (r1 << 32));
    }

    /// <summary>CVT(T)PD2PI mm, xmm/m128 (aligned).</summary>
    private static void Cvtpd2pi<TTrunc>(Cpu c, ref Insn i) where TTrunc : struct, IBool
    {
        if (!c.SseAvailable() || !MmxAvailable(c)) return;
        Xmm s = c.XmmSrc(ref i, 1);
        if (c.Faulted) return;
        var e = new FpEnv(c.Mxcsr);
        ulong r0 = (uint)SoftFp.ToInt(SoftFp.F64, s.Lo, 32, TTrunc.Value, ref e);
        ulong r1 = (uint)SoftFp.ToInt(SoftFp.F64, s.Hi, 32, TTrunc.Value, ref e);
        if (!c.SseCommitFlags(e.Flags)) return;
        c.MmxEnter();
        c.MmxWrite(i.R0, r0 | (r1 << 32));
    }
}
