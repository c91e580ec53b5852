using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace HyperLock.Verifier.Decoding;

/// <summary>
/// The table-driven length and class decoder: prefixes [66|F2|F3]? REX? then an opcode from
/// <see cref="FastDecoderTables"/>. It handles the common forms with no allocation and no
/// Iced call, and returns false for anything else so that <see cref="IcedDecoder"/> decides.
/// The caller guarantees at least 16 readable bytes at <c>p</c>.
/// </summary>
internal static unsafe class FastDecoder
{
    /// <summary>Bytes the caller must guarantee readable.</summary>
    public const int Lookahead = 16;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool TryDecode(byte* p, long offset, ref DecodedInstruction insn)
    {
        int turbo = TurboLength(p);
        if (turbo != 0)
        {
            insn = default;
            insn.Kind = InstructionKind.Plain;
            insn.Length = (byte)turbo;
            return true;
        }
        turbo = TurboBranch(p, offset, out long target, out bool call);
        if (turbo != 0)
        {
            insn = default;
            insn.Kind = call ? InstructionKind.CallRel : InstructionKind.JmpRel;
            if (!call && !TurboIsUnconditional(p)) insn.Kind = InstructionKind.JccRel;
            insn.Length = (byte)turbo;
            insn.Value = target;
            return true;
        }
        return TryDecodeGeneral(p, offset, ref insn);
    }

    private static bool TurboIsUnconditional(byte* p)
    {
        int op = p[(p[0] & 0xF0) == 0x40 ? 1 : 0];
        return op is 0xEB or 0xE9;
    }

