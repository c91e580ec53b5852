using FsCheck;
using FsCheck.Fluent;

namespace HyperLock.Differential.Tests.Harness;

/// <summary>
/// FsCheck generators for differential cases. Register and XMM values are biased towards the
/// edges that break emulators (zero, ±1, sign boundaries, all ones; ±0, infinities, NaNs,
/// denormals, integer-boundary floats); RFLAGS carries random arithmetic flags and DF;
/// MXCSR random rounding, FTZ, DAZ and sticky flags with every exception masked.
/// </summary>
public static class Generators
{
    private static readonly Gen<uint> U32 = Gen.Choose(int.MinValue, int.MaxValue).Select(v => (uint)v);

    public static readonly Gen<ulong> U64 = Gen.Zip(U32, U32, (hi, lo) => ((ulong)hi << 32) | lo);

    private static readonly ulong[] IntegerEdges =
    [
        0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
        0x100000000, 0x7FFFFFFFFFFFFFFF, 0x8000000000000000, 0xFFFFFFFFFFFFFFFF, 0xFFFFFFFFFFFFFFFE,
        0xFFFFFFFF80000000, 0xFFFFFFFFFFFF8000, 0xFFFFFFFFFFFFFF80, 0x5555555555555555, 0xAAAAAAAAAAAAAAAA,
    ];

    public static readonly Gen<ulong> GprValue = Gen.Frequency(
        (5, U64),
        (2, Gen.Choose(-16, 16).Select(v => (ulong)(long)v)),
        (2, Gen.Elements(IntegerEdges)),
        (1, Gen.Choose(0, 0xFFFF).Select(v => (ulong)v)));

    private static readonly uint[] FloatEdges =
    [
        0x00000000, 0x80000000, 0x3F800000, 0xBF800000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000,
        0x7F800001, 0x7FA00000, 0x00000001, 0x807FFFFF, 0x00800000, 0x7F7FFFFF, 0x4F000000, 0xCF000000,
        0x5F000000, 0xDF000000, 0x3F000000, 0x3FC00000, 0x40490FDB, 0x4B800000, 0xCF000001,
    ];

    private static readonly ulong[] DoubleEdges =
    [
        0x0000000000000000, 0x8000000000000000, 0x3FF0000000000000, 0xBFF0000000000000, 0x7FF0000000000000,
        0xFFF0000000000000, 0x7FF8000000000000, 0xFFF8000000000000, 0x7FF0000000000001, 0x7FF4000000000000,
        0x0000000000000001, 0x800FFFFFFFFFFFFF, 0x0010000000000000, 0x7FEFFFFFFFFFFFFF, 0x41E0000000000000,
        0xC1E0000000000000, 0x43E0000000000000, 0xC3E0000000000000, 0x3FE0000000000000, 0x3FF8000000000000,
        0x400921FB54442D18, 0x4330000000000000, 0xC1E0000000200000, 0x41DFFFFFFFC00000,
    ];

    private static readonly Gen<uint> FloatLane = Gen.Frequency(
        (3, Gen.Elements(FloatEdges)),
        (2, Gen.Choose(-1000, 1000).Select(v => BitConverter.SingleToUInt32Bits(v / 4f))),
        (2, U32));

    /// <summary>One XMM quadword: two floats, a double, or raw bits.</summary>
    public static readonly Gen<ulong> XmmQword = Gen.Frequency(
        (3, Gen.Zip(FloatLane, FloatLane, (a, b) => ((ulong)a << 32) | b)),
        (3, Gen.Elements(DoubleEdges)),
        (1, Gen.Choose(-100000, 100000).Select(v => BitConverter.DoubleToUInt64Bits(v / 8.0))),
        (3, U64),
        (1, Gen.Elements(IntegerEdges)));

    /// <summary>Arithmetic flags random, DF set a quarter of the time, plus bit 1 and IF as a CPL3 process has them.</summary>
    public static readonly Gen<ulong> Rflags = Gen.Zip(Gen.Choose(0, 63), Gen.Choose(0, 3), (bits, df) =>
    {
        ulong[] arith = [0x001, 0x004, 0x010, 0x040, 0x080, 0x800]; // CF PF AF ZF SF OF
        ulong f = 0x202;
        for (int k = 0; k < arith.Length; k++)
            if (((bits >> k) & 1) != 0) f |= arith[k];
        return df == 0 ? f | 0x400 : f;
    });

    /// <summary>Every exception masked (an unmasked one would be SIGFPE natively); RC, FTZ, DAZ and sticky flags random.</summary>
    public static readonly Gen<uint> Mxcsr = Gen.Frequency(
        (3, Gen.Constant(0x1F80u)),
        (2, Gen.Choose(0, 0xFFFF).Select(v => 0x1F80u | ((uint)v & 0xE07Fu))));

