using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using HyperLock.Emulator.Processor.Decode;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>Data movement: full, scalar, half and GPR moves, non-temporal stores, masks, element insert/extract.</summary>
internal static unsafe partial class Sse
{
    private static void RegisterMoves()
    {
        foreach (var c in new[] { Code.Movaps_xmm_xmmm128, Code.Movapd_xmm_xmmm128, Code.Movdqa_xmm_xmmm128, Code.Movntdqa_xmm_m128 })
            OpTable.Set(c, &LoadAligned, &MovRegReg);
        foreach (var c in new[] { Code.Movaps_xmmm128_xmm, Code.Movapd_xmmm128_xmm, Code.Movdqa_xmmm128_xmm,
                     Code.Movntps_m128_xmm, Code.Movntpd_m128_xmm, Code.Movntdq_m128_xmm })
            OpTable.Set(c, &StoreAligned, &MovRegReg);
        foreach (var c in new[] { Code.Movups_xmm_xmmm128, Code.Movupd_xmm_xmmm128, Code.Movdqu_xmm_xmmm128, Code.Lddqu_xmm_m128 })
            OpTable.Set(c, &LoadUnaligned, &MovRegReg);
        foreach (var c in new[] { Code.Movups_xmmm128_xmm, Code.Movupd_xmmm128_xmm, Code.Movdqu_xmmm128_xmm })
            OpTable.Set(c, &StoreUnaligned, &MovRegReg);
        OpTable.Set(Code.Movss_xmm_xmmm32, &MovssLoad);
        OpTable.Set(Code.Movss_xmmm32_xmm, &MovssStore);
        OpTable.Set(Code.Movsd_xmm_xmmm64, &MovsdLoad);
        OpTable.Set(Code.Movsd_xmmm64_xmm, &MovsdStore);
        OpTable.Set(Code.Movlps_xmm_m64, &MovLowLoad); OpTable.Set(Code.Movlpd_xmm_m64, &MovLowLoad);
        OpTable.Set(Code.Movhps_xmm_m64, &MovHighLoad); OpTable.Set(Code.Movhpd_xmm_m64, &MovHighLoad);
        OpTable.Set(Code.Movlps_m64_xmm, &MovLowStore); OpTable.Set(Code.Movlpd_m64_xmm, &MovLowStore);
        OpTable.Set(Code.Movhps_m64_xmm, &MovHighStore); OpTable.Set(Code.Movhpd_m64_xmm, &MovHighStore);
        OpTable.Set(Code.Movhlps_xmm_xmm, &Movhlps);
        OpTable.Set(Code.Movlhps_xmm_xmm, &Movlhps);
        OpTable.Set(Code.Movd_xmm_rm32, &MovdLoad); OpTable.Set(Code.Movq_xmm_rm64, &MovqLoadGpr);
        OpTable.Set(Code.Movd_rm32_xmm, &MovdStore); OpTable.Set(Code.Movq_rm64_xmm, &MovqStoreGpr);
        OpTable.Set(Code.Movq_xmm_xmmm64, &MovqLoad);
        OpTable.Set(Code.Movq_xmmm64_xmm, &MovqStore);
        OpTable.Set(Code.Movnti_m32_r32, &Movnti); OpTable.Set(Code.Movnti_m64_r64, &Movnti);
        OpTable.Set(Code.Movddup_xmm_xmmm64, &Movddup);
        OpTable.Set(Code.Movshdup_xmm_xmmm128, &Vec<Movshdup>);
        OpTable.Set(Code.Movsldup_xmm_xmmm128, &Vec<Movsldup>);
        OpTable.Set(Code.Movmskps_r32_xmm, &Movmskps); OpTable.Set(Code.Movmskps_r64_xmm, &Movmskps);
        OpTable.Set(Code.Movmskpd_r32_xmm, &Movmskpd); OpTable.Set(Code.Movmskpd_r64_xmm, &Movmskpd);
        OpTable.Set(Code.Pmovmskb_r32_xmm, &Pmovmskb); OpTable.Set(Code.Pmovmskb_r64_xmm, &Pmovmskb);
        OpTable.Set(Code.Maskmovdqu_rDI_xmm_xmm, &Maskmovdqu);
        OpTable.Set(Code.Pextrb_r32m8_xmm_imm8, &Pextr<V1>); OpTable.Set(Code.Pextrb_r64m8_xmm_imm8, &Pextr<V1>);
        OpTable.Set(Code.Pextrw_r32m16_xmm_imm8, &Pextr<V2>); OpTable.Set(Code.Pextrw_r64m16_xmm_imm8, &Pextr<V2>);
        OpTable.Set(Code.Pextrw_r32_xmm_imm8, &Pextr<V2>); OpTable.Set(Code.Pextrw_r64_xmm_imm8, &Pextr<V2>);
        OpTable.Set(Code.Pextrd_rm32_xmm_imm8, &Pextr<V4>); OpTable.Set(Code.Pextrq_rm64_xmm_imm8, &Pextr<V8>);
        OpTable.Set(Code.Extractps_rm32_xmm_imm8, &Pextr<V4>); OpTable.Set(Code.Extractps_r64m32_xmm_imm8, &Pextr<V4>);
        OpTable.Set(Code.Pinsrb_xmm_r32m8_imm8, &Pinsr<V1>); OpTable.Set(Code.Pinsrb_xmm_r64m8_imm8, &Pinsr<V1>);
        OpTable.Set(Code.Pinsrw_xmm_r32m16_imm8, &Pinsr<V2>); OpTable.Set(Code.Pinsrw_xmm_r64m16_imm8, &Pinsr<V2>);
        OpTable.Set(Code.Pinsrd_xmm_rm32_imm8, &Pinsr<V4>); OpTable.Set(Code.Pinsrq_xmm_rm64_imm8, &Pinsr<V8>);
        OpTable.Set(Code.Insertps_xmm_xmmm32_imm8, &Insertps);
        // Fences order memory; this model has no reordering, so they do nothing (no CR0.TS/EM checks apply).
        foreach (var m in new[] { Mnemonic.Lfence, Mnemonic.Mfence, Mnemonic.Sfence })
            foreach (var c in FormTable.Legacy(m)) OpTable.Set(c, &Fence);
        // CLFLUSH (CPUID.1:EDX.CLFSH is advertised): no caches are modelled; the line must be
        // accessible as for a byte read (#PF/#GP as a load would raise). CLFLUSHOPT/CLWB are not
        // advertised and stay #UD.
        OpTable.Set(Code.Clflush_m8, &Clflush);
    }

