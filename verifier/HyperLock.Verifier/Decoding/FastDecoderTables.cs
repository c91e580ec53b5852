namespace HyperLock.Verifier.Decoding;

/// <summary>What the fast decoder does with an opcode.</summary>
internal enum FastOp : byte
{
    /// <summary>Unknown or unusual: hand the instruction to <see cref="IcedDecoder"/>.</summary>
    Slow = 0,
    Plain,
    Jcc8,
    Jmp8,
    Jmp32,
    Call32,
    Jcc32,
    /// <summary>B8+r: mov r, imm (imm64 with REX.W).</summary>
    MovImm,
    /// <summary>80/81/83: group 1; /4 with REX.W and -32 is a mask.</summary>
    Grp1,
    /// <summary>25: and eAX, imm32.</summary>
    AndAcc,
    /// <summary>8F: /0 only.</summary>
    Grp8F,
    /// <summary>C0/C1/D0-D3: not /6.</summary>
    GrpShift,
    /// <summary>C6/C7: /0 only.</summary>
    GrpC6,
    /// <summary>F6/F7: /0 has an immediate, /1 is unusual.</summary>
    GrpF6,
    /// <summary>FE: /0 and /1 only.</summary>
    GrpFE,
    /// <summary>FF: inc, dec, push; call/jmp register forms.</summary>
    GrpFF,
    Int,
    Vmread,
    Vmwrite,
    /// <summary>0F 1F: /0 only (the rest is reserved-NOP space).</summary>
    Nop1F,
    /// <summary>0F BA: /4-/7 only.</summary>
    GrpBA,
}

/// <summary>Flags of a fast-decoder table entry.</summary>
[Flags]
internal enum FastFlags : byte
{
    None = 0,
    ModRM = 1,
    Imm8 = 2,
    /// <summary>imm16 with an operand-size prefix, else imm32.</summary>
    ImmZ = 4,
    Imm16 = 8,
    /// <summary>0x66 selects a 16-bit form (operand-size prefix allowed).</summary>
    Osz = 16,
    /// <summary>The register form (mod = 3) is unusual: go slow.</summary>
    MemOnly = 32,
    /// <summary>The memory form is unusual: go slow.</summary>
    RegOnly = 64,
}

/// <summary>One fast-decoder table entry.</summary>
internal readonly record struct FastEntry(FastOp Op, FastFlags Flags);

/// <summary>
/// The fast decoder's opcode tables: the one-byte map (no 0xF2/0xF3) and the 0F map per
/// mandatory prefix (none, 66, F3, F2). Only forms whose length, validity and verdict are
/// certain live here; every entry is cross-checked against Iced by the test suite.
/// </summary>
internal static class FastDecoderTables
{
    public static readonly FastEntry[] OneByte = new FastEntry[256];
    /// <summary>Index: prefix * 256 + opcode, prefix 0 = none, 1 = 66, 2 = F3, 3 = F2.</summary>
    public static readonly FastEntry[] TwoByte = new FastEntry[4 * 256];

    private const FastFlags M = FastFlags.ModRM, I8 = FastFlags.Imm8, IZ = FastFlags.ImmZ, O = FastFlags.Osz,
        Mem = FastFlags.MemOnly, Reg = FastFlags.RegOnly;

