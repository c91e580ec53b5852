using HyperLock.Emulator.Cpu.Decode;
using HyperLock.Emulator.Cpu.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Cpu.Instructions;

/// <summary>MOV, MOVZX/MOVSX/MOVSXD, XCHG, CMPXCHG*, XADD, BSWAP, LEA, CBW family, PUSH/POP, ENTER/LEAVE.</summary>
internal static unsafe partial class DataTransfer
{
    public static void Register()
    {
        foreach (var c in FormTable.Legacy(Mnemonic.Mov))
        {
            var op = c.ToOpCode();
            // MOV to/from control, debug and segment registers belongs to the system family.
            bool system = false;
            for (int n = 0; n < op.OpCount; n++)
                if (op.GetOpKind(n) is OpCodeOperandKind.cr_reg or OpCodeOperandKind.dr_reg or OpCodeOperandKind.tr_reg or OpCodeOperandKind.seg_reg) system = true;
            if (!system) OpTable.Set(c, &Mov, &MovReg);
        }
        foreach (var c in FormTable.Legacy(Mnemonic.Lea)) OpTable.Set(c, &Lea);
        OpTable.Set(Code.Push_r64, &PushR64);
        OpTable.Set(Code.Pop_r64, &PopR64);
    }

    private static void MovReg(Cpu c, ref Insn i)
    {
        int size = i.OpSize;
        ulong v = i.Kind(1) == OperandKind.Register ? c.ReadGpr(i.R1, size) : i.Imm;
        c.WriteGpr(i.R0, size, v);
    }

    private static void Mov(Cpu c, ref Insn i)
    {
        int size = i.OpSize;
        ulong v = c.GetOp(ref i, 1, size);
        if (c.Faulted) return;
        c.SetOp(ref i, 0, size, v);
    }

    private static void Lea(Cpu c, ref Insn i)
    {
        // LEA computes the offset only: no segment base, truncated to the address size, then to the operand size.
        ulong a = (ulong)i.Disp;
        if (i.Base != Reg.None) a += i.Base == Reg.Rip ? c.Rip : c.R(i.Base);
        if (i.Index != Reg.None) a += c.R(i.Index) << i.Scale;
        if (i.AddrSize == 4) a = (uint)a; else if (i.AddrSize == 2) a = (ushort)a;
        c.WriteGpr(i.R0, i.OpSize, a);
    }

    private static void PushR64(Cpu c, ref Insn i) => c.Push(c.R(i.R0), 8);

    private static void PopR64(Cpu c, ref Insn i)
    {
        ulong v = c.Pop(8);
        if (!c.Faulted) c.R(i.R0) = v;
    }
}
