using Iced.Intel;
using HyperLock.Verifier.Policy;

namespace HyperLock.Verifier.Decoding;

/// <summary>
/// The reference decoder: Iced's full decoder plus the prefix policy and the allow-list.
/// The verifier's fast path (<see cref="FastDecoder"/>) must agree with it on every
/// instruction it handles; everything the fast path does not know comes here.
/// </summary>
internal sealed unsafe class IcedDecoder
{
    private readonly PointerCodeReader _reader = new();
    private readonly Decoder _decoder;
    private byte* _image;
    private int _length;

    public IcedDecoder()
    {
        _decoder = Decoder.Create(64, _reader, DecoderOptions.None);
    }

    /// <summary>Point the decoder at an image (pinned by the caller for the decoder's use).</summary>
    public void Reset(byte* image, int length)
    {
        _image = image;
        _length = length;
        _reader.Reset(image, length);
    }

    /// <summary>Up to <paramref name="count"/> image bytes from <paramref name="offset"/>.</summary>
    public byte[] Bytes(int offset, int count)
    {
        int n = Math.Max(0, Math.Min(count, _length - offset));
        return new ReadOnlySpan<byte>(_image + offset, n).ToArray();
    }

    /// <summary>Decode with Iced only (for disassembly and tests).</summary>
    public Instruction DecodeRaw(int offset)
    {
        _reader.Position = offset;
        _decoder.IP = (ulong)offset;
        _decoder.Decode(out var instr);
        return instr;
    }

    /// <summary>Decode and classify the instruction at <paramref name="offset"/>.</summary>
    public void Decode(int offset, ref DecodedInstruction insn)
    {
        insn = default;
        _reader.Position = offset;
        _decoder.IP = (ulong)offset;
        _decoder.Decode(out var instr);
        if (instr.Code == Code.INVALID || instr.Length == 0)
        {
            insn.Kind = InstructionKind.Invalid;
            insn.Length = 0;
            insn.Value = _decoder.LastError == DecoderError.NoMoreBytes ? 1 : 0;
            return;
        }
        insn.Length = (byte)instr.Length;
        insn.Code = (ushort)instr.Code;
        var policy = AllowList.Classify(instr.Code);
        if (policy.Kind is PolicyKind.Forbidden or PolicyKind.Unclassified)
        {
            Forbid(ref insn, Problem.Code);
            return;
        }
        var prefix = CheckPrefixes(_image + offset, Math.Min(15, _length - offset), in instr);
        if (prefix != Problem.None)
        {
            Forbid(ref insn, prefix);
            return;
        }
        switch (policy.Kind)
        {
            case PolicyKind.GateOnly:
                insn.Kind = InstructionKind.Int;
                insn.Value = instr.Immediate8;
                return;
            case PolicyKind.PseudoOnly:
                ClassifyPseudo(ref insn, in instr);
                return;
        }
        switch (instr.FlowControl)
        {
            case FlowControl.UnconditionalBranch:
                insn.Kind = InstructionKind.JmpRel;
                insn.Value = (long)instr.NearBranch64;
                return;
            case FlowControl.ConditionalBranch:
                insn.Kind = InstructionKind.JccRel;
                insn.Value = (long)instr.NearBranch64;
                return;
            case FlowControl.Call:
                insn.Kind = InstructionKind.CallRel;
                insn.Value = (long)instr.NearBranch64;
                return;
        }
        insn.Kind = InstructionKind.Plain;
        switch (instr.Code)
        {
            case Code.And_rm64_imm8 or Code.And_rm64_imm32 or Code.And_RAX_imm32 or Code.And_rm32_imm8 or Code.And_rm32_imm32 or Code.And_EAX_imm32:
                if (instr.Op0Kind == OpKind.Register && instr.GetImmediate(1) is var imm)
                {
                    bool wide = instr.Op0Register.IsGPR64();
                    if (wide && imm == unchecked((ulong)-32L)) { insn.Kind = InstructionKind.AndMask; insn.Reg = RegNum(instr.Op0Register); }
                    else if (!wide && (uint)imm == 0xFFFF_FFE0u) { insn.Kind = InstructionKind.AndMaskNarrow; insn.Reg = RegNum(instr.Op0Register); }
                }
                return;
            case Code.Mov_r32_imm32 or Code.Mov_rm32_imm32:
                if (instr.Op0Kind == OpKind.Register)
                {
                    insn.Kind = InstructionKind.MovR32Imm;
                    insn.Reg = RegNum(instr.Op0Register);
                    insn.Value = instr.Immediate32;
                }
                return;
        }
    }

    private static void Forbid(ref DecodedInstruction insn, Problem p)
    {
        insn.Kind = InstructionKind.Forbidden;
        insn.Problem = p;
    }

