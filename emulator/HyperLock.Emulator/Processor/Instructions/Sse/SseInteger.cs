using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using HyperLock.Emulator.Processor.Decode;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;
using V = System.Runtime.Intrinsics.Vector128<byte>;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>Packed integer SSE2/SSSE3/SSE4.1/SSE4.2 operations, logic, shifts, shuffles, unpacks and packs.</summary>
internal static unsafe partial class Sse
{
    private static void RegisterInteger()
    {
        // arithmetic
        SetV<Paddb>(Mnemonic.Paddb); SetV<Paddw>(Mnemonic.Paddw);
        SetV<Paddd>(Mnemonic.Paddd); SetV<Paddq>(Mnemonic.Paddq);
        SetV<Psubb>(Mnemonic.Psubb); SetV<Psubw>(Mnemonic.Psubw);
        SetV<Psubd>(Mnemonic.Psubd); SetV<Psubq>(Mnemonic.Psubq);
        SetV<Paddsb>(Mnemonic.Paddsb); SetV<Paddsw>(Mnemonic.Paddsw);
        SetV<Paddusb>(Mnemonic.Paddusb); SetV<Paddusw>(Mnemonic.Paddusw);
        SetV<Psubsb>(Mnemonic.Psubsb); SetV<Psubsw>(Mnemonic.Psubsw);
        SetV<Psubusb>(Mnemonic.Psubusb); SetV<Psubusw>(Mnemonic.Psubusw);
        SetV<Pmullw>(Mnemonic.Pmullw); SetV<Pmulld>(Mnemonic.Pmulld);
        SetV<Pmulhw>(Mnemonic.Pmulhw); SetV<Pmulhuw>(Mnemonic.Pmulhuw);
        SetV<Pmuludq>(Mnemonic.Pmuludq); SetV<Pmuldq>(Mnemonic.Pmuldq);
        SetV<Pmaddwd>(Mnemonic.Pmaddwd); SetV<Pmaddubsw>(Mnemonic.Pmaddubsw);
        SetV<Pmulhrsw>(Mnemonic.Pmulhrsw);
        SetV<Pavgb>(Mnemonic.Pavgb); SetV<Pavgw>(Mnemonic.Pavgw);
        SetV<Pminub>(Mnemonic.Pminub); SetV<Pmaxub>(Mnemonic.Pmaxub);
        SetV<Pminsb>(Mnemonic.Pminsb); SetV<Pmaxsb>(Mnemonic.Pmaxsb);
        SetV<Pminuw>(Mnemonic.Pminuw); SetV<Pmaxuw>(Mnemonic.Pmaxuw);
        SetV<Pminsw>(Mnemonic.Pminsw); SetV<Pmaxsw>(Mnemonic.Pmaxsw);
        SetV<Pminud>(Mnemonic.Pminud); SetV<Pmaxud>(Mnemonic.Pmaxud);
        SetV<Pminsd>(Mnemonic.Pminsd); SetV<Pmaxsd>(Mnemonic.Pmaxsd);
        SetV<Pabsb>(Mnemonic.Pabsb); SetV<Pabsw>(Mnemonic.Pabsw); SetV<Pabsd>(Mnemonic.Pabsd);
        SetV<Psignb>(Mnemonic.Psignb); SetV<Psignw>(Mnemonic.Psignw); SetV<Psignd>(Mnemonic.Psignd);
        SetV<Psadbw>(Mnemonic.Psadbw);
        SetV<Phaddw>(Mnemonic.Phaddw); SetV<Phaddd>(Mnemonic.Phaddd); SetV<Phaddsw>(Mnemonic.Phaddsw);
        SetV<Phsubw>(Mnemonic.Phsubw); SetV<Phsubd>(Mnemonic.Phsubd); SetV<Phsubsw>(Mnemonic.Phsubsw);
        SetV<Mpsadbw>(Mnemonic.Mpsadbw);
        SetV<Phminposuw>(Mnemonic.Phminposuw);
        // compares
        SetV<Pcmpeqb>(Mnemonic.Pcmpeqb); SetV<Pcmpeqw>(Mnemonic.Pcmpeqw);
        SetV<Pcmpeqd>(Mnemonic.Pcmpeqd); SetV<Pcmpeqq>(Mnemonic.Pcmpeqq);
        SetV<Pcmpgtb>(Mnemonic.Pcmpgtb); SetV<Pcmpgtw>(Mnemonic.Pcmpgtw);
        SetV<Pcmpgtd>(Mnemonic.Pcmpgtd); SetV<Pcmpgtq>(Mnemonic.Pcmpgtq);
        // logic (integer and the FP bitwise forms, which never touch MXCSR)
        SetV<And>(Mnemonic.Pand); SetV<And>(Mnemonic.Andps); SetV<And>(Mnemonic.Andpd);
        SetV<AndNot>(Mnemonic.Pandn); SetV<AndNot>(Mnemonic.Andnps); SetV<AndNot>(Mnemonic.Andnpd);
        SetV<Or>(Mnemonic.Por); SetV<Or>(Mnemonic.Orps); SetV<Or>(Mnemonic.Orpd);
        SetV<Xor>(Mnemonic.Pxor); SetV<Xor>(Mnemonic.Xorps); SetV<Xor>(Mnemonic.Xorpd);
        // shifts: xmm-count forms and imm8 forms (66 0F 71-73 /n ib)
        OpTable.Set(Code.Psllw_xmm_xmmm128, &Vec<Psllw>); OpTable.Set(Code.Pslld_xmm_xmmm128, &Vec<Pslld>);
        OpTable.Set(Code.Psllq_xmm_xmmm128, &Vec<Psllq>); OpTable.Set(Code.Psrlw_xmm_xmmm128, &Vec<Psrlw>);
        OpTable.Set(Code.Psrld_xmm_xmmm128, &Vec<Psrld>); OpTable.Set(Code.Psrlq_xmm_xmmm128, &Vec<Psrlq>);
        OpTable.Set(Code.Psraw_xmm_xmmm128, &Vec<Psraw>); OpTable.Set(Code.Psrad_xmm_xmmm128, &Vec<Psrad>);
        OpTable.Set(Code.Psllw_xmm_imm8, &ShiftImm<Psllw>); OpTable.Set(Code.Pslld_xmm_imm8, &ShiftImm<Pslld>);
        OpTable.Set(Code.Psllq_xmm_imm8, &ShiftImm<Psllq>); OpTable.Set(Code.Psrlw_xmm_imm8, &ShiftImm<Psrlw>);
        OpTable.Set(Code.Psrld_xmm_imm8, &ShiftImm<Psrld>); OpTable.Set(Code.Psrlq_xmm_imm8, &ShiftImm<Psrlq>);
        OpTable.Set(Code.Psraw_xmm_imm8, &ShiftImm<Psraw>); OpTable.Set(Code.Psrad_xmm_imm8, &ShiftImm<Psrad>);
        OpTable.Set(Code.Pslldq_xmm_imm8, &Pslldq); OpTable.Set(Code.Psrldq_xmm_imm8, &Psrldq);
        // shuffles, unpacks, packs, blends
        SetV<Palignr>(Mnemonic.Palignr);
        SetV<Pshufb>(Mnemonic.Pshufb);
        SetV<Pshufd>(Mnemonic.Pshufd); SetV<Pshufhw>(Mnemonic.Pshufhw); SetV<Pshuflw>(Mnemonic.Pshuflw);
        SetV<Punpcklbw>(Mnemonic.Punpcklbw); SetV<Punpcklwd>(Mnemonic.Punpcklwd);
        SetV<Punpckldq>(Mnemonic.Punpckldq); SetV<Punpcklqdq>(Mnemonic.Punpcklqdq);
        SetV<Punpckhbw>(Mnemonic.Punpckhbw); SetV<Punpckhwd>(Mnemonic.Punpckhwd);
        SetV<Punpckhdq>(Mnemonic.Punpckhdq); SetV<Punpckhqdq>(Mnemonic.Punpckhqdq);
        SetV<Punpckldq>(Mnemonic.Unpcklps); SetV<Punpckhdq>(Mnemonic.Unpckhps);
        SetV<Punpcklqdq>(Mnemonic.Unpcklpd); SetV<Punpckhqdq>(Mnemonic.Unpckhpd);
        SetV<Packsswb>(Mnemonic.Packsswb); SetV<Packssdw>(Mnemonic.Packssdw);
        SetV<Packuswb>(Mnemonic.Packuswb); SetV<Packusdw>(Mnemonic.Packusdw);
        SetV<Shufps>(Mnemonic.Shufps); SetV<Shufpd>(Mnemonic.Shufpd);
        SetV<Pblendw>(Mnemonic.Pblendw); SetV<Blendps>(Mnemonic.Blendps); SetV<Blendpd>(Mnemonic.Blendpd);
        SetX(Mnemonic.Pblendvb, &BlendV<Pblendvb>); SetX(Mnemonic.Blendvps, &BlendV<Blendvps>); SetX(Mnemonic.Blendvpd, &BlendV<Blendvpd>);
        SetX(Mnemonic.Ptest, &Ptest);
        // sign/zero extension (narrow memory sources)
        OpTable.Set(Code.Pmovsxbw_xmm_xmmm64, &VecNarrow<Pmovsxbw, V8>); OpTable.Set(Code.Pmovzxbw_xmm_xmmm64, &VecNarrow<Pmovzxbw, V8>);
        OpTable.Set(Code.Pmovsxbd_xmm_xmmm32, &VecNarrow<Pmovsxbd, V4>); OpTable.Set(Code.Pmovzxbd_xmm_xmmm32, &VecNarrow<Pmovzxbd, V4>);
        OpTable.Set(Code.Pmovsxbq_xmm_xmmm16, &VecNarrow<Pmovsxbq, V2>); OpTable.Set(Code.Pmovzxbq_xmm_xmmm16, &VecNarrow<Pmovzxbq, V2>);
        OpTable.Set(Code.Pmovsxwd_xmm_xmmm64, &VecNarrow<Pmovsxwd, V8>); OpTable.Set(Code.Pmovzxwd_xmm_xmmm64, &VecNarrow<Pmovzxwd, V8>);
        OpTable.Set(Code.Pmovsxwq_xmm_xmmm32, &VecNarrow<Pmovsxwq, V4>); OpTable.Set(Code.Pmovzxwq_xmm_xmmm32, &VecNarrow<Pmovzxwq, V4>);
        OpTable.Set(Code.Pmovsxdq_xmm_xmmm64, &VecNarrow<Pmovsxdq, V8>); OpTable.Set(Code.Pmovzxdq_xmm_xmmm64, &VecNarrow<Pmovzxdq, V8>);
    }

