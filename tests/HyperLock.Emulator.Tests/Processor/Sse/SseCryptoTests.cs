using System.Buffers.Binary;
using HyperLock.Emulator.Processor;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.Emulator.Tests.Processor.Sse;

/// <summary>
/// AES-NI and the SHA extensions against the standards' known answers: whole ciphers and hashes
/// are run in the guest as instruction sequences written here (key expansion with
/// AESKEYGENASSIST, the round sequence with AESENC/AESENCLAST, the equivalent inverse cipher
/// with AESIMC/AESDEC/AESDECLAST, SHA-1 and SHA-256 compression with the SHA instructions), so
/// a wrong byte order, row shift or round function anywhere changes the digest or ciphertext.
/// </summary>
public class SseCryptoTests
{
    // Scratch layout (offsets from RBX, all 16-byte aligned).
    private const int KeyAt = 0x000, PlainAt = 0x040, ShuffleAt = 0x060, EncKeysAt = 0x100, DecKeysAt = 0x200,
        ConstantsAt = 0x300, MessageAt = 0x800;

    private static byte[] Hex(string s) => Convert.FromHexString(s.Replace(" ", ""));

    private static string Hex(Xmm x)
    {
        var b = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(b, x.Lo);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(8), x.Hi);
        return Convert.ToHexString(b).ToLowerInvariant();
    }

    private static string ReadHex(SseHarness h, int offset, int length)
    {
        var b = new byte[length];
        h.Env.Memory.ReadBytes(SseHarness.Data + (ulong)offset, b);
        return Convert.ToHexString(b).ToLowerInvariant();
    }

    // ---- AES ---------------------------------------------------------------------------

    private static readonly byte[] Rcon = [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x1B, 0x36];

    /// <summary>xmm ← w0, w0^w1, w0^w1^w2, w0^w1^w2^w3 (each new word XORs the previous new word), then ^ t.</summary>
    private static void PrefixXor(Assembler a, AssemblerRegisterXMM x, AssemblerRegisterXMM t, AssemblerRegisterXMM tmp)
    {
        a.movdqa(tmp, x);
        for (int k = 0; k < 3; k++)
        {
            a.pslldq(tmp, 4);
            a.pxor(x, tmp);
        }
        a.pxor(x, t);
    }

    /// <summary>FIPS-197 §5.2 for a 128-bit key at [rbx+KeyAt]: 11 round keys to [rbx+EncKeysAt].</summary>
    private static void ExpandKey128(Assembler a)
    {
        a.movdqa(xmm1, __xmmword_ptr[rbx + KeyAt]);
        a.movdqa(__xmmword_ptr[rbx + EncKeysAt], xmm1);
        for (int r = 1; r <= 10; r++)
        {
            a.aeskeygenassist(xmm2, xmm1, Rcon[r - 1]);
            a.pshufd(xmm2, xmm2, 0xFF); // RotWord(SubWord(w[i-1])) ^ Rcon, in every dword
            PrefixXor(a, xmm1, xmm2, xmm3);
            a.movdqa(__xmmword_ptr[rbx + EncKeysAt + 16 * r], xmm1);
        }
    }

    /// <summary>FIPS-197 §5.2 for a 256-bit key at [rbx+KeyAt]: 15 round keys to [rbx+EncKeysAt].</summary>
    private static void ExpandKey256(Assembler a)
    {
        a.movdqa(xmm1, __xmmword_ptr[rbx + KeyAt]);
        a.movdqa(xmm4, __xmmword_ptr[rbx + KeyAt + 16]);
        a.movdqa(__xmmword_ptr[rbx + EncKeysAt], xmm1);
        a.movdqa(__xmmword_ptr[rbx + EncKeysAt + 16], xmm4);
        for (int r = 1; r <= 7; r++)
        {
            a.aeskeygenassist(xmm2, xmm4, Rcon[r - 1]);
            a.pshufd(xmm2, xmm2, 0xFF);
            PrefixXor(a, xmm1, xmm2, xmm3);
            a.movdqa(__xmmword_ptr[rbx + EncKeysAt + 32 * r], xmm1);
            if (r == 7) break;
            a.aeskeygenassist(xmm2, xmm1, 0);
            a.pshufd(xmm2, xmm2, 0xAA); // SubWord(w[i-1]) without rotation or Rcon (i mod 8 = 4)
            PrefixXor(a, xmm4, xmm2, xmm3);
            a.movdqa(__xmmword_ptr[rbx + EncKeysAt + 32 * r + 16], xmm4);
        }
    }

    /// <summary>
    /// Encrypts [rbx+PlainAt] into xmm0 (memory-operand rounds), builds the equivalent inverse
    /// cipher's keys with AESIMC, and decrypts xmm0 into xmm5 (register-operand rounds).
    /// </summary>
    private static void EncryptThenDecrypt(Assembler a, int rounds)
    {
        a.movdqa(xmm0, __xmmword_ptr[rbx + PlainAt]);
        a.pxor(xmm0, __xmmword_ptr[rbx + EncKeysAt]);
        for (int r = 1; r < rounds; r++) a.aesenc(xmm0, __xmmword_ptr[rbx + EncKeysAt + 16 * r]);
        a.aesenclast(xmm0, __xmmword_ptr[rbx + EncKeysAt + 16 * rounds]);

        a.movdqa(xmm6, __xmmword_ptr[rbx + EncKeysAt + 16 * rounds]);
        a.movdqa(__xmmword_ptr[rbx + DecKeysAt], xmm6);
        for (int r = 1; r < rounds; r++)
        {
            a.aesimc(xmm6, __xmmword_ptr[rbx + EncKeysAt + 16 * (rounds - r)]);
            a.movdqa(__xmmword_ptr[rbx + DecKeysAt + 16 * r], xmm6);
        }
        a.movdqa(xmm6, __xmmword_ptr[rbx + EncKeysAt]);
        a.movdqa(__xmmword_ptr[rbx + DecKeysAt + 16 * rounds], xmm6);

        a.movdqa(xmm5, xmm0);
        a.pxor(xmm5, __xmmword_ptr[rbx + DecKeysAt]);
        for (int r = 1; r < rounds; r++)
        {
            a.movdqa(xmm6, __xmmword_ptr[rbx + DecKeysAt + 16 * r]);
            a.aesdec(xmm5, xmm6);
        }
        a.movdqa(xmm6, __xmmword_ptr[rbx + DecKeysAt + 16 * rounds]);
        a.aesdeclast(xmm5, xmm6);
    }

    private static SseHarness RunAes(string key, string plain, bool aes256)
    {
        var h = new SseHarness(a =>
        {
            if (aes256) ExpandKey256(a); else ExpandKey128(a);
            EncryptThenDecrypt(a, aes256 ? 14 : 10);
        });
        h.WriteData(KeyAt, Hex(key));
        h.WriteData(PlainAt, Hex(plain));
        Assert.Equal("int3", h.Exec().ToString());
        return h;
    }

    [Fact]
    public void Aes128KeyExpansionMatchesFips197AppendixA1()
    {
        using var h = RunAes("2b7e151628aed2a6abf7158809cf4f3c", "3243f6a8885a308d313198a2e0370734", aes256: false);
        // w[4..7], w[8..11] and w[40..43] of the expanded key (Appendix A.1).
        Assert.Equal("a0fafe1788542cb123a339392a6c7605", ReadHex(h, EncKeysAt + 16, 16));
        Assert.Equal("f2c295f27a96b9435935807a7359f67f", ReadHex(h, EncKeysAt + 32, 16));
        Assert.Equal("d014f9a8c9ee2589e13f0cc8b6630ca6", ReadHex(h, EncKeysAt + 160, 16));
        // Appendix B: the cipher example with the same key.
        Assert.Equal("3925841d02dc09fbdc118597196a0b32", Hex(h.Cpu.X(0)));
        Assert.Equal("3243f6a8885a308d313198a2e0370734", Hex(h.Cpu.X(5)));
    }

    [Fact]
    public void Aes128EncryptsAndDecryptsFips197AppendixC1()
    {
        using var h = RunAes("000102030405060708090a0b0c0d0e0f", "00112233445566778899aabbccddeeff", aes256: false);
        Assert.Equal("69c4e0d86a7b0430d8cdb78070b4c55a", Hex(h.Cpu.X(0)));
        Assert.Equal("00112233445566778899aabbccddeeff", Hex(h.Cpu.X(5)));
    }

    [Fact]
    public void Aes256EncryptsAndDecryptsFips197AppendixC3()
    {
        using var h = RunAes("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            "00112233445566778899aabbccddeeff", aes256: true);
        Assert.Equal("8ea2b7ca516745bfeafc49904b496089", Hex(h.Cpu.X(0)));
        Assert.Equal("00112233445566778899aabbccddeeff", Hex(h.Cpu.X(5)));
    }

    [Fact]
    public void AeskeygenassistComputesBothWordsFromDwordsOneAndThree()
    {
        // Source dwords: X0 = 0x00000000 (ignored), X1 = 0x00010203, X2 = 0xFFFFFFFF (ignored), X3 = 0x53535353.
        // S(0x00) = 0x63, S(0x01) = 0x7c, S(0x02) = 0x77, S(0x03) = 0x7b; S(0x53) = 0xed (FIPS-197 Figure 7).
        using var h = SseHarness.RunOnce(a => a.aeskeygenassist(xmm0, xmm1, 0x9A),
            c => c.X(1) = new Xmm(0x00010203_00000000, 0x53535353_FFFFFFFF));
        uint sub1 = 0x637c777b, sub3 = 0xedededed;
        uint rot1 = (sub1 >> 8 | sub1 << 24) ^ 0x9A, rot3 = (sub3 >> 8 | sub3 << 24) ^ 0x9A;
        Assert.Equal(new Xmm(sub1 | (ulong)rot1 << 32, sub3 | (ulong)rot3 << 32).ToString(), h.Cpu.X(0).ToString());
    }

    // ---- SHA ---------------------------------------------------------------------------

    /// <summary>FIPS 180-4 §5.1.1: append 0x80, zeros, and the bit length (big-endian) to a multiple of 64 bytes.</summary>
    private static byte[] Pad(byte[] message)
    {
        int blocks = (message.Length + 8) / 64 + 1;
        var p = new byte[blocks * 64];
        message.CopyTo(p, 0);
        p[message.Length] = 0x80;
        BinaryPrimitives.WriteUInt64BigEndian(p.AsSpan(p.Length - 8), (ulong)message.Length * 8);
        return p;
    }

    private static Xmm Dwords(uint d0, uint d1, uint d2, uint d3) => new(d0 | (ulong)d1 << 32, d2 | (ulong)d3 << 32);

    private static uint Dw(Xmm x, int k) => (uint)((k < 2 ? x.Lo : x.Hi) >> (k % 2 * 32));

    /// <summary>
    /// SHA-1 over <paramref name="blocks"/> 64-byte blocks at [rbx+MessageAt]. xmm0 = ABCD (A in
    /// dword 3), xmm1/xmm2 alternate as E (dword 3), xmm3-xmm6 hold message words W[4g..4g+3]
    /// (W[4g] in dword 3), xmm7/xmm8 save ABCD/E across a block; xmm9 is the byte-reversing shuffle.
    /// </summary>
    private static void Sha1Blocks(Assembler a, int blocks)
    {
        var msg = new[] { xmm3, xmm4, xmm5, xmm6 };
        var e = new[] { xmm1, xmm2 };
        a.movdqa(xmm9, __xmmword_ptr[rbx + ShuffleAt]);
        for (int blk = 0; blk < blocks; blk++)
        {
            a.movdqa(xmm7, xmm0);
            a.movdqa(xmm8, xmm1);
            for (int g = 0; g < 20; g++)
            {
                var m = msg[g % 4];
                if (g < 4)
                {
                    a.movdqa(m, __xmmword_ptr[rbx + MessageAt + 64 * blk + 16 * g]);
                    a.pshufb(m, xmm9); // big-endian words, W[4g] in dword 3
                }
                else
                {
                    // W[i] = (W[i-3] ^ W[i-8] ^ W[i-14] ^ W[i-16]) <<< 1 for the four words of group g.
                    a.sha1msg1(m, msg[(g + 1) % 4]);
                    a.pxor(m, msg[(g + 2) % 4]);
                    a.sha1msg2(m, msg[(g + 3) % 4]);
                }
                var cur = e[g % 2];
                if (g == 0) a.paddd(cur, m); // E + W0 for the first round
                else a.sha1nexte(cur, m);    // E (from A four rounds back) + W[4g]
                a.movdqa(e[(g + 1) % 2], xmm0);
                switch (g / 5)
                {
                    case 0: a.sha1rnds4(xmm0, cur, 0); break;
                    case 1: a.sha1rnds4(xmm0, cur, 1); break;
                    case 2: a.sha1rnds4(xmm0, cur, 2); break;
                    default: a.sha1rnds4(xmm0, cur, 3); break;
                }
            }
            // Next E = saved E + (A before the last four rounds) <<< 30; ABCD += saved.
            a.sha1nexte(e[0], xmm8);
            a.movdqa(xmm1, e[0]);
            a.paddd(xmm0, xmm7);
        }
    }

    private static string Sha1(byte[] message)
    {
        var padded = Pad(message);
        using var h = new SseHarness(a => Sha1Blocks(a, padded.Length / 64));
        h.WriteData(MessageAt, padded);
        h.WriteData64(ShuffleAt, 0x08090A0B0C0D0E0F);
        h.WriteData64(ShuffleAt + 8, 0x0001020304050607);
        Assert.Equal("int3", h.Exec(c =>
        {
            c.X(0) = Dwords(0x10325476, 0x98BADCFE, 0xEFCDAB89, 0x67452301);
            c.X(1) = Dwords(0, 0, 0, 0xC3D2E1F0);
        }).ToString());
        Xmm abcd = h.Cpu.X(0), e = h.Cpu.X(1);
        return $"{Dw(abcd, 3):x8}{Dw(abcd, 2):x8}{Dw(abcd, 1):x8}{Dw(abcd, 0):x8}{Dw(e, 3):x8}";
    }

    /// <summary>FIPS 180-4 §4.2.2: the first 32 bits of the fractional parts of the cube roots of the first 64 primes (exact integer cube root).</summary>
    private static uint[] Sha256K()
    {
        var k = new uint[64];
        int n = 0;
        for (int p = 2; n < 64; p++)
        {
            bool prime = true;
            for (int d = 2; d * d <= p; d++) if (p % d == 0) { prime = false; break; }
            if (!prime) continue;
            // floor(cbrt(p) * 2^32) = the largest x with x^3 <= p * 2^96.
            UInt128 target = (UInt128)p << 96, lo = 0, hi = (UInt128)1 << 36;
            while (lo < hi)
            {
                UInt128 mid = (lo + hi + 1) >> 1;
                if (mid * mid * mid <= target) lo = mid; else hi = mid - 1;
            }
            k[n++] = (uint)lo;
        }
        return k;
    }

    /// <summary>
    /// SHA-256 over <paramref name="blocks"/> blocks at [rbx+MessageAt]. xmm1 = ABEF (A in dword 3,
    /// F in dword 0), xmm2 = CDGH; xmm0 is the implicit W+K operand; xmm3-xmm6 hold W[4g..4g+3]
    /// (W[4g] in dword 0); xmm7/xmm8 save the state; xmm9 the per-dword byte swap; xmm10 scratch.
    /// </summary>
    private static void Sha256Blocks(Assembler a, int blocks)
    {
        var msg = new[] { xmm3, xmm4, xmm5, xmm6 };
        a.movdqa(xmm9, __xmmword_ptr[rbx + ShuffleAt]);
        for (int blk = 0; blk < blocks; blk++)
        {
            a.movdqa(xmm7, xmm1);
            a.movdqa(xmm8, xmm2);
            for (int g = 0; g < 16; g++)
            {
                var m = msg[g % 4];
                if (g < 4)
                {
                    a.movdqa(m, __xmmword_ptr[rbx + MessageAt + 64 * blk + 16 * g]);
                    a.pshufb(m, xmm9);
                }
                else
                {
                    // W[i] = σ1(W[i-2]) + W[i-7] + σ0(W[i-15]) + W[i-16].
                    a.sha256msg1(m, msg[(g + 1) % 4]);
                    a.movdqa(xmm10, msg[(g + 3) % 4]);
                    a.palignr(xmm10, msg[(g + 2) % 4], 4); // W[4g-7..4g-4]
                    a.paddd(m, xmm10);
                    a.sha256msg2(m, msg[(g + 3) % 4]);
                }
                a.movdqa(xmm0, m);
                a.paddd(xmm0, __xmmword_ptr[rbx + ConstantsAt + 16 * g]);
                a.sha256rnds2(xmm2, xmm1); // rounds 4g, 4g+1: CDGH becomes the new ABEF
                a.pshufd(xmm0, xmm0, 0x0E);
                a.sha256rnds2(xmm1, xmm2); // rounds 4g+2, 4g+3
            }
            a.paddd(xmm1, xmm7);
            a.paddd(xmm2, xmm8);
        }
    }

    private static string Sha256(byte[] message)
    {
        var padded = Pad(message);
        using var h = new SseHarness(a => Sha256Blocks(a, padded.Length / 64));
        h.WriteData(MessageAt, padded);
        h.WriteData64(ShuffleAt, 0x0405060700010203);
        h.WriteData64(ShuffleAt + 8, 0x0C0D0E0F08090A0B);
        var k = Sha256K();
        for (int t = 0; t < 64; t += 2) h.WriteData64(ConstantsAt + (ulong)t * 4, k[t] | (ulong)k[t + 1] << 32);
        Assert.Equal("int3", h.Exec(c =>
        {
            // H(0) (FIPS 180-4 §5.3.3): a..h = 6a09e667 bb67ae85 3c6ef372 a54ff53a 510e527f 9b05688c 1f83d9ab 5be0cd19.
            c.X(1) = Dwords(0x9B05688C, 0x510E527F, 0xBB67AE85, 0x6A09E667); // F, E, B, A
            c.X(2) = Dwords(0x5BE0CD19, 0x1F83D9AB, 0xA54FF53A, 0x3C6EF372); // H, G, D, C
        }).ToString());
        Xmm abef = h.Cpu.X(1), cdgh = h.Cpu.X(2);
        return $"{Dw(abef, 3):x8}{Dw(abef, 2):x8}{Dw(cdgh, 3):x8}{Dw(cdgh, 2):x8}"
            + $"{Dw(abef, 1):x8}{Dw(abef, 0):x8}{Dw(cdgh, 1):x8}{Dw(cdgh, 0):x8}";
    }

    private static byte[] Ascii(string s) => System.Text.Encoding.ASCII.GetBytes(s);

    private const string TwoBlockMessage = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

    [Fact]
    public void Sha1OfAbcMatchesFips180_4() =>
        Assert.Equal("a9993e364706816aba3e25717850c26c9cd0d89d", Sha1(Ascii("abc")));

    [Fact]
    public void Sha1OfTheTwoBlockExampleMatchesFips180_4() =>
        Assert.Equal("84983e441c3bd26ebaae4aa1f95129e5e54670f1", Sha1(Ascii(TwoBlockMessage)));

    [Fact]
    public void Sha256OfAbcMatchesFips180_4() =>
        Assert.Equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", Sha256(Ascii("abc")));

    [Fact]
    public void Sha256OfTheTwoBlockExampleMatchesFips180_4() =>
        Assert.Equal("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1", Sha256(Ascii(TwoBlockMessage)));

    [Fact]
    public void Sha256Rnds2ReadsXmm0EvenWhenItIsAnOperand()
    {
        // With xmm0 as the source, the same register supplies A,B,E,F and W+K: the result must
        // equal running with a copy of xmm0 in another register.
        var state = new Xmm(0x0123456789ABCDEF, 0xFEDCBA9876543210);
        var wk = new Xmm(0x1111111122222222, 0x3333333344444444);
        using var same = SseHarness.RunOnce(a => a.sha256rnds2(xmm2, xmm0), c => { c.X(0) = wk; c.X(2) = state; });
        using var copy = SseHarness.RunOnce(a => a.sha256rnds2(xmm2, xmm3), c => { c.X(0) = wk; c.X(3) = wk; c.X(2) = state; });
        Assert.Equal(copy.Cpu.X(2).ToString(), same.Cpu.X(2).ToString());
        Assert.NotEqual(state.ToString(), same.Cpu.X(2).ToString());
    }
    // ---- availability and alignment ----------------------------------------------------

    /// <summary>Every legacy crypto form with a memory source at [rbx + displacement].</summary>
    private static readonly Dictionary<string, Action<Assembler, AssemblerMemoryOperand>> MemoryForms = new()
    {
        ["aesenc"] = (a, m) => a.aesenc(xmm1, m),
        ["aesenclast"] = (a, m) => a.aesenclast(xmm1, m),
        ["aesdec"] = (a, m) => a.aesdec(xmm1, m),
        ["aesdeclast"] = (a, m) => a.aesdeclast(xmm1, m),
        ["aesimc"] = (a, m) => a.aesimc(xmm1, m),
        ["aeskeygenassist"] = (a, m) => a.aeskeygenassist(xmm1, m, 1),
        ["pclmulqdq"] = (a, m) => a.pclmulqdq(xmm1, m, 0x11),
        ["sha1rnds4"] = (a, m) => a.sha1rnds4(xmm1, m, 2),
        ["sha1nexte"] = (a, m) => a.sha1nexte(xmm1, m),
        ["sha1msg1"] = (a, m) => a.sha1msg1(xmm1, m),
        ["sha1msg2"] = (a, m) => a.sha1msg2(xmm1, m),
        ["sha256rnds2"] = (a, m) => a.sha256rnds2(xmm1, m),
        ["sha256msg1"] = (a, m) => a.sha256msg1(xmm1, m),
        ["sha256msg2"] = (a, m) => a.sha256msg2(xmm1, m),
    };

    public static TheoryData<string> FormNames() => new(MemoryForms.Keys);

    private static readonly Xmm Before = new(0x0123456789ABCDEF, 0x0F1E2D3C4B5A6978);

    private static SseHarness Form(string name, int displacement) => new(a => MemoryForms[name](a, __xmmword_ptr[rbx + displacement]));

    [Theory, MemberData(nameof(FormNames))]
    public void AlignedMemoryOperandExecutesAndChangesTheDestination(string name)
    {
        using var h = Form(name, 16);
        h.WriteData64(16, 0x5555AAAA5555AAAA);
        h.WriteData64(24, 0x3333CCCC3333CCCC);
        Assert.Equal("int3", h.Exec(c => { c.X(1) = Before; c.X(0) = new Xmm(7, 9); }).ToString());
        Assert.NotEqual(Before.ToString(), h.Cpu.X(1).ToString());
    }

    [Theory, MemberData(nameof(FormNames))]
    public void MisalignedMemoryOperandRaisesGpAndLeavesTheDestination(string name)
    {
        using var h = Form(name, 8);
        Assert.Equal("#GP(0)", h.Exec(c => c.X(1) = Before).ToString());
        Assert.Equal(Before.ToString(), h.Cpu.X(1).ToString());
    }

    [Theory, MemberData(nameof(FormNames))]
    public void Cr0TsRaisesNm(string name)
    {
        using var h = Form(name, 16);
        Assert.Equal("#NM", h.Exec(c => { c.Cr0 |= Bits.Cr0Ts; c.X(1) = Before; }).ToString());
        Assert.Equal(Before.ToString(), h.Cpu.X(1).ToString());
    }

    [Theory, MemberData(nameof(FormNames))]
    public void Cr0EmOrOsfxsrClearRaisesUd(string name)
    {
        using var h = Form(name, 16);
        Assert.Equal("#UD", h.Exec(c => c.Cr0 |= Bits.Cr0Em | Bits.Cr0Ts).ToString());
        Assert.Equal("#UD", h.Exec(c => { c.Cr0 &= ~(Bits.Cr0Em | Bits.Cr0Ts); c.Cr4 &= ~Bits.Cr4Osfxsr; }).ToString());
    }
}
