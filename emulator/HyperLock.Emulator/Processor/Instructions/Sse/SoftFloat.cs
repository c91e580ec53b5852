using System.Numerics;
using System.Runtime.CompilerServices;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>
/// The MXCSR-derived environment of one SSE floating-point instruction: rounding control,
/// DAZ/FTZ, and the exception flags it accumulates (committed to MXCSR by the handler).
/// </summary>
internal struct FpEnv
{
    /// <summary>Rounding control: 0 nearest-even, 1 down, 2 up, 3 toward zero.</summary>
    public int Rc;
    public bool Daz, Ftz, UnderflowUnmasked;
    /// <summary>
    /// Round-to-nearest, the precision flag already set and precision exceptions masked: when
    /// every input and the result are normal finite numbers, the host's IEEE result is the
    /// architectural result and no new flag or fault can arise, so handlers may use host arithmetic.
    /// </summary>
    public bool Fast;
    /// <summary>Exception flags detected (MXCSR bit layout, bits 5:0).</summary>
    public uint Flags;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public FpEnv(uint mxcsr)
    {
        Rc = (int)((mxcsr >> 13) & 3);
        Daz = (mxcsr & Cpu.MxcsrDaz) != 0;
        Ftz = (mxcsr & Cpu.MxcsrFtz) != 0;
        UnderflowUnmasked = (mxcsr & (Cpu.MxcsrUe << 7)) == 0;
        Fast = (mxcsr & 0x7020) == 0x1020;
        Flags = 0;
    }
}

/// <summary>
/// Software IEEE-754 binary32/binary64 arithmetic with x86 SSE semantics: all four rounding
/// modes, DAZ/FTZ, tininess detected after rounding, the six MXCSR exception flags, x86 NaN
/// rules (first NaN operand wins, quietened; invalid operations give the negative "real
/// indefinite" QNaN). Values travel as raw bit patterns (binary32 in the low 32 bits).
/// Internally a finite nonzero value is (sign, exp, sig) with sig's leading one at bit 62 and
/// value = sig × 2^(exp − 62). This is the exact path; handlers use host arithmetic only
/// where <see cref="FpEnv.Fast"/> proves the host result identical.
/// </summary>
internal static class SoftFp
{
    public const int RN = 0, RD = 1, RU = 2, RZ = 3;
    public const uint IE = 1, DE = 2, ZE = 4, OE = 8, UE = 16, PE = 32;

    /// <summary>Format parameters.</summary>
    public sealed class Fmt
    {
        public readonly int Frac, ExpMax, Bias, SignShift;
        public readonly ulong FracMask, Sign, Quiet, Inf, MaxFinite, DefaultNaN;

        public Fmt(int frac, int expBits)
        {
            Frac = frac;
            ExpMax = (1 << expBits) - 1;
            Bias = (1 << (expBits - 1)) - 1;
            SignShift = frac + expBits;
            FracMask = (1UL << frac) - 1;
            Sign = 1UL << SignShift;
            Quiet = 1UL << (frac - 1);
            Inf = (ulong)ExpMax << frac;
            MaxFinite = Inf - 1;
            DefaultNaN = Sign | Inf | Quiet;
        }
    }

    public static readonly Fmt F32 = new(23, 8);
    public static readonly Fmt F64 = new(52, 11);

    public enum Cls : byte { Zero, Normal, Inf, QNaN, SNaN }

    public struct U
    {
        public bool Sign;
        public int Exp;
        public ulong Sig;
        public Cls Cls;
        public readonly bool IsNaN => Cls >= Cls.QNaN;
    }

    /// <summary>Splits a value; denormals become zero under DAZ, else are normalized and flag DE when <paramref name="flagDenormal"/>.</summary>
    public static U Unpack(Fmt p, ulong bits, ref FpEnv e, bool flagDenormal = true)
    {
        U u = default;
        u.Sign = ((bits >> p.SignShift) & 1) != 0;
        int be = (int)((bits >> p.Frac) & (ulong)p.ExpMax);
        ulong f = bits & p.FracMask;
        if (be == p.ExpMax)
        {
            u.Cls = f == 0 ? Cls.Inf : (f & p.Quiet) != 0 ? Cls.QNaN : Cls.SNaN;
            u.Sig = f;
            return u;
        }
        if (be == 0)
        {
            if (f == 0 || e.Daz) { u.Cls = Cls.Zero; return u; }
            if (flagDenormal) e.Flags |= DE;
            int s = BitOperations.LeadingZeroCount(f) - 1;
            u.Sig = f << s;
            u.Exp = 62 - s + 1 - p.Bias - p.Frac;
            u.Cls = Cls.Normal;
            return u;
        }
        u.Cls = Cls.Normal;
        u.Sig = (f | (1UL << p.Frac)) << (62 - p.Frac);
        u.Exp = be - p.Bias;
        return u;
    }

