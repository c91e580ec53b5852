using System.Runtime.InteropServices;

namespace HyperLock.Emulator.Processor;

/// <summary>
/// The working format of the x87 transcendentals: a binary floating-point value with a 128-bit
/// significand and an unbounded (int) exponent, twice the register's 64 bits, so that a
/// function evaluated with a few ulps of error here rounds to the register within one ulp.
/// value = (-1)^Neg · Sig · 2^(Exp - 127), Sig normalized (bit 127 set) or zero. Operations
/// truncate and fold what they drop into bit 0 (a sticky bit), so exact results stay exact and
/// inexact ones never look exact when rounded to 64 bits.
/// </summary>
[StructLayout(LayoutKind.Auto)]
internal readonly struct WideFloat
{
    public readonly UInt128 Sig;
    public readonly int Exp;
    public readonly bool Neg;

    private const int Top = 127;
    private static readonly UInt128 TopBit = UInt128.One << Top;

    /// <summary>The value sig · 2^(exp - 127), normalized.</summary>
    public WideFloat(bool neg, int exp, UInt128 sig)
    {
        if (sig == UInt128.Zero)
        {
            Neg = neg;
            Exp = 0;
            Sig = UInt128.Zero;
            return;
        }
        int lz = (int)UInt128.LeadingZeroCount(sig);
        Neg = neg;
        Exp = exp - lz;
        Sig = sig << lz;
    }

    public bool IsZero => Sig == UInt128.Zero;

    public static readonly WideFloat Zero = default;
    public static readonly WideFloat One = new(false, 0, TopBit);

    /// <summary>An unsigned integer value.</summary>
    public static WideFloat FromInt(ulong n) => new(false, Top, n);

    /// <summary>A register's finite value (from <see cref="Fp.Unpack"/>): Sig · 2^(Exp - bias - 63).</summary>
    public static WideFloat FromUnpacked(in Fp.Unpacked u) => u.Kind == Fp.Class.Finite
        ? new(u.Sign, u.Exp - Float80.Bias, (UInt128)u.Sig << 64)
        : new(u.Sign, 0, UInt128.Zero);

    public WideFloat Negate() => new(!Neg, Exp, Sig, normalized: true);
    public WideFloat Abs() => new(false, Exp, Sig, normalized: true);
    public WideFloat WithSign(bool neg) => new(neg, Exp, Sig, normalized: true);

    /// <summary>This value times 2^n (exact).</summary>
    public WideFloat Scale(int n) => IsZero ? this : new(Neg, Exp + n, Sig, normalized: true);

    /// <summary>Marks the value inexact (sets the sticky bit) so that rounding reports #P.</summary>
    public WideFloat Inexact() => IsZero ? this : new(Neg, Exp, Sig | UInt128.One, normalized: true);

    /// <summary>A significand that is already normalized (bit 127 set) or zero.</summary>
    private WideFloat(bool neg, int exp, UInt128 sig, bool normalized)
    {
        _ = normalized;
        Neg = neg;
        Exp = exp;
        Sig = sig;
    }

    /// <summary>|a| compared with |b|: -1, 0 or 1.</summary>
    public static int CompareMagnitude(in WideFloat a, in WideFloat b)
    {
        if (a.IsZero || b.IsZero) return a.IsZero ? (b.IsZero ? 0 : -1) : 1;
        if (a.Exp != b.Exp) return a.Exp < b.Exp ? -1 : 1;
        return a.Sig.CompareTo(b.Sig);
    }

    public static WideFloat operator -(in WideFloat a) => a.Negate();

    public static WideFloat operator +(in WideFloat a, in WideFloat b) => Add(a, b);

    public static WideFloat operator -(in WideFloat a, in WideFloat b) => Add(a, b.Negate());

    public static WideFloat operator *(in WideFloat a, in WideFloat b) => Mul(a, b);

    public static WideFloat operator /(in WideFloat a, in WideFloat b) => Div(a, b);

    private static WideFloat Add(in WideFloat a, in WideFloat b)
    {
        if (b.IsZero) return a;
        if (a.IsZero) return b;
        bool swap = CompareMagnitude(a, b) < 0;
        WideFloat x = swap ? b : a, y = swap ? a : b;
        UInt128 ys = Fp.ShiftRightJam(y.Sig, x.Exp - y.Exp);
        if (x.Neg == y.Neg)
        {
            UInt128 s = x.Sig + ys;
            if (s >= x.Sig) return new(x.Neg, x.Exp, s, normalized: true);
            // Carry out of bit 127: shift it back in, keeping the dropped bit sticky.
            return new(x.Neg, x.Exp + 1, (s >> 1) | (s & UInt128.One) | TopBit, normalized: true);
        }
        UInt128 d = x.Sig - ys;
        if (d == UInt128.Zero) return Zero;
        return new(x.Neg, x.Exp, d);
    }

    private static WideFloat Mul(in WideFloat a, in WideFloat b)
    {
        if (a.IsZero || b.IsZero) return new(a.Neg ^ b.Neg, 0, UInt128.Zero);
        ulong ah = (ulong)(a.Sig >> 64), al = (ulong)a.Sig, bh = (ulong)(b.Sig >> 64), bl = (ulong)b.Sig;
        UInt128 p0 = (UInt128)al * bl, p1 = (UInt128)al * bh, p2 = (UInt128)ah * bl, p3 = (UInt128)ah * bh;
        UInt128 mid = (p0 >> 64) + (ulong)p1 + (ulong)p2;
        UInt128 hi = p3 + (p1 >> 64) + (p2 >> 64) + (mid >> 64);
        UInt128 lo = ((UInt128)(ulong)mid << 64) | (ulong)p0;
        bool neg = a.Neg ^ b.Neg;
        if ((hi & TopBit) != UInt128.Zero)
            return new(neg, a.Exp + b.Exp + 1, hi | (lo != UInt128.Zero ? UInt128.One : UInt128.Zero), normalized: true);
        UInt128 sig = (hi << 1) | (lo >> 127);
        if ((lo << 1) != UInt128.Zero) sig |= UInt128.One;
        return new(neg, a.Exp + b.Exp, sig, normalized: true);
    }

    /// <summary>Restoring division: 128 quotient bits, the remainder folded into the sticky bit.</summary>
    private static WideFloat Div(in WideFloat a, in WideFloat b)
    {
        bool neg = a.Neg ^ b.Neg;
        if (a.IsZero) return new(neg, 0, UInt128.Zero);
        UInt128 d = b.Sig, rem = a.Sig, q;
        int exp = a.Exp - b.Exp, bits;
        if (rem >= d)
        {
            q = UInt128.One;
            rem -= d;
            bits = Top;
        }
        else
        {
            q = UInt128.Zero;
            exp--;
            bits = Top + 1;
        }
        for (int i = 0; i < bits; i++)
        {
            bool carry = (rem & TopBit) != UInt128.Zero;
            rem <<= 1;
            q <<= 1;
            if (carry || rem >= d)
            {
                rem -= d;
                q |= UInt128.One;
            }
        }
        if (rem != UInt128.Zero) q |= UInt128.One;
        return new(neg, exp, q, normalized: true);
    }

    /// <summary>
    /// Rounds to a register value per the rounding control (always to 64 bits: precision control
    /// does not apply to the transcendentals, SDM Vol. 1 8.1.5.2), with the x87's over- and
    /// underflow responses, #P and C1.
    /// </summary>
    public Float80 Round(ref FpContext ctx)
    {
        if (IsZero) return new Float80(Neg ? (ushort)0x8000 : (ushort)0, 0);
        var c = ctx;
        c.Precision = 64;
        // Clamp far-out exponents so the biased value stays in range of the rounding code.
        int exp = Math.Clamp(Exp + Float80.Bias, -0x10000, 0x10000);
        var r = Fp.RoundPack(Neg, exp, Sig, ref c);
        ctx.Flags = c.Flags;
        return r;
    }

    public override string ToString() => $"{(Neg ? "-" : "")}0x{Sig:X32}p{Exp - Top}";
}