    // ---- arithmetic --------------------------------------------------------------------

    private struct Paddb : IVecOp { public static V Op(V d, V s, byte m) => Sse2.Add(d, s); }
    private struct Paddw : IVecOp { public static V Op(V d, V s, byte m) => Sse2.Add(d.AsUInt16(), s.AsUInt16()).AsByte(); }
    private struct Paddd : IVecOp { public static V Op(V d, V s, byte m) => Sse2.Add(d.AsUInt32(), s.AsUInt32()).AsByte(); }
    private struct Paddq : IVecOp { public static V Op(V d, V s, byte m) => Sse2.Add(d.AsUInt64(), s.AsUInt64()).AsByte(); }
    private struct Psubb : IVecOp { public static V Op(V d, V s, byte m) => Sse2.Subtract(d, s); }
    private struct Psubw : IVecOp { public static V Op(V d, V s, byte m) => Sse2.Subtract(d.AsUInt16(), s.AsUInt16()).AsByte(); }
    private struct Psubd : IVecOp { public static V Op(V d, V s, byte m) => Sse2.Subtract(d.AsUInt32(), s.AsUInt32()).AsByte(); }
    private struct Psubq : IVecOp { public static V Op(V d, V s, byte m) => Sse2.Subtract(d.AsUInt64(), s.AsUInt64()).AsByte(); }
    private struct Paddsb : IVecOp { public static V Op(V d, V s, byte m) => Sse2.AddSaturate(d.AsSByte(), s.AsSByte()).AsByte(); }
    private struct Paddsw : IVecOp { public static V Op(V d, V s, byte m) => Sse2.AddSaturate(d.AsInt16(), s.AsInt16()).AsByte(); }
    private struct Paddusb : IVecOp { public static V Op(V d, V s, byte m) => Sse2.AddSaturate(d, s); }
    private struct Paddusw : IVecOp { public static V Op(V d, V s, byte m) => Sse2.AddSaturate(d.AsUInt16(), s.AsUInt16()).AsByte(); }
    private struct Psubsb : IVecOp { public static V Op(V d, V s, byte m) => Sse2.SubtractSaturate(d.AsSByte(), s.AsSByte()).AsByte(); }
    private struct Psubsw : IVecOp { public static V Op(V d, V s, byte m) => Sse2.SubtractSaturate(d.AsInt16(), s.AsInt16()).AsByte(); }
    private struct Psubusb : IVecOp { public static V Op(V d, V s, byte m) => Sse2.SubtractSaturate(d, s); }
    private struct Psubusw : IVecOp { public static V Op(V d, V s, byte m) => Sse2.SubtractSaturate(d.AsUInt16(), s.AsUInt16()).AsByte(); }
    private struct Pmullw : IVecOp { public static V Op(V d, V s, byte m) => Sse2.MultiplyLow(d.AsInt16(), s.AsInt16()).AsByte(); }
    private struct Pmulld : IVecOp { public static V Op(V d, V s, byte m) => Sse41.MultiplyLow(d.AsInt32(), s.AsInt32()).AsByte(); }
    private struct Pmulhw : IVecOp { public static V Op(V d, V s, byte m) => Sse2.MultiplyHigh(d.AsInt16(), s.AsInt16()).AsByte(); }
    private struct Pmulhuw : IVecOp { public static V Op(V d, V s, byte m) => Sse2.MultiplyHigh(d.AsUInt16(), s.AsUInt16()).AsByte(); }
    private struct Pmuludq : IVecOp { public static V Op(V d, V s, byte m) => Sse2.Multiply(d.AsUInt32(), s.AsUInt32()).AsByte(); }
    private struct Pmuldq : IVecOp { public static V Op(V d, V s, byte m) => Sse41.Multiply(d.AsInt32(), s.AsInt32()).AsByte(); }
    private struct Pmaddwd : IVecOp { public static V Op(V d, V s, byte m) => Sse2.MultiplyAddAdjacent(d.AsInt16(), s.AsInt16()).AsByte(); }
    private struct Pmaddubsw : IVecOp { public static V Op(V d, V s, byte m) => Ssse3.MultiplyAddAdjacent(d, s.AsSByte()).AsByte(); }
    private struct Pmulhrsw : IVecOp { public static V Op(V d, V s, byte m) => Ssse3.MultiplyHighRoundScale(d.AsInt16(), s.AsInt16()).AsByte(); }
    private struct Pavgb : IVecOp { public static V Op(V d, V s, byte m) => Sse2.Average(d, s); }
    private struct Pavgw : IVecOp { public static V Op(V d, V s, byte m) => Sse2.Average(d.AsUInt16(), s.AsUInt16()).AsByte(); }
    private struct Pminub : IVecOp { public static V Op(V d, V s, byte m) => Sse2.Min(d, s); }
    private struct Pmaxub : IVecOp { public static V Op(V d, V s, byte m) => Sse2.Max(d, s); }
    private struct Pminsb : IVecOp { public static V Op(V d, V s, byte m) => Sse41.Min(d.AsSByte(), s.AsSByte()).AsByte(); }
    private struct Pmaxsb : IVecOp { public static V Op(V d, V s, byte m) => Sse41.Max(d.AsSByte(), s.AsSByte()).AsByte(); }
    private struct Pminuw : IVecOp { public static V Op(V d, V s, byte m) => Sse41.Min(d.AsUInt16(), s.AsUInt16()).AsByte(); }
    private struct Pmaxuw : IVecOp { public static V Op(V d, V s, byte m) => Sse41.Max(d.AsUInt16(), s.AsUInt16()).AsByte(); }
    private struct Pminsw : IVecOp { public static V Op(V d, V s, byte m) => Sse2.Min(d.AsInt16(), s.AsInt16()).AsByte(); }
    private struct Pmaxsw : IVecOp { public static V Op(V d, V s, byte m) => Sse2.Max(d.AsInt16(), s.AsInt16()).AsByte(); }
    private struct Pminud : IVecOp { public static V Op(V d, V s, byte m) => Sse41.Min(d.AsUInt32(), s.AsUInt32()).AsByte(); }
    private struct Pmaxud : IVecOp { public static V Op(V d, V s, byte m) => Sse41.Max(d.AsUInt32(), s.AsUInt32()).AsByte(); }
    private struct Pminsd : IVecOp { public static V Op(V d, V s, byte m) => Sse41.Min(d.AsInt32(), s.AsInt32()).AsByte(); }
    private struct Pmaxsd : IVecOp { public static V Op(V d, V s, byte m) => Sse41.Max(d.AsInt32(), s.AsInt32()).AsByte(); }
    private struct Pabsb : IVecOp { public static V Op(V d, V s, byte m) => Ssse3.Abs(s.AsSByte()); }
    private struct Pabsw : IVecOp { public static V Op(V d, V s, byte m) => Ssse3.Abs(s.AsInt16()).AsByte(); }
    private struct Pabsd : IVecOp { public static V Op(V d, V s, byte m) => Ssse3.Abs(s.AsInt32()).AsByte(); }
    private struct Psignb : IVecOp { public static V Op(V d, V s, byte m) => Ssse3.Sign(d.AsSByte(), s.AsSByte()).AsByte(); }
    private struct Psignw : IVecOp { public static V Op(V d, V s, byte m) => Ssse3.Sign(d.AsInt16(), s.AsInt16()).AsByte(); }
    private struct Psignd : IVecOp { public static V Op(V d, V s, byte m) => Ssse3.Sign(d.AsInt32(), s.AsInt32()).AsByte(); }
    private struct Psadbw : IVecOp { public static V Op(V d, V s, byte m) => Sse2.SumAbsoluteDifferences(d, s).AsByte(); }
    private struct Phaddw : IVecOp { public static V Op(V d, V s, byte m) => Ssse3.HorizontalAdd(d.AsInt16(), s.AsInt16()).AsByte(); }
    private struct Phaddd : IVecOp { public static V Op(V d, V s, byte m) => Ssse3.HorizontalAdd(d.AsInt32(), s.AsInt32()).AsByte(); }
    private struct Phaddsw : IVecOp { public static V Op(V d, V s, byte m) => Ssse3.HorizontalAddSaturate(d.AsInt16(), s.AsInt16()).AsByte(); }
    private struct Phsubw : IVecOp { public static V Op(V d, V s, byte m) => Ssse3.HorizontalSubtract(d.AsInt16(), s.AsInt16()).AsByte(); }
    private struct Phsubd : IVecOp { public static V Op(V d, V s, byte m) => Ssse3.HorizontalSubtract(d.AsInt32(), s.AsInt32()).AsByte(); }
    private struct Phsubsw : IVecOp { public static V Op(V d, V s, byte m) => Ssse3.HorizontalSubtractSaturate(d.AsInt16(), s.AsInt16()).AsByte(); }

