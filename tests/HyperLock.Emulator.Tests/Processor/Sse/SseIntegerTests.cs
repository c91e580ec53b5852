using System.Buffers.Binary;
using HyperLock.Emulator.Processor;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.Emulator.Tests.Processor.Sse;

/// <summary>
/// Packed integer forms against scalar reference implementations written here lane by lane
/// from the SDM definitions (independent of the emulator, which uses host intrinsics), over
/// random operands with edge values mixed in.
/// </summary>
public class SseIntegerTests
{
    private delegate void Ref(byte[] d, byte[] s, byte[] r);

    private static byte[] Bytes(Xmm x)
    {
        var b = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(b, x.Lo);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(8), x.Hi);
        return b;
    }

    private static Xmm FromBytes(byte[] b) =>
        new(BinaryPrimitives.ReadUInt64LittleEndian(b), BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(8)));

    private static byte[] RandomBytes(Random r)
    {
        var b = new byte[16];
        r.NextBytes(b);
        for (int k = 0; k < 16; k++)
        {
            int pick = r.Next(12);
            if (pick == 0) b[k] = 0;
            else if (pick == 1) b[k] = 0xFF;
            else if (pick == 2) b[k] = 0x80;
            else if (pick == 3) b[k] = 0x7F;
        }
        return b;
    }

    private static void Check(string name, Action<Assembler> insn, Ref reference, bool memoryForm = false)
    {
        var rnd = new Random(name.Length * 7919 + name[0] + name[^1] * 31);
        using var h = new SseHarness(insn);
        for (int k = 0; k < 200; k++)
        {
            byte[] d = RandomBytes(rnd), s = RandomBytes(rnd);
            if (k % 5 == 0) s = (byte[])d.Clone();
            if (k % 2 == 1 && name.StartsWith("psr", StringComparison.Ordinal)) { Array.Clear(s, 1, 15); s[0] &= 0x7F; }
            var want = new byte[16];
            reference(d, s, want);
            if (memoryForm) h.WriteData(0, s);
            var stop = h.Exec(c =>
            {
                c.X(0) = FromBytes(d);
                c.X(1) = FromBytes(s);
            });
            Assert.Equal("int3", stop.ToString());
            var got = Bytes(h.Cpu.X(0));
            Assert.True(want.AsSpan().SequenceEqual(got),
                $"{name}: d={Convert.ToHexString(d)} s={Convert.ToHexString(s)} want {Convert.ToHexString(want)} got {Convert.ToHexString(got)}");
        }
    }

    private static short W(byte[] b, int k) => BinaryPrimitives.ReadInt16LittleEndian(b.AsSpan(2 * k));
    private static int D(byte[] b, int k) => BinaryPrimitives.ReadInt32LittleEndian(b.AsSpan(4 * k));
    private static long Q(byte[] b, int k) => BinaryPrimitives.ReadInt64LittleEndian(b.AsSpan(8 * k));
    private static void SetW(byte[] b, int k, int v) => BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(2 * k), (short)v);
    private static void SetD(byte[] b, int k, long v) => BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(4 * k), (int)v);
    private static void SetQ(byte[] b, int k, long v) => BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(8 * k), v);
    private static int SatB(int v) => Math.Clamp(v, -128, 127);
    private static int SatUB(int v) => Math.Clamp(v, 0, 255);
    private static int SatW(int v) => Math.Clamp(v, -32768, 32767);
    private static int SatUW(int v) => Math.Clamp(v, 0, 65535);

    [Fact] public void Paddb() => Check("paddb", a => a.paddb(xmm0, xmm1), (d, s, r) => { for (int k = 0; k < 16; k++) r[k] = (byte)(d[k] + s[k]); });
    [Fact] public void Psubw() => Check("psubw", a => a.psubw(xmm0, xmm1), (d, s, r) => { for (int k = 0; k < 8; k++) SetW(r, k, W(d, k) - W(s, k)); });
    [Fact] public void PadddMemory() => Check("paddd", a => a.paddd(xmm0, __xmmword_ptr[rbx]), (d, s, r) => { for (int k = 0; k < 4; k++) SetD(r, k, (long)D(d, k) + D(s, k)); }, memoryForm: true);
    [Fact] public void Psubq() => Check("psubq", a => a.psubq(xmm0, xmm1), (d, s, r) => { for (int k = 0; k < 2; k++) SetQ(r, k, Q(d, k) - Q(s, k)); });
    [Fact] public void Paddsb() => Check("paddsb", a => a.paddsb(xmm0, xmm1), (d, s, r) => { for (int k = 0; k < 16; k++) r[k] = (byte)SatB((sbyte)d[k] + (sbyte)s[k]); });
    [Fact] public void Paddusb() => Check("paddusb", a => a.paddusb(xmm0, xmm1), (d, s, r) => { for (int k = 0; k < 16; k++) r[k] = (byte)SatUB(d[k] + s[k]); });
    [Fact] public void Psubsw() => Check("psubsw", a => a.psubsw(xmm0, xmm1), (d, s, r) => { for (int k = 0; k < 8; k++) SetW(r, k, SatW(W(d, k) - W(s, k))); });
    [Fact] public void Psubusw() => Check("psubusw", a => a.psubusw(xmm0, xmm1), (d, s, r) => { for (int k = 0; k < 8; k++) SetW(r, k, SatUW((ushort)W(d, k) - (ushort)W(s, k))); });
    [Fact] public void Pmullw() => Check("pmullw", a => a.pmullw(xmm0, xmm1), (d, s, r) => { for (int k = 0; k < 8; k++) SetW(r, k, W(d, k) * W(s, k)); });
    [Fact] public void Pmulhw() => Check("pmulhw", a => a.pmulhw(xmm0, xmm1), (d, s, r) => { for (int k = 0; k < 8; k++) SetW(r, k, (W(d, k) * W(s, k)) >> 16); });
    [Fact] public void Pmulhuw() => Check("pmulhuw", a => a.pmulhuw(xmm0, xmm1), (d, s, r) => { for (int k = 0; k < 8; k++) SetW(r, k, (int)(((uint)(ushort)W(d, k) * (ushort)W(s, k)) >> 16)); });
    [Fact] public void Pmulld() => Check("pmulld", a => a.pmulld(xmm0, xmm1), (d, s, r) => { for (int k = 0; k < 4; k++) SetD(r, k, (long)D(d, k) * D(s, k)); });
    [Fact] public void Pmuludq() => Check("pmuludq", a => a.pmuludq(xmm0, xmm1), (d, s, r) => { for (int k = 0; k < 2; k++) SetQ(r, k, (long)((ulong)(uint)D(d, 2 * k) * (uint)D(s, 2 * k))); });
    [Fact] public void Pmuldq() => Check("pmuldq", a => a.pmuldq(xmm0, xmm1), (d, s, r) => { for (int k = 0; k < 2; k++) SetQ(r, k, (long)D(d, 2 * k) * D(s, 2 * k)); });
    [Fact] public void Pmaddwd() => Check("pmaddwd", a => a.pmaddwd(xmm0, xmm1), (d, s, r) => { for (int k = 0; k < 4; k++) SetD(r, k, (long)W(d, 2 * k) * W(s, 2 * k) + W(d, 2 * k + 1) * W(s, 2 * k + 1)); });
    [Fact] public void Pmaddubsw() => Check("pmaddubsw", a => a.pmaddubsw(xmm0, xmm1), (d, s, r) => { for (int k = 0; k < 8; k++) SetW(r, k, SatW(d[2 * k] * (sbyte)s[2 * k] + d[2 * k + 1] * (sbyte)s[2 * k + 1])); });
    [Fact] public void Pmulhrsw() => Check("pmulhrsw", a => a.pmulhrsw(xmm0, xmm1), (d, s, r) => { for (int k = 0; k < 8; k++) SetW(r, k, (((W(d, k) * W(s, k)) >> 14) + 1) >> 1); });
    [Fact] public void Pavgb() => Check("pavgb", a => a.pavgb(xmm0, xmm1), (d, s, r) => { for (int k = 0; k < 16; k++) r[k] = (byte)((d[k] + s[k] + 1) >> 1); });
    [Fact] public void Pminsb() => Check("pminsb", a => a.pminsb(xmm0, xmm1), (d, s, r) => { for (int k = 0; k < 16; k++) r[k] = (byte)Math.Min((sbyte)d[k], (sbyte)s[k]); });
    [Fact] public void Pmaxuw() => Check("pmaxuw", a => a.pmaxuw(xmm0, xmm1), (d, s, r) => { for (int k = 0; k < 8; k++) SetW(r, k, Math.Max((ushort)W(d, k), (ushort)W(s, k))); });
    [Fact] public void Pminud() => Check("pminud", a => a.pminud(xmm0, xmm1), (d, s, r) => { for (int k = 0; k < 4; k++) SetD(r, k, Math.Min((uint)D(d, k), (uint)D(s, k))); });
    [Fact] public void Pmaxsd() => Check("pmaxsd", a => a.pmaxsd(xmm0, xmm1), (d, s, r) => { for (int k = 0; k < 4; k++) SetD(r, k, Math.Max(D(d, k), D(s, k))); });
    [Fact] public void Pabsb() => Check("pabsb", a => a.pabsb(xmm0, xmm1), (d, s, r) => { for (int k = 0; k < 16; k++) r[k] = (byte)Math.Abs((int)(sbyte)s[k]); });
    [Fact] public void Psignw() => Check("psignw", a => a.psignw(xmm0, xmm1), (d, s, r) => { for (int k = 0; k < 8; k++) SetW(r, k, W(s, k) < 0 ? -W(d, k) : W(s, k) == 0 ? 0 : W(d, k)); });
    [Fact] public void Psadbw() => Check("psadbw", a => a.psadbw(xmm0, xmm1), (d, s, r) =>
    {
        for (int q = 0; q < 2; q++) { int sum = 0; for (int k = 0; k < 8; k++) sum += Math.Abs(d[8 * q + k] - s[8 * q + k]); SetQ(r, q, sum); }
    });
    [Fact] public void Phaddw() => Check("phaddw", a => a.phaddw(xmm0, xmm1), (d, s, r) =>
    {
        for (int k = 0; k < 4; k++) { SetW(r, k, W(d, 2 * k) + W(d, 2 * k + 1)); SetW(r, k + 4, W(s, 2 * k) + W(s, 2 * k + 1)); }
    });
    [Fact] public void Phsubsw() => Check("phsubsw", a => a.phsubsw(xmm0, xmm1), (d, s, r) =>
    {
        for (int k = 0; k < 4; k++) { SetW(r, k, SatW(W(d, 2 * k) - W(d, 2 * k + 1))); SetW(r, k + 4, SatW(W(s, 2 * k) - W(s, 2 * k + 1))); }
    });
    [Fact] public void Pcmpeqb() => Check("pcmpeqb", a => a.pcmpeqb(xmm0, xmm1), (d, s, r) => { for (int k = 0; k < 16; k++) r[k] = d[k] == s[k] ? (byte)0xFF : (byte)0; });
    [Fact] public void Pcmpgtw() => Check("pcmpgtw", a => a.pcmpgtw(xmm0, xmm1), (d, s, r) => { for (int k = 0; k < 8; k++) SetW(r, k, W(d, k) > W(s, k) ? -1 : 0); });
    [Fact] public void Pcmpeqq() => Check("pcmpeqq", a => a.pcmpeqq(xmm0, xmm1), (d, s, r) => { for (int k = 0; k < 2; k++) SetQ(r, k, Q(d, k) == Q(s, k) ? -1 : 0); });
    [Fact] public void Pcmpgtq() => Check("pcmpgtq", a => a.pcmpgtq(xmm0, xmm1), (d, s, r) => { for (int k = 0; k < 2; k++) SetQ(r, k, Q(d, k) > Q(s, k) ? -1 : 0); });
    [Fact] public void Pandn() => Check("pandn", a => a.pandn(xmm0, xmm1), (d, s, r) => { for (int k = 0; k < 16; k++) r[k] = (byte)(~d[k] & s[k]); });
    [Fact] public void Xorps() => Check("xorps", a => a.xorps(xmm0, xmm1), (d, s, r) => { for (int k = 0; k < 16; k++) r[k] = (byte)(d[k] ^ s[k]); });
    [Fact] public void PsrawByRegister() => Check("psraw", a => a.psraw(xmm0, xmm1), (d, s, r) =>
    {
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(s);
        for (int k = 0; k < 8; k++) SetW(r, k, W(d, k) >> (int)Math.Min(n, 15));
    });
    [Fact] public void PsrlqByRegister() => Check("psrlq", a => a.psrlq(xmm0, xmm1), (d, s, r) =>
    {
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(s);
        for (int k = 0; k < 2; k++) SetQ(r, k, n > 63 ? 0 : (long)((ulong)Q(d, k) >> (int)n));
    });
    [Fact] public void Pshufb() => Check("pshufb", a => a.pshufb(xmm0, xmm1), (d, s, r) => { for (int k = 0; k < 16; k++) r[k] = (s[k] & 0x80) != 0 ? (byte)0 : d[s[k] & 15]; });
    [Fact] public void Punpcklbw() => Check("punpcklbw", a => a.punpcklbw(xmm0, xmm1), (d, s, r) => { for (int k = 0; k < 8; k++) { r[2 * k] = d[k]; r[2 * k + 1] = s[k]; } });
    [Fact] public void Punpckhdq() => Check("punpckhdq", a => a.punpckhdq(xmm0, xmm1), (d, s, r) => { SetD(r, 0, D(d, 2)); SetD(r, 1, D(s, 2)); SetD(r, 2, D(d, 3)); SetD(r, 3, D(s, 3)); });
    [Fact] public void Packsswb() => Check("packsswb", a => a.packsswb(xmm0, xmm1), (d, s, r) => { for (int k = 0; k < 8; k++) { r[k] = (byte)SatB(W(d, k)); r[k + 8] = (byte)SatB(W(s, k)); } });
    [Fact] public void Packuswb() => Check("packuswb", a => a.packuswb(xmm0, xmm1), (d, s, r) => { for (int k = 0; k < 8; k++) { r[k] = (byte)SatUB(W(d, k)); r[k + 8] = (byte)SatUB(W(s, k)); } });
    [Fact] public void Packusdw() => Check("packusdw", a => a.packusdw(xmm0, xmm1), (d, s, r) => { for (int k = 0; k < 4; k++) { SetW(r, k, SatUW(D(d, k))); SetW(r, k + 4, SatUW(D(s, k))); } });
    [Fact] public void Palignr() => Check("palignr", a => a.palignr(xmm0, xmm1, 5), (d, s, r) => { for (int k = 0; k < 16; k++) r[k] = k + 5 < 16 ? s[k + 5] : d[k + 5 - 16]; });
    [Fact] public void Palignr20() => Check("palignr20", a => a.palignr(xmm0, xmm1, 20), (d, s, r) => { for (int k = 0; k < 16; k++) r[k] = k + 4 < 16 ? d[k + 4] : (byte)0; });
    [Fact] public void Pshufd() => Check("pshufd", a => a.pshufd(xmm0, xmm1, 0x1B), (d, s, r) => { for (int k = 0; k < 4; k++) SetD(r, k, D(s, 3 - k)); });
    [Fact] public void Pshufhw() => Check("pshufhw", a => a.pshufhw(xmm0, xmm1, 0x4E), (d, s, r) => { for (int k = 0; k < 4; k++) SetW(r, k, W(s, k)); SetW(r, 4, W(s, 6)); SetW(r, 5, W(s, 7)); SetW(r, 6, W(s, 4)); SetW(r, 7, W(s, 5)); });
    [Fact] public void Shufps() => Check("shufps", a => a.shufps(xmm0, xmm1, 0xB1), (d, s, r) => { SetD(r, 0, D(d, 1)); SetD(r, 1, D(d, 0)); SetD(r, 2, D(s, 3)); SetD(r, 3, D(s, 2)); });
    [Fact] public void Pblendw() => Check("pblendw", a => a.pblendw(xmm0, xmm1, 0xA5), (d, s, r) => { for (int k = 0; k < 8; k++) SetW(r, k, ((0xA5 >> k) & 1) != 0 ? W(s, k) : W(d, k)); });
    [Fact] public void Mpsadbw() => Check("mpsadbw", a => a.mpsadbw(xmm0, xmm1, 6), (d, s, r) =>
    {
        for (int k = 0; k < 8; k++) { int sum = 0; for (int j = 0; j < 4; j++) sum += Math.Abs(d[4 + k + j] - s[8 + j]); SetW(r, k, sum); }
    });
    [Fact] public void Phminposuw() => Check("phminposuw", a => a.phminposuw(xmm0, xmm1), (d, s, r) =>
    {
        int idx = 0;
        for (int k = 1; k < 8; k++) if ((ushort)W(s, k) < (ushort)W(s, idx)) idx = k;
        SetW(r, 0, W(s, idx)); SetW(r, 1, idx);
    });
    [Fact] public void Pmovsxbw() => Check("pmovsxbw", a => a.pmovsxbw(xmm0, xmm1), (d, s, r) => { for (int k = 0; k < 8; k++) SetW(r, k, (sbyte)s[k]); });
    [Fact] public void PmovzxwqMemory() => Check("pmovzxwq", a => a.pmovzxwq(xmm0, __dword_ptr[rbx]), (d, s, r) => { for (int k = 0; k < 2; k++) SetQ(r, k, (ushort)W(s, k)); }, memoryForm: true);

    [Theory]
    [InlineData(0), InlineData(3), InlineData(15), InlineData(16), InlineData(200)]
    public void ShiftImmediateForms(int n)
    {
        var rnd = new Random(n);
        byte[] d = RandomBytes(rnd);
        byte m = (byte)n;
        using var h = SseHarness.RunOnce(a =>
        {
            a.movdqa(xmm1, xmm0); a.psllw(xmm1, m);
            a.movdqa(xmm2, xmm0); a.psrad(xmm2, m);
            a.movdqa(xmm3, xmm0); a.psrlq(xmm3, m);
            a.movdqa(xmm4, xmm0); a.pslldq(xmm4, m);
            a.movdqa(xmm5, xmm0); a.psrldq(xmm5, m);
        }, c => c.X(0) = FromBytes(d));
        var c = h.Cpu;
        var r1 = new byte[16]; var r2 = new byte[16]; var r3 = new byte[16]; var r4 = new byte[16]; var r5 = new byte[16];
        for (int k = 0; k < 8; k++) SetW(r1, k, n > 15 ? 0 : W(d, k) << n);
        for (int k = 0; k < 4; k++) SetD(r2, k, D(d, k) >> Math.Min(n, 31));
        for (int k = 0; k < 2; k++) SetQ(r3, k, n > 63 ? 0 : (long)((ulong)Q(d, k) >> n));
        for (int k = 0; k < 16; k++) { r4[k] = n < 16 && k - n >= 0 ? d[k - n] : (byte)0; r5[k] = n < 16 && k + n < 16 ? d[k + n] : (byte)0; }
        Assert.Equal(r1, Bytes(c.X(1)));
        Assert.Equal(r2, Bytes(c.X(2)));
        Assert.Equal(r3, Bytes(c.X(3)));
        Assert.Equal(r4, Bytes(c.X(4)));
        Assert.Equal(r5, Bytes(c.X(5)));
    }

    [Fact]
    public void PtestSetsZfAndCfOnly()
    {
        using var h = new SseHarness(a => a.ptest(xmm0, xmm1));
        h.Exec(c => { c.X(0) = new Xmm(0xF0, 0); c.X(1) = new Xmm(0x0F, 0); c.SetRflags(0x202 | 0x8D5); });
        Assert.Equal(0x40UL, h.Cpu.GetRflags() & 0x8D5); // AND = 0 → ZF; ANDN ≠ 0 → CF clear
        h.Exec(c => { c.X(0) = new Xmm(0xFF, 1); c.X(1) = new Xmm(0x0F, 1); c.SetRflags(0x202); });
        Assert.Equal(0x01UL, h.Cpu.GetRflags() & 0x8D5); // AND ≠ 0, src ⊆ dest → CF
    }

    [Fact]
    public void VariableBlendsUseXmm0Mask()
    {
        using var h = SseHarness.RunOnce(a =>
        {
            a.movdqa(xmm3, xmm1); a.pblendvb(xmm3, xmm2);
            a.movdqa(xmm4, xmm1); a.blendvps(xmm4, xmm2);
            a.movdqa(xmm5, xmm1); a.blendvpd(xmm5, xmm2);
        }, c =>
        {
            c.X(0) = new Xmm(0x8000000000800080UL, 0x0000000080000000UL);
            c.X(1) = new Xmm(0x1111111111111111UL, 0x1111111111111111UL);
            c.X(2) = new Xmm(0x2222222222222222UL, 0x2222222222222222UL);
        });
        Assert.Equal(new Xmm(0x2211111111221122UL, 0x1111111122111111UL).ToString(), h.Cpu.X(3).ToString());
        Assert.Equal(new Xmm(0x2222222211111111UL, 0x1111111122222222UL).ToString(), h.Cpu.X(4).ToString());
        Assert.Equal(new Xmm(0x2222222222222222UL, 0x1111111111111111UL).ToString(), h.Cpu.X(5).ToString());
    }
}