    private static bool Build()
    {
        // ALU: 00-3F pattern x0-x3 modrm, x4 imm8, x5 immz.
        for (int b = 0; b < 0x40; b += 8)
        {
            One(b + 0, FastOp.Plain, M);
            One(b + 1, FastOp.Plain, M | O);
            One(b + 2, FastOp.Plain, M);
            One(b + 3, FastOp.Plain, M | O);
            One(b + 4, FastOp.Plain, I8);
            One(b + 5, b == 0x20 ? FastOp.AndAcc : FastOp.Plain, IZ | O);
        }
        for (int b = 0x50; b <= 0x5F; b++) One(b, FastOp.Plain, O);
        One(0x63, FastOp.Plain, M);
        One(0x68, FastOp.Plain, IZ | O);
        One(0x69, FastOp.Plain, M | IZ | O);
        One(0x6A, FastOp.Plain, I8);
        One(0x6B, FastOp.Plain, M | I8 | O);
        for (int b = 0x70; b <= 0x7F; b++) One(b, FastOp.Jcc8, I8);
        One(0x80, FastOp.Grp1, M | I8);
        One(0x81, FastOp.Grp1, M | IZ | O);
        One(0x83, FastOp.Grp1, M | I8 | O);
        One(0x84, FastOp.Plain, M);
        One(0x85, FastOp.Plain, M | O);
        One(0x86, FastOp.Plain, M);
        One(0x87, FastOp.Plain, M | O);
        One(0x88, FastOp.Plain, M);
        One(0x89, FastOp.Plain, M | O);
        One(0x8A, FastOp.Plain, M);
        One(0x8B, FastOp.Plain, M | O);
        One(0x8D, FastOp.Plain, M | O | Mem);
        One(0x8F, FastOp.Grp8F, M);
        for (int b = 0x90; b <= 0x97; b++) One(b, FastOp.Plain, O);
        One(0x98, FastOp.Plain, O);
        One(0x99, FastOp.Plain, O);
        One(0x9B, FastOp.Plain, 0);
        One(0x9C, FastOp.Plain, 0);
        One(0x9E, FastOp.Plain, 0);
        One(0x9F, FastOp.Plain, 0);
        One(0xA4, FastOp.Plain, 0);
        One(0xA5, FastOp.Plain, O);
        One(0xA6, FastOp.Plain, 0);
        One(0xA7, FastOp.Plain, O);
        One(0xA8, FastOp.Plain, I8);
        One(0xA9, FastOp.Plain, IZ | O);
        One(0xAA, FastOp.Plain, 0);
        One(0xAB, FastOp.Plain, O);
        One(0xAC, FastOp.Plain, 0);
        One(0xAD, FastOp.Plain, O);
        One(0xAE, FastOp.Plain, 0);
        One(0xAF, FastOp.Plain, O);
        for (int b = 0xB0; b <= 0xB7; b++) One(b, FastOp.Plain, I8);
        for (int b = 0xB8; b <= 0xBF; b++) One(b, FastOp.MovImm, O);
        One(0xC0, FastOp.GrpShift, M | I8);
        One(0xC1, FastOp.GrpShift, M | I8 | O);
        One(0xC6, FastOp.GrpC6, M | I8);
        One(0xC7, FastOp.GrpC6, M | IZ | O);
        One(0xC9, FastOp.Plain, 0);
        One(0xCD, FastOp.Int, I8);
        One(0xD0, FastOp.GrpShift, M);
        One(0xD1, FastOp.GrpShift, M | O);
        One(0xD2, FastOp.GrpShift, M);
        One(0xD3, FastOp.GrpShift, M | O);
        for (int b = 0xE0; b <= 0xE3; b++) One(b, FastOp.Jcc8, I8);
        One(0xE8, FastOp.Call32, 0);
        One(0xE9, FastOp.Jmp32, 0);
        One(0xEB, FastOp.Jmp8, I8);
        One(0xF5, FastOp.Plain, 0);
        One(0xF6, FastOp.GrpF6, M);
        One(0xF7, FastOp.GrpF6, M | O);
        One(0xF8, FastOp.Plain, 0);
        One(0xF9, FastOp.Plain, 0);
        One(0xFC, FastOp.Plain, 0);
        One(0xFD, FastOp.Plain, 0);
        One(0xFE, FastOp.GrpFE, M);
        One(0xFF, FastOp.GrpFF, M);

        // 0F map, no prefix. Integer forms take 0x66 as operand size (Osz) and are copied to the 66 row.
        Two(0, 0x0B, FastOp.Plain, 0);
        Two(0, 0x1F, FastOp.Nop1F, M | O);
        for (int b = 0x40; b <= 0x4F; b++) Two(0, b, FastOp.Plain, M | O);
        for (int b = 0x80; b <= 0x8F; b++) Two(0, b, FastOp.Jcc32, 0);
        for (int b = 0x90; b <= 0x9F; b++) Two(0, b, FastOp.Plain, M);
        Two(0, 0xA3, FastOp.Plain, M | O);
        Two(0, 0xA4, FastOp.Plain, M | I8 | O);
        Two(0, 0xA5, FastOp.Plain, M | O);
        Two(0, 0xAB, FastOp.Plain, M | O);
        Two(0, 0xAC, FastOp.Plain, M | I8 | O);
        Two(0, 0xAD, FastOp.Plain, M | O);
        Two(0, 0xAF, FastOp.Plain, M | O);
        Two(0, 0xB0, FastOp.Plain, M);
        Two(0, 0xB1, FastOp.Plain, M | O);
        Two(0, 0xB3, FastOp.Plain, M | O);
        Two(0, 0xB6, FastOp.Plain, M | O);
        Two(0, 0xB7, FastOp.Plain, M | O);
        Two(0, 0xBA, FastOp.GrpBA, M | I8 | O);
        Two(0, 0xBB, FastOp.Plain, M | O);
        Two(0, 0xBC, FastOp.Plain, M | O);
        Two(0, 0xBD, FastOp.Plain, M | O);
        Two(0, 0xBE, FastOp.Plain, M | O);
        Two(0, 0xBF, FastOp.Plain, M | O);
        Two(0, 0xC0, FastOp.Plain, M);
        Two(0, 0xC1, FastOp.Plain, M | O);
        for (int b = 0xC8; b <= 0xCF; b++) Two(0, b, FastOp.Plain, 0);
        Two(0, 0x78, FastOp.Vmread, M);
        Two(0, 0x79, FastOp.Vmwrite, M);
        // Copy the operand-size-capable integer forms to the 66 row.
        for (int b = 0; b < 256; b++)
            if ((TwoByte[b].Flags & O) != 0) TwoByte[256 + b] = TwoByte[b];

        // SSE/SSE2/MMX data operations, by mandatory prefix.
        foreach (int b in new[] { 0x10, 0x11, 0x14, 0x15, 0x28, 0x29, 0x2E, 0x2F, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57,
                     0x58, 0x59, 0x5A, 0x5B, 0x5C, 0x5D, 0x5E, 0x5F })
            Two(0, b, FastOp.Plain, M);
        Two(0, 0x12, FastOp.Plain, M);
        Two(0, 0x13, FastOp.Plain, M | Mem);
        Two(0, 0x16, FastOp.Plain, M);
        Two(0, 0x17, FastOp.Plain, M | Mem);
        Two(0, 0x2B, FastOp.Plain, M | Mem);
        Two(0, 0xC2, FastOp.Plain, M | I8);
        Two(0, 0xC6, FastOp.Plain, M | I8);
        Two(0, 0x77, FastOp.Plain, 0);
        foreach (int b in SimdIntegerOps)
        {
            Two(0, b, FastOp.Plain, M);
            Two(1, b, FastOp.Plain, M);
        }
        foreach (int b in new[] { 0x10, 0x11, 0x14, 0x15, 0x28, 0x29, 0x2E, 0x2F, 0x51, 0x54, 0x55, 0x56, 0x57,
                     0x58, 0x59, 0x5A, 0x5B, 0x5C, 0x5D, 0x5E, 0x5F, 0x6C, 0x6D, 0xD6 })
            Two(1, b, FastOp.Plain, M);
        Two(1, 0x12, FastOp.Plain, M | Mem);
        Two(1, 0x13, FastOp.Plain, M | Mem);
        Two(1, 0x16, FastOp.Plain, M | Mem);
        Two(1, 0x17, FastOp.Plain, M | Mem);
        Two(1, 0x70, FastOp.Plain, M | I8);
        Two(1, 0xC2, FastOp.Plain, M | I8);
        Two(1, 0xC6, FastOp.Plain, M | I8);
        foreach (int b in new[] { 0x10, 0x11, 0x2A, 0x2C, 0x2D, 0x51, 0x52, 0x53, 0x58, 0x59, 0x5A, 0x5B, 0x5C, 0x5D, 0x5E, 0x5F,
                     0x6F, 0x7E, 0x7F, 0xB8, 0xBC, 0xBD, 0xE6 })
            Two(2, b, FastOp.Plain, M);
        Two(2, 0x70, FastOp.Plain, M | I8);
        Two(2, 0xC2, FastOp.Plain, M | I8);
        foreach (int b in new[] { 0x10, 0x11, 0x12, 0x2A, 0x2C, 0x2D, 0x51, 0x58, 0x59, 0x5A, 0x5C, 0x5D, 0x5E, 0x5F,
                     0x7C, 0x7D, 0xD0, 0xE6 })
            Two(3, b, FastOp.Plain, M);
        Two(3, 0x70, FastOp.Plain, M | I8);
        Two(3, 0xC2, FastOp.Plain, M | I8);
        return true;
    }

