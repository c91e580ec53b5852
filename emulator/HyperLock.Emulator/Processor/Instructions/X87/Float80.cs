using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace HyperLock.Emulator.Processor;

/// <summary>
/// One x87 register as stored: a 64-bit significand with an explicit integer bit (J, bit 63)
/// and a 16-bit sign/exponent word (sign bit 15, biased exponent 14:0, bias 16383). Kept
/// bit-exact: loads and stores of m80 and register moves never alter it, so denormals,
/// pseudo-denormals, unnormals, pseudo-NaNs and pseudo-infinities survive a round trip.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 2)]
public struct Float80 : IEquatable<Float80>
{
    public ulong Mantissa;
    public ushort SignExp;

    public Float80(ushort signExp, ulong mantissa) { SignExp = signExp; Mantissa = mantissa; }

    public const int Bias = 16383;
    public const ulong JBit = 1UL << 63;
    public const ulong QuietBit = 1UL << 62;

    public readonly bool Sign => (SignExp & 0x8000) != 0;
    public readonly int Exponent => SignExp & 0x7FFF;

    public readonly bool IsZero => Exponent == 0 && Mantissa == 0;
    public readonly bool IsNaN => Exponent == 0x7FFF && (Mantissa & JBit) != 0 && (Mantissa << 1) != 0;
    public readonly bool IsSignalingNaN => IsNaN && (Mantissa & QuietBit) == 0;
    public readonly bool IsInfinity => Exponent == 0x7FFF && Mantissa == JBit;

    /// <summary>Unnormals, pseudo-NaNs and pseudo-infinities: invalid operands since the 80387.</summary>
    public readonly bool IsUnsupported => Exponent != 0 && (Mantissa & JBit) == 0;

    /// <summary>Denormals and pseudo-denormals (exponent 0, nonzero significand).</summary>
    public readonly bool IsDenormal => Exponent == 0 && Mantissa != 0;

    public static readonly Float80 Zero = new(0, 0);
    public static readonly Float80 One = new(0x3FFF, JBit);

    /// <summary>The QNaN floating-point indefinite (the masked response to an invalid operation).</summary>
    public static readonly Float80 Indefinite = new(0xFFFF, 0xC000000000000000);

    public readonly Float80 Negate() => new((ushort)(SignExp ^ 0x8000), Mantissa);
    public readonly Float80 Abs() => new((ushort)(SignExp & 0x7FFF), Mantissa);

    public readonly bool Equals(Float80 other) => Mantissa == other.Mantissa && SignExp == other.SignExp;
    public override readonly bool Equals(object? obj) => obj is Float80 f && Equals(f);
    public override readonly int GetHashCode() => HashCode.Combine(Mantissa, SignExp);
    public static bool operator ==(Float80 a, Float80 b) => a.Equals(b);
    public static bool operator !=(Float80 a, Float80 b) => !a.Equals(b);
    public override readonly string ToString() => $"{SignExp:X4}:{Mantissa:X16}";
}

/// <summary>
/// Rounding and exception context of one x87 operation: rounding control, precision control and
/// exception masks from the control word in; exception flags (FSW bit positions) and the
/// "rounded up" indication (C1) out.
/// </summary>
public struct FpContext
{
    /// <summary>0 nearest-even, 1 down (toward -inf), 2 up (toward +inf), 3 toward zero.</summary>
    public int Rc;
    /// <summary>Significand bits results are rounded to: 24, 53 or 64.</summary>
    public int Precision;
    /// <summary>Exception masks (control word bits 5:0; 1 = masked).</summary>
    public int Masks;
    /// <summary>Raised exceptions (<see cref="Fp"/>.IE … PE, SF) and <see cref="Fp.C1"/>.</summary>
    public int Flags;

    public static FpContext FromControl(ushort cw) => new()
    {
        Rc = (cw >> 10) & 3,
        Precision = ((cw >> 8) & 3) switch { 0 => 24, 2 => 53, _ => 64 },
        Masks = cw & 0x3F,
    };
}

/// <summary>
/// Software extended-precision arithmetic for the x87: IEEE 754 operations on 64-bit
/// significands with the x87's precision control (24/53/64 bits with the full 15-bit exponent
/// range), all four rounding modes, tininess detected after rounding, masked and unmasked
/// responses (unmasked overflow/underflow to a register re-bias the exponent by 24576), and
/// the x87's NaN rules (SDM Table 4-7). Results are exact to hardware for add, subtract,
/// multiply, divide, square root, remainder, round-to-integer, scale, compare and the
/// integer/BCD/single/double conversions.
/// </summary>
public static class Fp
{
    public const int IE = 1, DE = 2, ZE = 4, OE = 8, UE = 0x10, PE = 0x20, SF = 0x40, C1 = 0x200;

    /// <summary>Exponent re-bias applied to results of unmasked overflow/underflow (3 * 2^13).</summary>
    public const int WrapBias = 0x6000;

    private const int ExtEmin = 1, ExtEmax = 0x7FFE;
    private const int DblOffset = Float80.Bias - 1023, SglOffset = Float80.Bias - 127;

    // ---- classification -------------------------------------------------------------------

    /// <summary>Operand classes after unpacking.</summary>
    public enum Class : byte { Zero, Finite, Infinity, QNaN, SNaN, Unsupported }

