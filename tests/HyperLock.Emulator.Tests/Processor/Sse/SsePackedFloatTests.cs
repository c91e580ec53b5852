using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using HyperLock.Emulator.Processor;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using X86Sse = System.Runtime.Intrinsics.X86.Sse;

namespace HyperLock.Emulator.Tests.Processor.Sse;

/// <summary>
/// Packed floating-point forms against the host CPU through System.Runtime.Intrinsics, at the
/// default MXCSR (round to nearest, exceptions masked), which is what .NET runs with: an honest
/// oracle for result bits, including NaN propagation, signed zeros, denormals and infinities
/// (except DPPS/DPPD, whose NaN choice is vendor-specific: <see cref="DotProductOracle"/>).
/// Operands are random with a strong bias toward special values. Flags and other rounding modes
/// are covered by the host-recorded table in <see cref="SseHostOracleTests"/> and hand cases.
/// </summary>
public class SsePackedFloatTests
{
    private static readonly uint[] Specials32 =
    [
        0, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000, 0x7FC01234, 0x7F800001, 0xFFA00000,
        1, 0x807FFFFF, 0x00800000, 0x7F7FFFFF, 0xFF7FFFFF, 0x3F800000, 0xBF800000, 0x4F000000, 0xCF000000,
        0x4EFFFFFF, 0x3F000000, 0x3FC00000, 0x40200000, 0xC0200000,
    ];

    private static readonly ulong[] Specials64 =
    [
        0, 0x8000000000000000, 0x7FF0000000000000, 0xFFF0000000000000, 0x7FF8000000000000, 0xFFF8000000000000,
        0x7FF8000000001234, 0x7FF0000000000001, 1, 0x800FFFFFFFFFFFFF, 0x0010000000000000, 0x7FEFFFFFFFFFFFFF,
        0x3FF0000000000000, 0xBFF0000000000000, 0x41E0000000000000, 0xC1E0000000000000, 0x41DFFFFFFFC00000,
        0x3FE0000000000000, 0x3FF8000000000000, 0x4004000000000000, 0xC004000000000000,
    ];

    private static uint R32(Random r) => r.Next(10) switch
    {
        < 3 => Specials32[r.Next(Specials32.Length)],
        < 8 => (uint)(r.Next(2) << 31) | (uint)((120 + r.Next(16)) << 23) | (uint)r.Next(1 << 23),
        _ => (uint)r.NextInt64(0, 1L << 32),
    };

    private static ulong R64(Random r) => r.Next(10) switch
    {
        < 3 => Specials64[r.Next(Specials64.Length)],
        < 8 => ((ulong)r.Next(2) << 63) | ((ulong)(1015 + r.Next(20)) << 52) | (ulong)r.NextInt64(0, 1L << 52),
        _ => (ulong)r.NextInt64() ^ ((ulong)r.Next(2) << 63),
    };

    private static Vector128<float> RandPs(Random r) => Vector128.Create(R32(r), R32(r), R32(r), R32(r)).AsSingle();
    private static Vector128<double> RandPd(Random r) => Vector128.Create(R64(r), R64(r)).AsDouble();

    private static Xmm ToXmm<T>(Vector128<T> v) => new(v.AsUInt64().GetElement(0), v.AsUInt64().GetElement(1));