    /// <summary>MPSADBW: eight SADs of 4-byte groups; imm8[2] selects the dest offset (0/4), imm8[1:0] the source block.</summary>
    private struct Mpsadbw : IVecOp
    {
        public static V Op(V d, V s, byte m)
        {
            int dOff = ((m >> 2) & 1) * 4, sOff = (m & 3) * 4;
            Vector128<ushort> r = default;
            for (int k = 0; k < 8; k++)
            {
                int sum = 0;
                for (int j = 0; j < 4; j++) sum += Math.Abs(d.GetElement(dOff + k + j) - s.GetElement(sOff + j));
                r = r.WithElement(k, (ushort)sum);
            }
            return r.AsByte();
        }
    }

    /// <summary>PHMINPOSUW: minimum unsigned word and its (lowest) index; the rest zeroed.</summary>
    private struct Phminposuw : IVecOp
    {
        public static V Op(V d, V s, byte m)
        {
            var w = s.AsUInt16();
            int idx = 0;
            ushort min = w.GetElement(0);
            for (int k = 1; k < 8; k++)
            {
                ushort v = w.GetElement(k);
                if (v < min) { min = v; idx = k; }
            }
            return Vector128.CreateScalar((uint)min | ((uint)idx << 16)).AsByte();
        }
    }