    /// <summary>An 80-bit x87 value: specials, unsupported encodings, doubles widened exactly, random normals.</summary>
    public static readonly Gen<(ushort SignExp, ulong Mantissa)> Float80Value = Gen.Frequency(
        (3, Gen.Elements<(ushort, ulong)>(
            (0x0000, 0), (0x8000, 0), (0x3FFF, 0x8000000000000000), (0xBFFF, 0x8000000000000000),
            (0x7FFF, 0x8000000000000000), (0xFFFF, 0x8000000000000000), (0x7FFF, 0xC000000000000000),
            (0xFFFF, 0xC000000000000000), (0x7FFF, 0xA000000000000000), (0x0000, 0x0000000000000001),
            (0x8000, 0x7FFFFFFFFFFFFFFF), (0x0000, 0x8000000000000001), (0x4000, 0x4000000000000000),
            (0x7FFE, 0xFFFFFFFFFFFFFFFF), (0x0001, 0x8000000000000000), (0x403E, 0x8000000000000000),
            (0xC03E, 0x8000000000000000), (0x401D, 0xFFFFFFFF00000000), (0x3FFE, 0xC000000000000000))),
        (3, XmmQword.Select(d => WidenDouble(d))),
        (1, Gen.Choose(-100000, 100000).Select(v => WidenDouble(BitConverter.DoubleToUInt64Bits(v / 4.0)))),
        (3, Gen.Zip(Gen.Choose(0x3FB0, 0x4050), U64, (e, m) => ((ushort)(e | (int)(m & 1) << 15), m | 0x8000000000000000))),
        (1, Gen.Zip(Gen.Choose(0, 0xFFFF), U64, (e, m) => ((ushort)e, m))));

    /// <summary>The exact 80-bit form of a double (denormals normalized, NaN payloads kept).</summary>
    public static (ushort SignExp, ulong Mantissa) WidenDouble(ulong d)
    {
        ushort sign = (ushort)((d >> 48) & 0x8000);
        int exp = (int)((d >> 52) & 0x7FF);
        ulong frac = d & 0xFFFFFFFFFFFFF;
        if (exp == 0x7FF) return ((ushort)(sign | 0x7FFF), 0x8000000000000000 | (frac << 11));
        if (exp == 0)
        {
            if (frac == 0) return (sign, 0);
            int shift = System.Numerics.BitOperations.LeadingZeroCount(frac) - 11;
            return ((ushort)(sign | (15361 - shift)), (frac << 11) << shift);
        }
        return ((ushort)(sign | (exp - 1023 + 16383)), 0x8000000000000000 | (frac << 11));
    }

    /// <summary>FCW: every exception masked (an unmasked one would raise #MF natively), random precision and rounding.</summary>
    public static readonly Gen<ushort> Fcw = Gen.Frequency(
        (3, Gen.Constant((ushort)0x037F)),
        (2, Gen.Zip(Gen.Elements(0, 2, 3, 3), Gen.Choose(0, 3), (pc, rc) => (ushort)(0x7F | (pc << 8) | (rc << 10)))));

    /// <summary>FSW: TOP, C0-C3 and sticky exception flags random; ES and B clear.</summary>
    public static readonly Gen<ushort> Fsw = Gen.Zip(Gen.Choose(0, 7), Gen.Choose(0, 0xFFFF),
        (top, r) => (ushort)((top << 11) | (r & 0x4700) | ((r & 0x8000) != 0 ? r & 0x3F : 0)));

    public static readonly Gen<CaseValues> Values =
        from gpr in Gen.ArrayOf(GprValue, 16)
        from xmm in Gen.ArrayOf(XmmQword, 32)
        from rflags in Rflags
        from mxcsr in Mxcsr
        from seed in U64
        from fcw in Fcw
        from fsw in Fsw
        from depth in Gen.Frequency((4, Gen.Choose(0, 8)), (1, Gen.Choose(9, 9 + 255)))
        from st in Gen.ArrayOf(Float80Value, 8)
        select new CaseValues(gpr, xmm, rflags, mxcsr, seed)
        {
            Fcw = fcw,
            Fsw = fsw,
            // A stack of `depth` values from ST(0) down, or (depth > 8) a random tag pattern.
            Ftw = depth <= 8 ? StackTag((fsw >> 11) & 7, depth) : (byte)(depth - 9),
            St = st,
        };

    private static byte StackTag(int top, int depth)
    {
        int tag = 0;
        for (int i = 0; i < depth; i++) tag |= 1 << ((top + i) & 7);
        return (byte)tag;
    }

    /// <summary>A built case (or the reason none could be built) for one form.</summary>
    public static Gen<BuildResult> CaseFor(Form form) => Values.Select(v => CaseBuilder.Build(form, v));

    /// <summary>A built case for a random form of <paramref name="forms"/>.</summary>
    public static Gen<(Form Form, BuildResult Result)> AnyCase(IReadOnlyList<Form> forms) =>
        from form in Gen.Elements(forms.ToArray())
        from result in CaseFor(form)
        select (form, result);
}
