using System.Globalization;
using System.Numerics;
using HyperLock.Emulator.Processor;

namespace HyperLock.Emulator.Tests.Processor.X87;

/// <summary>
/// An independent high-precision model of the x87 transcendentals for the tests: BigInteger
/// fixed point with <see cref="F"/> fractional bits, using other algorithms than the emulator
/// (π from Machin's formula, ln 2 from Σ 1/(k 2^k), logarithms by repeated square roots, atan by
/// argument halving, log1p by its plain series) so that a shared mistake is unlikely. The
/// trigonometric functions reduce their argument exactly with the x87's 66-bit π, p
/// ("0.C90FDAA2 2168C234 C × 2^2", SDM Vol. 1 8.3.8), as the hardware does.
/// </summary>
internal static class TranscendentalReference
{
    public const int F = 320;
    private static readonly BigInteger One = BigInteger.One << F;

    public static readonly BigInteger Pi = 16 * AtanInverse(5) - 4 * AtanInverse(239);
    public static readonly BigInteger Ln2 = LnTwo();

    /// <summary>The x87's π: the SDM's 68-bit fraction (two trailing zero bits) times 2^2.</summary>
    private static readonly BigInteger P = BigInteger.Parse("0C90FDAA22168C234C", NumberStyles.HexNumber, CultureInfo.InvariantCulture) << (F + 2 - 68);

    // ---- fixed-point basics ---------------------------------------------------------------------

    private static BigInteger Mul(BigInteger a, BigInteger b) => (a * b) >> F;

    private static BigInteger Div(BigInteger a, BigInteger b) => (a << F) / b;

    private static BigInteger Sqrt(BigInteger a)
    {
        BigInteger n = a << F;
        if (n.IsZero) return n;
        BigInteger x = BigInteger.One << (int)((n.GetBitLength() + 1) / 2);
        while (true)
        {
            BigInteger y = (x + n / x) >> 1;
            if (y >= x) return x;
            x = y;
        }
    }

    /// <summary>A finite register value's exact significand and power of two: value = m · 2^e.</summary>
    public static (BigInteger M, int E) Exact(Float80 v)
    {
        int exp = v.Exponent == 0 ? 1 : v.Exponent;
        BigInteger m = v.Mantissa;
        return (v.Sign ? -m : m, exp - 16383 - 63);
    }

    /// <summary>A register value in fixed point (exact while its exponent is above -F + 63).</summary>
    public static BigInteger ToFixed(Float80 v)
    {
        var (m, e) = Exact(v);
        return e + F >= 0 ? m << (e + F) : m >> -(e + F);
    }

    // ---- constants ------------------------------------------------------------------------------

    /// <summary>atan(1/n) = Σ (-1)^k / ((2k+1) n^(2k+1)).</summary>
    private static BigInteger AtanInverse(int n)
    {
        BigInteger sum = 0, power = One / n, n2 = (BigInteger)n * n;
        for (int k = 0; !power.IsZero; k++)
        {
            BigInteger term = power / (2 * k + 1);
            sum += (k & 1) == 0 ? term : -term;
            power /= n2;
        }
        return sum;
    }

    private static BigInteger LnTwo()
    {
        BigInteger sum = 0;
        for (int k = 1; ; k++)
        {
            BigInteger term = (One >> k) / k;
            if (term.IsZero) return sum;
            sum += term;
        }
    }

    // ---- functions ------------------------------------------------------------------------------

    /// <summary>e^t - 1 = Σ_{k≥1} t^k / k!.</summary>
    public static BigInteger Expm1(BigInteger t)
    {
        BigInteger sum = 0, term = t;
        for (int k = 2; !term.IsZero; k++)
        {
            sum += term;
            term = Mul(term, t) / k;
        }
        return sum;
    }

    /// <summary>ln(1 + u) = Σ_{k≥1} (-1)^(k+1) u^k / k for |u| &lt; 1.</summary>
    public static BigInteger Log1p(BigInteger u)
    {
        BigInteger sum = 0, power = u;
        for (int k = 1; !power.IsZero; k++)
        {
            BigInteger term = power / k;
            sum += (k & 1) == 1 ? term : -term;
            power = Mul(power, u);
        }
        return sum;
    }

    /// <summary>ln m for m in [1, 2): ln m = 2^10 ln(m^(1/2^10)).</summary>
    public static BigInteger Ln(BigInteger m)
    {
        for (int i = 0; i < 10; i++) m = Sqrt(m);
        return Log1p(m - One) << 10;
    }