    // ---- compares and logic ------------------------------------------------------------

    private struct Pcmpeqb : IVecOp { public static V Op(V d, V s, byte m) => Sse2.CompareEqual(d, s); }
    private struct Pcmpeqw : IVecOp { public static V Op(V d, V s, byte m) => Sse2.CompareEqual(d.AsUInt16(), s.AsUInt16()).AsByte(); }
    private struct Pcmpeqd : IVecOp { public static V Op(V d, V s, byte m) => Sse2.CompareEqual(d.AsUInt32(), s.AsUInt32()).AsByte(); }
    private struct Pcmpeqq : IVecOp { public static V Op(V d, V s, byte m) => Sse41.CompareEqual(d.AsUInt64(), s.AsUInt64()).AsByte(); }
    private struct Pcmpgtb : IVecOp { public static V Op(V d, V s, byte m) => Sse2.CompareGreaterThan(d.AsSByte(), s.AsSByte()).AsByte(); }
    private struct Pcmpgtw : IVecOp { public static V Op(V d, V s, byte m) => Sse2.CompareGreaterThan(d.AsInt16(), s.AsInt16()).AsByte(); }
    private struct Pcmpgtd : IVecOp { public static V Op(V d, V s, byte m) => Sse2.CompareGreaterThan(d.AsInt32(), s.AsInt32()).AsByte(); }
    private struct Pcmpgtq : IVecOp { public static V Op(V d, V s, byte m) => Sse42.CompareGreaterThan(d.AsInt64(), s.AsInt64()).AsByte(); }
    private struct And : IVecOp { public static V Op(V d, V s, byte m) => d & s; }
    private struct AndNot : IVecOp { public static V Op(V d, V s, byte m) => ~d & s; }
    private struct Or : IVecOp { public static V Op(V d, V s, byte m) => d | s; }
    private struct Xor : IVecOp { public static V Op(V d, V s, byte m) => d ^ s; }

