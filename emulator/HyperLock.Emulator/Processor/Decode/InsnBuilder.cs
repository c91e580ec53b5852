using Iced.Intel;
using HyperLock.Emulator.Processor.Execution;
using IcedRegister = Iced.Intel.Register;

namespace HyperLock.Emulator.Processor.Decode;

/// <summary>Turns an Iced <see cref="Instruction"/> into the interpreter's <see cref="Insn"/>.</summary>
public static unsafe class InsnBuilder
{
    public static void Build(in Instruction raw, ref Insn insn)
    {
        insn = default;
        insn.Raw = raw;
        insn.Code = raw.Code;
        insn.Len = (byte)raw.Length;
        insn.Base = insn.Index = Reg.None;
        insn.Segment = Seg.Ds;
        insn.OpCount = (byte)raw.OpCount;

        if (raw.Code == Code.INVALID)
        {
            insn.Exec = &OpTable.Invalid;
            insn.Attr = InsnAttr.Terminator;
            return;
        }

        bool hasMemory = false;
        for (int n = 0; n < raw.OpCount; n++)
            if (raw.GetOpKind(n) == OpKind.Memory) hasMemory = true;
        insn.Exec = OpTable.Lookup(raw.Code, hasMemory, out InsnAttr attr);
        if (raw.HasLockPrefix) attr |= InsnAttr.Lock;
        if (raw.HasRepPrefix) attr |= InsnAttr.Rep;
        if (raw.HasRepnePrefix) attr |= InsnAttr.RepNe;
        if (raw.IsStackInstruction || (hasMemory && raw.MemorySegment == IcedRegister.SS)) attr |= InsnAttr.StackReference;
        insn.Attr = attr;

        int kinds = 0;
        int immIndex = 0;
        for (int n = 0; n < raw.OpCount && n < 4; n++)
        {
            OperandKind k;
            switch (raw.GetOpKind(n))
            {
                case OpKind.Register:
                    k = OperandKind.Register;
                    SetReg(ref insn, n, RegisterNumber(raw.GetOpRegister(n)));
                    break;
                case OpKind.Memory:
                    k = OperandKind.Memory;
                    SetMemory(raw, ref insn);
                    SetReg(ref insn, n, 0);
                    break;
                case OpKind.NearBranch16:
                case OpKind.NearBranch32:
                case OpKind.NearBranch64:
                    k = OperandKind.Immediate;
                    insn.Imm2 = (long)(raw.NearBranchTarget - raw.IP);
                    break;
                case OpKind.FarBranch16:
                case OpKind.FarBranch32:
                    k = OperandKind.Immediate;
                    insn.Imm = raw.FarBranchSelector;
                    insn.Imm2 = raw.GetOpKind(n) == OpKind.FarBranch16 ? raw.FarBranch16 : raw.FarBranch32;
                    break;
                case OpKind.Immediate8:
                case OpKind.Immediate8_2nd:
                case OpKind.Immediate16:
                case OpKind.Immediate32:
                case OpKind.Immediate64:
                case OpKind.Immediate8to16:
                case OpKind.Immediate8to32:
                case OpKind.Immediate8to64:
                case OpKind.Immediate32to64:
                    k = OperandKind.Immediate;
                    if (immIndex++ == 0) insn.Imm = raw.GetImmediate(n);
                    else insn.Imm2 = (long)raw.GetImmediate(n);
                    break;
                default:
                    // String-instruction implicit memory operands (seg:[rsi], es:[rdi]) and the like.
                    k = OperandKind.Memory;
                    if (raw.GetOpKind(n) is OpKind.MemorySegSI or OpKind.MemorySegESI or OpKind.MemorySegRSI)
                        insn.Segment = (byte)SegmentNumber(raw.MemorySegment);
                    break;
            }
            kinds |= (int)k << (2 * n);
        }
        insn.Kinds = (byte)kinds;
        insn.OpSize = (byte)OperandSize(raw);
        insn.AddrSize = (byte)AddressSize(raw);
        if (insn.OpSize == 8) insn.Attr |= InsnAttr.Wide;
    }