    public static bool IsNaN(Fmt p, ulong bits) => (bits & ~p.Sign) > p.Inf;
    public static bool IsSNaN(Fmt p, ulong bits) => IsNaN(p, bits) && (bits & p.Quiet) == 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong ShiftRightJam(ulong v, int n) =>
        n <= 0 ? v : n >= 64 ? (v != 0 ? 1UL : 0) : (v >> n) | ((v & ((1UL << n) - 1)) != 0 ? 1UL : 0);

    private static bool RoundUp(ulong m, ulong rem, ulong half, bool sign, int rc) => rc switch
    {
        RN => rem > half || (rem == half && (m & 1) != 0),
        RD => sign && rem != 0,
        RU => !sign && rem != 0,
        _ => false,
    };

    private static ulong Zero(Fmt p, bool sign) => sign ? p.Sign : 0;

    /// <summary>Rounds (sign, exp, sig) — sig's leading one at bit 62, low bits sticky — to the format.</summary>
    public static ulong RoundPack(Fmt p, bool sign, int exp, ulong sig, ref FpEnv e)
    {
        int extra = 62 - p.Frac;
        ulong mask = (1UL << extra) - 1, half = 1UL << (extra - 1);
        ulong s = sign ? p.Sign : 0;
        int be = exp + p.Bias;
        if (be < 1)
        {
            bool tiny = true;
            if (be == 0)
            {
                // Tininess after rounding: would rounding with an unbounded exponent reach 2^emin?
                ulong m0 = sig >> extra;
                if (RoundUp(m0, sig & mask, half, sign, e.Rc) && ((m0 + 1) >> (p.Frac + 1)) != 0) tiny = false;
            }
            if (tiny && e.Ftz && !e.UnderflowUnmasked)
            {
                e.Flags |= UE | PE;
                return s;
            }
            sig = ShiftRightJam(sig, 1 - be);
            ulong rem = sig & mask;
            ulong m = sig >> extra;
            if (RoundUp(m, rem, half, sign, e.Rc)) m++;
            if (rem != 0) e.Flags |= PE;
            if (tiny && (rem != 0 || e.UnderflowUnmasked)) e.Flags |= UE;
            return s | m; // m = 2^Frac (rounded up to the smallest normal) encodes exponent field 1
        }
        {
            ulong rem = sig & mask;
            ulong m = sig >> extra;
            if (RoundUp(m, rem, half, sign, e.Rc))
            {
                m++;
                if ((m >> (p.Frac + 1)) != 0) { m >>= 1; be++; }
            }
            if (be >= p.ExpMax)
            {
                e.Flags |= OE | PE;
                bool toInf = e.Rc == RN || (e.Rc == RU && !sign) || (e.Rc == RD && sign);
                return s | (toInf ? p.Inf : p.MaxFinite);
            }
            if (rem != 0) e.Flags |= PE;
            return s | ((ulong)be << p.Frac) | (m & p.FracMask);
        }
    }

    /// <summary>Normalizes any nonzero sig (value = sig × 2^(exp − 62)), then rounds.</summary>
    public static ulong NormRoundPack(Fmt p, bool sign, int exp, ulong sig, ref FpEnv e)
    {
        if ((sig >> 63) != 0) { sig = ShiftRightJam(sig, 1); exp++; }
        else
        {
            int s = BitOperations.LeadingZeroCount(sig) - 1;
            sig <<= s;
            exp -= s;
        }
        return RoundPack(p, sign, exp, sig, ref e);
    }

