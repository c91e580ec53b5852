using HyperLock.Emulator.Processor;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using static HyperLock.Emulator.Tests.Processor.X87.X87Kit;
using static HyperLock.Emulator.Tests.Processor.X87.TranscendentalRunner;

namespace HyperLock.Emulator.Tests.Processor.X87;

/// <summary>
/// The x87 transcendentals' results for particular operands: the precision example of issue 13,
/// the special cases of the SDM's result tables (FSIN, FCOS, FSINCOS, FPTAN, F2XM1, FYL2X,
/// FYL2XP1, FPATAN), the 66-bit π of the argument reduction, C1 as the rounding indication,
/// precision control (ignored), denormal operands, and unmasked exceptions.
/// </summary>
public class TranscendentalTests
{
    private const ushort Nearest = 0x037F, Down = 0x077F, Up = 0x0B7F;
    private const int IE = 0x01, DE = 0x02, ZE = 0x04, UE = 0x10, PE = 0x20, C1 = 0x200, C2 = 0x400;

    private static readonly Float80 PlusZero = F(0, 0), MinusZero = F(0x8000, 0);
    private static readonly Float80 PlusInf = F(0x7FFF, Float80.JBit), MinusInf = F(0xFFFF, Float80.JBit);
    private static readonly Float80 One = F(0x3FFF, Float80.JBit), MinusOne = F(0xBFFF, Float80.JBit);
    private static readonly Float80 Two = F(0x4000, Float80.JBit), Three = F(0x4000, 0xC000000000000000);
    private static readonly Float80 Indefinite = Float80.Indefinite;

    // π, π/2, π/4 and 3π/4 rounded to nearest (all rounded up, so C1 = 1).
    private static readonly Float80 Pi = F(0x4000, 0xC90FDAA22168C235), HalfPi = F(0x3FFF, 0xC90FDAA22168C235);
    private static readonly Float80 QuarterPi = F(0x3FFE, 0xC90FDAA22168C235), ThreeQuarterPi = F(0x4000, 0x96CBE3F9990E91A8);

    private static Outcome One1(string op, Float80 x, Float80 y, ushort cw = Nearest) => Run(op, [new Case(cw, x, y)])[0];

    // ---- precision -----------------------------------------------------------------------------

    [Fact]
    public void F2xm1OfTheIssueExampleHasTheFull64BitSignificand()
    {
        // x = 0x8.2902d2f58d2754cp-5. Double precision gave 0xc.5fb27e1152258p-6, some 2^11 ulps
        // off. The true 2^x - 1 lies 0.55 ulp above 0xc.5fb27e115225946p-6, the value issue 13
        // expects (and the AMD host returns): within one ulp, as the SDM promises, but the correctly
        // rounded result is the next one up, which the 128-bit evaluation gives.
        var x = F(0x3FFD, 0x82902D2F58D2754C);
        var hardware = F(0x3FFC, 0xC5FB27E115225946);
        var o = One1("f2xm1", x, One);
        Assert.True(UlpDistance(hardware, o.R0) <= 1, o.R0.ToString());
        Assert.Equal(F(0x3FFC, 0xC5FB27E115225947), o.R0);
        Assert.Equal(PE | C1, o.Sw & (C1 | 0x7F));
        // The reference puts the true value more than half-way from ...946 to ...947.
        var exact = TranscendentalReference.Evaluate("f2xm1", x, One);
        var below = TranscendentalReference.ToFixed(hardware);
        var ulp = TranscendentalReference.ToFixed(F(0x3FFC, 0xC5FB27E115225947)) - below;
        Assert.InRange((double)((exact - below) * 1000 / ulp), 500, 600);
    }

    [Fact]
    public void PrecisionControlDoesNotApply()
    {
        // SDM Vol. 1 8.1.5.2: PC affects only the basic arithmetic and FSQRT.
        var x = F(0x3FFF, 0x9000000000000001);
        var full = One1("sin", x, One, Nearest);
        var single = One1("sin", x, One, (ushort)(Nearest & ~0x0300));
        Assert.Equal(full.R0, single.R0);
        Assert.NotEqual(0UL, full.R0.Mantissa & 0xFFFFFFFFFF); // bits a 24-bit rounding would clear
    }

    [Fact]
    public void C1ReportsTheRoundingDirection()
    {
        // atan2(1, 1) = π/4 = 0xC90FDAA22168C234C4C6…: nearest rounds up (C1 = 1), down truncates (C1 = 0).
        var nearest = One1("patan", One, One, Nearest);
        Assert.Equal(QuarterPi, nearest.R0);
        Assert.Equal(C1 | PE, nearest.Sw & (C1 | 0x7F));
        var down = One1("patan", One, One, Down);
        Assert.Equal(F(0x3FFE, 0xC90FDAA22168C234), down.R0);
        Assert.Equal(PE, down.Sw & (C1 | 0x7F));
    }

