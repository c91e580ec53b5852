using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using X86 = System.Runtime.Intrinsics.X86;
using HyperLock.Emulator.Processor.Decode;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;
using static HyperLock.Emulator.Processor.Instructions.SoftFp;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>A floating-point lane operation dest ← f(dest, src, imm8), accumulating MXCSR flags in the env.</summary>
internal interface IFpOp
{
    static abstract uint F32(ref FpEnv e, uint a, uint b, int imm);
    static abstract ulong F64(ref FpEnv e, ulong a, ulong b, int imm);

    /// <summary>Whole-vector host path; true only when its result is provably the architectural one with no new flags.</summary>
    static virtual bool Vec32(in FpEnv e, Vector128<float> a, Vector128<float> b, out Vector128<float> r) { r = default; return false; }

    static virtual bool Vec64(in FpEnv e, Vector128<double> a, Vector128<double> b, out Vector128<double> r) { r = default; return false; }
}

/// <summary>
/// SSE floating point: arithmetic, min/max, sqrt, compares, COMIS/UCOMIS, horizontal and
/// alternating forms, dot products, ROUND, RCP/RSQRT, LDMXCSR/STMXCSR.
/// Approach: every lane goes through <see cref="SoftFp"/> (exact for all rounding modes, DAZ/FTZ,
/// flags) unless the lane qualifies for the host fast path — round-to-nearest, PE already set,
/// all inputs and the result normal finite numbers — where the host's IEEE result is provably
/// the same bits and no new flag can arise.
/// </summary>
internal static unsafe partial class Sse
{
    private static void RegisterFloat()
    {
        OpTable.Set(Code.Addps_xmm_xmmm128, &Ps<FAdd>); OpTable.Set(Code.Addpd_xmm_xmmm128, &Pd<FAdd>);
        OpTable.Set(Code.Addss_xmm_xmmm32, &Ss<FAdd>); OpTable.Set(Code.Addsd_xmm_xmmm64, &Sd<FAdd>);
        OpTable.Set(Code.Subps_xmm_xmmm128, &Ps<FSub>); OpTable.Set(Code.Subpd_xmm_xmmm128, &Pd<FSub>);
        OpTable.Set(Code.Subss_xmm_xmmm32, &Ss<FSub>); OpTable.Set(Code.Subsd_xmm_xmmm64, &Sd<FSub>);
        OpTable.Set(Code.Mulps_xmm_xmmm128, &Ps<FMul>); OpTable.Set(Code.Mulpd_xmm_xmmm128, &Pd<FMul>);
        OpTable.Set(Code.Mulss_xmm_xmmm32, &Ss<FMul>); OpTable.Set(Code.Mulsd_xmm_xmmm64, &Sd<FMul>);
        OpTable.Set(Code.Divps_xmm_xmmm128, &Ps<FDiv>); OpTable.Set(Code.Divpd_xmm_xmmm128, &Pd<FDiv>);
        OpTable.Set(Code.Divss_xmm_xmmm32, &Ss<FDiv>); OpTable.Set(Code.Divsd_xmm_xmmm64, &Sd<FDiv>);
        OpTable.Set(Code.Minps_xmm_xmmm128, &Ps<FMin>); OpTable.Set(Code.Minpd_xmm_xmmm128, &Pd<FMin>);
        OpTable.Set(Code.Minss_xmm_xmmm32, &Ss<FMin>); OpTable.Set(Code.Minsd_xmm_xmmm64, &Sd<FMin>);
        OpTable.Set(Code.Maxps_xmm_xmmm128, &Ps<FMax>); OpTable.Set(Code.Maxpd_xmm_xmmm128, &Pd<FMax>);
        OpTable.Set(Code.Maxss_xmm_xmmm32, &Ss<FMax>); OpTable.Set(Code.Maxsd_xmm_xmmm64, &Sd<FMax>);
        OpTable.Set(Code.Sqrtps_xmm_xmmm128, &Ps<FSqrt>); OpTable.Set(Code.Sqrtpd_xmm_xmmm128, &Pd<FSqrt>);
        OpTable.Set(Code.Sqrtss_xmm_xmmm32, &Ss<FSqrt>); OpTable.Set(Code.Sqrtsd_xmm_xmmm64, &Sd<FSqrt>);
        OpTable.Set(Code.Cmpps_xmm_xmmm128_imm8, &Ps<FCmp>); OpTable.Set(Code.Cmppd_xmm_xmmm128_imm8, &Pd<FCmp>);
        OpTable.Set(Code.Cmpss_xmm_xmmm32_imm8, &Ss<FCmp>); OpTable.Set(Code.Cmpsd_xmm_xmmm64_imm8, &Sd<FCmp>);
        OpTable.Set(Code.Rcpps_xmm_xmmm128, &Ps<FRcp>); OpTable.Set(Code.Rcpss_xmm_xmmm32, &Ss<FRcp>);
        OpTable.Set(Code.Rsqrtps_xmm_xmmm128, &Ps<FRsqrt>); OpTable.Set(Code.Rsqrtss_xmm_xmmm32, &Ss<FRsqrt>);
        OpTable.Set(Code.Roundps_xmm_xmmm128_imm8, &Ps<FRound>); OpTable.Set(Code.Roundpd_xmm_xmmm128_imm8, &Pd<FRound>);
        OpTable.Set(Code.Roundss_xmm_xmmm32_imm8, &Ss<FRound>); OpTable.Set(Code.Roundsd_xmm_xmmm64_imm8, &Sd<FRound>);
        OpTable.Set(Code.Comiss_xmm_xmmm32, &Comis<V4, Signaling>); OpTable.Set(Code.Ucomiss_xmm_xmmm32, &Comis<V4, Quiet>);
        OpTable.Set(Code.Comisd_xmm_xmmm64, &Comis<V8, Signaling>); OpTable.Set(Code.Ucomisd_xmm_xmmm64, &Comis<V8, Quiet>);
        OpTable.Set(Code.Addsubps_xmm_xmmm128, &Addsubps); OpTable.Set(Code.Addsubpd_xmm_xmmm128, &Addsubpd);
        OpTable.Set(Code.Haddps_xmm_xmmm128, &Hps<Quiet>); OpTable.Set(Code.Hsubps_xmm_xmmm128, &Hps<Signaling>);
        OpTable.Set(Code.Haddpd_xmm_xmmm128, &Hpd<Quiet>); OpTable.Set(Code.Hsubpd_xmm_xmmm128, &Hpd<Signaling>);
        OpTable.Set(Code.Dpps_xmm_xmmm128_imm8, &Dpps); OpTable.Set(Code.Dppd_xmm_xmmm128_imm8, &Dppd);
        OpTable.Set(Code.Ldmxcsr_m32, &Ldmxcsr); OpTable.Set(Code.Stmxcsr_m32, &Stmxcsr);
    }

