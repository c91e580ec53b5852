using System.Numerics;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using HyperLock.Emulator.Processor;
using static HyperLock.Emulator.Tests.Processor.X87.TranscendentalRunner;

namespace HyperLock.Emulator.Tests.Processor.X87;

/// <summary>
/// Each transcendental, run as guest instructions over random operands in its domain and in
/// every rounding mode, against <see cref="TranscendentalReference"/>: the result is within one
/// ulp of the true value (SDM Vol. 1 8.3.10) and on the side the rounding mode asks for; in round
/// to nearest within half an ulp, since the emulator rounds a 128-bit approximation (only a value
/// within about 2^-60 ulp of a midpoint could round the other way, and random operands do not
/// land there). C1 says whether the magnitude was rounded up, #P is set and no other exception
/// is, and precision control is ignored (the control words vary it).
/// </summary>
public class TranscendentalPrecisionProperties
{
    private const int CasesPerRun = 24;

    private static Gen<Float80> Value(int minExp, int maxExp, bool? negative = null) =>
        from sign in negative is bool n ? Gen.Constant(n) : Gen.Elements(false, true)
        from exp in Gen.Choose(minExp, maxExp)
        from hi in Gen.Choose(int.MinValue, int.MaxValue)
        from lo in Gen.Choose(int.MinValue, int.MaxValue)
        select new Float80((ushort)((sign ? 0x8000 : 0) | (Float80.Bias + exp)), Float80.JBit | ((ulong)(uint)hi << 32) | (uint)lo);

    /// <summary>Control words: all exceptions masked, each rounding mode, each precision control (which must not matter).</summary>
    private static readonly Gen<ushort> ControlWord =
        from rc in Gen.Choose(0, 3)
        from pc in Gen.Elements(0, 2, 3)
        select (ushort)(0x037F & ~0x0300 | (pc << 8) | (rc << 10));

    private static Gen<Case> CaseOf(Gen<Float80> x, Gen<Float80> y) =>
        from cw in ControlWord
        from a in x
        from b in y
        select new Case(cw, a, b);

    private static readonly Gen<Float80> AnyY = Value(-60, 60);

    /// <summary>Trigonometric operands: small ones, and large ones up to 2^63 where the 66-bit π decides the result.</summary>
    private static readonly Gen<Float80> TrigX = Gen.OneOf(Value(-32, 2), Value(3, 62));

    private static Gen<Case> Domain(string op) => op switch
    {
        "sin" or "cos" or "tan" or "sincos" => CaseOf(TrigX, AnyY),
        "f2xm1" => CaseOf(Value(-60, -1), AnyY),                                             // |x| < 1
        "yl2x" => CaseOf(Gen.OneOf(Value(-300, 300, false), Value(-1, 0, false)), AnyY),   // x > 0, often near 1
        "yl2xp1" => CaseOf(Value(-60, -3), AnyY),                                            // |x| < 1/4 < 1 - √2/2
        "patan" => CaseOf(Value(-60, 60), AnyY),
        _ => throw new ArgumentException(op, nameof(op)),
    };

    private static Arbitrary<Case[]> Cases(string op) => Gen.ArrayOf(Domain(op), CasesPerRun).ToArbitrary();

    /// <summary>Runs the cases and checks each result against the reference.</summary>
    private static void Check(string op, Case[] cases)
    {
        var outcomes = Run(op, cases);
        for (int k = 0; k < cases.Length; k++)
        {
            var c = cases[k];
            var o = outcomes[k];
            string what = $"{op} cw={c.Cw:X4} x={c.X} y={c.Y} -> {o.R0} {o.R1} sw={o.Sw:X4}";
            if (op == "sincos")
            {
                CheckResult("sin", c, o.R1, o.Sw, checkC1: true, what);
                CheckResult("cos", c, o.R0, o.Sw, checkC1: false, what); // C1 reports the sine's rounding
            }
            else if (op == "tan")
            {
                Assert.True(o.R0 == Float80.One, what);
                CheckResult("tan", c, o.R1, o.Sw, checkC1: true, what);
            }
            else CheckResult(op, c, o.R0, o.Sw, checkC1: true, what);
            Assert.True((o.Sw & 0x7F) == Fp.PE, "only #P: " + what);
            Assert.True((o.Sw & 0x400) == 0, "C2 clear: " + what);
        }
    }

    private static void CheckResult(string function, Case c, Float80 r, ushort sw, bool checkC1, string what)
    {
        BigInteger exact = TranscendentalReference.Evaluate(function, c.X, c.Y);
        Assert.True(r.Exponent is > 0 and < 0x7FFF && (r.Mantissa & Float80.JBit) != 0, "normal result: " + what);
        BigInteger got = TranscendentalReference.ToFixed(r);
        var (_, e) = TranscendentalReference.Exact(r);
        BigInteger ulp = BigInteger.One << (e + TranscendentalReference.F);
        BigInteger error = got - exact;
        Assert.True(BigInteger.Abs(error) < ulp, $"more than one ulp off ({(double)error / (double)ulp:F3} ulp): {what}");
        int rc = (c.Cw >> 10) & 3;
        bool magnitudeUp = BigInteger.Abs(got) > BigInteger.Abs(exact);
        switch (rc)
        {
            case 0: Assert.True(BigInteger.Abs(error) * 2 <= ulp, $"nearest: more than half an ulp off: {what}"); break;
            case 1: Assert.True(got <= exact, "round down went up: " + what); break;
            case 2: Assert.True(got >= exact, "round up went down: " + what); break;
            default: Assert.False(magnitudeUp, "round toward zero grew: " + what); break;
        }
        if (checkC1) Assert.True(((sw & 0x200) != 0) == magnitudeUp, "C1 must say whether the magnitude was rounded up: " + what);
    }

    [Property(MaxTest = 20)]
    public Property FsinWithinOneUlp() => Prop.ForAll(Cases("sin"), cs => Check("sin", cs));

    [Property(MaxTest = 20)]
    public Property FcosWithinOneUlp() => Prop.ForAll(Cases("cos"), cs => Check("cos", cs));

    [Property(MaxTest = 20)]
    public Property FptanWithinOneUlp() => Prop.ForAll(Cases("tan"), cs => Check("tan", cs));

    [Property(MaxTest = 20)]
    public Property FsincosWithinOneUlp() => Prop.ForAll(Cases("sincos"), cs => Check("sincos", cs));

    [Property(MaxTest = 20)]
    public Property F2xm1WithinOneUlp() => Prop.ForAll(Cases("f2xm1"), cs => Check("f2xm1", cs));

    [Property(MaxTest = 20)]
    public Property Fyl2xWithinOneUlp() => Prop.ForAll(Cases("yl2x"), cs => Check("yl2x", cs));

    [Property(MaxTest = 20)]
    public Property Fyl2xp1WithinOneUlp() => Prop.ForAll(Cases("yl2xp1"), cs => Check("yl2xp1", cs));

    [Property(MaxTest = 20)]
    public Property FpatanWithinOneUlp() => Prop.ForAll(Cases("patan"), cs => Check("patan", cs));
}