    private static void SetReg(ref Insn insn, int n, int number)
    {
        switch (n)
        {
            case 0: insn.R0 = (byte)number; break;
            case 1: insn.R1 = (byte)number; break;
            case 2: insn.R2 = (byte)number; break;
            default: insn.R3 = (byte)number; break;
        }
    }

    private static void SetMemory(in Instruction raw, ref Insn insn)
    {
        insn.Segment = (byte)SegmentNumber(raw.MemorySegment);
        if (raw.IsIPRelativeMemoryOperand)
        {
            insn.Base = Reg.Rip;
            insn.Disp = (long)(raw.IPRelativeMemoryAddress - raw.IP);
            if (raw.MemoryBase == IcedRegister.EIP) insn.Disp = (long)(uint)insn.Disp; // wraps at 4 GiB via AddrSize mask
        }
        else
        {
            insn.Base = raw.MemoryBase == IcedRegister.None ? (byte)Reg.None : (byte)RegisterNumber(raw.MemoryBase);
            insn.Disp = (long)raw.MemoryDisplacement64;
        }
        insn.Index = raw.MemoryIndex == IcedRegister.None ? (byte)Reg.None : (byte)RegisterNumber(raw.MemoryIndex);
        insn.Scale = raw.MemoryIndexScale switch { 1 => 0, 2 => 1, 4 => 2, _ => 3 };
    }

    /// <summary>Register number within its class; AH/CH/DH/BH map to 16-19.</summary>
    public static int RegisterNumber(IcedRegister r)
    {
        if (r >= IcedRegister.AL && r <= IcedRegister.R15L)
        {
            int i = r - IcedRegister.AL;
            if (i < 4) return i;                              // AL CL DL BL
            if (i < 8) return Reg.HighByteBase + (i - 4);     // AH CH DH BH
            return i - 4;                                      // SPL BPL SIL DIL R8L..R15L
        }
        if (r >= IcedRegister.ES && r <= IcedRegister.GS) return SegmentNumber(r);
        return r.GetNumber();
    }

    public static int SegmentNumber(IcedRegister r) => r switch
    {
        IcedRegister.ES => Seg.Es,
        IcedRegister.CS => Seg.Cs,
        IcedRegister.SS => Seg.Ss,
        IcedRegister.FS => Seg.Fs,
        IcedRegister.GS => Seg.Gs,
        _ => Seg.Ds,
    };

    private static int OperandSize(in Instruction raw)
    {
        if (raw.OpCount > 0)
        {
            switch (raw.Op0Kind)
            {
                case OpKind.Register:
                    return raw.Op0Register.GetSize();
                case OpKind.Memory:
                    return raw.MemorySize.GetSize();
            }
        }
        if (raw.OpCount > 1 && raw.Op1Kind == OpKind.Register) return raw.Op1Register.GetSize();
        // String operations and branches: the element or stack size.
        return raw.MemorySize.GetSize();
    }

    private static int AddressSize(in Instruction raw)
    {
        for (int n = 0; n < raw.OpCount; n++)
        {
            switch (raw.GetOpKind(n))
            {
                case OpKind.Memory:
                    var b = raw.MemoryBase != IcedRegister.None ? raw.MemoryBase : raw.MemoryIndex;
                    // Absolute [disp] / moffs: Iced sizes the displacement by the address size.
                    if (b == IcedRegister.None)
                        return raw.MemoryDisplSize is 2 or 4 or 8 ? (int)raw.MemoryDisplSize
                            : raw.CodeSize == CodeSize.Code64 ? 8 : raw.CodeSize == CodeSize.Code32 ? 4 : 2;
                    if (b == IcedRegister.RIP) return 8;
                    if (b == IcedRegister.EIP) return 4;
                    return b.GetSize();
                case OpKind.MemorySegRSI: case OpKind.MemorySegRDI: case OpKind.MemoryESRDI: return 8;
                case OpKind.MemorySegESI: case OpKind.MemorySegEDI: case OpKind.MemoryESEDI: return 4;
                case OpKind.MemorySegSI: case OpKind.MemorySegDI: case OpKind.MemoryESDI: return 2;
            }
        }
        return raw.CodeSize switch { CodeSize.Code64 => 8, CodeSize.Code32 => 4, _ => 2 };
    }
}