    private static void Ptest(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        Xmm s = c.XmmSrc(ref i, 1);
        if (c.Faulted) return;
        Xmm d = c.X(i.R0);
        ulong f = 0;
        if (((d.Lo & s.Lo) | (d.Hi & s.Hi)) == 0) f |= Bits.Zf;
        if (((~d.Lo & s.Lo) | (~d.Hi & s.Hi)) == 0) f |= Bits.Cf;
        c.SetArithFlags(f);
    }

    // ---- shifts ------------------------------------------------------------------------

    private struct Psllw : IVecOp { public static V Op(V d, V s, byte m) => Sse2.ShiftLeftLogical(d.AsUInt16(), s.AsUInt16()).AsByte(); }
    private struct Pslld : IVecOp { public static V Op(V d, V s, byte m) => Sse2.ShiftLeftLogical(d.AsUInt32(), s.AsUInt32()).AsByte(); }
    private struct Psllq : IVecOp { public static V Op(V d, V s, byte m) => Sse2.ShiftLeftLogical(d.AsUInt64(), s.AsUInt64()).AsByte(); }
    private struct Psrlw : IVecOp { public static V Op(V d, V s, byte m) => Sse2.ShiftRightLogical(d.AsUInt16(), s.AsUInt16()).AsByte(); }
    private struct Psrld : IVecOp { public static V Op(V d, V s, byte m) => Sse2.ShiftRightLogical(d.AsUInt32(), s.AsUInt32()).AsByte(); }
    private struct Psrlq : IVecOp { public static V Op(V d, V s, byte m) => Sse2.ShiftRightLogical(d.AsUInt64(), s.AsUInt64()).AsByte(); }
    private struct Psraw : IVecOp { public static V Op(V d, V s, byte m) => Sse2.ShiftRightArithmetic(d.AsInt16(), s.AsInt16()).AsByte(); }
    private struct Psrad : IVecOp { public static V Op(V d, V s, byte m) => Sse2.ShiftRightArithmetic(d.AsInt32(), s.AsInt32()).AsByte(); }

