using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using HyperLock.Emulator.Processor;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.Emulator.Tests.Processor.Sse;

/// <summary>
/// PCLMULQDQ by the algebra of carry-less (GF(2)[x]) multiplication rather than by a second
/// implementation: squaring spreads bits, multiplying by x^k shifts, the product commutes and
/// distributes over XOR, and imm8 bits 0 and 4 pick the quadwords.
/// </summary>
public class PclmulqdqTests : IDisposable
{
    /// <summary>Full-width operands (FsCheck's own ulong generator favours small values).</summary>
    public sealed record Operands(ulong A0, ulong A1, ulong B0, ulong B1, ulong C0, int K);

    public static Arbitrary<Operands> Wide() =>
        Gen.Choose(0, int.MaxValue).Select(seed =>
        {
            var r = new Random(seed);
            ulong U() => (ulong)r.NextInt64() ^ (ulong)r.Next() << 63;
            return new Operands(U(), U(), U(), U(), U(), r.Next(64));
        }).ToArbitrary();

    // xmm0 = a, xmm1 = b, xmm2 = c, xmm3 = x^k.
    private readonly SseHarness _h = new(a =>
    {
        a.movdqa(xmm4, xmm0); a.pclmulqdq(xmm4, xmm1, 0x00);   // a.lo · b.lo
        a.movdqa(xmm5, xmm1); a.pclmulqdq(xmm5, xmm0, 0x00);   // b.lo · a.lo
        a.movdqa(xmm6, xmm0); a.pclmulqdq(xmm6, xmm1, 0x11);   // a.hi · b.hi
        a.movdqa(xmm7, xmm1); a.pclmulqdq(xmm7, xmm0, 0x11);   // b.hi · a.hi
        a.movdqa(xmm8, xmm0); a.pclmulqdq(xmm8, xmm1, 0x01);   // a.hi · b.lo
        a.movdqa(xmm9, xmm1); a.pclmulqdq(xmm9, xmm0, 0x10);   // b.lo · a.hi
        a.movdqa(xmm10, xmm0); a.pclmulqdq(xmm10, xmm0, 0x00); // a.lo²
        a.movdqa(xmm11, xmm0); a.pclmulqdq(xmm11, xmm2, 0x00); // a.lo · c.lo
        a.movdqa(xmm12, xmm1); a.pxor(xmm12, xmm2);
        a.movdqa(xmm13, xmm0); a.pclmulqdq(xmm13, xmm12, 0x00); // a.lo · (b ⊕ c).lo
        a.movdqa(xmm14, xmm0); a.pclmulqdq(xmm14, xmm3, 0x00);  // a.lo · x^k
        a.movdqa(xmm15, xmm0); a.pclmulqdq(xmm15, xmm1, 0xEE);  // only bits 0 and 4 count: as 0x00
    });

    public void Dispose() => _h.Dispose();

    private static UInt128 U(Xmm x) => new(x.Hi, x.Lo);

    /// <summary>Bit i of <paramref name="v"/> moved to bit 2i: the carry-less square.</summary>
    private static UInt128 Spread(ulong v)
    {
        UInt128 r = 0;
        for (int i = 0; i < 64; i++) if ((v >> i & 1) != 0) r |= (UInt128)1 << (2 * i);
        return r;
    }

    [Property(MaxTest = 300, Arbitrary = new[] { typeof(PclmulqdqTests) })]
    public void ProductObeysTheRingLaws(Operands o)
    {
        Assert.Equal("int3", _h.Exec(c =>
        {
            c.X(0) = new Xmm(o.A0, o.A1); c.X(1) = new Xmm(o.B0, o.B1); c.X(2) = new Xmm(o.C0, ~o.C0);
            c.X(3) = new Xmm(1UL << o.K, ulong.MaxValue);
        }).ToString());
        var x = _h.Cpu;
        Assert.Equal(U(x.X(4)), U(x.X(5)));
        Assert.Equal(U(x.X(6)), U(x.X(7)));
        Assert.Equal(U(x.X(8)), U(x.X(9)));
        Assert.Equal(Spread(o.A0), U(x.X(10)));
        Assert.Equal(U(x.X(4)) ^ U(x.X(11)), U(x.X(13)));
        Assert.Equal((UInt128)o.A0 << o.K, U(x.X(14)));
        Assert.Equal(U(x.X(4)), U(x.X(15)));
    }

    [Fact]
    public void SmallProductsAreCarryLess()
    {
        // (x + 1)² = x² + 1; (x² + x + 1)(x + 1) = x³ + 1; the all-ones square keeps the even bits.
        Assert.Equal("int3", _h.Exec(c =>
        {
            c.X(0) = new Xmm(3, ulong.MaxValue); c.X(1) = new Xmm(7, ulong.MaxValue);
            c.X(2) = new Xmm(0, 0); c.X(3) = new Xmm(1, 0);
        }).ToString());
        Assert.Equal((UInt128)5, U(_h.Cpu.X(10)));
        Assert.Equal((UInt128)9, U(_h.Cpu.X(4)));
        Assert.Equal(new UInt128(0x5555555555555555, 0x5555555555555555), U(_h.Cpu.X(6)));
        Assert.Equal((UInt128)3, U(_h.Cpu.X(14)));
    }
}