    private static void ClassifyPseudo(ref DecodedInstruction insn, in Instruction instr)
    {
        switch (instr.Code)
        {
            case Code.Jmp_rm64 or Code.Call_rm64:
                if (instr.Op0Kind != OpKind.Register) { Forbid(ref insn, Problem.MemoryIndirect); return; }
                insn.Kind = instr.Code == Code.Jmp_rm64 ? InstructionKind.JmpReg : InstructionKind.CallReg;
                insn.Reg = RegNum(instr.Op0Register);
                return;
            case Code.Vmread_rm64_r64:
                insn.Kind = InstructionKind.Vmread;
                insn.Reg = RegNum(instr.Op1Register);
                return;
            case Code.Vmwrite_r64_rm64:
                insn.Kind = InstructionKind.Vmwrite;
                insn.Reg = RegNum(instr.Op0Register);
                return;
            default:
                Forbid(ref insn, Problem.Code);
                return;
        }
    }

    /// <summary>The register number 0-15 of a 32- or 64-bit general-purpose register.</summary>
    internal static byte RegNum(Register r) => r.IsGPR64() ? (byte)(r - Register.RAX) : (byte)(r - Register.EAX);

    /// <summary>
    /// The prefix policy (docs/verifier.md, "Prefixes"): each prefix byte at most once; REX only
    /// as the last prefix; no 0x67; no CS/SS/DS/ES override; FS/GS only on a data memory access;
    /// 0x66 only where it selects a 16-bit form or is a mandatory prefix; 0xF2/0xF3 only where
    /// mandatory or a rep on a string instruction; lock never with 0xF2/0xF3; no legacy prefix
    /// on any control transfer.
    /// </summary>
    internal static Problem CheckPrefixes(byte* p, int avail, in Instruction instr)
    {
        uint seen = 0; // bit per legacy prefix kind
        bool rex = false, afterRex = false;
        int segs = 0;
        int i = 0;
        for (; i < avail; i++)
        {
            byte b = p[i];
            int bit;
            switch (b)
            {
                case 0x26: bit = 0; break;
                case 0x2E: bit = 1; break;
                case 0x36: bit = 2; break;
                case 0x3E: bit = 3; break;
                case 0x64: bit = 4; break;
                case 0x65: bit = 5; break;
                case 0x66: bit = 6; break;
                case 0x67: bit = 7; break;
                case 0xF0: bit = 8; break;
                case 0xF2: bit = 9; break;
                case 0xF3: bit = 10; break;
                default:
                    if ((b & 0xF0) == 0x40)
                    {
                        if (rex) return Problem.DuplicatePrefix;
                        rex = true;
                        continue;
                    }
                    bit = -1;
                    break;
            }
            if (bit < 0) break;
            if (rex) afterRex = true;
            if ((seen & (1u << bit)) != 0) return Problem.DuplicatePrefix;
            seen |= 1u << bit;
            if (bit <= 5) segs++;
        }
        if (afterRex) return Problem.RexNotLast;
        if (seen == 0) return Problem.None;
        var flow = instr.FlowControl;
        if (flow != FlowControl.Next) return Problem.PrefixOnBranch;
        if ((seen & (1u << 7)) != 0) return Problem.AddressSizePrefix;
        if ((seen & 0xF) != 0) return Problem.SegmentOverride;
        if (segs > 1) return Problem.MultipleSegments;
        if (segs == 1 && !HasDataMemoryOperand(in instr)) return Problem.SegmentWithoutMemory;
        bool f2 = (seen & (1u << 9)) != 0, f3 = (seen & (1u << 10)) != 0;
        if (f2 && f3) return Problem.RepAndRepne;
        if ((f2 || f3) && (seen & (1u << 8)) != 0) return Problem.LockWithRep;
        var op = instr.Code.ToOpCode();
        if ((seen & (1u << 6)) != 0 && op.MandatoryPrefix != MandatoryPrefix.P66 && op.OperandSize != 16)
            return Problem.RedundantOperandSize;
        if (f3 && op.MandatoryPrefix != MandatoryPrefix.PF3 && !op.CanUseRepPrefix) return Problem.RedundantRep;
        if (f2 && op.MandatoryPrefix != MandatoryPrefix.PF2 && !op.CanUseRepnePrefix) return Problem.RedundantRep;
        return Problem.None;
    }

    private static bool HasDataMemoryOperand(in Instruction instr)
    {
        for (int i = 0; i < instr.OpCount; i++)
        {
            switch (instr.GetOpKind(i))
            {
                case OpKind.Memory or OpKind.MemorySegRSI or OpKind.MemorySegRDI:
                    return true;
            }
        }
        return false;
    }
}