    private static void Clflush(Cpu c, ref Insn i) => c.ProbeRead(c.Ea(ref i), 1, c.Cpl == 3);

    private static void Fence(Cpu c, ref Insn i) { }

    private static void MovRegReg(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        c.X(i.R0) = c.X(i.R1);
    }

    private static void LoadAligned(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        Xmm v = c.ReadXmmAligned(c.Ea(ref i));
        if (c.Faulted) return;
        c.X(i.R0) = v;
    }

    private static void StoreAligned(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        c.WriteXmmAligned(c.Ea(ref i), c.X(i.R1));
    }

    private static void LoadUnaligned(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        Xmm v = c.ReadMem128(c.Ea(ref i));
        if (c.Faulted) return;
        c.X(i.R0) = v;
    }

    private static void StoreUnaligned(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        c.WriteMem128(c.Ea(ref i), c.X(i.R1));
    }

    /// <summary>MOVSS xmm, xmm/m32: register form merges the low dword; memory form zeroes bits 127:32.</summary>
    private static void MovssLoad(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        if (i.Op1IsMem)
        {
            uint v = c.ReadMem32(c.Ea(ref i));
            if (c.Faulted) return;
            c.X(i.R0) = new Xmm(v, 0);
            return;
        }
        ref Xmm d = ref c.X(i.R0);
        d.Lo = (d.Lo & 0xFFFFFFFF00000000UL) | (uint)c.X(i.R1).Lo;
    }