    /// <summary>op xmm, imm8: the count operand is the immediate (counts above the width clear or fill).</summary>
    private static void ShiftImm<T>(Cpu c, ref Insn i) where T : struct, IVecOp
    {
        if (!c.SseAvailable()) return;
        ref Xmm d = ref c.X(i.R0);
        d = ToX(T.Op(ToV(d), Vector128.CreateScalar((ulong)(byte)i.Imm).AsByte(), 0));
    }

    private static void Pslldq(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        ref Xmm d = ref c.X(i.R0);
        int n = (byte)i.Imm;
        d = n > 15 ? default : FromU(ToU(d) << (n * 8));
    }

    private static void Psrldq(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        ref Xmm d = ref c.X(i.R0);
        int n = (byte)i.Imm;
        d = n > 15 ? default : FromU(ToU(d) >> (n * 8));
    }

    // ---- shuffles, unpacks, packs, blends ----------------------------------------------

    /// <summary>PALIGNR: (dest:src) >> (imm8 × 8), low 16 bytes.</summary>
    private struct Palignr : IVecOp
    {
        public static V Op(V d, V s, byte m)
        {
            UInt128 lo = ToU(ToX(s)), hi = ToU(ToX(d));
            UInt128 r = m switch
            {
                0 => lo,
                < 16 => (lo >> (m * 8)) | (hi << (128 - m * 8)),
                16 => hi,
                < 32 => hi >> ((m - 16) * 8),
                _ => 0,
            };
            return ToV(FromU(r));
        }
    }

    private struct Pshufb : IVecOp { public static V Op(V d, V s, byte m) => Ssse3.Shuffle(d, s); }