    /// <summary>
    /// The turbo path for direct branches, <c>[REX] op rel</c>: returns the length and sets the
    /// target (image offset) and whether it is a call; 0 when it is not such a branch.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int TurboBranch(byte* p, long offset, out long target, out bool call)
    {
        int rex = (p[0] & 0xF0) == 0x40 ? 1 : 0;
        int op = p[rex];
        int kind = Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(FastDecoderTables.TurboBranch), op);
        call = kind == 3;
        switch (kind)
        {
            case 1:
                target = offset + rex + 2 + (sbyte)p[rex + 1];
                return rex + 2;
            case 2 or 3:
                target = offset + rex + 5 + *(int*)(p + rex + 1);
                return rex + 5;
            case 4 when (p[rex + 1] & 0xF0) == 0x80:
                target = offset + rex + 6 + *(int*)(p + rex + 2);
                return rex + 6;
            default:
                target = 0;
                return 0;
        }
    }

    /// <summary>
    /// The turbo path: the length of a plain <c>[REX] op</c> or <c>[REX] 0F op</c> form whose
    /// length depends only on the opcode, ModRM and SIB, or 0 when the form is not one of those.
    /// Two table lookups and no data-dependent branches on the common path.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int TurboLength(byte* p)
    {
        // One 8-byte load; every byte the turbo path needs is then a shift away, which keeps the
        // dependency chain from one instruction's start to the next short.
        ulong w = Unsafe.ReadUnaligned<ulong>(p);
        int b0 = (int)(w & 0xFF);
        int pfx = (b0 == 0x66).ToInt() | ((b0 == 0xF3).ToInt() << 1) | (((b0 == 0xF2).ToInt() * 3));
        int i = (pfx + 3) >> 2; // 1 when there is a legacy prefix (pfx 1-3), else 0
        int r = (int)(w >> (i << 3)) & 0xFF;
        // 0x66 with REX.W is redundant (the reference path rejects it): not turbo.
        if ((pfx == 1) & ((r & 0xF8) == 0x48)) return 0;
        i += ((r & 0xF0) == 0x40).ToInt();
        ulong rest = w >> (i << 3);
        int op = (int)(rest & 0xFF);
        int two = (op == 0x0F).ToInt();
        // Branch-free choice between the one-byte and the 0F map: op, or 256 + the next byte.
        int idx = (pfx << 9) | (op + two * (256 + (int)((rest >> 8) & 0xFF) - op));
        int t = Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(FastDecoderTables.Turbo), idx);
        if (t == 0) return 0;
        int at = i + 1 + two; // at most 4, so ModRM and SIB are inside w
        int imm = t & 7;
        int movImm = (imm == FastDecoderTables.ImmMovImm).ToInt();
        imm -= movImm * (1 - 4 * ((r & 0xF8) == 0x48).ToInt()); // 5 -> 4, or 8 with REX.W
        int m = (int)(w >> (at << 3)) & 0xFF;
        int e = Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(FastDecoderTables.TurboModRM), ((t >> 3) & 7) << 8 | m);
        if (e == 0xFF) return 0;
        int sibBase5 = (((int)(w >> ((at + 1) << 3)) & 7) == 5).ToInt();
        return at + imm + (e & 31) + (((e >> 5) & sibBase5) << 2);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int ToInt(this bool b) => Unsafe.As<bool, byte>(ref b);

    /// <summary>
    /// The general fast decoder: every kind the rules need (masks, field immediates, branches,
    /// pseudo-instruction halves, int). Used directly when the kind of a plain-looking
    /// instruction matters (the instruction before a jmp/call rX or vmread/vmwrite).
    /// </summary>
    public static bool TryDecodeGeneral(byte* p, long offset, ref DecodedInstruction insn)
    {
        insn = default;
        int i = 0;
        int b = p[0];
        int prefix = 0; // 0 none, 1 = 66, 2 = F3, 3 = F2
        if (b == 0x66) prefix = 1;
        else if (b == 0xF3) prefix = 2;
        else if (b == 0xF2) prefix = 3;
        if (prefix != 0) b = p[++i];
        int rex = 0;
        if ((b & 0xF0) == 0x40)
        {
            rex = b;
            b = p[++i];
        }
        FastEntry e;
        if (b == 0x0F)
        {
            b = p[++i];
            e = FastDecoderTables.TwoByte[(prefix << 8) | b];
        }
        else
        {
            if (prefix >= 2) return false;
            e = FastDecoderTables.OneByte[b];
            if (prefix == 1 && (e.Flags & FastFlags.Osz) == 0) return false;
        }
        if (e.Op == FastOp.Slow) return false;
        i++; // past the opcode byte
        bool rexW = (rex & 8) != 0;
        bool osz16 = false;
        if (prefix == 1 && (e.Flags & FastFlags.Osz) != 0)
        {
            // 0x66 as operand size: redundant under REX.W (the reference path rejects it).
            if (rexW) return false;
            osz16 = true;
        }
        int modrm = 0, reg = 0;
        if ((e.Flags & FastFlags.ModRM) != 0)
        {
            modrm = p[i++];
            reg = (modrm >> 3) & 7;
            int mod = modrm >> 6, rm = modrm & 7;
            if (mod == 3)
            {
                if ((e.Flags & FastFlags.MemOnly) != 0) return false;
            }
            else
            {
                if ((e.Flags & FastFlags.RegOnly) != 0) return false;
                if (rm == 4)
                {
                    int sib = p[i++];
                    if (mod == 0 && (sib & 7) == 5) i += 4;
                }
                else if (mod == 0 && rm == 5) i += 4;
                if (mod == 1) i += 1;
                else if (mod == 2) i += 4;
            }
        }
        int immAt = i;
        if ((e.Flags & FastFlags.Imm8) != 0) i += 1;
        if ((e.Flags & FastFlags.ImmZ) != 0) i += osz16 ? 2 : 4;
        if ((e.Flags & FastFlags.Imm16) != 0) i += 2;

        InstructionKind kind = InstructionKind.Plain;
        switch (e.Op)
        {
            case FastOp.Plain:
                break;
            case FastOp.Jcc8:
            case FastOp.Jmp8:
                if (prefix != 0) return false;
                kind = e.Op == FastOp.Jcc8 ? InstructionKind.JccRel : InstructionKind.JmpRel;
                insn.Value = offset + i + (sbyte)p[immAt];
                break;
            case FastOp.Jmp32:
            case FastOp.Call32:
            case FastOp.Jcc32:
                if (prefix != 0) return false;
                i += 4;
                kind = e.Op == FastOp.Jmp32 ? InstructionKind.JmpRel : e.Op == FastOp.Call32 ? InstructionKind.CallRel : InstructionKind.JccRel;
                insn.Value = offset + i + *(int*)(p + immAt);
                break;
            case FastOp.MovImm:
                if (rexW) i += 8;
                else if (osz16) i += 2;
                else
                {
                    i += 4;
                    kind = InstructionKind.MovR32Imm;
                    insn.Reg = (byte)((b & 7) | ((rex & 1) << 3));
                    insn.Value = *(uint*)(p + immAt);
                }
                break;
            case FastOp.Grp1:
                if (reg == 4 && modrm >= 0xC0 && b != 0x80 && !osz16)
                {
                    int imm = b == 0x83 ? (sbyte)p[immAt] : *(int*)(p + immAt);
                    if (imm == -32)
                    {
                        kind = rexW ? InstructionKind.AndMask : InstructionKind.AndMaskNarrow;
                        insn.Reg = (byte)((modrm & 7) | ((rex & 1) << 3));
                    }
                }
                break;
            case FastOp.AndAcc:
                if (!osz16 && *(int*)(p + immAt) == -32)
                {
                    kind = rexW ? InstructionKind.AndMask : InstructionKind.AndMaskNarrow;
                    insn.Reg = 0;
                }
                break;
            case FastOp.Grp8F:
            case FastOp.GrpC6:
                if (reg != 0) return false;
                if (e.Op == FastOp.GrpC6 && b == 0xC7 && modrm >= 0xC0 && !rexW && !osz16)
                {
                    kind = InstructionKind.MovR32Imm;
                    insn.Reg = (byte)((modrm & 7) | ((rex & 1) << 3));
                    insn.Value = *(uint*)(p + immAt);
                }
                break;
            case FastOp.GrpShift:
                if (reg == 6) return false;
                break;
            case FastOp.GrpF6:
                if (reg == 1) return false;
                if (reg == 0) i += b == 0xF6 ? 1 : osz16 ? 2 : 4;
                break;
            case FastOp.GrpFE:
                if (reg > 1) return false;
                break;
            case FastOp.GrpFF:
                switch (reg)
                {
                    case 0 or 1 or 6:
                        if (prefix != 0) return false;
                        break;
                    case 2 or 4:
                        if (prefix != 0 || modrm < 0xC0) return false;
                        kind = reg == 2 ? InstructionKind.CallReg : InstructionKind.JmpReg;
                        insn.Reg = (byte)((modrm & 7) | ((rex & 1) << 3));
                        break;
                    default:
                        return false;
                }
                break;
            case FastOp.Int:
                if (prefix != 0) return false;
                kind = InstructionKind.Int;
                insn.Value = p[immAt];
                break;
            case FastOp.Vmread:
            case FastOp.Vmwrite:
                kind = e.Op == FastOp.Vmread ? InstructionKind.Vmread : InstructionKind.Vmwrite;
                insn.Reg = (byte)(reg | ((rex & 4) << 1));
                break;
            case FastOp.Nop1F:
                if (reg != 0) return false;
                break;
            case FastOp.GrpBA:
                if (reg < 4) return false;
                break;
            default:
                return false;
        }
        insn.Kind = kind;
        insn.Length = (byte)i;
        return true;
    }
}
