namespace HyperLock.Emulator.Processor;

/// <summary>
/// The functions behind the x87 transcendentals, evaluated in <see cref="WideFloat"/> (128-bit
/// significand): Taylor series of sin, cos, expm1, atan and atanh on small reduced arguments,
/// with coefficients and constants (π, ln 2) computed once at start-up from series too. Each
/// function's error is a few units of 2^-127 relative, so the 64-bit result rounds within one
/// ulp of the true value (nearly always to the correctly rounded one).
/// <para>
/// Trigonometric argument reduction follows the hardware: the x87 reduces modulo its internal
/// 66-bit π (SDM Vol. 1 8.3.8, "f = C90FDAA2 2168C234 C"), p, by the FPREM mechanism, i.e.
/// exactly: r = x - k·p/2, and evaluates the functions of r. (Intel's note on FSIN describes the
/// results as the functions of x·π/p, which differs from this by at most 2^-69 relative; the
/// host, an AMD core, matches exact reduction with p slightly better, e.g. FSIN of FLDPI's
/// value is -2^-64 rounded up, C1 = 1.) So large arguments give the same (mathematically wrong)
/// results as the hardware.
/// </para>
/// </summary>
internal static class X87Math
{
    /// <summary>The x87's 66-bit π times 2^64: p = P66 / 2^64.</summary>
    public static readonly UInt128 P66 = (UInt128)0xC90FDAA22168C234UL << 2 | 0x3; // C90FDAA2 2168C234 C, 66 bits

    private static readonly WideFloat[] InvFactorialSigned; // (-1)^floor(k/2) / k!: the sin (odd k) and cos (even k) terms
    private static readonly WideFloat[] InvFactorial;       // 1 / k!
    private static readonly WideFloat[] InvOdd;             // 1 / (2k + 1)
    private static readonly WideFloat[] AtanTable;          // atan(j / 16), j = 0..16

    public static readonly WideFloat Ln2;
    public static readonly WideFloat Log2E;
    public static readonly WideFloat Pi;
    public static readonly WideFloat HalfPi;
    private static readonly WideFloat QuarterP;  // p/4: below it no reduction
    private static readonly UInt128 Sqrt2Sig = (UInt128)0xB504F333F9DE6484UL << 64; // √2 · 2^127 (any split point near √2 works)

    static X87Math()
    {
        InvFactorial = new WideFloat[40];
        InvFactorialSigned = new WideFloat[40];
        var f = WideFloat.One;
        for (int k = 0; k < InvFactorial.Length; k++)
        {
            if (k > 0) f *= WideFloat.FromInt((ulong)k);
            InvFactorial[k] = WideFloat.One / f;
            InvFactorialSigned[k] = ((k >> 1) & 1) != 0 ? InvFactorial[k].Negate() : InvFactorial[k];
        }
        InvOdd = new WideFloat[72];
        for (int k = 0; k < InvOdd.Length; k++) InvOdd[k] = WideFloat.One / WideFloat.FromInt((ulong)(2 * k + 1));

        var third = WideFloat.One / WideFloat.FromInt(3);
        Ln2 = AtanhSeries(third, 42).Scale(1);                 // ln 2 = 2 atanh(1/3)
        Log2E = WideFloat.One / Ln2;
        var fifth = WideFloat.One / WideFloat.FromInt(5);
        var inv239 = WideFloat.One / WideFloat.FromInt(239);
        Pi = AtanSeries(fifth, 30).Scale(4) - AtanSeries(inv239, 10).Scale(2); // Machin: π/4 = 4 atan(1/5) - atan(1/239)
        HalfPi = Pi.Scale(-1);
        var p = new WideFloat(false, 127 - 64, P66);
        QuarterP = p.Scale(-2);

        AtanTable = new WideFloat[17];
        for (int j = 0; j <= 16; j++)
        {
            var t = WideFloat.FromInt((ulong)j).Scale(-4);
            if (j <= 8) AtanTable[j] = AtanSeries(t, 66);
            else
            {
                // atan t = π/4 - atan((1 - t) / (1 + t)), the second argument at most 1/3.
                var u = (WideFloat.One - t) / (WideFloat.One + t);
                AtanTable[j] = Pi.Scale(-2) - AtanSeries(u, 42);
            }
        }
    }

    /// <summary>Σ c[k] z^k for k &lt; n (Horner).</summary>
    private static WideFloat Poly(WideFloat[] c, int stride, int offset, int n, in WideFloat z)
    {
        var acc = c[offset + stride * (n - 1)];
        for (int k = n - 2; k >= 0; k--) acc = acc * z + c[offset + stride * k];
        return acc;
    }

    /// <summary>atan t = t Σ (-1)^k t^2k / (2k+1), n terms.</summary>
    private static WideFloat AtanSeries(in WideFloat t, int n)
    {
        var z = (t * t).Negate();
        return t * Poly(InvOdd, 1, 0, n, z);
    }

    /// <summary>atanh s = s Σ s^2k / (2k+1), n terms.</summary>
    private static WideFloat AtanhSeries(in WideFloat s, int n) => s * Poly(InvOdd, 1, 0, n, s * s);

    /// <summary>sin r for |r| ≤ π/4: r Σ (-1)^k r^2k / (2k+1)!.</summary>
    private static WideFloat SinSeries(in WideFloat r)
    {
        var z = r * r;
        return r * Poly(InvFactorialSigned, 2, 1, 17, z);
    }

