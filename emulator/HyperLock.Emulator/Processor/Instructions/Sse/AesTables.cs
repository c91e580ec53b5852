namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>
/// The AES (FIPS-197) lookup tables the AES-NI instructions use, computed once at type
/// initialisation from their definitions rather than typed in: the S-box is the multiplicative
/// inverse in GF(2^8) (modulo x^8 + x^4 + x^3 + x + 1) followed by the affine map, and the
/// round tables fold SubBytes into MixColumns so one lookup per byte does both.
/// A column is a little-endian uint: row 0 in bits 7:0 … row 3 in bits 31:24.
/// </summary>
internal static class AesTables
{
    /// <summary>SubBytes.</summary>
    public static readonly byte[] Sbox = new byte[256];

    /// <summary>InvSubBytes.</summary>
    public static readonly byte[] InvSbox = new byte[256];

    /// <summary>The column MixColumns makes from S(x) in row 0 and zeros elsewhere: (2·S, S, S, 3·S).
    /// A byte in row r contributes the same column rotated left by 8r bits.</summary>
    public static readonly uint[] Encrypt = new uint[256];

    /// <summary>The column InvMixColumns makes from InvS(x) in row 0: (14·S⁻¹, 9·S⁻¹, 13·S⁻¹, 11·S⁻¹).</summary>
    public static readonly uint[] Decrypt = new uint[256];

    /// <summary>The column InvMixColumns makes from x itself in row 0 (AESIMC): (14·x, 9·x, 13·x, 11·x).</summary>
    public static readonly uint[] InvMix = new uint[256];

    static AesTables()
    {
        for (int x = 0; x < 256; x++)
        {
            byte inv = Inverse((byte)x);
            // Affine map: b ⊕ (b <<< 1) ⊕ (b <<< 2) ⊕ (b <<< 3) ⊕ (b <<< 4) ⊕ 0x63.
            int b = inv;
            int s = b ^ Rol8(b, 1) ^ Rol8(b, 2) ^ Rol8(b, 3) ^ Rol8(b, 4) ^ 0x63;
            Sbox[x] = (byte)s;
            InvSbox[s] = (byte)x;
        }
        for (int x = 0; x < 256; x++)
        {
            byte s = Sbox[x], si = InvSbox[x];
            Encrypt[x] = Column(Mul(s, 2), s, s, Mul(s, 3));
            Decrypt[x] = Column(Mul(si, 14), Mul(si, 9), Mul(si, 13), Mul(si, 11));
            byte v = (byte)x;
            InvMix[x] = Column(Mul(v, 14), Mul(v, 9), Mul(v, 13), Mul(v, 11));
        }
    }

    private static uint Column(byte r0, byte r1, byte r2, byte r3) => r0 | (uint)r1 << 8 | (uint)r2 << 16 | (uint)r3 << 24;

    private static int Rol8(int b, int n) => ((b << n) | (b >> (8 - n))) & 0xFF;

    /// <summary>Multiplication in GF(2^8) modulo 0x11B (shift-and-add).</summary>
    public static byte Mul(byte a, byte b)
    {
        int p = 0, x = a;
        for (int y = b; y != 0; y >>= 1)
        {
            if ((y & 1) != 0) p ^= x;
            x <<= 1;
            if ((x & 0x100) != 0) x ^= 0x11B;
        }
        return (byte)p;
    }

    /// <summary>The multiplicative inverse in GF(2^8), with 0 mapped to 0 (x^254 = x^-1 for x ≠ 0).</summary>
    private static byte Inverse(byte a)
    {
        byte r = 1, sq = a;
        for (int e = 254; e != 0; e >>= 1)
        {
            if ((e & 1) != 0) r = Mul(r, sq);
            sq = Mul(sq, sq);
        }
        return a == 0 ? (byte)0 : r;
    }
}