    private struct Pshufd : IVecOp
    {
        public static V Op(V d, V s, byte m)
        {
            var x = s.AsUInt32();
            return Vector128.Create(x.GetElement(m & 3), x.GetElement((m >> 2) & 3), x.GetElement((m >> 4) & 3), x.GetElement(m >> 6)).AsByte();
        }
    }

    private struct Pshufhw : IVecOp
    {
        public static V Op(V d, V s, byte m)
        {
            var x = s.AsUInt16();
            return Vector128.Create(x.GetElement(0), x.GetElement(1), x.GetElement(2), x.GetElement(3),
                x.GetElement(4 + (m & 3)), x.GetElement(4 + ((m >> 2) & 3)), x.GetElement(4 + ((m >> 4) & 3)), x.GetElement(4 + (m >> 6))).AsByte();
        }
    }

    private struct Pshuflw : IVecOp
    {
        public static V Op(V d, V s, byte m)
        {
            var x = s.AsUInt16();
            return Vector128.Create(x.GetElement(m & 3), x.GetElement((m >> 2) & 3), x.GetElement((m >> 4) & 3), x.GetElement(m >> 6),
                x.GetElement(4), x.GetElement(5), x.GetElement(6), x.GetElement(7)).AsByte();
        }
    }

    private struct Shufps : IVecOp
    {
        public static V Op(V d, V s, byte m)
        {
            var a = d.AsUInt32();
            var b = s.AsUInt32();
            return Vector128.Create(a.GetElement(m & 3), a.GetElement((m >> 2) & 3), b.GetElement((m >> 4) & 3), b.GetElement(m >> 6)).AsByte();
        }
    }

    private struct Shufpd : IVecOp
    {
        public static V Op(V d, V s, byte m) =>
            Vector128.Create(d.AsUInt64().GetElement(m & 1), s.AsUInt64().GetElement((m >> 1) & 1)).AsByte();
    }

    private struct Punpcklbw : IVecOp { public static V Op(V d, V s, byte m) => Sse2.UnpackLow(d, s); }
    private struct Punpcklwd : IVecOp { public static V Op(V d, V s, byte m) => Sse2.UnpackLow(d.AsUInt16(), s.AsUInt16()).AsByte(); }
    private struct Punpckldq : IVecOp { public static V Op(V d, V s, byte m) => Sse2.UnpackLow(d.AsUInt32(), s.AsUInt32()).AsByte(); }
    private struct Punpcklqdq : IVecOp { public static V Op(V d, V s, byte m) => Sse2.UnpackLow(d.AsUInt64(), s.AsUInt64()).AsByte(); }
    private struct Punpckhbw : IVecOp { public static V Op(V d, V s, byte m) => Sse2.UnpackHigh(d, s); }
    private struct Punpckhwd : IVecOp { public static V Op(V d, V s, byte m) => Sse2.UnpackHigh(d.AsUInt16(), s.AsUInt16()).AsByte(); }
    private struct Punpckhdq : IVecOp { public static V Op(V d, V s, byte m) => Sse2.UnpackHigh(d.AsUInt32(), s.AsUInt32()).AsByte(); }
    private struct Punpckhqdq : IVecOp { public static V Op(V d, V s, byte m) => Sse2.UnpackHigh(d.AsUInt64(), s.AsUInt64()).AsByte(); }
    private struct Packsswb : IVecOp { public static V Op(V d, V s, byte m) => Sse2.PackSignedSaturate(d.AsInt16(), s.AsInt16()).AsByte(); }
    private struct Packssdw : IVecOp { public static V Op(V d, V s, byte m) => Sse2.PackSignedSaturate(d.AsInt32(), s.AsInt32()).AsByte(); }
    private struct Packuswb : IVecOp { public static V Op(V d, V s, byte m) => Sse2.PackUnsignedSaturate(d.AsInt16(), s.AsInt16()); }
    private struct Packusdw : IVecOp { public static V Op(V d, V s, byte m) => Sse41.PackUnsignedSaturate(d.AsInt32(), s.AsInt32()).AsByte(); }

    private static V WordMask(byte m) => Vector128.Create(
        (m & 1) != 0 ? (ushort)0xFFFF : (ushort)0, (m & 2) != 0 ? (ushort)0xFFFF : (ushort)0,
        (m & 4) != 0 ? (ushort)0xFFFF : (ushort)0, (m & 8) != 0 ? (ushort)0xFFFF : (ushort)0,
        (m & 16) != 0 ? (ushort)0xFFFF : (ushort)0, (m & 32) != 0 ? (ushort)0xFFFF : (ushort)0,
        (m & 64) != 0 ? (ushort)0xFFFF : (ushort)0, (m & 128) != 0 ? (ushort)0xFFFF : (ushort)0).AsByte();