    /// <summary>MMX (no prefix) / SSE2 (66) integer operations with a plain ModRM.</summary>
    private static readonly int[] SimdIntegerOps =
    [
        0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6A, 0x6B, 0x6E, 0x6F, 0x74, 0x75, 0x76, 0x7E, 0x7F,
        0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD8, 0xD9, 0xDA, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF,
        0xE0, 0xE1, 0xE2, 0xE3, 0xE4, 0xE5, 0xE8, 0xE9, 0xEA, 0xEB, 0xEC, 0xED, 0xEE, 0xEF,
        0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF8, 0xF9, 0xFA, 0xFB, 0xFC, 0xFD, 0xFE,
    ];

    /// <summary>
    /// Turbo opcode entry: 0 = not a turbo form; else 0x80 | class &lt;&lt; 3 | immediate length.
    /// The class selects the ModRM rule in <see cref="TurboModRM"/>.
    /// </summary>
    public const int ClassNone = 0, ClassModRM = 1, ClassMemOnly = 2, ClassRegOnly = 3, ClassGrp1 = 4, ClassReg0 = 5,
        ClassReg0Mem = 6, ClassNot6 = 7;

    /// <summary>Immediate-length code for B8+r: imm64 with REX.W, else imm32.</summary>
    public const int ImmMovImm = 5;