    /// <summary>log2 of a positive finite register value.</summary>
    public static BigInteger Log2(Float80 x)
    {
        var (m, e) = Exact(x);
        int shift = (int)m.GetBitLength() - 1; // m = 2^shift · (m / 2^shift), the latter in [1, 2)
        BigInteger frac = (m << F) >> shift;
        return ((BigInteger)(e + shift) << F) + Div(Ln(frac), Ln2);
    }

    /// <summary>atan t for 0 ≤ t ≤ 1: three halvings atan t = 2 atan(t / (1 + √(1 + t²))), then the series.</summary>
    public static BigInteger Atan(BigInteger t)
    {
        for (int i = 0; i < 3; i++) t = Div(t, One + Sqrt(One + Mul(t, t)));
        BigInteger sum = 0, power = t, t2 = Mul(t, t);
        for (int k = 0; !power.IsZero; k++)
        {
            BigInteger term = power / (2 * k + 1);
            sum += (k & 1) == 0 ? term : -term;
            power = Mul(power, t2);
        }
        return sum << 3;
    }

    /// <summary>atan2(y, x) for finite non-zero y and x: the angle of (x, y) in (-π, π].</summary>
    public static BigInteger Atan2(Float80 y, Float80 x)
    {
        var (my, ey) = Exact(y);
        var (mx, ex) = Exact(x);
        BigInteger ay = BigInteger.Abs(my), ax = BigInteger.Abs(mx);
        // |y| / |x| as fixed point, compared through the exact values.
        bool yBigger = ay * BigInteger.Pow(2, Math.Max(ey - ex, 0)) > ax * BigInteger.Pow(2, Math.Max(ex - ey, 0));
        BigInteger a = yBigger
            ? (Pi >> 1) - Atan(Ratio(ax, ex, ay, ey))
            : Atan(Ratio(ay, ey, ax, ex));
        if (mx.Sign < 0) a = Pi - a;
        return my.Sign < 0 ? -a : a;
    }

    /// <summary>(n · 2^en) / (d · 2^ed) in fixed point.</summary>
    private static BigInteger Ratio(BigInteger n, int en, BigInteger d, int ed)
    {
        int s = en - ed + F;
        return s >= 0 ? (n << s) / d : (n >> -s) / d;
    }

    /// <summary>
    /// sin and cos as FSIN/FCOS/FSINCOS/FPTAN compute them: x reduced exactly by the nearest
    /// multiple k of p/2, then the functions of the remainder r (|r| ≤ p/4) in quadrant k mod 4.
    /// </summary>
    public static (BigInteger Sin, BigInteger Cos) SinCos(Float80 x)
    {
        BigInteger ax = BigInteger.Abs(ToFixed(x));
        bool negative = x.Sign;
        BigInteger halfP = P >> 1;                          // exact: P has trailing zero bits
        BigInteger k = (2 * ax + halfP) / (2 * halfP);      // nearest multiple
        BigInteger r = ax - k * halfP;                      // exact, |r| ≤ p/4
        bool rNegative = r.Sign < 0;
        r = BigInteger.Abs(r);
        BigInteger s = 0, c = 0, term = One;
        for (int n = 0; !term.IsZero; n++)
        {
            if ((n & 1) == 0) c += (n & 2) == 0 ? term : -term;
            else s += (n & 2) == 0 ? term : -term;
            term = Mul(term, r) / (n + 1);
        }
        if (rNegative) s = -s;
        (BigInteger sin, BigInteger cos) = (int)(k % 4) switch
        {
            0 => (s, c),
            1 => (c, -s),
            2 => (-s, -c),
            _ => (-c, s),
        };
        return (negative ? -sin : sin, cos);
    }

    /// <summary>The fixed-point value of y · log2(x) or y · log2(1 + x) and the other functions, by instruction name.</summary>
    public static BigInteger Evaluate(string op, Float80 x, Float80 y) => op switch
    {
        "sin" => SinCos(x).Sin,
        "cos" => SinCos(x).Cos,
        "tan" => TanOf(x),
        "f2xm1" => Expm1(Mul(ToFixed(x), Ln2)),
        "yl2x" => Mul(ToFixed(y), Log2(x)),
        "yl2xp1" => Mul(ToFixed(y), Div(Log1p(ToFixed(x)), Ln2)),
        "patan" => Atan2(y, x),
        _ => throw new ArgumentException(op, nameof(op)),
    };

    private static BigInteger TanOf(Float80 x)
    {
        var (s, c) = SinCos(x);
        return Div(s, c);
    }
}