    // ---- the 66-bit π --------------------------------------------------------------------------

    [Fact]
    public void SineOfFldpiShowsThe66BitPiReduction()
    {
        // FLDPI's value is 0xC90FDAA22168C235 · 2^-62; the x87's p = 0xC90FDAA22168C234C · 2^-64 is
        // exactly 2^-64 below it, so FSIN gives sin(-2^-64), just above -2^-64: rounded to it, with
        // C1 = 1 (as on the host). Reducing with the true π would give about -0.93 · 2^-64.
        var o = One1("sin", Pi, One);
        Assert.Equal(F(0xBFBF, Float80.JBit), o.R0);
        Assert.Equal(C1 | PE, o.Sw & (C1 | C2 | 0x7F));
    }

    [Theory]
    [InlineData("sin")]
    [InlineData("cos")]
    [InlineData("tan")]
    [InlineData("sincos")]
    public void OperandsOf2To63AndAboveAreOutOfRange(string op)
    {
        // |x| ≥ 2^63: C2 = 1, ST(0) unchanged, nothing pushed, no exception.
        var big = F(0x3FFF + 63, 0x8000000000000000);
        var o = One1(op, big, Three);
        Assert.Equal(big, o.R0);
        Assert.Equal(Three, o.R1);
        Assert.Equal(C2, o.Sw & (C2 | 0x7F));
        var below = One1(op, F(0x3FFF + 62, 0xFFFFFFFFFFFFFFFF), Three); // the largest in range
        Assert.Equal(0, below.Sw & C2);
        Assert.Equal(PE, below.Sw & 0x7F);
    }

    // ---- SDM result tables ------------------------------------------------------------------

    [Theory]
    [InlineData("sin", false)]
    [InlineData("sin", true)]
    [InlineData("tan", false)]
    [InlineData("tan", true)]
    public void OddTrigonometricFunctionsKeepSignedZeros(string op, bool negative)
    {
        var z = negative ? MinusZero : PlusZero;
        var o = One1(op, z, Three);
        if (op == "tan")
        {
            Assert.Equal(One, o.R0); // FPTAN pushes 1.0
            Assert.Equal(z, o.R1);
        }
        else Assert.Equal(z, o.R0);
        Assert.Equal(0, o.Sw & 0x7F);
    }

    [Fact]
    public void CosineAndSincosOfZero()
    {
        Assert.Equal(One, One1("cos", MinusZero, Three).R0);
        var sc = One1("sincos", MinusZero, Three);
        Assert.Equal(One, sc.R0);       // cosine pushed
        Assert.Equal(MinusZero, sc.R1); // sine
        Assert.Equal(0, sc.Sw & 0x7F);
    }

    [Theory]
    [InlineData("sin")]
    [InlineData("cos")]
    [InlineData("tan")]
    [InlineData("sincos")]
    public void InfinitiesAreInvalidForTrigonometricFunctions(string op)
    {
        var o = One1(op, MinusInf, Three);
        Assert.Equal(Indefinite, o.R0);
        Assert.Equal(IE, o.Sw & 0x7F);
        Assert.Equal(0, o.Sw & C2);
    }

    [Fact]
    public void F2xm1SpecialOperands()
    {
        Assert.Equal(MinusOne, One1("f2xm1", MinusInf, One).R0); // -∞ → -1
        Assert.Equal(PlusInf, One1("f2xm1", PlusInf, One).R0);
        var z = One1("f2xm1", MinusZero, One);
        Assert.Equal(MinusZero, z.R0);
        Assert.Equal(0, z.Sw & 0x7F);
        Assert.Equal(One, One1("f2xm1", One, One).R0);                    // 2 - 1
        Assert.Equal(F(0xBFFE, Float80.JBit), One1("f2xm1", MinusOne, One).R0); // 1/2 - 1
    }

    public static TheoryData<Float80, Float80, Float80, int> Fyl2xTable() => new()
    {
        // x (ST(0)), y (ST(1)), result, flags — SDM FYL2X table.
        { PlusZero, Three, MinusInf, ZE },                        // log2(0) = -∞ with #Z
        { MinusZero, F(0xC000, 0xC000000000000000), PlusInf, ZE },
        { PlusZero, MinusInf, PlusInf, 0 },                       // -∞ · -∞, no #Z
        { PlusZero, PlusZero, Indefinite, IE },                   // 0 · -∞
        { MinusOne, Three, Indefinite, IE },                      // negative x
        { MinusInf, Three, Indefinite, IE },
        { One, PlusInf, Indefinite, IE },                         // ∞ · 0
        { One, F(0xC000, 0xC000000000000000), MinusZero, 0 },     // -3 · +0
        { One, Three, PlusZero, 0 },
        { PlusInf, PlusZero, Indefinite, IE },
        { PlusInf, Three, PlusInf, 0 },
        { PlusInf, MinusInf, MinusInf, 0 },
        { F(0x3FFE, Float80.JBit), PlusInf, MinusInf, 0 },        // log2(1/2) · ∞
        { F(0x3FFE, Float80.JBit), PlusZero, MinusZero, 0 },      // log2(1/2) · +0
    };

