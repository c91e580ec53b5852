namespace HyperLock.Verifier.Decoding;

internal static class Problems
{
    public static string Describe(Problem p) => p switch
    {
        Problem.MemoryIndirect => "memory-indirect jump or call",
        Problem.DuplicatePrefix => "duplicated prefix byte",
        Problem.RexNotLast => "REX prefix not immediately before the opcode (it is ignored)",
        Problem.AddressSizePrefix => "address-size prefix 0x67 is not allowed",
        Problem.SegmentOverride => "CS/SS/DS/ES segment override (no effect in 64-bit mode) is not allowed",
        Problem.SegmentWithoutMemory => "FS/GS override on an instruction without a data memory operand",
        Problem.MultipleSegments => "more than one segment override",
        Problem.LockWithRep => "lock combined with 0xF2/0xF3 (xacquire/xrelease) is not allowed",
        Problem.RepAndRepne => "both 0xF2 and 0xF3 prefixes",
        Problem.RedundantOperandSize => "0x66 prefix without effect on this instruction",
        Problem.RedundantRep => "0xF2/0xF3 prefix without effect on this instruction",
        Problem.PrefixOnBranch => "legacy prefix on a branch (0x66 truncates RIP on AMD; 0xF2 is bnd)",
        _ => p.ToString(),
    };
}
