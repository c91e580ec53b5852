using System.Numerics;
using System.Runtime.CompilerServices;
using HyperLock.Emulator.Processor.Decode;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;
using V = System.Runtime.Intrinsics.Vector128<byte>;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>
/// The cryptographic extensions, legacy (non-VEX) forms: AES-NI (AESENC, AESENCLAST, AESDEC,
/// AESDECLAST, AESIMC, AESKEYGENASSIST), PCLMULQDQ, and the SHA extensions (SHA1RNDS4,
/// SHA1NEXTE, SHA1MSG1, SHA1MSG2, SHA256RNDS2, SHA256MSG1, SHA256MSG2). All are computed in
/// software from the SDM's operation sections (the host's AES/CLMUL/SHA units are never used,
/// so the differential pass compares two independent implementations). They share the SSE
/// rules: #UD when CR0.EM = 1 or CR4.OSFXSR = 0, #NM when CR0.TS = 1, #GP(0) for a 16-byte
/// memory operand that is not 16-byte aligned; no flags, no MXCSR.
/// Dwords are numbered as the SDM does: dword 0 is bits 31:0, dword 3 is bits 127:96.
/// </summary>
internal static unsafe partial class Sse
{
    private static void RegisterCrypto()
    {
        SetV<Aesenc>(Mnemonic.Aesenc); SetV<Aesenclast>(Mnemonic.Aesenclast);
        SetV<Aesdec>(Mnemonic.Aesdec); SetV<Aesdeclast>(Mnemonic.Aesdeclast);
        SetV<Aesimc>(Mnemonic.Aesimc); SetV<Aeskeygenassist>(Mnemonic.Aeskeygenassist);
        SetV<Pclmulqdq>(Mnemonic.Pclmulqdq);
        SetV<Sha1rnds4>(Mnemonic.Sha1rnds4); SetV<Sha1nexte>(Mnemonic.Sha1nexte);
        SetV<Sha1msg1>(Mnemonic.Sha1msg1); SetV<Sha1msg2>(Mnemonic.Sha1msg2);
        SetV<Sha256msg1>(Mnemonic.Sha256msg1); SetV<Sha256msg2>(Mnemonic.Sha256msg2);
        SetX(Mnemonic.Sha256rnds2, &Sha256rnds2);
    }

    // ---- dword access ------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Dw(Xmm x, int k) => (uint)((k < 2 ? x.Lo : x.Hi) >> ((k & 1) * 32));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Xmm Dwords(uint d0, uint d1, uint d2, uint d3) => new(d0 | (ulong)d1 << 32, d2 | (ulong)d3 << 32);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int B(uint column, int row) => (int)(column >> (row * 8)) & 0xFF;

    // ---- AES-NI ------------------------------------------------------------------------
    // The state is 16 bytes in FIPS-197 order: byte 4c + r is row r of column c, so column c
    // is dword c. ShiftRows moves row r left by r columns: output column c takes row r from
    // input column c + r (InvShiftRows: from c − r).

    /// <summary>AESENC: ShiftRows, SubBytes, MixColumns, then XOR with the round key (source).</summary>
    private struct Aesenc : IVecOp
    {
        public static V Op(V d, V s, byte m)
        {
            Xmm st = ToX(d), key = ToX(s);
            uint c0 = Dw(st, 0), c1 = Dw(st, 1), c2 = Dw(st, 2), c3 = Dw(st, 3);
            return ToV(Dwords(
                EncColumn(c0, c1, c2, c3) ^ Dw(key, 0), EncColumn(c1, c2, c3, c0) ^ Dw(key, 1),
                EncColumn(c2, c3, c0, c1) ^ Dw(key, 2), EncColumn(c3, c0, c1, c2) ^ Dw(key, 3)));
        }
    }

    /// <summary>AESENCLAST: ShiftRows, SubBytes, XOR with the round key (no MixColumns).</summary>
    private struct Aesenclast : IVecOp
    {
        public static V Op(V d, V s, byte m)
        {
            Xmm st = ToX(d), key = ToX(s);
            uint c0 = Dw(st, 0), c1 = Dw(st, 1), c2 = Dw(st, 2), c3 = Dw(st, 3);
            return ToV(Dwords(
                SubColumn(c0, c1, c2, c3, AesTables.Sbox) ^ Dw(key, 0), SubColumn(c1, c2, c3, c0, AesTables.Sbox) ^ Dw(key, 1),
                SubColumn(c2, c3, c0, c1, AesTables.Sbox) ^ Dw(key, 2), SubColumn(c3, c0, c1, c2, AesTables.Sbox) ^ Dw(key, 3)));
        }
    }

