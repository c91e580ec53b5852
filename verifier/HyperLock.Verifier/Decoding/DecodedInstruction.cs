namespace HyperLock.Verifier.Decoding;

/// <summary>What the rule checker needs to know about one instruction.</summary>
internal enum InstructionKind : byte
{
    /// <summary>No valid instruction decodes here (rule 1).</summary>
    Invalid,
    /// <summary>Allowed, no role in any rule beyond 1 and 6.</summary>
    Plain,
    /// <summary>Not on the allow-list, or a forbidden prefix use; see <see cref="DecodedInstruction.Problem"/> / <see cref="DecodedInstruction.Code"/>.</summary>
    Forbidden,
    /// <summary>Direct unconditional jump; <see cref="DecodedInstruction.Value"/> is the target offset.</summary>
    JmpRel,
    /// <summary>Direct conditional branch (jcc, loop*, jrcxz); <see cref="DecodedInstruction.Value"/> is the target offset.</summary>
    JccRel,
    /// <summary>Direct call; <see cref="DecodedInstruction.Value"/> is the target offset.</summary>
    CallRel,
    /// <summary><c>jmp r64</c>; <see cref="DecodedInstruction.Reg"/> is the register number.</summary>
    JmpReg,
    /// <summary><c>call r64</c>; <see cref="DecodedInstruction.Reg"/> is the register number.</summary>
    CallReg,
    /// <summary><c>and r64, -32</c>; <see cref="DecodedInstruction.Reg"/> is the register number.</summary>
    AndMask,
    /// <summary><c>and r32, -32</c>: the wrong width for a mask (plain otherwise).</summary>
    AndMaskNarrow,
    /// <summary><c>mov r32, imm32</c>; <see cref="DecodedInstruction.Reg"/>, <see cref="DecodedInstruction.Value"/> = the immediate.</summary>
    MovR32Imm,
    /// <summary><c>vmread</c>; <see cref="DecodedInstruction.Reg"/> is the field register.</summary>
    Vmread,
    /// <summary><c>vmwrite</c>; <see cref="DecodedInstruction.Reg"/> is the field register.</summary>
    Vmwrite,
    /// <summary><c>int imm8</c>; <see cref="DecodedInstruction.Value"/> is the vector.</summary>
    Int,
}

/// <summary>Why a decodable instruction is rejected when the reason is its prefixes or operands, not its code.</summary>
internal enum Problem : byte
{
    None,
    /// <summary>The allow-list forbids the instruction's <see cref="Iced.Intel.Code"/>.</summary>
    Code,
    /// <summary>Jmp/call through memory.</summary>
    MemoryIndirect,
    DuplicatePrefix,
    RexNotLast,
    AddressSizePrefix,
    SegmentOverride,
    SegmentWithoutMemory,
    MultipleSegments,
    LockWithRep,
    RepAndRepne,
    RedundantOperandSize,
    RedundantRep,
    PrefixOnBranch,
}

/// <summary>One decoded instruction, as both decoders report it (16 bytes, no references).</summary>
internal struct DecodedInstruction
{
    public long Value;
    public ushort Code;
    public byte Length;
    public InstructionKind Kind;
    public byte Reg;
    public Problem Problem;

    public override readonly string ToString() => $"{Kind} len={Length} reg={Reg} value=0x{Value:x} code={(Iced.Intel.Code)Code} problem={Problem}";
}
