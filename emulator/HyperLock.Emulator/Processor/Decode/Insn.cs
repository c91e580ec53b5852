using System.Runtime.InteropServices;
using Iced.Intel;

namespace HyperLock.Emulator.Processor.Decode;

/// <summary>How an operand of a decoded instruction is supplied.</summary>
public enum OperandKind : byte
{
    None = 0,
    Register = 1,
    Memory = 2,
    Immediate = 3,
}

/// <summary>Per-instruction attributes fixed at decode time.</summary>
[Flags]
public enum InsnAttr : byte
{
    None = 0,
    /// <summary>The handler sets RIP itself (branches, faults-only instructions); the block ends here.</summary>
    Terminator = 1 << 0,
    Lock = 1 << 1,
    Rep = 1 << 2,
    RepNe = 1 << 3,
    /// <summary>Operand size came from REX.W or is 64-bit by default.</summary>
    Wide = 1 << 4,
    /// <summary>
    /// In 64-bit mode the instruction references the stack segment: a memory operand whose
    /// segment is SS (base RSP or RBP, or an SS override) or an implicit stack access (PUSH,
    /// POP, CALL, RET, ENTER, LEAVE, IRET...). A non-canonical address there raises #SS(0), not #GP(0).
    /// </summary>
    StackReference = 1 << 5,
}

/// <summary>
/// One decoded instruction, laid out for the interpreter: the handler pointer first, then the
/// operand fields handlers read on every execution. The full Iced instruction is kept for rare
/// handlers and for diagnostics. Built once per decode, never per execution.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct Insn
{
    /// <summary>The semantic routine for this instruction form.</summary>
    public delegate*<Cpu, ref Insn, void> Exec;

    /// <summary>First immediate, already sign- or zero-extended to 64 bits as the form defines.</summary>
    public ulong Imm;

    /// <summary>Near branches: target minus the instruction's own address. Far forms and ENTER: second immediate.</summary>
    public long Imm2;

    /// <summary>Memory displacement. For RIP-relative operands: relative to this instruction's start.</summary>
    public long Disp;

    /// <summary>Register numbers of operands 0-2 within their class (GPR 0-15, AH-BH as 16-19, XMM 0-15, …).</summary>
    public byte R0, R1, R2, R3;

    /// <summary>Memory operand: base and index register numbers (<see cref="Reg.None"/>, <see cref="Reg.Rip"/>), scale as a shift.</summary>
    public byte Base, Index, Scale;

    /// <summary>Segment register of the memory operand (<see cref="Seg"/>).</summary>
    public byte Segment;

    /// <summary>Operand size in bytes (1, 2, 4, 8; 16 for XMM) of the instruction's main operand.</summary>
    public byte OpSize;

    /// <summary>Address size in bytes (2, 4, 8).</summary>
    public byte AddrSize;

    /// <summary>Instruction length in bytes.</summary>
    public byte Len;

    public InsnAttr Attr;

    /// <summary>Operand kinds, two bits each: operand n at bits 2n+1:2n (<see cref="OperandKind"/>).</summary>
    public byte Kinds;

    /// <summary>Number of explicit operands.</summary>
    public byte OpCount;

    /// <summary>The Iced code (the instruction form).</summary>
    public Code Code;

    /// <summary>The whole decoded instruction, for rare handlers and diagnostics.</summary>
    public Instruction Raw;

    public readonly OperandKind Kind(int operand) => (OperandKind)((Kinds >> (operand * 2)) & 3);

    /// <summary>True when operand 0 is in memory (the common "r/m is the destination" test).</summary>
    public readonly bool Op0IsMem => (Kinds & 3) == (byte)OperandKind.Memory;

    /// <summary>True when operand 1 is in memory.</summary>
    public readonly bool Op1IsMem => ((Kinds >> 2) & 3) == (byte)OperandKind.Memory;

    public readonly bool IsTerminator => (Attr & InsnAttr.Terminator) != 0;
}