    /// <summary>AESDEC: InvShiftRows, InvSubBytes, InvMixColumns, then XOR with the round key.</summary>
    private struct Aesdec : IVecOp
    {
        public static V Op(V d, V s, byte m)
        {
            Xmm st = ToX(d), key = ToX(s);
            uint c0 = Dw(st, 0), c1 = Dw(st, 1), c2 = Dw(st, 2), c3 = Dw(st, 3);
            return ToV(Dwords(
                DecColumn(c0, c3, c2, c1) ^ Dw(key, 0), DecColumn(c1, c0, c3, c2) ^ Dw(key, 1),
                DecColumn(c2, c1, c0, c3) ^ Dw(key, 2), DecColumn(c3, c2, c1, c0) ^ Dw(key, 3)));
        }
    }

    /// <summary>AESDECLAST: InvShiftRows, InvSubBytes, XOR with the round key (no InvMixColumns).</summary>
    private struct Aesdeclast : IVecOp
    {
        public static V Op(V d, V s, byte m)
        {
            Xmm st = ToX(d), key = ToX(s);
            uint c0 = Dw(st, 0), c1 = Dw(st, 1), c2 = Dw(st, 2), c3 = Dw(st, 3);
            return ToV(Dwords(
                SubColumn(c0, c3, c2, c1, AesTables.InvSbox) ^ Dw(key, 0), SubColumn(c1, c0, c3, c2, AesTables.InvSbox) ^ Dw(key, 1),
                SubColumn(c2, c1, c0, c3, AesTables.InvSbox) ^ Dw(key, 2), SubColumn(c3, c2, c1, c0, AesTables.InvSbox) ^ Dw(key, 3)));
        }
    }

    /// <summary>AESIMC: InvMixColumns of the source (turns an encryption round key into a decryption one).</summary>
    private struct Aesimc : IVecOp
    {
        public static V Op(V d, V s, byte m)
        {
            Xmm x = ToX(s);
            return ToV(Dwords(InvMixColumn(Dw(x, 0)), InvMixColumn(Dw(x, 1)), InvMixColumn(Dw(x, 2)), InvMixColumn(Dw(x, 3))));
        }
    }

    /// <summary>
    /// AESKEYGENASSIST: from source dwords X1 and X3 and RCON = imm8:
    /// (SubWord(X1), RotWord(SubWord(X1)) ⊕ RCON, SubWord(X3), RotWord(SubWord(X3)) ⊕ RCON),
    /// where RotWord is a right rotation by 8 bits.
    /// </summary>
    private struct Aeskeygenassist : IVecOp
    {
        public static V Op(V d, V s, byte m)
        {
            Xmm x = ToX(s);
            uint x1 = SubWord(Dw(x, 1)), x3 = SubWord(Dw(x, 3));
            return ToV(Dwords(x1, BitOperations.RotateRight(x1, 8) ^ m, x3, BitOperations.RotateRight(x3, 8) ^ m));
        }
    }

    /// <summary>One output column of ShiftRows+SubBytes+MixColumns: row r comes from input column r (a0..a3 pre-shifted).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint EncColumn(uint a0, uint a1, uint a2, uint a3)
    {
        var t = AesTables.Encrypt;
        return t[B(a0, 0)] ^ BitOperations.RotateLeft(t[B(a1, 1)], 8)
            ^ BitOperations.RotateLeft(t[B(a2, 2)], 16) ^ BitOperations.RotateLeft(t[B(a3, 3)], 24);
    }

    /// <summary>One output column of InvShiftRows+InvSubBytes+InvMixColumns (a0..a3 pre-shifted).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint DecColumn(uint a0, uint a1, uint a2, uint a3)
    {
        var t = AesTables.Decrypt;
        return t[B(a0, 0)] ^ BitOperations.RotateLeft(t[B(a1, 1)], 8)
            ^ BitOperations.RotateLeft(t[B(a2, 2)], 16) ^ BitOperations.RotateLeft(t[B(a3, 3)], 24);
    }