    /// <summary>A finite nonzero operand: value = Sig * 2^(Exp - 16383 - 63), Sig normalized (bit 63 set).</summary>
    [StructLayout(LayoutKind.Auto)]
    public struct Unpacked
    {
        public Class Kind;
        public bool Sign;
        public bool Denormal;
        public int Exp;
        public ulong Sig;
    }

    public static Unpacked Unpack(Float80 a)
    {
        Unpacked u = default;
        u.Sign = a.Sign;
        int e = a.Exponent;
        ulong m = a.Mantissa;
        if (e == 0x7FFF)
        {
            if ((m & Float80.JBit) == 0) u.Kind = Class.Unsupported;
            else if ((m << 1) == 0) u.Kind = Class.Infinity;
            else u.Kind = (m & Float80.QuietBit) != 0 ? Class.QNaN : Class.SNaN;
            return u;
        }
        if (e == 0)
        {
            if (m == 0) { u.Kind = Class.Zero; return u; }
            // Denormal or pseudo-denormal: both have the weight of exponent 1.
            int lz = BitOperations.LeadingZeroCount(m);
            u.Kind = Class.Finite;
            u.Denormal = true;
            u.Sig = m << lz;
            u.Exp = 1 - lz;
            return u;
        }
        if ((m & Float80.JBit) == 0) { u.Kind = Class.Unsupported; return u; }
        u.Kind = Class.Finite;
        u.Exp = e;
        u.Sig = m;
        return u;
    }

    public static bool IsNaNClass(Class k) => k is Class.QNaN or Class.SNaN;

    // ---- rounding ---------------------------------------------------------------------------