    /// <summary>x86 NaN result of a two-operand operation: the first NaN operand, quietened; IE on any SNaN.</summary>
    public static ulong PropagateNaN(Fmt p, ulong a, ulong b, in U ua, in U ub, ref FpEnv e)
    {
        if (ua.Cls == Cls.SNaN || ub.Cls == Cls.SNaN) e.Flags |= IE;
        return (ua.IsNaN ? a : b) | p.Quiet;
    }

    private static ulong Invalid(Fmt p, ref FpEnv e)
    {
        e.Flags |= IE;
        return p.DefaultNaN;
    }

    // ---- arithmetic ------------------------------------------------------------------

    public static ulong Add(Fmt p, ulong a, ulong b, bool subtract, ref FpEnv e)
    {
        // Flags are scoped to this operation: a NaN operand suppresses this lane's DE, not other lanes'.
        uint saved = e.Flags;
        e.Flags = 0;
        var r = AddCore(p, a, b, subtract, ref e);
        e.Flags |= saved;
        return r;
    }

    private static ulong AddCore(Fmt p, ulong a, ulong b, bool subtract, ref FpEnv e)
    {
        var ua = Unpack(p, a, ref e);
        var ub = Unpack(p, b, ref e);
        if (ua.IsNaN || ub.IsNaN) { e.Flags &= ~DE; return PropagateNaN(p, a, b, ua, ub, ref e); }
        if (subtract) ub.Sign = !ub.Sign;
        if (ua.Cls == Cls.Inf)
        {
            if (ub.Cls == Cls.Inf && ua.Sign != ub.Sign) { e.Flags &= ~DE; return Invalid(p, ref e); }
            return (ua.Sign ? p.Sign : 0) | p.Inf;
        }
        if (ub.Cls == Cls.Inf) return (ub.Sign ? p.Sign : 0) | p.Inf;
        if (ua.Cls == Cls.Zero && ub.Cls == Cls.Zero)
            return Zero(p, ua.Sign == ub.Sign ? ua.Sign : e.Rc == RD);
        if (ua.Cls == Cls.Zero) return RoundPack(p, ub.Sign, ub.Exp, ub.Sig, ref e);
        if (ub.Cls == Cls.Zero) return RoundPack(p, ua.Sign, ua.Exp, ua.Sig, ref e);
        return AddUnpacked(p, ua, ub, ref e);
    }

    /// <summary>Sum of two finite nonzero unpacked values.</summary>
    public static ulong AddUnpacked(Fmt p, U ua, U ub, ref FpEnv e)
    {
        if (ua.Exp < ub.Exp || (ua.Exp == ub.Exp && ua.Sig < ub.Sig)) (ua, ub) = (ub, ua);
        int exp = ua.Exp;
        ulong sb = ShiftRightJam(ub.Sig, ua.Exp - ub.Exp);
        if (ua.Sign == ub.Sign)
            return NormRoundPack(p, ua.Sign, exp, ua.Sig + sb, ref e);
        ulong d = ua.Sig - sb;
        if (d == 0) return Zero(p, e.Rc == RD);
        return NormRoundPack(p, ua.Sign, exp, d, ref e);
    }

    public static ulong Mul(Fmt p, ulong a, ulong b, ref FpEnv e)
    {
        // Flags are scoped to this operation: a NaN operand suppresses this lane's DE, not other lanes'.
        uint saved = e.Flags;
        e.Flags = 0;
        var r = MulCore(p, a, b, ref e);
        e.Flags |= saved;
        return r;
    }

    private static ulong MulCore(Fmt p, ulong a, ulong b, ref FpEnv e)
    {
        var ua = Unpack(p, a, ref e);
        var ub = Unpack(p, b, ref e);
        if (ua.IsNaN || ub.IsNaN) { e.Flags &= ~DE; return PropagateNaN(p, a, b, ua, ub, ref e); }
        bool sign = ua.Sign != ub.Sign;
        if (ua.Cls == Cls.Inf || ub.Cls == Cls.Inf)
        {
            if (ua.Cls == Cls.Zero || ub.Cls == Cls.Zero) { e.Flags &= ~DE; return Invalid(p, ref e); }
            return (sign ? p.Sign : 0) | p.Inf;
        }
        if (ua.Cls == Cls.Zero || ub.Cls == Cls.Zero) return Zero(p, sign);
        return MulUnpacked(p, sign, ua, ub, ref e);
    }