    [Theory]
    [MemberData(nameof(Fyl2xTable))]
    public void Fyl2xSpecialOperands(Float80 x, Float80 y, Float80 result, int flags)
    {
        var o = One1("yl2x", x, y);
        Assert.Equal(result, o.R0);
        Assert.Equal(flags, o.Sw & 0x7F);
    }

    [Fact]
    public void Fyl2xOfAPowerOfTwoIsExact()
    {
        // 3 · log2(4) = 6 exactly; #P is still reported, as the host does.
        var o = One1("yl2x", F(0x4001, Float80.JBit), Three);
        Assert.Equal(F(0x4001, 0xC000000000000000), o.R0);
        Assert.Equal(PE, o.Sw & 0x7F);
    }

    public static TheoryData<Float80, Float80, Float80, int> Fyl2xp1Table() => new()
    {
        // SDM FYL2XP1 table for x = ±0.
        { PlusZero, Three, PlusZero, 0 },
        { MinusZero, Three, MinusZero, 0 },
        { PlusZero, F(0xC000, 0xC000000000000000), MinusZero, 0 },
        { MinusZero, F(0xC000, 0xC000000000000000), PlusZero, 0 },
        { PlusZero, PlusInf, Indefinite, IE },
        { MinusZero, MinusInf, Indefinite, IE },
    };

    [Theory]
    [MemberData(nameof(Fyl2xp1Table))]
    public void Fyl2xp1SpecialOperands(Float80 x, Float80 y, Float80 result, int flags)
    {
        var o = One1("yl2xp1", x, y);
        Assert.Equal(result, o.R0);
        Assert.Equal(flags, o.Sw & 0x7F);
    }

    [Fact]
    public void Fyl2xp1OfDenormalsIsNotZero()
    {
        // log2(1 + x) · y = x · y / ln 2 for tiny x: the smallest denormal stays the smallest
        // denormal (1.44 of it, rounded) with #D, #U and #P ...
        var tiny = One1("yl2xp1", F(0, 1), One);
        Assert.Equal(F(0, 1), tiny.R0);
        Assert.Equal(DE | UE | PE, tiny.Sw & 0x7F);
        // ... a larger denormal and a negative one scale by 1/ln 2 ...
        var d = One1("yl2xp1", F(0, 0x0000100000000000), One);
        Assert.Equal(F(0, 0x0000171547652B83), d.R0); // 2^44 · 1.71547652B82FE… units
        var neg = One1("yl2xp1", F(0x8000, 0x0000100000000000), One);
        Assert.Equal(F(0x8000, 0x0000171547652B83), neg.R0);
        // ... and a pseudo-denormal (J set, the weight of the smallest normals) gives a normal result.
        var pseudo = One1("yl2xp1", F(0, 0x8000000000000001), One);
        Assert.True(UlpDistance(F(0x0001, 0xB8AA3B295C17F0BD), pseudo.R0) <= 1, pseudo.R0.ToString());
        Assert.Equal(DE | PE, pseudo.Sw & 0x7F);
    }

    [Fact]
    public void F2xm1AndFpatanOfDenormals()
    {
        // 2^x - 1 = x ln 2 for a denormal x: 2^36 units · 0.B17217F7D1CF… = 0xB17217F7D.1CF… units.
        var e = One1("f2xm1", F(0, 0x0000001000000000), One);
        Assert.Equal(F(0, 0x0000000B17217F7D), e.R0);
        Assert.Equal(DE | UE | PE, e.Sw & 0x7F);
        // atan2(denormal, 1) = the denormal (a tiny bit less, rounded back up: C1 = 1).
        var a = One1("patan", One, F(0, 0x4000000000000001));
        Assert.Equal(F(0, 0x4000000000000001), a.R0);
        Assert.Equal(C1 | DE | UE | PE, a.Sw & (C1 | 0x7F));
    }

