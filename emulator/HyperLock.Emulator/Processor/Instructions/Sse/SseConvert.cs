using HyperLock.Emulator.Processor.Decode;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;
using static HyperLock.Emulator.Processor.Instructions.SoftFp;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>
/// CVT*/CVTT* among int32/int64/float/double. Conversions to integers use the integer
/// indefinite (0x80000000 / 0x8000000000000000) with IE on NaN and overflow; rounding follows
/// MXCSR.RC (CVT) or truncates (CVTT). The MMX-operand forms (CVTPI2PS, …) are not implemented (#UD).
/// </summary>
internal static unsafe partial class Sse
{
    private static void RegisterConvert()
    {
        OpTable.Set(Code.Cvtsi2ss_xmm_rm32, &CvtSi2Ss<V4>); OpTable.Set(Code.Cvtsi2ss_xmm_rm64, &CvtSi2Ss<V8>);
        OpTable.Set(Code.Cvtsi2sd_xmm_rm32, &CvtSi2Sd<V4>); OpTable.Set(Code.Cvtsi2sd_xmm_rm64, &CvtSi2Sd<V8>);
        OpTable.Set(Code.Cvtss2si_r32_xmmm32, &CvtToSi<V4, V4, Quiet>); OpTable.Set(Code.Cvtss2si_r64_xmmm32, &CvtToSi<V8, V4, Quiet>);
        OpTable.Set(Code.Cvttss2si_r32_xmmm32, &CvtToSi<V4, V4, Signaling>); OpTable.Set(Code.Cvttss2si_r64_xmmm32, &CvtToSi<V8, V4, Signaling>);
        OpTable.Set(Code.Cvtsd2si_r32_xmmm64, &CvtToSi<V4, V8, Quiet>); OpTable.Set(Code.Cvtsd2si_r64_xmmm64, &CvtToSi<V8, V8, Quiet>);
        OpTable.Set(Code.Cvttsd2si_r32_xmmm64, &CvtToSi<V4, V8, Signaling>); OpTable.Set(Code.Cvttsd2si_r64_xmmm64, &CvtToSi<V8, V8, Signaling>);
        OpTable.Set(Code.Cvtss2sd_xmm_xmmm32, &Cvtss2sd);
        OpTable.Set(Code.Cvtsd2ss_xmm_xmmm64, &Cvtsd2ss);
        OpTable.Set(Code.Cvtps2pd_xmm_xmmm64, &Cvtps2pd);
        OpTable.Set(Code.Cvtpd2ps_xmm_xmmm128, &Cvtpd2ps);
        OpTable.Set(Code.Cvtdq2ps_xmm_xmmm128, &Cvtdq2ps);
        OpTable.Set(Code.Cvtdq2pd_xmm_xmmm64, &Cvtdq2pd);
        OpTable.Set(Code.Cvtps2dq_xmm_xmmm128, &Cvtps2dq<Quiet>);
        OpTable.Set(Code.Cvttps2dq_xmm_xmmm128, &Cvtps2dq<Signaling>);
        OpTable.Set(Code.Cvtpd2dq_xmm_xmmm128, &Cvtpd2dq<Quiet>);
        OpTable.Set(Code.Cvttpd2dq_xmm_xmmm128, &Cvtpd2dq<Signaling>);
    }

    /// <summary>The integer source of CVTSI2SS/SD: a GPR or memory of <typeparamref name="TSize"/> bytes, sign-extended.</summary>
    private static long IntSource<TSize>(Cpu c, ref Insn i) where TSize : struct, IVecSize
    {
        if (TSize.Bytes == 8) return (long)(i.Op1IsMem ? c.ReadMem64(c.Ea(ref i)) : c.R(i.R1));
        return (int)(i.Op1IsMem ? c.ReadMem32(c.Ea(ref i)) : (uint)c.R(i.R1));
    }

    private static void CvtSi2Ss<TSize>(Cpu c, ref Insn i) where TSize : struct, IVecSize
    {
        if (!c.SseAvailable()) return;
        long v = IntSource<TSize>(c, ref i);
        if (c.Faulted) return;
        var e = new FpEnv(c.Mxcsr);
        uint r = e.Fast ? Bi((float)v) : (uint)FromInt(SoftFp.F32, v, ref e);
        if (!c.SseCommitFlags(e.Flags)) return;
        ref Xmm d = ref c.X(i.R0);
        d.Lo = (d.Lo & 0xFFFFFFFF00000000UL) | r;
    }

    private static void CvtSi2Sd<TSize>(Cpu c, ref Insn i) where TSize : struct, IVecSize
    {
        if (!c.SseAvailable()) return;
        long v = IntSource<TSize>(c, ref i);
        if (c.Faulted) return;
        var e = new FpEnv(c.Mxcsr);
        ulong r = e.Fast || TSize.Bytes == 4 ? Bi((double)v) : FromInt(SoftFp.F64, v, ref e);
        if (!c.SseCommitFlags(e.Flags)) return;
        c.X(i.R0).Lo = r;
    }