    private static ulong MulUnpacked(Fmt p, bool sign, in U ua, in U ub, ref FpEnv e)
    {
        ulong hi = Math.BigMul(ua.Sig, ub.Sig, out ulong lo); // [2^124, 2^126)
        // Take bits 125..62 → [2^62, 2^64).
        ulong sig = (hi << 2) | (lo >> 62);
        if ((lo & ((1UL << 62) - 1)) != 0) sig |= 1;
        return NormRoundPack(p, sign, ua.Exp + ub.Exp, sig, ref e);
    }

    public static ulong Div(Fmt p, ulong a, ulong b, ref FpEnv e)
    {
        // Flags are scoped to this operation: a NaN operand suppresses this lane's DE, not other lanes'.
        uint saved = e.Flags;
        e.Flags = 0;
        var r = DivCore(p, a, b, ref e);
        e.Flags |= saved;
        return r;
    }

    private static ulong DivCore(Fmt p, ulong a, ulong b, ref FpEnv e)
    {
        var ua = Unpack(p, a, ref e);
        var ub = Unpack(p, b, ref e);
        if (ua.IsNaN || ub.IsNaN) { e.Flags &= ~DE; return PropagateNaN(p, a, b, ua, ub, ref e); }
        bool sign = ua.Sign != ub.Sign;
        if (ua.Cls == Cls.Inf)
        {
            if (ub.Cls == Cls.Inf) { e.Flags &= ~DE; return Invalid(p, ref e); }
            return (sign ? p.Sign : 0) | p.Inf;
        }
        if (ub.Cls == Cls.Inf) return Zero(p, sign);
        if (ub.Cls == Cls.Zero)
        {
            if (ua.Cls == Cls.Zero) { e.Flags &= ~DE; return Invalid(p, ref e); }
            e.Flags = (e.Flags & ~DE) | ZE;
            return (sign ? p.Sign : 0) | p.Inf;
        }
        if (ua.Cls == Cls.Zero) return Zero(p, sign);
        UInt128 num = (UInt128)ua.Sig << 63;
        UInt128 q = num / ub.Sig;
        bool rem = num - q * ub.Sig != 0;
        ulong qq = (ulong)q; // in (2^62, 2^64)
        int exp = ua.Exp - ub.Exp - 1;
        if ((qq >> 63) != 0) { rem |= (qq & 1) != 0; qq >>= 1; exp++; }
        if (rem) qq |= 1;
        return RoundPack(p, sign, exp, qq, ref e);
    }

    public static ulong Sqrt(Fmt p, ulong a, ref FpEnv e)
    {
        // Flags are scoped to this operation: a NaN operand suppresses this lane's DE, not other lanes'.
        uint saved = e.Flags;
        e.Flags = 0;
        var r = SqrtCore(p, a, ref e);
        e.Flags |= saved;
        return r;
    }

    private static ulong SqrtCore(Fmt p, ulong a, ref FpEnv e)
    {
        var ua = Unpack(p, a, ref e);
        if (ua.IsNaN)
        {
            e.Flags &= ~DE;
            if (ua.Cls == Cls.SNaN) e.Flags |= IE;
            return a | p.Quiet;
        }
        if (ua.Cls == Cls.Zero) return Zero(p, ua.Sign);
        if (ua.Sign) { e.Flags &= ~DE; return Invalid(p, ref e); }
        if (ua.Cls == Cls.Inf) return p.Inf;
        // value = sig × 2^(exp−62); make the exponent even.
        int exp = ua.Exp;
        UInt128 n = (exp & 1) == 0 ? (UInt128)ua.Sig << 62 : (UInt128)ua.Sig << 63;
        int re = (exp & 1) == 0 ? exp / 2 : (exp - 1) / 2;
        ulong r = ISqrt(n);
        bool inexact = (UInt128)r * r != n;
        return RoundPack(p, false, re, r | (inexact ? 1UL : 0), ref e);
    }

    /// <summary>floor(sqrt(n)) for n &lt; 2^126.</summary>
    private static ulong ISqrt(UInt128 n)
    {
        ulong r = (ulong)Math.Sqrt((double)n);
        if (r != 0) r = (ulong)(((UInt128)r + n / r) >> 1);
        while ((UInt128)r * r > n) r--;
        while ((UInt128)(r + 1) * (r + 1) <= n) r++;
        return r;
    }

