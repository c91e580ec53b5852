using HyperLock.Emulator.Cpu.Decode;
using HyperLock.Emulator.Cpu.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Cpu.Instructions;

/// <summary>JMP, Jcc, CALL, RET, LOOP family, JrCXZ, CMOVcc, SETcc.</summary>
internal static unsafe partial class ControlFlow
{
    public static void Register()
    {
        foreach (var c in FormTable.Legacy(Mnemonic.Jmp))
        {
            var k = c.ToOpCode().GetOpKind(0);
            if (k is OpCodeOperandKind.br16_1 or OpCodeOperandKind.br32_1 or OpCodeOperandKind.br64_1
                or OpCodeOperandKind.br16_2 or OpCodeOperandKind.br32_4 or OpCodeOperandKind.br64_4)
                OpTable.SetBranch(c, &JmpRel);
        }
        for (var m = Mnemonic.Ja; m <= Mnemonic.Js; m++)
        {
            if (!IsJcc(m)) continue;
            foreach (var c in FormTable.Legacy(m)) OpTable.SetBranch(c, &Jcc);
        }
        OpTable.SetBranch(Code.Call_rel32_64, &CallRel64);
        OpTable.SetBranch(Code.Retnq, &RetQ);
    }

    private static bool IsJcc(Mnemonic m) => m is Mnemonic.Ja or Mnemonic.Jae or Mnemonic.Jb or Mnemonic.Jbe or Mnemonic.Je
        or Mnemonic.Jg or Mnemonic.Jge or Mnemonic.Jl or Mnemonic.Jle or Mnemonic.Jne or Mnemonic.Jno or Mnemonic.Jnp
        or Mnemonic.Jns or Mnemonic.Jo or Mnemonic.Jp or Mnemonic.Js;

    /// <summary>Condition code of a Jcc/SETcc/CMOVcc form, from its opcode's low nibble.</summary>
    internal static int ConditionOf(in Insn i) => (int)(i.Raw.ConditionCode) switch
    {
        // Iced's ConditionCode enum is ordered o, no, b, ae, e, ne, be, a, s, ns, p, np, l, ge, le, g (1-based).
        var v => v - 1,
    };

    private static void JmpRel(Cpu c, ref Insn i) => c.Branch(c.Rip + (ulong)i.Imm2, i.OpSize == 0 ? 8 : i.OpSize);

    private static void Jcc(Cpu c, ref Insn i)
    {
        if (c.Condition(ConditionOf(i))) c.Branch(c.Rip + (ulong)i.Imm2, i.OpSize == 0 ? 8 : i.OpSize);
        else c.Rip += i.Len;
    }

    private static void CallRel64(Cpu c, ref Insn i)
    {
        c.Push(c.Rip + i.Len, 8);
        if (c.Faulted) return;
        c.Rip += (ulong)i.Imm2;
    }

    private static void RetQ(Cpu c, ref Insn i)
    {
        ulong target = c.Pop(8);
        if (c.Faulted) return;
        c.Rip = target;
    }
}