    /// <summary>One output column of (Inv)ShiftRows+(Inv)SubBytes: row r from input column r through <paramref name="box"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint SubColumn(uint a0, uint a1, uint a2, uint a3, byte[] box) =>
        box[B(a0, 0)] | (uint)box[B(a1, 1)] << 8 | (uint)box[B(a2, 2)] << 16 | (uint)box[B(a3, 3)] << 24;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint InvMixColumn(uint a)
    {
        var t = AesTables.InvMix;
        return t[B(a, 0)] ^ BitOperations.RotateLeft(t[B(a, 1)], 8)
            ^ BitOperations.RotateLeft(t[B(a, 2)], 16) ^ BitOperations.RotateLeft(t[B(a, 3)], 24);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint SubWord(uint w) => SubColumn(w, w, w, w, AesTables.Sbox);

    // ---- PCLMULQDQ ---------------------------------------------------------------------

    /// <summary>PCLMULQDQ: carry-less product of dest quadword imm8[0] and source quadword imm8[4].</summary>
    private struct Pclmulqdq : IVecOp
    {
        public static V Op(V d, V s, byte m)
        {
            Xmm a = ToX(d), b = ToX(s);
            ulong x = (m & 0x01) != 0 ? a.Hi : a.Lo;
            ulong y = (m & 0x10) != 0 ? b.Hi : b.Lo;
            ulong lo = 0, hi = 0;
            for (int k = 0; k < 64; k++)
            {
                ulong take = 0UL - ((y >> k) & 1);
                lo ^= (x << k) & take;
                if (k != 0) hi ^= (x >> (64 - k)) & take;
            }
            return ToV(new Xmm(lo, hi));
        }
    }

    // ---- SHA-1 -------------------------------------------------------------------------

    /// <summary>
    /// SHA1RNDS4: four SHA-1 rounds. Dest holds A (dword 3), B, C, D (dword 0); the source holds
    /// W0+E (dword 3), W1, W2, W3; imm8[1:0] selects the round function and constant.
    /// </summary>
    private struct Sha1rnds4 : IVecOp
    {
        public static V Op(V d, V s, byte m)
        {
            Xmm st = ToX(d), w = ToX(s);
            uint a = Dw(st, 3), b = Dw(st, 2), c = Dw(st, 1), dd = Dw(st, 0), e = 0;
            int fn = m & 3;
            uint k = fn switch { 0 => 0x5A827999u, 1 => 0x6ED9EBA1u, 2 => 0x8F1BBCDCu, _ => 0xCA62C1D6u };
            for (int r = 0; r < 4; r++)
            {
                uint f = fn switch
                {
                    0 => (b & c) ^ (~b & dd),
                    2 => (b & c) ^ (b & dd) ^ (c & dd),
                    _ => b ^ c ^ dd,
                };
                // Round 0's E is already folded into W0 by SHA1NEXTE.
                uint na = f + BitOperations.RotateLeft(a, 5) + Dw(w, 3 - r) + e + k;
                e = dd; dd = c; c = BitOperations.RotateLeft(b, 30); b = a; a = na;
            }
            return ToV(Dwords(dd, c, b, a));
        }
    }

    /// <summary>SHA1NEXTE: dest dword 3 ← source dword 3 + (dest dword 3 &lt;&lt;&lt; 30); the rest from the source.</summary>
    private struct Sha1nexte : IVecOp
    {
        public static V Op(V d, V s, byte m)
        {
            Xmm a = ToX(d), b = ToX(s);
            return ToV(Dwords(Dw(b, 0), Dw(b, 1), Dw(b, 2), Dw(b, 3) + BitOperations.RotateLeft(Dw(a, 3), 30)));
        }
    }

    /// <summary>SHA1MSG1: the XORs W[i−14] ⊕ W[i−16] of the next four message words (dest W0..W3, source W4, W5).</summary>
    private struct Sha1msg1 : IVecOp
    {
        public static V Op(V d, V s, byte m)
        {
            Xmm a = ToX(d), b = ToX(s);
            uint w0 = Dw(a, 3), w1 = Dw(a, 2), w2 = Dw(a, 1), w3 = Dw(a, 0), w4 = Dw(b, 3), w5 = Dw(b, 2);
            return ToV(Dwords(w5 ^ w3, w4 ^ w2, w3 ^ w1, w2 ^ w0));
        }
    }

    /// <summary>SHA1MSG2: finishes W16..W19 = (partial ⊕ W[i−3]) &lt;&lt;&lt; 1 from SHA1MSG1's result (dest) and W13..W15 (source).</summary>
    private struct Sha1msg2 : IVecOp
    {
        public static V Op(V d, V s, byte m)
        {
            Xmm a = ToX(d), b = ToX(s);
            uint w13 = Dw(b, 2), w14 = Dw(b, 1), w15 = Dw(b, 0);
            uint w16 = BitOperations.RotateLeft(Dw(a, 3) ^ w13, 1);
            uint w17 = BitOperations.RotateLeft(Dw(a, 2) ^ w14, 1);
            uint w18 = BitOperations.RotateLeft(Dw(a, 1) ^ w15, 1);
            uint w19 = BitOperations.RotateLeft(Dw(a, 0) ^ w16, 1);
            return ToV(Dwords(w19, w18, w17, w16));
        }
    }

    // ---- SHA-256 -----------------------------------------------------------------------

    private static uint SmallSigma0(uint x) => BitOperations.RotateRight(x, 7) ^ BitOperations.RotateRight(x, 18) ^ (x >> 3);
    private static uint SmallSigma1(uint x) => BitOperations.RotateRight(x, 17) ^ BitOperations.RotateRight(x, 19) ^ (x >> 10);

    /// <summary>SHA256MSG1: W[i] + σ0(W[i+1]) for the four words W0..W3 (dest) with W4 (source dword 0).</summary>
    private struct Sha256msg1 : IVecOp
    {
        public static V Op(V d, V s, byte m)
        {
            Xmm a = ToX(d), b = ToX(s);
            uint w0 = Dw(a, 0), w1 = Dw(a, 1), w2 = Dw(a, 2), w3 = Dw(a, 3), w4 = Dw(b, 0);
            return ToV(Dwords(w0 + SmallSigma0(w1), w1 + SmallSigma0(w2), w2 + SmallSigma0(w3), w3 + SmallSigma0(w4)));
        }
    }

    /// <summary>SHA256MSG2: W16..W19 = partial + σ1(W[i−2]), with W14, W15 from source dwords 2, 3.</summary>
    private struct Sha256msg2 : IVecOp
    {
        public static V Op(V d, V s, byte m)
        {
            Xmm a = ToX(d), b = ToX(s);
            uint w14 = Dw(b, 2), w15 = Dw(b, 3);
            uint w16 = Dw(a, 0) + SmallSigma1(w14);
            uint w17 = Dw(a, 1) + SmallSigma1(w15);
            uint w18 = Dw(a, 2) + SmallSigma1(w16);
            uint w19 = Dw(a, 3) + SmallSigma1(w17);
            return ToV(Dwords(w16, w17, w18, w19));
        }
    }

    /// <summary>
    /// SHA256RNDS2 xmm1, xmm2/m128, &lt;XMM0&gt;: two SHA-256 rounds. The source holds A, B, E, F
    /// (dwords 3, 2, 1, 0), the destination C, D, G, H; XMM0 dwords 0 and 1 hold W+K for the two
    /// rounds. The new A, B, E, F go to the destination in the same places.
    /// </summary>
    private static void Sha256rnds2(Cpu c, ref Insn i)
    {
        if (!c.SseAvailable()) return;
        Xmm src = c.XmmSrc(ref i, 1);
        if (c.Faulted) return;
        Xmm wk = c.X(0);
        ref Xmm dst = ref c.X(i.R0);
        uint a = Dw(src, 3), b = Dw(src, 2), e = Dw(src, 1), f = Dw(src, 0);
        uint cc = Dw(dst, 3), d = Dw(dst, 2), g = Dw(dst, 1), h = Dw(dst, 0);
        for (int r = 0; r < 2; r++)
        {
            uint t1 = h + (BitOperations.RotateRight(e, 6) ^ BitOperations.RotateRight(e, 11) ^ BitOperations.RotateRight(e, 25))
                + ((e & f) ^ (~e & g)) + Dw(wk, r);
            uint t2 = (BitOperations.RotateRight(a, 2) ^ BitOperations.RotateRight(a, 13) ^ BitOperations.RotateRight(a, 22))
                + ((a & b) ^ (a & cc) ^ (b & cc));
            h = g; g = f; f = e; e = d + t1;
            d = cc; cc = b; b = a; a = t1 + t2;
        }
        dst = Dwords(f, e, b, a);
    }
}