    /// <summary>Direct branch opcodes for the turbo path: 1 rel8 (jcc, jmp short, loop*, jrcxz), 2 jmp rel32, 3 call rel32, 4 the 0F escape (0F 80-8F).</summary>
    public static readonly byte[] TurboBranch = BuildTurboBranch();

    private static byte[] BuildTurboBranch()
    {
        var t = new byte[256];
        for (int b = 0x70; b <= 0x7F; b++) t[b] = 1;
        for (int b = 0xE0; b <= 0xE3; b++) t[b] = 1;
        t[0xEB] = 1;
        t[0xE9] = 2;
        t[0xE8] = 3;
        t[0x0F] = 4;
        return t;
    }

    /// <summary>Prefix byte to turbo prefix index: 66 = 1, F3 = 2, F2 = 3, anything else 0.</summary>
    public static readonly byte[] TurboPrefix = BuildTurboPrefix();

    /// <summary>
    /// Index: prefix index &lt;&lt; 9 | (opcode, or 256 + second byte for 0F xx). Derived from
    /// <see cref="OneByte"/> and <see cref="TwoByte"/>: every plain form whose length and validity
    /// follow from the opcode, the ModRM class and the prefix alone.
    /// </summary>
    public static readonly byte[] Turbo = new byte[4 * 512];

    /// <summary>
    /// Index: class &lt;&lt; 8 | ModRM. Entry: bytes from ModRM on (ModRM, SIB, displacement) in
    /// bits 0-4, bit 5 set when a SIB with base 101 adds a disp32 (mod 00), or 0xFF when the
    /// class does not allow this ModRM in the turbo path.
    /// </summary>
    public static readonly byte[] TurboModRM = BuildTurboModRM();

    private static byte[] BuildTurboPrefix()
    {
        var t = new byte[256];
        t[0x66] = 1;
        t[0xF3] = 2;
        t[0xF2] = 3;
        return t;
    }