    private static void MovssStore(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        if (i.Op0IsMem) { c.WriteMem32(c.Ea(ref i), (uint)c.X(i.R1).Lo); return; }
        ref Xmm d = ref c.X(i.R0);
        d.Lo = (d.Lo & 0xFFFFFFFF00000000UL) | (uint)c.X(i.R1).Lo;
    }

    private static void MovsdLoad(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        if (i.Op1IsMem)
        {
            ulong v = c.ReadMem64(c.Ea(ref i));
            if (c.Faulted) return;
            c.X(i.R0) = new Xmm(v, 0);
            return;
        }
        c.X(i.R0).Lo = c.X(i.R1).Lo;
    }

    private static void MovsdStore(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        if (i.Op0IsMem) { c.WriteMem64(c.Ea(ref i), c.X(i.R1).Lo); return; }
        c.X(i.R0).Lo = c.X(i.R1).Lo;
    }

    private static void MovLowLoad(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        ulong v = c.ReadMem64(c.Ea(ref i));
        if (c.Faulted) return;
        c.X(i.R0).Lo = v;
    }

    private static void MovHighLoad(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        ulong v = c.ReadMem64(c.Ea(ref i));
        if (c.Faulted) return;
        c.X(i.R0).Hi = v;
    }

    private static void MovLowStore(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        c.WriteMem64(c.Ea(ref i), c.X(i.R1).Lo);
    }

    private static void MovHighStore(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        c.WriteMem64(c.Ea(ref i), c.X(i.R1).Hi);
    }

    private static void Movhlps(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        c.X(i.R0).Lo = c.X(i.R1).Hi;
    }

    private static void Movlhps(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        c.X(i.R0).Hi = c.X(i.R1).Lo;
    }

    private static void MovdLoad(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        ulong v = i.Op1IsMem ? c.ReadMem32(c.Ea(ref i)) : (uint)c.R(i.R1);
        if (c.Faulted) return;
        c.X(i.R0) = new Xmm(v, 0);
    }

    private static void MovqLoadGpr(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        ulong v = i.Op1IsMem ? c.ReadMem64(c.Ea(ref i)) : c.R(i.R1);
        if (c.Faulted) return;
        c.X(i.R0) = new Xmm(v, 0);
    }

    private static void MovdStore(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        uint v = (uint)c.X(i.R1).Lo;
        if (i.Op0IsMem) c.WriteMem32(c.Ea(ref i), v);
        else c.R(i.R0) = v;
    }

    private static void MovqStoreGpr(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        ulong v = c.X(i.R1).Lo;
        if (i.Op0IsMem) c.WriteMem64(c.Ea(ref i), v);
        else c.R(i.R0) = v;
    }

    /// <summary>MOVQ xmm, xmm/m64 (F3 0F 7E): low quadword, upper zeroed.</summary>
    private static void MovqLoad(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        ulong v = i.Op1IsMem ? c.ReadMem64(c.Ea(ref i)) : c.X(i.R1).Lo;
        if (c.Faulted) return;
        c.X(i.R0) = new Xmm(v, 0);
    }

    /// <summary>MOVQ xmm/m64, xmm (66 0F D6): the register form zeroes the destination's upper half.</summary>
    private static void MovqStore(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        ulong v = c.X(i.R1).Lo;
        if (i.Op0IsMem) c.WriteMem64(c.Ea(ref i), v);
        else c.X(i.R0) = new Xmm(v, 0);
    }

    /// <summary>MOVNTI m32/m64, r: a plain store here (no caches are modelled).</summary>
    private static void Movnti(Cpu c, ref Insn i) => c.WriteMem(c.Ea(ref i), i.OpSize, c.ReadGpr(i.R1, i.OpSize));

    private static void Movddup(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        ulong v = i.Op1IsMem ? c.ReadMem64(c.Ea(ref i)) : c.X(i.R1).Lo;
        if (c.Faulted) return;
        c.X(i.R0) = new Xmm(v, v);
    }

    private struct Movshdup : IVecOp
    {
        public static Vector128<byte> Op(Vector128<byte> d, Vector128<byte> s, byte m)
        {
            var x = s.AsUInt32();
            return Vector128.Create(x.GetElement(1), x.GetElement(1), x.GetElement(3), x.GetElement(3)).AsByte();
        }
    }