    private struct Pblendw : IVecOp { public static V Op(V d, V s, byte m) { V k = WordMask(m); return (s & k) | (d & ~k); } }

    private struct Blendps : IVecOp
    {
        public static V Op(V d, V s, byte m)
        {
            V k = Vector128.Create((m & 1) != 0 ? ~0u : 0, (m & 2) != 0 ? ~0u : 0, (m & 4) != 0 ? ~0u : 0, (m & 8) != 0 ? ~0u : 0).AsByte();
            return (s & k) | (d & ~k);
        }
    }

    private struct Blendpd : IVecOp
    {
        public static V Op(V d, V s, byte m)
        {
            V k = Vector128.Create((m & 1) != 0 ? ~0UL : 0, (m & 2) != 0 ? ~0UL : 0).AsByte();
            return (s & k) | (d & ~k);
        }
    }

    /// <summary>Variable blends: the mask is the implicit XMM0, passed as the immediate-free third input.</summary>
    private interface IBlendV { static abstract V Op(V d, V s, V mask); }
    private struct Pblendvb : IBlendV { public static V Op(V d, V s, V k) => Sse41.BlendVariable(d, s, k); }
    private struct Blendvps : IBlendV { public static V Op(V d, V s, V k) => Sse41.BlendVariable(d.AsSingle(), s.AsSingle(), k.AsSingle()).AsByte(); }
    private struct Blendvpd : IBlendV { public static V Op(V d, V s, V k) => Sse41.BlendVariable(d.AsDouble(), s.AsDouble(), k.AsDouble()).AsByte(); }

    private static void BlendV<T>(Cpu c, ref Insn i) where T : struct, IBlendV
    {
        if (!c.SseAvailable()) return;
        Xmm s = c.XmmSrc(ref i, 1);
        if (c.Faulted) return;
        ref Xmm d = ref c.X(i.R0);
        d = ToX(T.Op(ToV(d), ToV(s), ToV(c.X(0))));
    }

    // ---- PMOVSX/PMOVZX -----------------------------------------------------------------

    private struct Pmovsxbw : IVecOp { public static V Op(V d, V s, byte m) => Sse41.ConvertToVector128Int16(s.AsSByte()).AsByte(); }
    private struct Pmovzxbw : IVecOp { public static V Op(V d, V s, byte m) => Sse41.ConvertToVector128Int16(s).AsByte(); }
    private struct Pmovsxbd : IVecOp { public static V Op(V d, V s, byte m) => Sse41.ConvertToVector128Int32(s.AsSByte()).AsByte(); }
    private struct Pmovzxbd : IVecOp { public static V Op(V d, V s, byte m) => Sse41.ConvertToVector128Int32(s).AsByte(); }
    private struct Pmovsxbq : IVecOp { public static V Op(V d, V s, byte m) => Sse41.ConvertToVector128Int64(s.AsSByte()).AsByte(); }
    private struct Pmovzxbq : IVecOp { public static V Op(V d, V s, byte m) => Sse41.ConvertToVector128Int64(s).AsByte(); }
    private struct Pmovsxwd : IVecOp { public static V Op(V d, V s, byte m) => Sse41.ConvertToVector128Int32(s.AsInt16()).AsByte(); }
    private struct Pmovzxwd : IVecOp { public static V Op(V d, V s, byte m) => Sse41.ConvertToVector128Int32(s.AsUInt16()).AsByte(); }
    private struct Pmovsxwq : IVecOp { public static V Op(V d, V s, byte m) => Sse41.ConvertToVector128Int64(s.AsInt16()).AsByte(); }
    private struct Pmovzxwq : IVecOp { public static V Op(V d, V s, byte m) => Sse41.ConvertToVector128Int64(s.AsUInt16()).AsByte(); }
    private struct Pmovsxdq : IVecOp { public static V Op(V d, V s, byte m) => Sse41.ConvertToVector128Int64(s.AsInt32()).AsByte(); }
    private struct Pmovzxdq : IVecOp { public static V Op(V d, V s, byte m) => Sse41.ConvertToVector128Int64(s.AsUInt32()).AsByte(); }
}