    private static void Compare(string name, Action<Assembler> insn, Func<Random, (Xmm A, Xmm B)> gen, Func<Xmm, Xmm, Xmm> oracle, int cases = 400)
    {
        var rnd = new Random(name.GetHashCode(StringComparison.Ordinal) & 0x7FFFFFFF ^ 12345);
        rnd = new Random(StableSeed(name));
        using var h = new SseHarness(insn);
        var failures = new List<string>();
        for (int k = 0; k < cases; k++)
        {
            var (a, b) = gen(rnd);
            var want = oracle(a, b);
            // Without and with the sticky precision flag: the second takes the host fast paths where they apply.
            foreach (uint mxcsr in new[] { 0x1F80u, 0x1FA0u })
            {
                var stop = h.Exec(c =>
                {
                    c.Mxcsr = mxcsr;
                    c.X(0) = a;
                    c.X(1) = b;
                });
                var got = h.Cpu.X(0);
                if (stop.ToString() != "int3" || got.Lo != want.Lo || got.Hi != want.Hi)
                    failures.Add($"{name} mxcsr={mxcsr:x4} a={a} b={b}: want {want}, got {got} ({stop})");
            }
        }
        Assert.True(failures.Count == 0, $"{failures.Count} mismatches:\n" + string.Join("\n", failures.Take(20)));
    }

    private static int StableSeed(string s)
    {
        int h = 17;
        foreach (char ch in s) h = h * 31 + ch;
        return h & 0x7FFFFFFF;
    }

    private static (Xmm, Xmm) Ps2(Random r) => (ToXmm(RandPs(r)), ToXmm(RandPs(r)));
    private static (Xmm, Xmm) Pd2(Random r) => (ToXmm(RandPd(r)), ToXmm(RandPd(r)));
    private static Vector128<float> F(Xmm x) => Vector128.Create(x.Lo, x.Hi).AsSingle();
    private static Vector128<double> D(Xmm x) => Vector128.Create(x.Lo, x.Hi).AsDouble();