    /// <summary>
    /// Rounds a normalized 128-bit significand (bit 127 set; value = v * 2^(exp - bias - 127)) to
    /// <paramref name="p"/> bits within the exponent range [emin, emax] (biased as extended).
    /// Returns the 64-bit significand (J clear = denormal or zero) and sets <paramref name="exp"/>;
    /// <paramref name="rebias"/> applies the unmasked overflow/underflow response of register
    /// destinations. On masked overflow the result is infinity (exp = emax + 1) or the largest
    /// finite value of the precision.
    /// </summary>
    public static ulong Round(bool sign, ref int exp, UInt128 v, int p, int emin, int emax, bool rebias, ref FpContext ctx)
    {
        int drop = 128 - p;
        UInt128 lsb = UInt128.One << drop;
        UInt128 mask = lsb - 1;
        UInt128 half = lsb >> 1;
        bool tiny = false;
        if (exp < emin)
        {
            tiny = true;
            if (exp == emin - 1 && (v | mask) == UInt128.MaxValue && Increments(sign, v & mask, half, (v & lsb) != 0, ctx.Rc))
                tiny = false; // rounding with an unbounded exponent carries up to the smallest normal
            if (tiny && rebias && (ctx.Masks & UE) == 0)
            {
                ctx.Flags |= UE;
                exp += WrapBias;
                tiny = false;
            }
            else
            {
                v = ShiftRightJam(v, emin - exp);
                exp = emin;
                if (tiny && (ctx.Masks & UE) == 0) ctx.Flags |= UE; // unmasked, memory destination: flagged even if exact
            }
        }
        UInt128 rb = v & mask;
        bool inc = Increments(sign, rb, half, (v & lsb) != 0, ctx.Rc);
        v &= ~mask;
        if (rb != UInt128.Zero)
        {
            ctx.Flags |= PE;
            if (tiny) ctx.Flags |= UE;
        }
        if (inc)
        {
            v += lsb;
            if (v == UInt128.Zero) { v = UInt128.One << 127; exp++; }
            ctx.Flags |= C1;
        }
        if (exp > emax)
        {
            ctx.Flags |= OE;
            if (rebias && (ctx.Masks & OE) == 0 && exp - WrapBias <= emax)
            {
                exp -= WrapBias;
            }
            else
            {
                ctx.Flags |= PE;
                bool toInfinity = ctx.Rc == 0 || (ctx.Rc == 1 && sign) || (ctx.Rc == 2 && !sign);
                if (toInfinity)
                {
                    exp = emax + 1;
                    ctx.Flags |= C1;
                    return Float80.JBit;
                }
                exp = emax;
                ctx.Flags &= ~C1;
                return (ulong)(~mask >> 64);
            }
        }
        return (ulong)(v >> 64);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Increments(bool sign, UInt128 roundBits, UInt128 half, bool lsbSet, int rc) => rc switch
    {
        0 => roundBits > half || (roundBits == half && lsbSet),
        1 => sign && roundBits != UInt128.Zero,
        2 => !sign && roundBits != UInt128.Zero,
        _ => false,
    };

    public static UInt128 ShiftRightJam(UInt128 v, int n)
    {
        if (n <= 0) return v;
        if (n >= 128) return v != UInt128.Zero ? UInt128.One : UInt128.Zero;
        UInt128 r = v >> n;
        if ((v << (128 - n)) != UInt128.Zero) r |= UInt128.One;
        return r;
    }

    /// <summary>Rounds to an x87 register per the context's precision control and packs.</summary>
    public static Float80 RoundPack(bool sign, int exp, UInt128 v, ref FpContext ctx)
    {
        if (v == UInt128.Zero) return new Float80(sign ? (ushort)0x8000 : (ushort)0, 0);
        int lz = (int)UInt128.LeadingZeroCount(v);
        v <<= lz;
        exp -= lz;
        ulong sig = Round(sign, ref exp, v, ctx.Precision, ExtEmin, ExtEmax, rebias: true, ref ctx);
        return Pack(sign, exp, sig);
    }

    private static Float80 Pack(bool sign, int exp, ulong sig)
    {
        ushort s = sign ? (ushort)0x8000 : (ushort)0;
        if (sig == 0) return new Float80(s, 0);
        if ((sig & Float80.JBit) == 0) exp = 0;
        return new Float80((ushort)(s | (exp & 0x7FFF)), sig);
    }

    private static Float80 SignedZero(bool sign) => new(sign ? (ushort)0x8000 : (ushort)0, 0);
    private static Float80 SignedInfinity(bool sign) => new(sign ? (ushort)0xFFFF : (ushort)0x7FFF, Float80.JBit);

    // ---- NaNs -------------------------------------------------------------------------------

    private static Float80 Quiet(Float80 a) => new(a.SignExp, a.Mantissa | Float80.QuietBit);

    /// <summary>x87 NaN propagation (SDM Table 4-7): an SNaN raises #IA; a QNaN beats an SNaN; of two
    /// NaNs of the same kind the one with the larger significand wins (positive on a tie).</summary>
    public static Float80 PropagateNaN(Float80 a, Float80 b, ref FpContext ctx)
    {
        bool aNaN = a.IsNaN, bNaN = b.IsNaN;
        bool aS = a.IsSignalingNaN, bS = b.IsSignalingNaN;
        if (aS || bS) ctx.Flags |= IE;
        if (aNaN && bNaN)
        {
            if (aS != bS) return Quiet(aS ? b : a);
            ulong ma = a.Mantissa, mb = b.Mantissa;
            if (ma != mb) return Quiet(ma > mb ? a : b);
            return Quiet(a.Sign && !b.Sign ? b : a);
        }
        return Quiet(aNaN ? a : b);
    }

    private static Float80 InvalidResult(ref FpContext ctx)
    {
        ctx.Flags |= IE;
        return Float80.Indefinite;
    }

    // ---- arithmetic ------------------------------------------------------------------------

    /// <summary>a + b, or a - b when <paramref name="subtract"/>.</summary>
    public static Float80 Add(Float80 a, Float80 b, bool subtract, ref FpContext ctx)
    {
        var ua = Unpack(a);
        var ub = Unpack(b);
        if (ua.Kind == Class.Unsupported || ub.Kind == Class.Unsupported) return InvalidResult(ref ctx);
        if (IsNaNClass(ua.Kind) || IsNaNClass(ub.Kind)) return PropagateNaN(a, b, ref ctx);
        bool sb = ub.Sign ^ subtract;
        if (ua.Kind == Class.Infinity && ub.Kind == Class.Infinity && ua.Sign != sb) return InvalidResult(ref ctx);
        if (ua.Denormal || ub.Denormal) ctx.Flags |= DE;
        if (ua.Kind == Class.Infinity) return SignedInfinity(ua.Sign);
        if (ub.Kind == Class.Infinity) return SignedInfinity(sb);
        if (ua.Kind == Class.Zero && ub.Kind == Class.Zero)
            return SignedZero(ua.Sign == sb ? ua.Sign : ctx.Rc == 1);
        if (ub.Kind == Class.Zero) return RoundPack(ua.Sign, ua.Exp, (UInt128)ua.Sig << 64, ref ctx);
        if (ua.Kind == Class.Zero) return RoundPack(sb, ub.Exp, (UInt128)ub.Sig << 64, ref ctx);
        return AddFinite(ua.Sign, ua.Exp, ua.Sig, sb, ub.Exp, ub.Sig, ref ctx);
    }

    private static Float80 AddFinite(bool sa, int ea, ulong ma, bool sb, int eb, ulong mb, ref FpContext ctx)
    {
        // Order by magnitude so that the larger is "x".
        if (eb > ea || (eb == ea && mb > ma))
        {
            (sa, sb) = (sb, sa);
            (ea, eb) = (eb, ea);
            (ma, mb) = (mb, ma);
        }
        // Both as 128-bit values with one headroom bit: value = v * 2^(e - bias - 126).
        UInt128 x = (UInt128)ma << 63;
        UInt128 y = ShiftRightJam((UInt128)mb << 63, ea - eb);
        UInt128 r;
        if (sa == sb) r = x + y;
        else
        {
            r = x - y;
            if (r == UInt128.Zero) return SignedZero(ctx.Rc == 1);
        }
        return RoundPack(sa, ea + 1, r, ref ctx);
    }

    public static Float80 Mul(Float80 a, Float80 b, ref FpContext ctx)
    {
        var ua = Unpack(a);
        var ub = Unpack(b);
        if (ua.Kind == Class.Unsupported || ub.Kind == Class.Unsupported) return InvalidResult(ref ctx);
        if (IsNaNClass(ua.Kind) || IsNaNClass(ub.Kind)) return PropagateNaN(a, b, ref ctx);
        bool s = ua.Sign ^ ub.Sign;
        if ((ua.Kind == Class.Infinity && ub.Kind == Class.Zero) || (ua.Kind == Class.Zero && ub.Kind == Class.Infinity))
            return InvalidResult(ref ctx);
        if (ua.Denormal || ub.Denormal) ctx.Flags |= DE;
        if (ua.Kind == Class.Infinity || ub.Kind == Class.Infinity) return SignedInfinity(s);
        if (ua.Kind == Class.Zero || ub.Kind == Class.Zero) return SignedZero(s);
        UInt128 prod = (UInt128)ua.Sig * ub.Sig; // value = prod * 2^(ea + eb - 2 bias - 126)
        return RoundPack(s, ua.Exp + ub.Exp - Float80.Bias + 1, prod, ref ctx);
    }

    public static Float80 Div(Float80 a, Float80 b, ref FpContext ctx)
    {
        var ua = Unpack(a);
        var ub = Unpack(b);
        if (ua.Kind == Class.Unsupported || ub.Kind == Class.Unsupported) return InvalidResult(ref ctx);
        if (IsNaNClass(ua.Kind) || IsNaNClass(ub.Kind)) return PropagateNaN(a, b, ref ctx);
        bool s = ua.Sign ^ ub.Sign;
        if ((ua.Kind == Class.Infinity && ub.Kind == Class.Infinity) || (ua.Kind == Class.Zero && ub.Kind == Class.Zero))
            return InvalidResult(ref ctx);
        if (ub.Kind == Class.Zero && ua.Kind != Class.Infinity)
        {
            // Zero divisor: #Z (a denormal dividend does not also raise #D, as on hardware).
            ctx.Flags |= ZE;
            return SignedInfinity(s);
        }
        if (ua.Denormal || ub.Denormal) ctx.Flags |= DE;
        if (ua.Kind == Class.Infinity) return SignedInfinity(s);
        if (ub.Kind == Class.Infinity) return SignedZero(s);
        if (ua.Kind == Class.Zero) return SignedZero(s);
        // Two-step long division: 128 quotient bits plus a sticky remainder.
        UInt128 num = (UInt128)ua.Sig << 64;
        UInt128 q1 = num / ub.Sig;
        UInt128 r1 = num - q1 * ub.Sig;
        UInt128 num2 = r1 << 64;
        UInt128 q2 = num2 / ub.Sig;
        bool sticky = num2 - q2 * ub.Sig != UInt128.Zero;
        // q1 < 2^65; Sig_a / Sig_b = (q1 + q2 * 2^-64) * 2^-64. v gets the quotient with its
        // leading bit at 127, and value = v * 2^(exp - bias - 127).
        int exp = ua.Exp - ub.Exp + Float80.Bias;
        UInt128 v;
        if (q1 >> 64 != UInt128.Zero)
        {
            v = (q1 << 63) | (q2 >> 1);
            sticky |= (q2 & 1) != 0;
        }
        else
        {
            v = (q1 << 64) | q2;
            exp -= 1;
        }
        if (sticky) v |= 1;
        return RoundPack(s, exp, v, ref ctx);
    }

    public static Float80 Sqrt(Float80 a, ref FpContext ctx)
    {
        var ua = Unpack(a);
        if (ua.Kind == Class.Unsupported) return InvalidResult(ref ctx);
        if (IsNaNClass(ua.Kind)) return PropagateNaN(a, a, ref ctx);
        if (ua.Kind == Class.Zero) return a;
        if (ua.Sign) return InvalidResult(ref ctx);
        if (ua.Denormal) ctx.Flags |= DE;
        if (ua.Kind == Class.Infinity) return a;
        // a = Sig * 2^(e - 63). With n = Sig * 2^k (k = 64 for odd e, 63 for even e), n is in
        // [2^126, 2^128) and e - 63 - k is even: sqrt(a) = sqrt(n) * 2^h, h = (e - 63 - k) / 2.
        int e = ua.Exp - Float80.Bias;
        int k = (e & 1) != 0 ? 64 : 63;
        UInt128 n = (UInt128)ua.Sig << k;
        ulong root = ISqrt(n, out UInt128 rem);
        // Below the 64 root bits: exactly zero, or a sticky bit with the half bit set when the
        // true root exceeds root + 1/2 (rem > root; a tie is impossible).
        UInt128 v = (UInt128)root << 64;
        if (rem != UInt128.Zero) v |= rem > root ? (UInt128.One << 63) | 1 : UInt128.One;
        int h = (e - 63 - k) / 2;
        // root * 2^h = v * 2^(h - 64) = v * 2^(exp - bias - 127) with exp = h + 63 + bias.
        return RoundPack(false, h + 63 + Float80.Bias, v, ref ctx);
    }

    /// <summary>Integer square root of a 128-bit value in [2^126, 2^128): floor root and remainder.</summary>
    private static ulong ISqrt(UInt128 n, out UInt128 rem)
    {
        ulong r = (ulong)Math.Sqrt((double)n);
        if (r == 0) r = 1;
        // One Newton step from the double estimate, then exact correction.
        UInt128 q = n / r;
        UInt128 nr = ((UInt128)r + q) >> 1;
        r = nr > ulong.MaxValue ? ulong.MaxValue : (ulong)nr;
        while ((UInt128)r * r > n) r--;
        while (r != ulong.MaxValue && (UInt128)(r + 1) * (r + 1) <= n) r++;
        rem = n - (UInt128)r * r;
        return r;
    }

    // ---- comparison -------------------------------------------------------------------------

    /// <summary>Comparison results in x87 condition-code order.</summary>
    public const int Greater = 0, Less = 1, Equal = 2, Unordered = 3;

    /// <summary>Compares; <paramref name="quiet"/> (FUCOM*) raises #IA only for SNaNs.</summary>
    public static int Compare(Float80 a, Float80 b, bool quiet, ref FpContext ctx)
    {
        var ua = Unpack(a);
        var ub = Unpack(b);
        if (ua.Kind == Class.Unsupported || ub.Kind == Class.Unsupported) { ctx.Flags |= IE; return Unordered; }
        if (IsNaNClass(ua.Kind) || IsNaNClass(ub.Kind))
        {
            if (!quiet || ua.Kind == Class.SNaN || ub.Kind == Class.SNaN) ctx.Flags |= IE;
            return Unordered;
        }
        if (ua.Denormal || ub.Denormal) ctx.Flags |= DE;
        return CompareOrdered(ua, ub);
    }

    private static int CompareOrdered(in Unpacked a, in Unpacked b)
    {
        if (a.Kind == Class.Zero && b.Kind == Class.Zero) return Equal;
        int sa = Signum(a), sb = Signum(b);
        if (sa != sb) return sa < sb ? Less : Greater;
        // Same sign, at least one nonzero.
        int mag = CompareMagnitude(a, b);
        if (mag == 0) return Equal;
        bool aLess = sa > 0 ? mag < 0 : mag > 0;
        return aLess ? Less : Greater;
    }

    private static int Signum(in Unpacked u) => u.Kind == Class.Zero ? 0 : u.Sign ? -1 : 1;

    private static int CompareMagnitude(in Unpacked a, in Unpacked b)
    {
        int ra = Rank(a), rb = Rank(b);
        if (ra != rb) return ra < rb ? -1 : 1;
        if (ra != 1) return 0;
        if (a.Exp != b.Exp) return a.Exp < b.Exp ? -1 : 1;
        return a.Sig.CompareTo(b.Sig);
    }

    private static int Rank(in Unpacked u) => u.Kind switch { Class.Zero => 0, Class.Finite => 1, _ => 2 };

    // ---- conversions ------------------------------------------------------------------------

    /// <summary>Exact conversion of a signed integer (FILD).</summary>
    public static Float80 FromInt64(long v)
    {
        if (v == 0) return Float80.Zero;
        bool s = v < 0;
        ulong m = s ? (ulong)(-(v + 1)) + 1 : (ulong)v;
        int lz = BitOperations.LeadingZeroCount(m);
        return new Float80((ushort)((s ? 0x8000 : 0) | (Float80.Bias + 63 - lz)), m << lz);
    }

    /// <summary>
    /// Exact widening of a double (FLD m64, arithmetic m64 operands): denormal → #D; SNaN → #IA
    /// and quieted, or with <paramref name="keepSignaling"/> kept signaling for the arithmetic's
    /// own NaN rules (which compare the unquieted significands).
    /// </summary>
    public static Float80 FromDouble(ulong bits, ref FpContext ctx, bool keepSignaling = false)
    {
        bool s = (bits >> 63) != 0;
        int e = (int)((bits >> 52) & 0x7FF);
        ulong f = bits & 0xFFFFFFFFFFFFFUL;
        ushort sw = s ? (ushort)0x8000 : (ushort)0;
        if (e == 0x7FF)
        {
            if (f == 0) return SignedInfinity(s);
            if ((f & (1UL << 51)) == 0)
            {
                if (keepSignaling) return new Float80((ushort)(sw | 0x7FFF), Float80.JBit | (f << 11));
                ctx.Flags |= IE;
            }
            return new Float80((ushort)(sw | 0x7FFF), Float80.JBit | Float80.QuietBit | (f << 11));
        }
        if (e == 0)
        {
            if (f == 0) return SignedZero(s);
            ctx.Flags |= DE;
            int lz = BitOperations.LeadingZeroCount(f << 11);
            return new Float80((ushort)(sw | (DblOffset + 1 - lz)), (f << 11) << lz);
        }
        return new Float80((ushort)(sw | (e + DblOffset)), Float80.JBit | (f << 11));
    }

    /// <summary>Exact widening of a single (FLD m32, arithmetic m32 operands).</summary>
    public static Float80 FromSingle(uint bits, ref FpContext ctx, bool keepSignaling = false)
    {
        bool s = (bits >> 31) != 0;
        int e = (int)((bits >> 23) & 0xFF);
        ulong f = bits & 0x7FFFFFu;
        ushort sw = s ? (ushort)0x8000 : (ushort)0;
        if (e == 0xFF)
        {
            if (f == 0) return SignedInfinity(s);
            if ((f & (1UL << 22)) == 0)
            {
                if (keepSignaling) return new Float80((ushort)(sw | 0x7FFF), Float80.JBit | (f << 40));
                ctx.Flags |= IE;
            }
            return new Float80((ushort)(sw | 0x7FFF), Float80.JBit | Float80.QuietBit | (f << 40));
        }
        if (e == 0)
        {
            if (f == 0) return SignedZero(s);
            ctx.Flags |= DE;
            int lz = BitOperations.LeadingZeroCount(f << 40);
            return new Float80((ushort)(sw | (SglOffset + 1 - lz)), (f << 40) << lz);
        }
        return new Float80((ushort)(sw | (e + SglOffset)), Float80.JBit | (f << 40));
    }

    /// <summary>Rounds to double (FST m64) with the context's rounding control; precision control does not apply.</summary>
    public static ulong ToDouble(Float80 a, ref FpContext ctx)
    {
        var u = Unpack(a);
        ulong s = u.Sign ? 1UL << 63 : 0;
        switch (u.Kind)
        {
            case Class.Zero: return s;
            case Class.Infinity: return s | 0x7FF0000000000000UL;
            case Class.Unsupported: ctx.Flags |= IE; return 0xFFF8000000000000UL;
            case Class.SNaN:
            case Class.QNaN:
                if (u.Kind == Class.SNaN) ctx.Flags |= IE;
                return s | 0x7FF8000000000000UL | ((a.Mantissa >> 11) & 0xFFFFFFFFFFFFFUL);
        }
        int exp = u.Exp;
        ulong sig = Round(u.Sign, ref exp, (UInt128)u.Sig << 64, 53, DblOffset + 1, DblOffset + 2046, rebias: false, ref ctx);
        if (exp > DblOffset + 2046) return s | 0x7FF0000000000000UL;
        if (sig == 0) return s;
        ulong frac = (sig >> 11) & 0xFFFFFFFFFFFFFUL;
        ulong be = (sig & Float80.JBit) != 0 ? (ulong)(exp - DblOffset) : 0;
        return s | (be << 52) | frac;
    }

    /// <summary>Rounds to single (FST m32).</summary>
    public static uint ToSingle(Float80 a, ref FpContext ctx)
    {
        var u = Unpack(a);
        uint s = u.Sign ? 1u << 31 : 0;
        switch (u.Kind)
        {
            case Class.Zero: return s;
            case Class.Infinity: return s | 0x7F800000u;
            case Class.Unsupported: ctx.Flags |= IE; return 0xFFC00000u;
            case Class.SNaN:
            case Class.QNaN:
                if (u.Kind == Class.SNaN) ctx.Flags |= IE;
                return s | 0x7FC00000u | (uint)((a.Mantissa >> 40) & 0x7FFFFF);
        }
        int exp = u.Exp;
        ulong sig = Round(u.Sign, ref exp, (UInt128)u.Sig << 64, 24, SglOffset + 1, SglOffset + 254, rebias: false, ref ctx);
        if (exp > SglOffset + 254) return s | 0x7F800000u;
        if (sig == 0) return s;
        uint frac = (uint)((sig >> 40) & 0x7FFFFF);
        uint be = (sig & Float80.JBit) != 0 ? (uint)(exp - SglOffset) : 0;
        return s | (be << 23) | frac;
    }

    /// <summary>
    /// Rounds to an integer value (same format) with rounding mode <paramref name="rc"/> — FRNDINT
    /// and the first step of integer stores. Sets PE (and C1 when the magnitude grew) if inexact.
    /// </summary>
    public static Float80 RoundToIntegral(Float80 a, int rc, ref FpContext ctx)
    {
        var u = Unpack(a);
        if (u.Kind == Class.Unsupported) return InvalidResult(ref ctx);
        if (IsNaNClass(u.Kind)) return PropagateNaN(a, a, ref ctx);
        if (u.Denormal) ctx.Flags |= DE;
        if (u.Kind is Class.Zero or Class.Infinity) return a;
        int e = u.Exp - Float80.Bias; // value = Sig * 2^(e - 63)
        if (e >= 63) return Pack(u.Sign, u.Exp, u.Sig);
        var c = ctx;
        c.Rc = rc;
        c.Flags = 0;
        UInt128 v = (UInt128)u.Sig << 64;
        if (e < 0)
        {
            // |a| < 1: 0 or 1 depending on rounding.
            bool up = rc switch
            {
                0 => e == -1 && u.Sig > Float80.JBit,
                1 => u.Sign,
                2 => !u.Sign,
                _ => false,
            };
            ctx.Flags |= PE;
            if (up) { ctx.Flags |= C1; return new Float80((ushort)((u.Sign ? 0x8000 : 0) | Float80.Bias), Float80.JBit); }
            return SignedZero(u.Sign);
        }
        int exp = u.Exp;
        ulong sig = Round(u.Sign, ref exp, v, e + 1, int.MinValue / 2, int.MaxValue / 2, rebias: false, ref c);
        ctx.Flags |= c.Flags & (PE | C1);
        return Pack(u.Sign, exp, sig);
    }

    /// <summary>
    /// Converts to a signed integer of <paramref name="bits"/> (16, 32, 64) with rounding mode
    /// <paramref name="rc"/> (3 for FISTTP). Out of range, NaN, infinity and unsupported raise
    /// #IA and give the integer indefinite (the most negative value).
    /// </summary>
    public static long ToInt(Float80 a, int bits, int rc, ref FpContext ctx)
    {
        long indefinite = bits == 64 ? long.MinValue : -(1L << (bits - 1));
        var u = Unpack(a);
        if (u.Kind is Class.Unsupported or Class.Infinity or Class.QNaN or Class.SNaN)
        {
            ctx.Flags |= IE;
            return indefinite;
        }
        if (u.Kind == Class.Zero) return 0;
        var c = ctx;
        c.Flags = 0;
        Float80 r = RoundToIntegral(a, rc, ref c);
        var ur = Unpack(r);
        if (ur.Kind == Class.Zero)
        {
            ctx.Flags |= c.Flags & (PE | C1);
            return 0;
        }
        int e = ur.Exp - Float80.Bias;
        if (e > 63)
        {
            ctx.Flags |= IE;
            return indefinite;
        }
        ulong mag = ur.Sig >> (63 - e);
        ulong limit = ur.Sign ? 1UL << (bits - 1) : (1UL << (bits - 1)) - 1;
        if (mag > limit)
        {
            ctx.Flags |= IE;
            return indefinite;
        }
        ctx.Flags |= c.Flags & (PE | C1);
        return ur.Sign ? (long)(0 - mag) : (long)mag;
    }

    // ---- remainder, scale, extract -------------------------------------------------------------

    /// <summary>
    /// FPREM (truncating quotient) / FPREM1 (IEEE, nearest quotient): partial remainder of a by b.
    /// <paramref name="quotientBits"/> gets the low three quotient bits; <paramref name="incomplete"/>
    /// (C2) is set when the exponent difference d is 64 or more and only a partial reduction by N
    /// bits was done (N from <see cref="PartialReductionBits"/>).
    /// </summary>
    public static Float80 Remainder(Float80 a, Float80 b, bool ieee, ref FpContext ctx, out int quotientBits, out bool incomplete)
    {
        quotientBits = 0;
        incomplete = false;
        var ua = Unpack(a);
        var ub = Unpack(b);
        if (ua.Kind == Class.Unsupported || ub.Kind == Class.Unsupported) return InvalidResult(ref ctx);
        if (IsNaNClass(ua.Kind) || IsNaNClass(ub.Kind)) return PropagateNaN(a, b, ref ctx);
        if (ua.Kind == Class.Infinity || ub.Kind == Class.Zero) return InvalidResult(ref ctx);
        if (ua.Denormal || ub.Denormal) ctx.Flags |= DE;
        if (ua.Kind == Class.Zero || ub.Kind == Class.Infinity)
            return ua.Denormal ? RoundPackExact(ua.Sign, ua.Exp, (UInt128)ua.Sig << 64, ref ctx) : a; // pseudo-denormals normalize
        int d = ua.Exp - ub.Exp;
        if (d < 0)
        {
            if (ieee && d == -1 && ua.Sig > ub.Sig)
            {
                // |a| > |b|/2: the nearest quotient is 1.
                quotientBits = 1;
                UInt128 bv = (UInt128)ub.Sig << 64;
                UInt128 av = (UInt128)ua.Sig << 63;
                return RoundPackExact(!ua.Sign, ub.Exp, bv - av, ref ctx);
            }
            return ua.Denormal ? RoundPackExact(ua.Sign, ua.Exp, (UInt128)ua.Sig << 64, ref ctx) : a;
        }
        int reduce = d;
        if (d >= 64)
        {
            incomplete = true;
            reduce = PartialReductionBits(d);
        }
        // Remainder of ma * 2^reduce by mb, at most 62 quotient bits per step; only the low
        // quotient bits are kept.
        UInt128 r = ua.Sig;
        ulong q = (ulong)(r / ub.Sig);
        r -= q * (UInt128)ub.Sig;
        int left = reduce;
        while (left > 0)
        {
            int step = Math.Min(left, 62);
            r <<= step;
            ulong qq = (ulong)(r / ub.Sig);
            r -= (UInt128)qq * ub.Sig;
            q = (q << step) | qq;
            left -= step;
        }
        // r < mb; quotient low bits = q (the last chunk's quotient holds the low bits).
        ulong qLow = q;
        bool sign = ua.Sign;
        if (ieee && !incomplete)
        {
            UInt128 twice = r << 1;
            if (twice > ub.Sig || (twice == ub.Sig && (qLow & 1) != 0))
            {
                r = ub.Sig - r;
                qLow++;
                sign = !sign;
            }
        }
        quotientBits = (int)(qLow & 7);
        int rexp = incomplete ? ub.Exp + (d - reduce) : ub.Exp;
        if (r == UInt128.Zero) return SignedZero(ua.Sign);
        return RoundPackExact(sign, rexp, r << 64, ref ctx);
    }

    /// <summary>
    /// Exponent bits removed by one partial FPREM step when the exponent difference d is 64 or
    /// more (SDM: "N, an implementation-dependent number between 32 and 63"; the result keeps
    /// an exponent difference of d - N). This model uses 32 + (d mod 32), which matches the
    /// host processor the differential tests run on.
    /// </summary>
    public static int PartialReductionBits(int d) => 32 + (d & 31);

    /// <summary>Packs an exact (already representable) result; only denormalization can round.</summary>
    private static Float80 RoundPackExact(bool sign, int exp, UInt128 v, ref FpContext ctx)
    {
        var c = ctx;
        c.Precision = 64;
        var r = RoundPack(sign, exp, v, ref c);
        ctx.Flags |= c.Flags & ~C1;
        return r;
    }

    /// <summary>FSCALE: a * 2^trunc(b).</summary>
    public static Float80 Scale(Float80 a, Float80 b, ref FpContext ctx)
    {
        var ua = Unpack(a);
        var ub = Unpack(b);
        if (ua.Kind == Class.Unsupported || ub.Kind == Class.Unsupported) return InvalidResult(ref ctx);
        if (IsNaNClass(ua.Kind) || IsNaNClass(ub.Kind)) return PropagateNaN(a, b, ref ctx);
        if (ub.Kind == Class.Infinity)
        {
            if (ua.Kind == Class.Zero && !ub.Sign) return InvalidResult(ref ctx);
            if (ua.Kind == Class.Infinity && ub.Sign) return InvalidResult(ref ctx);
            if (ua.Denormal) ctx.Flags |= DE;
            if (ua.Kind is Class.Zero or Class.Infinity) return a;
            return ub.Sign ? SignedZero(ua.Sign) : SignedInfinity(ua.Sign);
        }
        if (ua.Denormal || ub.Denormal) ctx.Flags |= DE;
        if (ua.Kind is Class.Zero or Class.Infinity) return a;
        long n = 0;
        if (ub.Kind == Class.Finite)
        {
            int e = ub.Exp - Float80.Bias;
            if (e >= 0) n = e > 20 ? 1 << 20 : (long)(ub.Sig >> (63 - e));
            if (ub.Sign) n = -n;
        }
        // Precision control does not apply to FSCALE: only out-of-range results round.
        var c = ctx;
        c.Precision = 64;
        var r = RoundPack(ua.Sign, (int)(ua.Exp + n), (UInt128)ua.Sig << 64, ref c);
        ctx.Flags = c.Flags;
        return r;
    }

    /// <summary>FXTRACT: exponent (as a value) and significand (exponent 0) of a.</summary>
    public static void Extract(Float80 a, ref FpContext ctx, out Float80 exponent, out Float80 significand)
    {
        var u = Unpack(a);
        switch (u.Kind)
        {
            case Class.Unsupported:
                exponent = significand = InvalidResult(ref ctx);
                return;
            case Class.QNaN:
            case Class.SNaN:
                exponent = significand = PropagateNaN(a, a, ref ctx);
                return;
            case Class.Zero:
                ctx.Flags |= ZE;
                exponent = SignedInfinity(true);
                significand = a;
                return;
            case Class.Infinity:
                exponent = SignedInfinity(false);
                significand = a;
                return;
        }
        if (u.Denormal) ctx.Flags |= DE;
        exponent = FromInt64(u.Exp - Float80.Bias);
        significand = new Float80((ushort)((u.Sign ? 0x8000 : 0) | Float80.Bias), u.Sig);
    }

    // ---- packed BCD ------------------------------------------------------------------------------

    /// <summary>FBLD: 18 BCD digits and a sign byte (bit 7) to an exact value. Invalid digits are
    /// weighted as their binary value (the SDM leaves them undefined).</summary>
    public static Float80 FromBcd(ulong lo, ushort hi)
    {
        ulong v = 0;
        for (int i = 8; i >= 0; i--)
        {
            int b = i == 8 ? hi & 0xFF : (int)((lo >> (8 * i)) & 0xFF);
            v = v * 100 + (ulong)((b >> 4) * 10 + (b & 0xF));
        }
        bool neg = (hi & 0x8000) != 0;
        if (v == 0) return SignedZero(neg);
        var f = FromInt64((long)v);
        return neg ? f.Negate() : f;
    }

    /// <summary>FBSTP: rounds per <paramref name="rc"/> and packs 18 digits; out of range → #IA and the BCD indefinite.</summary>
    public static bool ToBcd(Float80 a, ref FpContext ctx, out ulong lo, out ushort hi)
    {
        var u = Unpack(a);
        lo = 0xC000000000000000UL;
        hi = 0xFFFF;
        if (u.Kind is Class.Unsupported or Class.Infinity or Class.QNaN or Class.SNaN)
        {
            ctx.Flags |= IE;
            return false;
        }
        var c = ctx;
        c.Flags = 0;
        Float80 r = RoundToIntegral(a, ctx.Rc, ref c);
        var ur = Unpack(r);
        ulong mag = 0;
        if (ur.Kind == Class.Finite)
        {
            int e = ur.Exp - Float80.Bias;
            if (e > 59 || (mag = ur.Sig >> (63 - e)) > 999_999_999_999_999_999UL)
            {
                ctx.Flags |= IE;
                return false;
            }
        }
        ctx.Flags |= c.Flags & (PE | C1);
        lo = 0;
        for (int i = 0; i < 8; i++)
        {
            ulong two = mag % 100;
            mag /= 100;
            lo |= ((two / 10) << 4 | (two % 10)) << (8 * i);
        }
        ulong top = mag % 100;
        hi = (ushort)(((top / 10) << 4) | (top % 10) | (a.Sign ? 0x8000u : 0u));
        return true;
    }
}