    /// <summary>cos r for |r| ≤ π/4: Σ (-1)^k r^2k / (2k)!.</summary>
    private static WideFloat CosSeries(in WideFloat r) => Poly(InvFactorialSigned, 2, 0, 18, r * r);

    /// <summary>e^t - 1 for |t| ≤ ln 2: t Σ t^k / (k+1)!.</summary>
    private static WideFloat Expm1Series(in WideFloat t) => t * Poly(InvFactorial, 1, 1, 34, t);

    // ---- exponential and logarithms -------------------------------------------------------------

    /// <summary>2^x - 1 for finite non-zero |x| &lt; 1.</summary>
    public static WideFloat Exp2M1(in WideFloat x) => Expm1Series(x * Ln2).Inexact();

    /// <summary>log2 of a positive finite value; exact (zero or the exponent) for powers of two.</summary>
    public static WideFloat Log2(in WideFloat w)
    {
        int e = w.Exp;
        var m = new WideFloat(false, 0, w.Sig);
        if (w.Sig > Sqrt2Sig)
        {
            m = m.Scale(-1);
            e++;
        }
        var s = (m - WideFloat.One) / (m + WideFloat.One);
        var l = e == 0 ? WideFloat.Zero : e > 0 ? WideFloat.FromInt((ulong)e) : WideFloat.FromInt((ulong)-e).Negate();
        if (s.IsZero) return l;
        return (l + AtanhSeries(s, 27).Scale(1) * Log2E).Inexact(); // ln m = 2 atanh((m-1)/(m+1))
    }

    /// <summary>log2(1 + x) for finite non-zero x &gt; -1, accurate for tiny x.</summary>
    public static WideFloat Log2OnePlus(in WideFloat x)
    {
        // In the instruction's domain |x| < 1 - √2/2, atanh(x / (2 + x)) converges fast and keeps
        // tiny x exact to the last bit; beyond it, 1 + x is exact in 128 bits.
        if (x.Exp < -2)
        {
            var s = x / (WideFloat.FromInt(2) + x);
            return (AtanhSeries(s, 27).Scale(1) * Log2E).Inexact();
        }
        return Log2(WideFloat.One + x);
    }

    // ---- arctangent ---------------------------------------------------------------------------------

    /// <summary>atan t for 0 ≤ t ≤ 1: atan(j/16) from the table plus the series of the rest.</summary>
    private static WideFloat AtanUnit(in WideFloat t)
    {
        int j = 0;
        if (t.Exp >= -5)
        {
            UInt128 v = t.Sig >> (122 - t.Exp); // floor(32 t)
            j = (int)((v + 1) >> 1);
        }
        if (j == 0) return AtanSeries(t, 14);
        var c = WideFloat.FromInt((ulong)j).Scale(-4);
        var u = (t - c) / (WideFloat.One + t * c);
        return AtanTable[j] + AtanSeries(u, 14);
    }

    /// <summary>atan2(y, x) for y, x finite and not both zero (FPATAN's quadrant rules).</summary>
    public static WideFloat Atan2(in WideFloat y, in WideFloat x)
    {
        WideFloat a;
        if (y.IsZero) a = WideFloat.Zero;
        else if (x.IsZero) a = HalfPi;
        else if (WideFloat.CompareMagnitude(y, x) <= 0) a = AtanUnit(y.Abs() / x.Abs());
        else a = HalfPi - AtanUnit(x.Abs() / y.Abs());
        if (x.Neg) a = Pi - a;
        return a.WithSign(y.Neg).Inexact();
    }

    // ---- sine, cosine, tangent ----------------------------------------------------------------------

    /// <summary>
    /// sin and cos of a register value 2^-33 ≤ |x| &lt; 2^63 as the x87 computes them: x reduced
    /// exactly modulo p/2 (p the 66-bit π), then the series of the remainder.
    /// </summary>
    public static void SinCos(in Fp.Unpacked u, out WideFloat sin, out WideFloat cos)
    {
        var ax = WideFloat.FromUnpacked(u).Abs();
        ulong k = 0;
        WideFloat r = ax;
        if (WideFloat.CompareMagnitude(ax, QuarterP) > 0)
        {
            // x · 2^65 = Sig · 2^(e + 2) with e = exponent in [-1, 62]: an integer below 2^128,
            // and p/2 = P66 / 2^65, so the quotient and remainder are exact integer division.
            int e = u.Exp - Float80.Bias;
            UInt128 n = (UInt128)u.Sig << (e + 2);
            UInt128 q = n / P66;
            UInt128 rem = n - q * P66;
            k = (ulong)q;
            bool negative = false;
            if ((rem << 1) > P66)
            {
                rem = P66 - rem;
                k++;
                negative = true;
            }
            r = new WideFloat(negative, 127 - 65, rem);
        }
        var s = SinSeries(r);
        var c = CosSeries(r);
        switch (k & 3)
        {
            case 0: sin = s; cos = c; break;
            case 1: sin = c; cos = s.Negate(); break;
            case 2: sin = s.Negate(); cos = c.Negate(); break;
            default: sin = c.Negate(); cos = s; break;
        }
        if (u.Sign) sin = sin.Negate();
        sin = sin.Inexact();
        cos = cos.Inexact();
    }
}