    [Fact] public void Addps() => Compare("addps", a => a.addps(xmm0, xmm1), Ps2, (x, y) => ToXmm(X86Sse.Add(F(x), F(y))));
    [Fact] public void Subps() => Compare("subps", a => a.subps(xmm0, xmm1), Ps2, (x, y) => ToXmm(X86Sse.Subtract(F(x), F(y))));
    [Fact] public void Mulps() => Compare("mulps", a => a.mulps(xmm0, xmm1), Ps2, (x, y) => ToXmm(X86Sse.Multiply(F(x), F(y))));
    [Fact] public void Divps() => Compare("divps", a => a.divps(xmm0, xmm1), Ps2, (x, y) => ToXmm(X86Sse.Divide(F(x), F(y))));
    [Fact] public void Sqrtps() => Compare("sqrtps", a => a.sqrtps(xmm0, xmm1), Ps2, (x, y) => ToXmm(X86Sse.Sqrt(F(y))));
    [Fact] public void Minps() => Compare("minps", a => a.minps(xmm0, xmm1), Ps2, (x, y) => ToXmm(X86Sse.Min(F(x), F(y))));
    [Fact] public void Maxps() => Compare("maxps", a => a.maxps(xmm0, xmm1), Ps2, (x, y) => ToXmm(X86Sse.Max(F(x), F(y))));
    [Fact] public void Addpd() => Compare("addpd", a => a.addpd(xmm0, xmm1), Pd2, (x, y) => ToXmm(Sse2.Add(D(x), D(y))));
    [Fact] public void Subpd() => Compare("subpd", a => a.subpd(xmm0, xmm1), Pd2, (x, y) => ToXmm(Sse2.Subtract(D(x), D(y))));
    [Fact] public void Mulpd() => Compare("mulpd", a => a.mulpd(xmm0, xmm1), Pd2, (x, y) => ToXmm(Sse2.Multiply(D(x), D(y))));
    [Fact] public void Divpd() => Compare("divpd", a => a.divpd(xmm0, xmm1), Pd2, (x, y) => ToXmm(Sse2.Divide(D(x), D(y))));
    [Fact] public void Sqrtpd() => Compare("sqrtpd", a => a.sqrtpd(xmm0, xmm1), Pd2, (x, y) => ToXmm(Sse2.Sqrt(D(y))));
    [Fact] public void Minpd() => Compare("minpd", a => a.minpd(xmm0, xmm1), Pd2, (x, y) => ToXmm(Sse2.Min(D(x), D(y))));
    [Fact] public void Maxpd() => Compare("maxpd", a => a.maxpd(xmm0, xmm1), Pd2, (x, y) => ToXmm(Sse2.Max(D(x), D(y))));
    [Fact] public void Addsubps() => Compare("addsubps", a => a.addsubps(xmm0, xmm1), Ps2, (x, y) => ToXmm(Sse3.AddSubtract(F(x), F(y))));
    [Fact] public void Addsubpd() => Compare("addsubpd", a => a.addsubpd(xmm0, xmm1), Pd2, (x, y) => ToXmm(Sse3.AddSubtract(D(x), D(y))));
    [Fact] public void Haddps() => Compare("haddps", a => a.haddps(xmm0, xmm1), Ps2, (x, y) => ToXmm(Sse3.HorizontalAdd(F(x), F(y))));
    [Fact] public void Hsubps() => Compare("hsubps", a => a.hsubps(xmm0, xmm1), Ps2, (x, y) => ToXmm(Sse3.HorizontalSubtract(F(x), F(y))));
    [Fact] public void Haddpd() => Compare("haddpd", a => a.haddpd(xmm0, xmm1), Pd2, (x, y) => ToXmm(Sse3.HorizontalAdd(D(x), D(y))));
    [Fact] public void Hsubpd() => Compare("hsubpd", a => a.hsubpd(xmm0, xmm1), Pd2, (x, y) => ToXmm(Sse3.HorizontalSubtract(D(x), D(y))));
    // DPPS/DPPD: which NaN propagates is vendor-specific; the oracle is the SDM's operation,
    // itself checked against the live host (see DotProductOracle).
    [Fact] public void Dpps() => Compare("dpps", a => a.dpps(xmm0, xmm1, 0xB7), Ps2, (x, y) => DotProductOracle.Dpps(x, y, 0xB7));
    [Fact] public void DppsAll() => Compare("dppsF1", a => a.dpps(xmm0, xmm1, 0xF1), Ps2, (x, y) => DotProductOracle.Dpps(x, y, 0xF1));
    [Fact] public void DppsBroadcastAll() => Compare("dppsFF", a => a.dpps(xmm0, xmm1, 0xFF), Ps2, (x, y) => DotProductOracle.Dpps(x, y, 0xFF));
    [Fact] public void DppsMask5A() => Compare("dpps5A", a => a.dpps(xmm0, xmm1, 0x5A), Ps2, (x, y) => DotProductOracle.Dpps(x, y, 0x5A));
    [Fact] public void DppdBoth() => Compare("dppd33", a => a.dppd(xmm0, xmm1, 0x33), Pd2, (x, y) => DotProductOracle.Dppd(x, y, 0x33));
    [Fact] public void Dppd() => Compare("dppd", a => a.dppd(xmm0, xmm1, 0x32), Pd2, (x, y) => DotProductOracle.Dppd(x, y, 0x32));

    /// <summary>
    /// The vendor-specific case itself, by hand: NaNs in three products, broadcast to every lane.
    /// p0 = 1*QNaN A = A, p1 = 2*1 = 2, p2 = QNaN B*1 = B, p3 = 1*SNaN C = quiet C. In Intel's
    /// per-lane order (see <see cref="DotProductOracle"/>): lane 0 (p1+p0)+(p3+p2) = A, lane 1
    /// (p0+p1)+(p2+p3) = A, lane 2 (p3+p2)+(p1+p0) = C, lane 3 (p2+p3)+(p0+p1) = B.
    /// </summary>
    [Fact]
    public void DppsWithSeveralNaNsFollowsIntelsLaneOrder()
    {
        var dest = new Xmm(0x3F800000UL | 0x40000000UL << 32, 0x7FC0000BUL | 0x3F800000UL << 32);
        var src = new Xmm(0x7FC0000AUL | 0x3F800000UL << 32, 0x3F800000UL | 0x7F80000CUL << 32);
        using var h = new SseHarness(a => a.dpps(xmm0, xmm1, 0xFF));
        h.Exec(c => { c.Mxcsr = 0x1F80; c.X(0) = dest; c.X(1) = src; });
        Assert.Equal(new Xmm(0x7FC0000AUL | 0x7FC0000AUL << 32, 0x7FC0000CUL | 0x7FC0000BUL << 32), h.Cpu.X(0));
        Assert.Equal(DotProductOracle.Dpps(dest, src, 0xFF), h.Cpu.X(0));
    }