    // ---- lane helpers ------------------------------------------------------------------

    /// <summary>Every lane a normal finite number (exponent field neither 0 nor all ones).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool AllN32(Vector128<float> v) =>
        Vector128.LessThanAll(((v.AsUInt32() >> 23) & Vector128.Create(0xFFu)) - Vector128<uint>.One, Vector128.Create(0xFEu));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool AllN64(Vector128<double> v) =>
        Vector128.LessThanAll(((v.AsUInt64() >> 52) & Vector128.Create(0x7FFUL)) - Vector128<ulong>.One, Vector128.Create(0x7FEUL));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool N32(uint x) => ((x >> 23) & 0xFF) - 1 < 0xFE;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool N64(ulong x) => ((x >> 52) & 0x7FF) - 1 < 0x7FE;

    /// <summary>
    /// A host result usable as is: exponent field 2..max-1. Excludes ±min-normal, which the host
    /// may reach by rounding a tiny value at subnormal precision while x86 (tininess after
    /// rounding) still signals underflow and, under FTZ, flushes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool R32(uint x) => ((x >> 23) & 0xFF) - 2 < 0xFD;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool R64(ulong x) => ((x >> 52) & 0x7FF) - 2 < 0x7FD;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool AllR32(Vector128<float> v) =>
        Vector128.LessThanAll(((v.AsUInt32() >> 23) & Vector128.Create(0xFFu)) - Vector128.Create(2u), Vector128.Create(0xFDu));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool AllR64(Vector128<double> v) =>
        Vector128.LessThanAll(((v.AsUInt64() >> 52) & Vector128.Create(0x7FFUL)) - Vector128.Create(2UL), Vector128.Create(0x7FDUL));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Fl(uint x) => BitConverter.UInt32BitsToSingle(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static double Db(ulong x) => BitConverter.UInt64BitsToDouble(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint Bi(float x) => BitConverter.SingleToUInt32Bits(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong Bi(double x) => BitConverter.DoubleToUInt64Bits(x);

    // ---- wrappers ----------------------------------------------------------------------

    private static void Ps<T>(Cpu c, ref Insn i) where T : struct, IFpOp
    {
        if (!c.SseAvailable()) return;
        Xmm s = c.XmmSrc(ref i, 1);
        if (c.Faulted) return;
        ref Xmm d = ref c.X(i.R0);
        var e = new FpEnv(c.Mxcsr);
        if (T.Vec32(e, ToV(d).AsSingle(), ToV(s).AsSingle(), out var vr)) { d = ToX(vr.AsByte()); return; }
        int imm = (byte)i.Imm;
        ulong lo = T.F32(ref e, (uint)d.Lo, (uint)s.Lo, imm) | ((ulong)T.F32(ref e, (uint)(d.Lo >> 32), (uint)(s.Lo >> 32), imm) << 32);
        ulong hi = T.F32(ref e, (uint)d.Hi, (uint)s.Hi, imm) | ((ulong)T.F32(ref e, (uint)(d.Hi >> 32), (uint)(s.Hi >> 32), imm) << 32);
        if (!c.SseCommitFlags(e.Flags)) return;
        d = new Xmm(lo, hi);
    }

    private static void Pd<T>(Cpu c, ref Insn i) where T : struct, IFpOp
    {
        if (!c.SseAvailable()) return;
        Xmm s = c.XmmSrc(ref i, 1);
        if (c.Faulted) return;
        ref Xmm d = ref c.X(i.R0);
        var e = new FpEnv(c.Mxcsr);
        if (T.Vec64(e, ToV(d).AsDouble(), ToV(s).AsDouble(), out var vr)) { d = ToX(vr.AsByte()); return; }
        int imm = (byte)i.Imm;
        ulong lo = T.F64(ref e, d.Lo, s.Lo, imm);
        ulong hi = T.F64(ref e, d.Hi, s.Hi, imm);
        if (!c.SseCommitFlags(e.Flags)) return;
        d = new Xmm(lo, hi);
    }

    private static void Ss<T>(Cpu c, ref Insn i) where T : struct, IFpOp
    {
        if (!c.SseAvailable()) return;
        uint s;
        if (i.Op1IsMem)
        {
            s = c.ReadMem32(c.Ea(ref i));
            if (c.Faulted) return;
        }
        else s = (uint)c.X(i.R1).Lo;
        ref Xmm d = ref c.X(i.R0);
        var e = new FpEnv(c.Mxcsr);
        uint r = T.F32(ref e, (uint)d.Lo, s, (byte)i.Imm);
        if (!c.SseCommitFlags(e.Flags)) return;
        d.Lo = (d.Lo & 0xFFFFFFFF00000000UL) | r;
    }

    private static void Sd<T>(Cpu c, ref Insn i) where T : struct, IFpOp
    {
        if (!c.SseAvailable()) return;
        ulong s;
        if (i.Op1IsMem)
        {
            s = c.ReadMem64(c.Ea(ref i));
            if (c.Faulted) return;
        }
        else s = c.X(i.R1).Lo;
        ref Xmm d = ref c.X(i.R0);
        var e = new FpEnv(c.Mxcsr);
        ulong r = T.F64(ref e, d.Lo, s, (byte)i.Imm);
        if (!c.SseCommitFlags(e.Flags)) return;
        d.Lo = r;
    }

    // ---- lane operations ---------------------------------------------------------------

    private struct FAdd : IFpOp
    {
        public static bool Vec32(in FpEnv e, Vector128<float> a, Vector128<float> b, out Vector128<float> r)
        {
            r = X86.Sse.Add(a, b);
            return e.Fast && AllN32(a) && AllN32(b) && AllR32(r);
        }

        public static bool Vec64(in FpEnv e, Vector128<double> a, Vector128<double> b, out Vector128<double> r)
        {
            r = X86.Sse2.Add(a, b);
            return e.Fast && AllN64(a) && AllN64(b) && AllR64(r);
        }

        public static uint F32(ref FpEnv e, uint a, uint b, int imm)
        {
            if (e.Fast && N32(a) && N32(b)) { uint r = Bi(Fl(a) + Fl(b)); if (R32(r)) return r; }
            return (uint)Add(SoftFp.F32, a, b, false, ref e);
        }

        public static ulong F64(ref FpEnv e, ulong a, ulong b, int imm)
        {
            if (e.Fast && N64(a) && N64(b)) { ulong r = Bi(Db(a) + Db(b)); if (R64(r)) return r; }
            return Add(SoftFp.F64, a, b, false, ref e);
        }
    }

    private struct FSub : IFpOp
    {
        public static bool Vec32(in FpEnv e, Vector128<float> a, Vector128<float> b, out Vector128<float> r)
        {
            r = X86.Sse.Subtract(a, b);
            return e.Fast && AllN32(a) && AllN32(b) && AllR32(r);
        }

        public static bool Vec64(in FpEnv e, Vector128<double> a, Vector128<double> b, out Vector128<double> r)
        {
            r = X86.Sse2.Subtract(a, b);
            return e.Fast && AllN64(a) && AllN64(b) && AllR64(r);
        }

        public static uint F32(ref FpEnv e, uint a, uint b, int imm)
        {
            if (e.Fast && N32(a) && N32(b)) { uint r = Bi(Fl(a) - Fl(b)); if (R32(r)) return r; }
            return (uint)Add(SoftFp.F32, a, b, true, ref e);
        }

        public static ulong F64(ref FpEnv e, ulong a, ulong b, int imm)
        {
            if (e.Fast && N64(a) && N64(b)) { ulong r = Bi(Db(a) - Db(b)); if (R64(r)) return r; }
            return Add(SoftFp.F64, a, b, true, ref e);
        }
    }

    private struct FMul : IFpOp
    {
        public static bool Vec32(in FpEnv e, Vector128<float> a, Vector128<float> b, out Vector128<float> r)
        {
            r = X86.Sse.Multiply(a, b);
            return e.Fast && AllN32(a) && AllN32(b) && AllR32(r);
        }

        public static bool Vec64(in FpEnv e, Vector128<double> a, Vector128<double> b, out Vector128<double> r)
        {
            r = X86.Sse2.Multiply(a, b);
            return e.Fast && AllN64(a) && AllN64(b) && AllR64(r);
        }

        public static uint F32(ref FpEnv e, uint a, uint b, int imm)
        {
            if (e.Fast && N32(a) && N32(b)) { uint r = Bi(Fl(a) * Fl(b)); if (R32(r)) return r; }
            return (uint)Mul(SoftFp.F32, a, b, ref e);
        }

        public static ulong F64(ref FpEnv e, ulong a, ulong b, int imm)
        {
            if (e.Fast && N64(a) && N64(b)) { ulong r = Bi(Db(a) * Db(b)); if (R64(r)) return r; }
            return Mul(SoftFp.F64, a, b, ref e);
        }
    }

    private struct FDiv : IFpOp
    {
        public static bool Vec32(in FpEnv e, Vector128<float> a, Vector128<float> b, out Vector128<float> r)
        {
            r = X86.Sse.Divide(a, b);
            return e.Fast && AllN32(a) && AllN32(b) && AllR32(r);
        }

        public static bool Vec64(in FpEnv e, Vector128<double> a, Vector128<double> b, out Vector128<double> r)
        {
            r = X86.Sse2.Divide(a, b);
            return e.Fast && AllN64(a) && AllN64(b) && AllR64(r);
        }

        public static uint F32(ref FpEnv e, uint a, uint b, int imm)
        {
            if (e.Fast && N32(a) && N32(b)) { uint r = Bi(Fl(a) / Fl(b)); if (R32(r)) return r; }
            return (uint)Div(SoftFp.F32, a, b, ref e);
        }

        public static ulong F64(ref FpEnv e, ulong a, ulong b, int imm)
        {
            if (e.Fast && N64(a) && N64(b)) { ulong r = Bi(Db(a) / Db(b)); if (R64(r)) return r; }
            return Div(SoftFp.F64, a, b, ref e);
        }
    }

    private struct FSqrt : IFpOp
    {
        public static bool Vec32(in FpEnv e, Vector128<float> a, Vector128<float> b, out Vector128<float> r)
        {
            r = X86.Sse.Sqrt(b);
            return e.Fast && AllN32(b) && Vector128.GreaterThanAll(b.AsInt32(), Vector128<int>.Zero) && AllR32(r);
        }

        public static bool Vec64(in FpEnv e, Vector128<double> a, Vector128<double> b, out Vector128<double> r)
        {
            r = X86.Sse2.Sqrt(b);
            return e.Fast && AllN64(b) && Vector128.GreaterThanAll(b.AsInt64(), Vector128<long>.Zero) && AllR64(r);
        }

        public static uint F32(ref FpEnv e, uint a, uint b, int imm)
        {
            if (e.Fast && N32(b) && (int)b > 0) return Bi(MathF.Sqrt(Fl(b)));
            return (uint)Sqrt(SoftFp.F32, b, ref e);
        }

        public static ulong F64(ref FpEnv e, ulong a, ulong b, int imm)
        {
            if (e.Fast && N64(b) && (long)b > 0) return Bi(Math.Sqrt(Db(b)));
            return Sqrt(SoftFp.F64, b, ref e);
        }
    }

    private struct FMin : IFpOp
    {
        public static bool Vec32(in FpEnv e, Vector128<float> a, Vector128<float> b, out Vector128<float> r)
        {
            r = X86.Sse.Min(a, b);
            return AllN32(a) && AllN32(b) && AllR32(r);
        }

        public static bool Vec64(in FpEnv e, Vector128<double> a, Vector128<double> b, out Vector128<double> r)
        {
            r = X86.Sse2.Min(a, b);
            return AllN64(a) && AllN64(b) && AllR64(r);
        }

        public static uint F32(ref FpEnv e, uint a, uint b, int imm)
        {
            if (N32(a) && N32(b)) return Fl(a) < Fl(b) ? a : b;
            return (uint)MinMax(SoftFp.F32, a, b, false, ref e);
        }

        public static ulong F64(ref FpEnv e, ulong a, ulong b, int imm)
        {
            if (N64(a) && N64(b)) return Db(a) < Db(b) ? a : b;
            return MinMax(SoftFp.F64, a, b, false, ref e);
        }
    }

    private struct FMax : IFpOp
    {
        public static bool Vec32(in FpEnv e, Vector128<float> a, Vector128<float> b, out Vector128<float> r)
        {
            r = X86.Sse.Max(a, b);
            return AllN32(a) && AllN32(b) && AllR32(r);
        }

        public static bool Vec64(in FpEnv e, Vector128<double> a, Vector128<double> b, out Vector128<double> r)
        {
            r = X86.Sse2.Max(a, b);
            return AllN64(a) && AllN64(b) && AllR64(r);
        }

        public static uint F32(ref FpEnv e, uint a, uint b, int imm)
        {
            if (N32(a) && N32(b)) return Fl(a) > Fl(b) ? a : b;
            return (uint)MinMax(SoftFp.F32, a, b, true, ref e);
        }

        public static ulong F64(ref FpEnv e, ulong a, ulong b, int imm)
        {
            if (N64(a) && N64(b)) return Db(a) > Db(b) ? a : b;
            return MinMax(SoftFp.F64, a, b, true, ref e);
        }
    }

    /// <summary>CMPxx predicates 0-7: EQ_OQ, LT_OS, LE_OS, UNORD_Q, NEQ_UQ, NLT_US, NLE_US, ORD_Q (imm8 bits 7:3 ignored).</summary>
    internal static bool Predicate(int rel, int pred) => (pred & 7) switch
    {
        0 => rel == 0,
        1 => rel == -1,
        2 => rel == -1 || rel == 0,
        3 => rel == 2,
        4 => rel != 0,
        5 => rel != -1,
        6 => rel == 1 || rel == 2,
        _ => rel != 2,
    };

    private static bool SignalingPredicate(int pred) => (pred & 3) is 1 or 2;

    private struct FCmp : IFpOp
    {
        public static uint F32(ref FpEnv e, uint a, uint b, int imm)
        {
            int rel = N32(a) && N32(b)
                ? (Fl(a) < Fl(b) ? -1 : Fl(a) > Fl(b) ? 1 : 0)
                : Compare(SoftFp.F32, a, b, SignalingPredicate(imm), ref e);
            return Predicate(rel, imm) ? ~0u : 0;
        }

        public static ulong F64(ref FpEnv e, ulong a, ulong b, int imm)
        {
            int rel = N64(a) && N64(b)
                ? (Db(a) < Db(b) ? -1 : Db(a) > Db(b) ? 1 : 0)
                : Compare(SoftFp.F64, a, b, SignalingPredicate(imm), ref e);
            return Predicate(rel, imm) ? ~0UL : 0;
        }
    }

    /// <summary>
    /// RCPPS/RCPSS approximation (documented, deterministic): 1/x computed in double, rounded to
    /// single, then truncated to 12 fraction bits (relative error &lt; 2^-11.9, within the SDM's
    /// 1.5 × 2^-12 bound). Like hardware: ±0 and denormal inputs give ±∞, results below the
    /// normal range give ±0, no MXCSR flags, DAZ/FTZ not consulted.
    /// </summary>
    internal static uint Rcp32(uint x)
    {
        uint sign = x & 0x80000000u;
        int exp = (int)((x >> 23) & 0xFF);
        if (exp == 0xFF) return (x & 0x7FFFFF) != 0 ? x | 0x400000 : sign;
        if (exp == 0) return sign | 0x7F800000u;
        if (exp >= 253) return sign;
        uint r = Bi((float)(1.0 / Fl(x)));
        return r & ~0x7FFu;
    }

    /// <summary>RSQRTPS/RSQRTSS approximation: 1/sqrt(x) in double, rounded to single, truncated to 12 fraction bits.</summary>
    internal static uint Rsqrt32(uint x)
    {
        uint sign = x & 0x80000000u;
        int exp = (int)((x >> 23) & 0xFF);
        if (exp == 0xFF && (x & 0x7FFFFF) != 0) return x | 0x400000;
        if (exp == 0) return sign | 0x7F800000u;
        if (sign != 0) return 0xFFC00000u;
        if (exp == 0xFF) return 0;
        uint r = Bi((float)(1.0 / Math.Sqrt(Fl(x))));
        return r & ~0x7FFu;
    }

    private struct FRcp : IFpOp
    {
        public static uint F32(ref FpEnv e, uint a, uint b, int imm) => Rcp32(b);
        public static ulong F64(ref FpEnv e, ulong a, ulong b, int imm) => 0;
    }

    private struct FRsqrt : IFpOp
    {
        public static uint F32(ref FpEnv e, uint a, uint b, int imm) => Rsqrt32(b);
        public static ulong F64(ref FpEnv e, ulong a, ulong b, int imm) => 0;
    }

    /// <summary>ROUNDxx: imm8[2] = use MXCSR.RC, else imm8[1:0]; imm8[3] suppresses PE.</summary>
    private struct FRound : IFpOp
    {
        public static uint F32(ref FpEnv e, uint a, uint b, int imm) =>
            (uint)RoundInt(SoftFp.F32, b, (imm & 4) != 0 ? e.Rc : imm & 3, (imm & 8) != 0, ref e);

        public static ulong F64(ref FpEnv e, ulong a, ulong b, int imm) =>
            RoundInt(SoftFp.F64, b, (imm & 4) != 0 ? e.Rc : imm & 3, (imm & 8) != 0, ref e);
    }

    // ---- COMIS/UCOMIS ------------------------------------------------------------------

    private interface IBool { static abstract bool Value { get; } }
    private struct Signaling : IBool { public static bool Value => true; }
    private struct Quiet : IBool { public static bool Value => false; }

    /// <summary>(U)COMISS/SD: ZF,PF,CF = 111 unordered, 000 greater, 001 less, 100 equal; OF, SF, AF cleared.</summary>
    private static void Comis<TSize, TSignal>(Cpu c, ref Insn i) where TSize : struct, IVecSize where TSignal : struct, IBool
    {
        if (!c.SseAvailable()) return;
        bool dbl = TSize.Bytes == 8;
        ulong b;
        if (i.Op1IsMem)
        {
            b = c.ReadMem(c.Ea(ref i), TSize.Bytes);
            if (c.Faulted) return;
        }
        else b = c.X(i.R1).Lo;
        ulong a = c.X(i.R0).Lo;
        var e = new FpEnv(c.Mxcsr);
        int rel;
        if (dbl) rel = N64(a) && N64(b) ? (Db(a) < Db(b) ? -1 : Db(a) > Db(b) ? 1 : 0) : Compare(SoftFp.F64, a, b, TSignal.Value, ref e);
        else rel = N32((uint)a) && N32((uint)b)
            ? (Fl((uint)a) < Fl((uint)b) ? -1 : Fl((uint)a) > Fl((uint)b) ? 1 : 0)
            : Compare(SoftFp.F32, (uint)a, (uint)b, TSignal.Value, ref e);
        if (!c.SseCommitFlags(e.Flags)) return;
        c.SetArithFlags(rel switch
        {
            2 => Bits.Zf | Bits.Pf | Bits.Cf,
            -1 => Bits.Cf,
            0 => Bits.Zf,
            _ => 0,
        });
    }

    // ---- alternating, horizontal, dot product -------------------------------------------

    private static void Addsubps(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        Xmm s = c.XmmSrc(ref i, 1);
        if (c.Faulted) return;
        ref Xmm d = ref c.X(i.R0);
        var e = new FpEnv(c.Mxcsr);
        ulong lo = FSub.F32(ref e, (uint)d.Lo, (uint)s.Lo, 0) | ((ulong)FAdd.F32(ref e, (uint)(d.Lo >> 32), (uint)(s.Lo >> 32), 0) << 32);
        ulong hi = FSub.F32(ref e, (uint)d.Hi, (uint)s.Hi, 0) | ((ulong)FAdd.F32(ref e, (uint)(d.Hi >> 32), (uint)(s.Hi >> 32), 0) << 32);
        if (!c.SseCommitFlags(e.Flags)) return;
        d = new Xmm(lo, hi);
    }

    private static void Addsubpd(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        Xmm s = c.XmmSrc(ref i, 1);
        if (c.Faulted) return;
        ref Xmm d = ref c.X(i.R0);
        var e = new FpEnv(c.Mxcsr);
        ulong lo = FSub.F64(ref e, d.Lo, s.Lo, 0);
        ulong hi = FAdd.F64(ref e, d.Hi, s.Hi, 0);
        if (!c.SseCommitFlags(e.Flags)) return;
        d = new Xmm(lo, hi);
    }

    /// <summary>HADDPS (TSub = Quiet) / HSUBPS (TSub = Signaling): pairs of dest, then pairs of src.</summary>
    private static void Hps<TSub>(Cpu c, ref Insn i) where TSub : struct, IBool
    {
        if (!c.SseAvailable()) return;
        Xmm s = c.XmmSrc(ref i, 1);
        if (c.Faulted) return;
        ref Xmm d = ref c.X(i.R0);
        var e = new FpEnv(c.Mxcsr);
        uint r0 = H32<TSub>(ref e, (uint)d.Lo, (uint)(d.Lo >> 32));
        uint r1 = H32<TSub>(ref e, (uint)d.Hi, (uint)(d.Hi >> 32));
        uint r2 = H32<TSub>(ref e, (uint)s.Lo, (uint)(s.Lo >> 32));
        uint r3 = H32<TSub>(ref e, (uint)s.Hi, (uint)(s.Hi >> 32));
        if (!c.SseCommitFlags(e.Flags)) return;
        d = new Xmm(r0 | ((ulong)r1 << 32), r2 | ((ulong)r3 << 32));
    }

    private static uint H32<TSub>(ref FpEnv e, uint a, uint b) where TSub : struct, IBool =>
        TSub.Value ? FSub.F32(ref e, a, b, 0) : FAdd.F32(ref e, a, b, 0);

    private static void Hpd<TSub>(Cpu c, ref Insn i) where TSub : struct, IBool
    {
        if (!c.SseAvailable()) return;
        Xmm s = c.XmmSrc(ref i, 1);
        if (c.Faulted) return;
        ref Xmm d = ref c.X(i.R0);
        var e = new FpEnv(c.Mxcsr);
        ulong lo = TSub.Value ? FSub.F64(ref e, d.Lo, d.Hi, 0) : FAdd.F64(ref e, d.Lo, d.Hi, 0);
        ulong hi = TSub.Value ? FSub.F64(ref e, s.Lo, s.Hi, 0) : FAdd.F64(ref e, s.Lo, s.Hi, 0);
        if (!c.SseCommitFlags(e.Flags)) return;
        d = new Xmm(lo, hi);
    }

    /// <summary>
    /// DPPS: products selected by imm8[7:4] (others +0), summed, written where imm8[3:0] is set
    /// (others +0). The SDM gives (p0+p1)+(p2+p3); the host CPU orders the operands per
    /// destination lane k — pairs lo = k odd ? p0+p1 : p1+p0, hi = k odd ? p2+p3 : p3+p2, then
    /// k &lt; 2 ? lo+hi : hi+lo — which only shows in which NaN propagates; we follow the host.
    /// Flags are the same for every order (they are computed once).
    /// </summary>
    private static void Dpps(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        Xmm s = c.XmmSrc(ref i, 1);
        if (c.Faulted) return;
        ref Xmm d = ref c.X(i.R0);
        int imm = (byte)i.Imm;
        var e = new FpEnv(c.Mxcsr);
        uint p0 = DpProduct(ref e, d, s, imm, 0), p1 = DpProduct(ref e, d, s, imm, 1);
        uint p2 = DpProduct(ref e, d, s, imm, 2), p3 = DpProduct(ref e, d, s, imm, 3);
        FAdd.F32(ref e, FAdd.F32(ref e, p1, p0, 0), FAdd.F32(ref e, p3, p2, 0), 0);
        if (!c.SseCommitFlags(e.Flags)) return;
        Xmm r = default;
        for (int k = 0; k < 4; k++)
        {
            if ((imm & (1 << k)) == 0) continue;
            var scratch = new FpEnv(c.Mxcsr);
            bool odd = (k & 1) != 0;
            uint lo = odd ? FAdd.F32(ref scratch, p0, p1, 0) : FAdd.F32(ref scratch, p1, p0, 0);
            uint hi = odd ? FAdd.F32(ref scratch, p2, p3, 0) : FAdd.F32(ref scratch, p3, p2, 0);
            Put(ref r, k, 4, k < 2 ? FAdd.F32(ref scratch, lo, hi, 0) : FAdd.F32(ref scratch, hi, lo, 0));
        }
        d = r;
    }

    private static uint DpProduct(ref FpEnv e, Xmm d, Xmm s, int imm, int k) =>
        (imm & (0x10 << k)) != 0 ? FMul.F32(ref e, (uint)Get(d, k, 4), (uint)Get(s, k, 4), 0) : 0;

    /// <summary>DPPD: like DPPS with two lanes; lane 1 sums p1+p0 (hardware order).</summary>
    private static void Dppd(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        Xmm s = c.XmmSrc(ref i, 1);
        if (c.Faulted) return;
        ref Xmm d = ref c.X(i.R0);
        int imm = (byte)i.Imm;
        var e = new FpEnv(c.Mxcsr);
        ulong p0 = (imm & 0x10) != 0 ? FMul.F64(ref e, d.Lo, s.Lo, 0) : 0;
        ulong p1 = (imm & 0x20) != 0 ? FMul.F64(ref e, d.Hi, s.Hi, 0) : 0;
        ulong sum = FAdd.F64(ref e, p0, p1, 0);
        if (!c.SseCommitFlags(e.Flags)) return;
        var scratch = new FpEnv(c.Mxcsr);
        ulong sum1 = FAdd.F64(ref scratch, p1, p0, 0);
        d = new Xmm((imm & 1) != 0 ? sum : 0, (imm & 2) != 0 ? sum1 : 0);
    }

    // ---- MXCSR -------------------------------------------------------------------------

    private static void Ldmxcsr(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        uint v = c.ReadMem32(c.Ea(ref i));
        if (c.Faulted) return;
        if ((v & ~Cpu.MxcsrWritable) != 0) { c.RaiseGp(0); return; }
        c.Mxcsr = v;
    }

    private static void Stmxcsr(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        c.WriteMem32(c.Ea(ref i), c.Mxcsr);
    }
}