    public static TheoryData<Float80, Float80, Float80> FpatanTable() => new()
    {
        // x (ST(0)), y (ST(1)), atan2(y, x) — SDM FPATAN table.
        { PlusZero, PlusZero, PlusZero },
        { PlusZero, MinusZero, MinusZero },
        { MinusZero, PlusZero, Pi },
        { MinusZero, MinusZero, Pi.Negate() },
        { Three, MinusZero, MinusZero },
        { F(0xC000, 0xC000000000000000), PlusZero, Pi },
        { PlusZero, Three, HalfPi },
        { MinusZero, F(0xC000, 0xC000000000000000), HalfPi.Negate() },
        { PlusInf, PlusInf, QuarterPi },
        { PlusInf, MinusInf, QuarterPi.Negate() },
        { MinusInf, PlusInf, ThreeQuarterPi },
        { MinusInf, MinusInf, ThreeQuarterPi.Negate() },
        { PlusInf, Three, PlusZero },
        { PlusInf, F(0xC000, 0xC000000000000000), MinusZero },
        { MinusInf, Three, Pi },
        { Three, PlusInf, HalfPi },
        { F(0xC000, 0xC000000000000000), MinusInf, HalfPi.Negate() },
    };

    [Theory]
    [MemberData(nameof(FpatanTable))]
    public void FpatanSpecialOperands(Float80 x, Float80 y, Float80 result)
    {
        var o = One1("patan", x, y);
        Assert.Equal(result, o.R0);
        // Exact zeros raise nothing; the multiples of π are rounded up from the true values (#P, C1).
        Assert.Equal(result.IsZero ? 0 : PE | C1, o.Sw & (C1 | 0x7F));
    }

    [Fact]
    public void NaNOperandsPropagate()
    {
        var qnan = F(0x7FFF, 0xC000000000000123);
        var snan = F(0x7FFF, 0x8000000000000123);
        var q = One1("sin", qnan, One);
        Assert.Equal(qnan, q.R0);
        Assert.Equal(0, q.Sw & 0x7F);
        var s = One1("patan", One, snan); // y = SNaN: quieted, #IA
        Assert.Equal(qnan, s.R0);
        Assert.Equal(IE, s.Sw & 0x7F);
    }

    // ---- unmasked exceptions ----------------------------------------------------------------------

    /// <summary>Runs one instruction with the given control word and x = ST(0), y = ST(1); returns the CPU state.</summary>
    private static (Float80 St0, Float80 St1, ushort Sw, int Top) Unmasked(Action<Assembler> op, ushort cw, Float80 x, Float80 y)
    {
        var (env, stop) = Run(a =>
        {
            a.fldcw(__word_ptr[rbx]);
            a.fld(__tword_ptr[rbx + 32]);
            a.fld(__tword_ptr[rbx + 16]);
            op(a);
            a.fnstsw(ax);
        }, env =>
        {
            Write16(env, 0, cw);
            WriteF80(env, 16, x);
            WriteF80(env, 32, y);
        });
        using var _ = env;
        AssertStop("int3", stop);
        var c = env.Cpu;
        return (c.St(0), c.St(1), (ushort)c.R(Reg.Rax), c.FpuTop);
    }

    [Fact]
    public void UnmaskedDenormalLeavesTheOperandsAndTheStack()
    {
        // FYL2X with a denormal x and #D unmasked: no result, no pop, ES set.
        var x = F(0, 0x0000100000000000);
        var r = Unmasked(a => a.fyl2x(), (ushort)(Nearest & ~DE), x, Three);
        Assert.Equal(x, r.St0);
        Assert.Equal(Three, r.St1);
        Assert.Equal(6, r.Top);
        Assert.Equal(DE | 0x80, r.Sw & 0xFF);
    }

    [Fact]
    public void UnmaskedInvalidLeavesTheOperand()
    {
        var r = Unmasked(a => a.fsin(), (ushort)(Nearest & ~IE), PlusInf, Three);
        Assert.Equal(PlusInf, r.St0);
        Assert.Equal(IE | 0x80, r.Sw & 0xFF);
    }

    [Fact]
    public void UnmaskedUnderflowDeliversTheRebiasedResult()
    {
        // F2XM1 of 2^-16382 is ln 2 · 2^-16382, below the normal range. Masked: the denormal
        // 0x58B90BFBE8E7BCD6 (ln 2 · 2^63 rounded); unmasked: the normalized significand
        // 0xB17217F7D1CF79AC (ln 2 · 2^64 rounded) with the biased exponent 0 raised by 24576.
        var x = F(0x0001, 0x8000000000000000);
        var masked = One1("f2xm1", x, One);
        Assert.Equal(F(0, 0x58B90BFBE8E7BCD6), masked.R0);
        Assert.Equal(UE | PE, masked.Sw & 0x7F);
        var r = Unmasked(a => a.f2xm1(), (ushort)(Nearest & ~UE), x, Three);
        Assert.Equal(F(0x6000, 0xB17217F7D1CF79AC), r.St0);
        Assert.Equal(UE | PE | 0x80, r.Sw & 0xFF);
    }
}