    private struct Movsldup : IVecOp
    {
        public static Vector128<byte> Op(Vector128<byte> d, Vector128<byte> s, byte m)
        {
            var x = s.AsUInt32();
            return Vector128.Create(x.GetElement(0), x.GetElement(0), x.GetElement(2), x.GetElement(2)).AsByte();
        }
    }

    private static void Movmskps(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        Xmm x = c.X(i.R1);
        c.R(i.R0) = ((x.Lo >> 31) & 1) | ((x.Lo >> 62) & 2) | (((x.Hi >> 31) & 1) << 2) | (((x.Hi >> 63) & 1) << 3);
    }

    private static void Movmskpd(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        Xmm x = c.X(i.R1);
        c.R(i.R0) = (x.Lo >> 63) | ((x.Hi >> 63) << 1);
    }

    private static void Pmovmskb(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        c.R(i.R0) = (uint)Sse2.MoveMask(ToV(c.X(i.R1)));
    }

    /// <summary>MASKMOVDQU: bytes of xmm1 whose mask byte (xmm2) has bit 7 set are stored at DS:rDI; all-or-nothing.</summary>
    private static void Maskmovdqu(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        // Operand 0 is the implicit DS:rDI destination; 1 holds the data, 2 the mask.
        Xmm v = c.X(i.R1), m = c.X(i.R2);
        ulong addr = c.R(Reg.Rdi);
        if (i.AddrSize == 4) addr = (uint)addr; else if (i.AddrSize == 2) addr = (ushort)addr;
        ulong lin = c.SegLinear(InsnBuilder.SegmentNumber(i.Raw.MemorySegment), addr);
        if (((m.Lo | m.Hi) & 0x8080808080808080UL) == 0) return;
        if (!c.ProbeWrite(lin, 16, c.Cpl == 3)) return;
        for (int k = 0; k < 16; k++)
        {
            if ((Get(m, k, 1) & 0x80) == 0) continue;
            c.WriteMem8(lin + (ulong)k, (byte)Get(v, k, 1));
            if (c.Faulted) return;
        }
    }

    /// <summary>PEXTRB/W/D/Q, EXTRACTPS: element imm8 (mod count) to a GPR (zero-extended) or memory.</summary>
    private static void Pextr<T>(Cpu c, ref Insn i) where T : struct, IVecSize
    {
        if (!c.SseAvailable()) return;
        int b = T.Bytes;
        ulong v = Get(c.X(i.R1), (int)(i.Imm & (ulong)(16 / b - 1)), b);
        if (i.Op0IsMem) c.WriteMem(c.Ea(ref i), b, v);
        else c.R(i.R0) = v;
    }

    /// <summary>PINSRB/W/D/Q: a GPR (low bits) or memory element into element imm8 (mod count).</summary>
    private static void Pinsr<T>(Cpu c, ref Insn i) where T : struct, IVecSize
    {
        if (!c.SseAvailable()) return;
        int b = T.Bytes;
        ulong v = i.Op1IsMem ? c.ReadMem(c.Ea(ref i), b) : c.R(i.R1);
        if (c.Faulted) return;
        Put(ref c.X(i.R0), (int)(i.Imm & (ulong)(16 / b - 1)), b, v);
    }

    /// <summary>INSERTPS: a dword (from xmm element imm8[7:6], or memory) into element imm8[5:4], then zero mask imm8[3:0].</summary>
    private static void Insertps(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        int imm = (byte)i.Imm;
        ulong v;
        if (i.Op1IsMem)
        {
            v = c.ReadMem32(c.Ea(ref i));
            if (c.Faulted) return;
        }
        else v = Get(c.X(i.R1), imm >> 6, 4);
        Xmm d = c.X(i.R0);
        Put(ref d, (imm >> 4) & 3, 4, v);
        for (int k = 0; k < 4; k++)
            if ((imm & (1 << k)) != 0) Put(ref d, k, 4, 0);
        c.X(i.R0) = d;
    }
}

internal struct V1 : IVecSize { public static int Bytes => 1; }