    [Fact] public void Cvtps2dq() => Compare("cvtps2dq", a => a.cvtps2dq(xmm0, xmm1), Ps2, (x, y) => ToXmm(Sse2.ConvertToVector128Int32(F(y))));
    [Fact] public void Cvttps2dq() => Compare("cvttps2dq", a => a.cvttps2dq(xmm0, xmm1), Ps2, (x, y) => ToXmm(Sse2.ConvertToVector128Int32WithTruncation(F(y))));
    [Fact] public void Cvtdq2ps() => Compare("cvtdq2ps", a => a.cvtdq2ps(xmm0, xmm1), Ps2, (x, y) => ToXmm(Sse2.ConvertToVector128Single(Vector128.Create(y.Lo, y.Hi).AsInt32())));
    [Fact] public void Cvtps2pd() => Compare("cvtps2pd", a => a.cvtps2pd(xmm0, xmm1), Ps2, (x, y) => ToXmm(Sse2.ConvertToVector128Double(F(y))));
    [Fact] public void Cvtpd2ps() => Compare("cvtpd2ps", a => a.cvtpd2ps(xmm0, xmm1), Pd2, (x, y) => ToXmm(Sse2.ConvertToVector128Single(D(y))));
    [Fact] public void Cvtpd2dq() => Compare("cvtpd2dq", a => a.cvtpd2dq(xmm0, xmm1), Pd2, (x, y) => ToXmm(Sse2.ConvertToVector128Int32(D(y))));
    [Fact] public void Cvttpd2dq() => Compare("cvttpd2dq", a => a.cvttpd2dq(xmm0, xmm1), Pd2, (x, y) => ToXmm(Sse2.ConvertToVector128Int32WithTruncation(D(y))));
    [Fact] public void Cvtdq2pd() => Compare("cvtdq2pd", a => a.cvtdq2pd(xmm0, xmm1), Ps2, (x, y) => ToXmm(Sse2.ConvertToVector128Double(Vector128.Create(y.Lo, y.Hi).AsInt32())));
    [Fact] public void RoundpsNearest() => Compare("roundps8", a => a.roundps(xmm0, xmm1, 8), Ps2, (x, y) => ToXmm(Sse41.RoundToNearestInteger(F(y))));
    [Fact] public void RoundpsDown() => Compare("roundps9", a => a.roundps(xmm0, xmm1, 9), Ps2, (x, y) => ToXmm(Sse41.RoundToNegativeInfinity(F(y))));
    [Fact] public void RoundpsUp() => Compare("roundps10", a => a.roundps(xmm0, xmm1, 10), Ps2, (x, y) => ToXmm(Sse41.RoundToPositiveInfinity(F(y))));
    [Fact] public void RoundpsZero() => Compare("roundps11", a => a.roundps(xmm0, xmm1, 11), Ps2, (x, y) => ToXmm(Sse41.RoundToZero(F(y))));
    [Fact] public void RoundpdDown() => Compare("roundpd9", a => a.roundpd(xmm0, xmm1, 9), Pd2, (x, y) => ToXmm(Sse41.RoundToNegativeInfinity(D(y))));
    [Fact] public void RoundpdUp() => Compare("roundpd10", a => a.roundpd(xmm0, xmm1, 10), Pd2, (x, y) => ToXmm(Sse41.RoundToPositiveInfinity(D(y))));
    [Fact] public void RoundpdCurrent() => Compare("roundpd4", a => a.roundpd(xmm0, xmm1, 4), Pd2, (x, y) => ToXmm(Sse41.RoundCurrentDirection(D(y))));