    private static byte[] BuildTurboModRM()
    {
        var t = new byte[8 * 256];
        for (int cls = 0; cls < 8; cls++)
        for (int m = 0; m < 256; m++)
        {
            int mod = m >> 6, reg = (m >> 3) & 7, rm = m & 7;
            int n = 1;
            if (mod != 3)
            {
                if (rm == 4) n++;
                if (mod == 0 && rm == 5) n += 4;
                if (mod == 1) n += 1;
                if (mod == 2) n += 4;
            }
            int sib = mod == 0 && rm == 4 ? 0x20 : 0;
            bool reject = cls switch
            {
                ClassMemOnly => mod == 3,
                ClassRegOnly => mod != 3,
                ClassGrp1 => mod == 3 && reg == 4,
                ClassReg0 => reg != 0,
                ClassReg0Mem => mod == 3 || reg != 0,
                ClassNot6 => reg == 6,
                _ => false,
            };
            t[cls * 256 + m] = cls == ClassNone ? (byte)0 : reject ? (byte)0xFF : (byte)(n | sib);
        }
        return t;
    }

    /// <summary>Derive the turbo table from the general tables.</summary>
    private static bool BuildTurbo()
    {
        for (int prefix = 0; prefix < 4; prefix++)
        {
            for (int op = 0; op < 256; op++)
            {
                if (prefix < 2 && op != 0x0F) Derive(prefix, op, OneByte[op], twoByte: false);
                Derive(prefix, 256 + op, TwoByte[prefix * 256 + op], twoByte: true);
            }
        }
        return true;
    }

    private static void Derive(int prefix, int index, FastEntry e, bool twoByte)
    {
        bool modrm = (e.Flags & FastFlags.ModRM) != 0;
        int cls = e.Op switch
        {
            FastOp.Plain => !modrm ? ClassNone
                : (e.Flags & FastFlags.MemOnly) != 0 ? ClassMemOnly
                : (e.Flags & FastFlags.RegOnly) != 0 ? ClassRegOnly
                : ClassModRM,
            // Masks and field immediates are plain to the hot path; the checker re-decodes the
            // instruction before a jmp/call rX or vmread/vmwrite with the general decoder.
            FastOp.Grp1 => ClassModRM,
            FastOp.AndAcc or FastOp.MovImm => ClassNone,
            FastOp.Nop1F or FastOp.Grp8F or FastOp.GrpC6 => ClassReg0,
            FastOp.GrpShift => ClassNot6,
            _ => -1,
        };
        if (cls < 0 || (cls != ClassNone && !modrm)) return;
        bool osz = (e.Flags & FastFlags.Osz) != 0;
        if (prefix == 1 && !twoByte && !osz) return; // 0x66 on a one-byte form without a 16-bit variant
        // In the 66 row of the 0F map, integer forms take 0x66 as operand size; SSE forms as mandatory prefix.
        bool osz16 = prefix == 1 && osz;
        int imm = 0;
        if ((e.Flags & FastFlags.Imm8) != 0) imm += 1;
        if ((e.Flags & FastFlags.ImmZ) != 0) imm += osz16 ? 2 : 4;
        if ((e.Flags & FastFlags.Imm16) != 0) imm += 2;
        if (e.Op == FastOp.MovImm) imm = osz16 ? 2 : ImmMovImm;
        if (imm > 7) return;
        Turbo[prefix * 512 + index] = (byte)(0x80 | (cls << 3) | imm);
    }

    /// <summary>Fills the tables; declared last so that every other static is initialised first (no static constructor).</summary>
    private static readonly bool Built = Build() && BuildTurbo();

    /// <summary>True once the tables are filled.</summary>
    public static bool Ready => Built;

    private static void One(int b, FastOp op, FastFlags f) => OneByte[b] = new FastEntry(op, f);
    private static void Two(int prefix, int b, FastOp op, FastFlags f) => TwoByte[prefix * 256 + b] = new FastEntry(op, f);
}