    // ---- compares --------------------------------------------------------------------

    /// <summary>−1, 0, 1, or 2 for unordered. IE on SNaN, or on any NaN when <paramref name="signaling"/>; DE on denormals.</summary>
    public static int Compare(Fmt p, ulong a, ulong b, bool signaling, ref FpEnv e)
    {
        // Flags are scoped to this operation: a NaN operand suppresses this lane's DE, not other lanes'.
        uint saved = e.Flags;
        e.Flags = 0;
        var r = CompareCore(p, a, b, signaling, ref e);
        e.Flags |= saved;
        return r;
    }

    private static int CompareCore(Fmt p, ulong a, ulong b, bool signaling, ref FpEnv e)
    {
        var ua = Unpack(p, a, ref e);
        var ub = Unpack(p, b, ref e);
        if (ua.IsNaN || ub.IsNaN)
        {
            e.Flags &= ~DE;
            if (signaling || ua.Cls == Cls.SNaN || ub.Cls == Cls.SNaN) e.Flags |= IE;
            return 2;
        }
        return CompareOrdered(ua, ub);
    }

    private static int CompareOrdered(in U ua, in U ub)
    {
        int ka = Key(ua), kb = Key(ub);
        if (ua.Cls == Cls.Zero && ub.Cls == Cls.Zero) return 0;
        if (ua.Sign != ub.Sign) return ua.Sign ? (ub.Cls == Cls.Zero && ua.Cls == Cls.Zero ? 0 : -1) : 1;
        int mag;
        if (ka != kb) mag = ka < kb ? -1 : 1;
        else if (ua.Cls != Cls.Normal) mag = 0;
        else if (ua.Exp != ub.Exp) mag = ua.Exp < ub.Exp ? -1 : 1;
        else mag = ua.Sig == ub.Sig ? 0 : ua.Sig < ub.Sig ? -1 : 1;
        return ua.Sign ? -mag : mag;
    }

    private static int Key(in U u) => u.Cls == Cls.Zero ? 0 : u.Cls == Cls.Normal ? 1 : 2;

    /// <summary>MINxx/MAXxx: the second operand when either is a NaN (IE) or both are zero; denormals flag DE, DAZ applies.</summary>
    public static ulong MinMax(Fmt p, ulong a, ulong b, bool max, ref FpEnv e)
    {
        // Flags are scoped to this operation: a NaN operand suppresses this lane's DE, not other lanes'.
        uint saved = e.Flags;
        e.Flags = 0;
        var r = MinMaxCore(p, a, b, max, ref e);
        e.Flags |= saved;
        return r;
    }

    private static ulong MinMaxCore(Fmt p, ulong a, ulong b, bool max, ref FpEnv e)
    {
        var ua = Unpack(p, a, ref e);
        var ub = Unpack(p, b, ref e);
        if (e.Daz)
        {
            // The operand returned is the one after DAZ, also when the other is a NaN.
            if (ua.Cls == Cls.Zero) a &= p.Sign;
            if (ub.Cls == Cls.Zero) b &= p.Sign;
        }
        if (ua.IsNaN || ub.IsNaN) { e.Flags = (e.Flags & ~DE) | IE; return b; }
        if (ua.Cls == Cls.Zero && ub.Cls == Cls.Zero) return b;
        int c = CompareOrdered(ua, ub);
        if (max) return c > 0 ? a : b;
        return c < 0 ? a : b;
    }

    // ---- conversions -----------------------------------------------------------------

    /// <summary>Signed integer → float, rounded per RC.</summary>
    public static ulong FromInt(Fmt p, long v, ref FpEnv e)
    {
        if (v == 0) return 0;
        bool sign = v < 0;
        ulong mag = sign ? (ulong)(-(v + 1)) + 1 : (ulong)v;
        return NormRoundPack(p, sign, 62, mag, ref e);
    }