    public static TheoryData<int> Predicates => [0, 1, 2, 3, 4, 5, 6, 7];

    [Theory, MemberData(nameof(Predicates))]
    public void CmppsAllPredicates(int p) => Compare("cmpps" + p, a => a.cmpps(xmm0, xmm1, (byte)p), Ps2, (x, y) => ToXmm(p switch
    {
        0 => X86Sse.CompareEqual(F(x), F(y)),
        1 => X86Sse.CompareLessThan(F(x), F(y)),
        2 => X86Sse.CompareLessThanOrEqual(F(x), F(y)),
        3 => X86Sse.CompareUnordered(F(x), F(y)),
        4 => X86Sse.CompareNotEqual(F(x), F(y)),
        5 => X86Sse.CompareNotLessThan(F(x), F(y)),
        6 => X86Sse.CompareNotLessThanOrEqual(F(x), F(y)),
        _ => X86Sse.CompareOrdered(F(x), F(y)),
    }));

    [Theory, MemberData(nameof(Predicates))]
    public void CmppdAllPredicates(int p) => Compare("cmppd" + p, a => a.cmppd(xmm0, xmm1, (byte)p), Pd2, (x, y) => ToXmm(p switch
    {
        0 => Sse2.CompareEqual(D(x), D(y)),
        1 => Sse2.CompareLessThan(D(x), D(y)),
        2 => Sse2.CompareLessThanOrEqual(D(x), D(y)),
        3 => Sse2.CompareUnordered(D(x), D(y)),
        4 => Sse2.CompareNotEqual(D(x), D(y)),
        5 => Sse2.CompareNotLessThan(D(x), D(y)),
        6 => Sse2.CompareNotLessThanOrEqual(D(x), D(y)),
        _ => Sse2.CompareOrdered(D(x), D(y)),
    }));

    [Fact]
    public void ComissAndUcomissFlagsMatchHost()
    {
        var rnd = new Random(99);
        using var comi = new SseHarness(a => a.comiss(xmm0, xmm1));
        using var ucomi = new SseHarness(a => a.ucomisd(xmm0, xmm1));
        for (int k = 0; k < 300; k++)
        {
            uint a = R32(rnd), b = rnd.Next(4) == 0 ? a : R32(rnd);
            comi.Exec(c => { c.Mxcsr = 0x1F80; c.X(0) = new Xmm(a, 0); c.X(1) = new Xmm(b, 0); c.SetRflags(0x202 | 0x8D5); });
            var fa = BitConverter.UInt32BitsToSingle(a);
            var fb = BitConverter.UInt32BitsToSingle(b);
            ulong want = float.IsNaN(fa) || float.IsNaN(fb) ? 0x45UL : fa < fb ? 1UL : fa == fb ? 0x40UL : 0;
            Assert.Equal(want, comi.Cpu.GetRflags() & 0x8D5);
            Assert.Equal(X86Sse.CompareScalarOrderedLessThan(Vector128.CreateScalar(fa), Vector128.CreateScalar(fb)), (comi.Cpu.GetRflags() & 1) != 0 && (comi.Cpu.GetRflags() & 0x44) == 0);

            ulong da = R64(rnd), db = rnd.Next(4) == 0 ? da : R64(rnd);
            ucomi.Exec(c => { c.Mxcsr = 0x1F80; c.X(0) = new Xmm(da, 0); c.X(1) = new Xmm(db, 0); c.SetRflags(0x202 | 0x8D5); });
            var xa = BitConverter.UInt64BitsToDouble(da);
            var xb = BitConverter.UInt64BitsToDouble(db);
            want = double.IsNaN(xa) || double.IsNaN(xb) ? 0x45UL : xa < xb ? 1UL : xa == xb ? 0x40UL : 0;
            Assert.Equal(want, ucomi.Cpu.GetRflags() & 0x8D5);
        }
    }
}