    /// <summary>CVT(T)SS2SI / CVT(T)SD2SI: TDst = GPR size, TSrc = float size, TTrunc = Signaling means truncate.</summary>
    private static void CvtToSi<TDst, TSrc, TTrunc>(Cpu c, ref Insn i)
        where TDst : struct, IVecSize where TSrc : struct, IVecSize where TTrunc : struct, IBool
    {
        if (!c.SseAvailable()) return;
        ulong a;
        if (i.Op1IsMem)
        {
            a = c.ReadMem(c.Ea(ref i), TSrc.Bytes);
            if (c.Faulted) return;
        }
        else a = TSrc.Bytes == 8 ? c.X(i.R1).Lo : (uint)c.X(i.R1).Lo;
        var e = new FpEnv(c.Mxcsr);
        long r = ToInt(TSrc.Bytes == 8 ? SoftFp.F64 : SoftFp.F32, a, TDst.Bytes * 8, TTrunc.Value, ref e);
        if (!c.SseCommitFlags(e.Flags)) return;
        c.R(i.R0) = TDst.Bytes == 8 ? (ulong)r : (uint)r;
    }

    private static void Cvtss2sd(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        uint a;
        if (i.Op1IsMem)
        {
            a = c.ReadMem32(c.Ea(ref i));
            if (c.Faulted) return;
        }
        else a = (uint)c.X(i.R1).Lo;
        var e = new FpEnv(c.Mxcsr);
        ulong r = N32(a) ? Bi((double)Fl(a)) : F32ToF64(a, ref e);
        if (!c.SseCommitFlags(e.Flags)) return;
        c.X(i.R0).Lo = r;
    }

    private static uint Narrow(ref FpEnv e, ulong a)
    {
        if (e.Fast && N64(a)) { uint r = Bi((float)Db(a)); if (R32(r)) return r; }
        return F64ToF32(a, ref e);
    }

    private static void Cvtsd2ss(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        ulong a;
        if (i.Op1IsMem)
        {
            a = c.ReadMem64(c.Ea(ref i));
            if (c.Faulted) return;
        }
        else a = c.X(i.R1).Lo;
        var e = new FpEnv(c.Mxcsr);
        uint r = Narrow(ref e, a);
        if (!c.SseCommitFlags(e.Flags)) return;
        ref Xmm d = ref c.X(i.R0);
        d.Lo = (d.Lo & 0xFFFFFFFF00000000UL) | r;
    }

    private static void Cvtps2pd(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        Xmm s = c.XmmSrcNarrow(ref i, 1, 8);
        if (c.Faulted) return;
        var e = new FpEnv(c.Mxcsr);
        uint a0 = (uint)s.Lo, a1 = (uint)(s.Lo >> 32);
        ulong r0 = N32(a0) ? Bi((double)Fl(a0)) : F32ToF64(a0, ref e);
        ulong r1 = N32(a1) ? Bi((double)Fl(a1)) : F32ToF64(a1, ref e);
        if (!c.SseCommitFlags(e.Flags)) return;
        c.X(i.R0) = new Xmm(r0, r1);
    }

    private static void Cvtpd2ps(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        Xmm s = c.XmmSrc(ref i, 1);
        if (c.Faulted) return;
        var e = new FpEnv(c.Mxcsr);
        uint r0 = Narrow(ref e, s.Lo), r1 = Narrow(ref e, s.Hi);
        if (!c.SseCommitFlags(e.Flags)) return;
        c.X(i.R0) = new Xmm(r0 | ((ulong)r1 << 32), 0);
    }

    private static void Cvtdq2ps(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        Xmm s = c.XmmSrc(ref i, 1);
        if (c.Faulted) return;
        var e = new FpEnv(c.Mxcsr);
        Xmm r = default;
        for (int k = 0; k < 4; k++)
        {
            int v = (int)Get(s, k, 4);
            Put(ref r, k, 4, e.Fast ? Bi((float)v) : FromInt(SoftFp.F32, v, ref e));
        }
        if (!c.SseCommitFlags(e.Flags)) return;
        c.X(i.R0) = r;
    }

    private static void Cvtdq2pd(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        Xmm s = c.XmmSrcNarrow(ref i, 1, 8);
        if (c.Faulted) return;
        c.X(i.R0) = new Xmm(Bi((double)(int)s.Lo), Bi((double)(int)(s.Lo >> 32)));
    }

    private static void Cvtps2dq<TTrunc>(Cpu c, ref Insn i) where TTrunc : struct, IBool
    {
        if (!c.SseAvailable()) return;
        Xmm s = c.XmmSrc(ref i, 1);
        if (c.Faulted) return;
        var e = new FpEnv(c.Mxcsr);
        Xmm r = default;
        for (int k = 0; k < 4; k++)
            Put(ref r, k, 4, (ulong)ToInt(SoftFp.F32, Get(s, k, 4), 32, TTrunc.Value, ref e));
        if (!c.SseCommitFlags(e.Flags)) return;
        c.X(i.R0) = r;
    }

    private static void Cvtpd2dq<TTrunc>(Cpu c, ref Insn i) where TTrunc : struct, IBool
    {
        if (!c.SseAvailable()) return;
        Xmm s = c.XmmSrc(ref i, 1);
        if (c.Faulted) return;
        var e = new FpEnv(c.Mxcsr);
        ulong r0 = (uint)ToInt(SoftFp.F64, s.Lo, 32, TTrunc.Value, ref e);
        ulong r1 = (uint)ToInt(SoftFp.F64, s.Hi, 32, TTrunc.Value, ref e);
        if (!c.SseCommitFlags(e.Flags)) return;
        c.X(i.R0) = new Xmm(r0 | (r1 << 32), 0);
    }
}