    /// <summary>
    /// Float → signed integer of <paramref name="bits"/> (32/64): rounded per RC or truncated;
    /// NaN and out-of-range give the integer indefinite (sign bit only) with IE; inexact → PE.
    /// </summary>
    public static long ToInt(Fmt p, ulong a, int bits, bool truncate, ref FpEnv e)
    {
        long indefinite = bits == 32 ? 0x80000000L : long.MinValue;
        var u = Unpack(p, a, ref e, flagDenormal: false);
        if (u.IsNaN || u.Cls == Cls.Inf) { e.Flags |= IE; return indefinite; }
        if (u.Cls == Cls.Zero) return 0;
        int rc = truncate ? RZ : e.Rc;
        ulong m;
        bool inexact;
        if (u.Exp > 63) { e.Flags |= IE; return indefinite; }
        if (u.Exp >= 62) { m = u.Sig << (u.Exp - 62); inexact = false; }
        else
        {
            int shift = 62 - u.Exp;
            ulong rem, half;
            if (shift >= 64) { m = 0; rem = 1; half = 2; }
            else { m = u.Sig >> shift; rem = u.Sig & ((1UL << shift) - 1); half = 1UL << (shift - 1); }
            inexact = rem != 0;
            if (RoundUp(m, rem, half, u.Sign, rc)) m++;
        }
        ulong limit = bits == 32 ? (u.Sign ? 1UL << 31 : (1UL << 31) - 1) : (u.Sign ? 1UL << 63 : (1UL << 63) - 1);
        if (m > limit) { e.Flags |= IE; return indefinite; }
        if (inexact) e.Flags |= PE;
        long r = u.Sign ? (long)(0 - m) : (long)m;
        return bits == 32 ? (long)(uint)(int)r : r;
    }

    /// <summary>ROUNDxx: to an integral value in the given mode; IE on SNaN; PE when inexact unless suppressed.</summary>
    public static ulong RoundInt(Fmt p, ulong a, int rc, bool suppressPe, ref FpEnv e)
    {
        var u = Unpack(p, a, ref e, flagDenormal: false);
        if (u.IsNaN)
        {
            if (u.Cls == Cls.SNaN) e.Flags |= IE;
            return a | p.Quiet;
        }
        if (u.Cls == Cls.Inf) return a;
        if (u.Cls == Cls.Zero) return Zero(p, u.Sign);
        if (u.Exp >= p.Frac) return a;
        int shift = 62 - u.Exp;
        ulong m, rem, half;
        if (shift >= 64) { m = 0; rem = 1; half = 2; }
        else { m = u.Sig >> shift; rem = u.Sig & ((1UL << shift) - 1); half = 1UL << (shift - 1); }
        if (RoundUp(m, rem, half, u.Sign, rc)) m++;
        if (rem != 0 && !suppressPe) e.Flags |= PE;
        if (m == 0) return Zero(p, u.Sign);
        var exact = new FpEnv { Rc = RN };
        return NormRoundPack(p, u.Sign, 62, m, ref exact);
    }

    /// <summary>binary32 → binary64 (exact; SNaN → QNaN with IE; DE on denormal input).</summary>
    public static ulong F32ToF64(uint a, ref FpEnv e)
    {
        var u = Unpack(F32, a, ref e);
        bool sign = (a >> 31) != 0;
        switch (u.Cls)
        {
            case Cls.QNaN:
            case Cls.SNaN:
                if (u.Cls == Cls.SNaN) e.Flags |= IE;
                return (sign ? F64.Sign : 0) | F64.Inf | F64.Quiet | ((ulong)(a & 0x7FFFFF) << 29);
            case Cls.Inf: return (sign ? F64.Sign : 0) | F64.Inf;
            case Cls.Zero: return sign ? F64.Sign : 0;
            default: return RoundPack(F64, sign, u.Exp, u.Sig, ref e);
        }
    }

    /// <summary>binary64 → binary32 rounded per RC.</summary>
    public static uint F64ToF32(ulong a, ref FpEnv e)
    {
        var u = Unpack(F64, a, ref e);
        bool sign = (a >> 63) != 0;
        switch (u.Cls)
        {
            case Cls.QNaN:
            case Cls.SNaN:
                if (u.Cls == Cls.SNaN) e.Flags |= IE;
                return (sign ? 0x80000000u : 0) | 0x7FC00000u | (uint)((a & F64.FracMask) >> 29);
            case Cls.Inf: return (sign ? 0x80000000u : 0) | 0x7F800000u;
            case Cls.Zero: return sign ? 0x80000000u : 0;
            default: return (uint)RoundPack(F32, sign, u.Exp, u.Sig, ref e);
        }
    }
}
