using System.Runtime.CompilerServices;
using HyperLock.Emulator.Processor.Decode;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>
/// JMP, Jcc, CALL, RET (near), LOOP/LOOPE/LOOPNE, JCXZ/JECXZ/JRCXZ, CMOVcc, SETcc.
/// Handlers are compiled per condition (<see cref="ICond"/>) and per branch operand size, so the
/// condition code is fixed at registration and never looked up at run time.
/// </summary>
internal static unsafe partial class ControlFlow
{
    public static void Register()
    {
        RegisterCond<CondO>(Mnemonic.Jo, Mnemonic.Seto, Mnemonic.Cmovo);
        RegisterCond<CondNo>(Mnemonic.Jno, Mnemonic.Setno, Mnemonic.Cmovno);
        RegisterCond<CondB>(Mnemonic.Jb, Mnemonic.Setb, Mnemonic.Cmovb);
        RegisterCond<CondAe>(Mnemonic.Jae, Mnemonic.Setae, Mnemonic.Cmovae);
        RegisterCond<CondE>(Mnemonic.Je, Mnemonic.Sete, Mnemonic.Cmove);
        RegisterCond<CondNe>(Mnemonic.Jne, Mnemonic.Setne, Mnemonic.Cmovne);
        RegisterCond<CondBe>(Mnemonic.Jbe, Mnemonic.Setbe, Mnemonic.Cmovbe);
        RegisterCond<CondA>(Mnemonic.Ja, Mnemonic.Seta, Mnemonic.Cmova);
        RegisterCond<CondS>(Mnemonic.Js, Mnemonic.Sets, Mnemonic.Cmovs);
        RegisterCond<CondNs>(Mnemonic.Jns, Mnemonic.Setns, Mnemonic.Cmovns);
        RegisterCond<CondP>(Mnemonic.Jp, Mnemonic.Setp, Mnemonic.Cmovp);
        RegisterCond<CondNp>(Mnemonic.Jnp, Mnemonic.Setnp, Mnemonic.Cmovnp);
        RegisterCond<CondL>(Mnemonic.Jl, Mnemonic.Setl, Mnemonic.Cmovl);
        RegisterCond<CondGe>(Mnemonic.Jge, Mnemonic.Setge, Mnemonic.Cmovge);
        RegisterCond<CondLe>(Mnemonic.Jle, Mnemonic.Setle, Mnemonic.Cmovle);
        RegisterCond<CondG>(Mnemonic.Jg, Mnemonic.Setg, Mnemonic.Cmovg);

        foreach (var code in FormTable.Legacy(Mnemonic.Jmp))
        {
            var op = code.ToOpCode();
            switch (op.GetOpKind(0))
            {
                case OpCodeOperandKind.br64_1 or OpCodeOperandKind.br64_4: OpTable.SetBranch(code, &JmpRel64); break;
                case OpCodeOperandKind.br32_1 or OpCodeOperandKind.br32_4: OpTable.SetBranch(code, &JmpRel<S32>); break;
                case OpCodeOperandKind.br16_1 or OpCodeOperandKind.br16_2: OpTable.SetBranch(code, &JmpRel<S16>); break;
            }
        }
        OpTable.SetBranch(Code.Jmp_rm16, &JmpInd<S16>);
        OpTable.SetBranch(Code.Jmp_rm32, &JmpInd<S32>);
        OpTable.SetBranch(Code.Jmp_rm64, &JmpInd<S64>);
        OpTable.SetBranch(Code.Call_rel16, &CallRel<S16>);
        OpTable.SetBranch(Code.Call_rel32_32, &CallRel<S32>);
        OpTable.SetBranch(Code.Call_rel32_64, &CallRel64);
        OpTable.SetBranch(Code.Call_rm16, &CallInd<S16>);
        OpTable.SetBranch(Code.Call_rm32, &CallInd<S32>);
        OpTable.SetBranch(Code.Call_rm64, &CallInd<S64>);
        OpTable.SetBranch(Code.Retnq, &RetQ);
        OpTable.SetBranch(Code.Retnd, &Ret<S32>);
        OpTable.SetBranch(Code.Retnw, &Ret<S16>);
        OpTable.SetBranch(Code.Retnq_imm16, &RetImm<S64>);
        OpTable.SetBranch(Code.Retnd_imm16, &RetImm<S32>);
        OpTable.SetBranch(Code.Retnw_imm16, &RetImm<S16>);

        // LOOPcc/JrCXZ: the Iced form names the count register (address size) and the IP size.
        foreach (var m in new[] { Mnemonic.Loop, Mnemonic.Loope, Mnemonic.Loopne, Mnemonic.Jcxz, Mnemonic.Jecxz, Mnemonic.Jrcxz })
        {
            foreach (var code in FormTable.Legacy(m))
            {
                string name = code.ToString();
                int count = name.EndsWith("_RCX") || m == Mnemonic.Jrcxz ? 8 : name.EndsWith("_ECX") || m == Mnemonic.Jecxz ? 4 : 2;
                int ip = name.Contains("rel8_64") ? 8 : name.Contains("rel8_32") ? 4 : 2;
                int kind = m switch { Mnemonic.Loop => 0, Mnemonic.Loope => 1, Mnemonic.Loopne => 2, _ => 3 };
                OpTable.SetBranch(code, LoopHandler(kind, count, ip));
            }
        }
    }

    private static void RegisterCond<C>(Mnemonic jcc, Mnemonic setcc, Mnemonic cmov) where C : struct, ICond
    {
        foreach (var code in FormTable.Legacy(jcc))
        {
            switch (code.ToOpCode().GetOpKind(0))
            {
                case OpCodeOperandKind.br64_1 or OpCodeOperandKind.br64_4: OpTable.SetBranch(code, &Jcc64<C>); break;
                case OpCodeOperandKind.br32_1 or OpCodeOperandKind.br32_4: OpTable.SetBranch(code, &Jcc<C, S32>); break;
                case OpCodeOperandKind.br16_1 or OpCodeOperandKind.br16_2: OpTable.SetBranch(code, &Jcc<C, S16>); break;
            }
        }
        foreach (var code in FormTable.Legacy(setcc)) OpTable.Set(code, &SetccMem<C>, &SetccReg<C>);
        foreach (var code in FormTable.Legacy(cmov))
        {
            switch (IntForms.Size(code, 0))
            {
                case 2: OpTable.Set(code, &CmovMem<C, S16>, &CmovReg<C, S16>); break;
                case 4: OpTable.Set(code, &CmovMem<C, S32>, &CmovReg<C, S32>); break;
                case 8: OpTable.Set(code, &CmovMem<C, S64>, &CmovReg<C, S64>); break;
            }
        }
    }

    // ---- Jcc / JMP / CALL / RET -----------------------------------------------------------

    /// <summary>64-bit Jcc: the hot path. Imm2 is the target relative to this instruction.</summary>
    private static void Jcc64<C>(Cpu c, ref Insn i) where C : struct, ICond =>
        c.Rip += C.Eval(c) ? (ulong)i.Imm2 : i.Len;

    private static void Jcc<C, S>(Cpu c, ref Insn i) where C : struct, ICond where S : struct, ISize
    {
        if (C.Eval(c)) IntForms.Jump(c, c.Rip + (ulong)i.Imm2, S.Bytes);
        else c.Rip += i.Len;
    }

    private static void JmpRel64(Cpu c, ref Insn i) => c.Rip += (ulong)i.Imm2;

    private static void JmpRel<S>(Cpu c, ref Insn i) where S : struct, ISize => IntForms.Jump(c, c.Rip + (ulong)i.Imm2, S.Bytes);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Rm0<S>(Cpu c, ref Insn i) where S : struct, ISize =>
        i.Op0IsMem ? S.Load(c, c.Ea(ref i)) : S.Get(c, i.R0);

    private static void JmpInd<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong t = Rm0<S>(c, ref i);
        if (c.Faulted) return;
        IntForms.Jump(c, t, S.Bytes);
    }

    private static void CallRel64(Cpu c, ref Insn i)
    {
        c.Push(c.Rip + i.Len, 8);
        if (c.Faulted) return;
        c.Rip += (ulong)i.Imm2;
    }

    private static void CallRel<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong target = (c.Rip + (ulong)i.Imm2) & S.Mask;
        c.Push((c.Rip + i.Len) & S.Mask, S.Bytes);
        if (c.Faulted) return;
        c.Rip = target;
    }

    private static void CallInd<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong t = Rm0<S>(c, ref i);
        if (c.Faulted) return;
        if (S.Bits == 64 && !Cpu.IsCanonical(t)) { c.RaiseGp(0); return; }
        c.Push((c.Rip + i.Len) & S.Mask, S.Bytes);
        if (c.Faulted) return;
        c.Rip = t;
    }

    private static void RetQ(Cpu c, ref Insn i)
    {
        ulong t = c.Pop(8);
        if (c.Faulted) return;
        if (!Cpu.IsCanonical(t))
        {
            c.R(Reg.Rsp) -= 8; // the fault leaves RSP as it was
            c.RaiseGp(0);
            return;
        }
        c.Rip = t;
    }

    private static void Ret<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong rsp = c.R(Reg.Rsp);
        ulong t = c.Pop(S.Bytes);
        if (c.Faulted) return;
        if (!IntForms.Jump(c, t, S.Bytes)) c.R(Reg.Rsp) = rsp;
    }

    private static void RetImm<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong rsp = c.R(Reg.Rsp);
        ulong t = c.Pop(S.Bytes);
        if (c.Faulted) return;
        if (!IntForms.Jump(c, t, S.Bytes)) { c.R(Reg.Rsp) = rsp; return; }
        int sas = c.StackAddrSize;
        IntForms.SetAddrReg(c, Reg.Rsp, sas, (c.R(Reg.Rsp) + (i.Imm & 0xFFFF)) & IntForms.AddrMask(sas));
    }

    // ---- LOOP family ------------------------------------------------------------------------

    private static delegate*<Cpu, ref Insn, void> LoopHandler(int kind, int count, int ip) => (kind, count) switch
    {
        (0, 8) => ip == 8 ? &Loop<S64, S64> : &Loop<S64, S16>,
        (0, 4) => ip == 8 ? &Loop<S32, S64> : ip == 4 ? &Loop<S32, S32> : &Loop<S32, S16>,
        (0, _) => ip == 4 ? &Loop<S16, S32> : &Loop<S16, S16>,
        (1, 8) => ip == 8 ? &Loope<S64, S64> : &Loope<S64, S16>,
        (1, 4) => ip == 8 ? &Loope<S32, S64> : ip == 4 ? &Loope<S32, S32> : &Loope<S32, S16>,
        (1, _) => ip == 4 ? &Loope<S16, S32> : &Loope<S16, S16>,
        (2, 8) => ip == 8 ? &Loopne<S64, S64> : &Loopne<S64, S16>,
        (2, 4) => ip == 8 ? &Loopne<S32, S64> : ip == 4 ? &Loopne<S32, S32> : &Loopne<S32, S16>,
        (2, _) => ip == 4 ? &Loopne<S16, S32> : &Loopne<S16, S16>,
        (_, 8) => ip == 8 ? &Jrcxz<S64, S64> : &Jrcxz<S64, S16>,
        (_, 4) => ip == 8 ? &Jrcxz<S32, S64> : ip == 4 ? &Jrcxz<S32, S32> : &Jrcxz<S32, S16>,
        _ => ip == 4 ? &Jrcxz<S16, S32> : &Jrcxz<S16, S16>,
    };

    /// <summary>Decrements the count register (no flags) and returns whether it is now non-zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool DecCount<A>(Cpu c) where A : struct, ISize
    {
        ulong n = (A.Get(c, Reg.Rcx) - 1) & A.Mask;
        A.Set(c, Reg.Rcx, n);
        return n != 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Take<P>(Cpu c, ref Insn i, bool taken) where P : struct, ISize
    {
        if (!taken) { c.Rip += i.Len; return; }
        if (P.Bits == 64) c.Rip += (ulong)i.Imm2;
        else IntForms.Jump(c, c.Rip + (ulong)i.Imm2, P.Bytes);
    }

    // A: count-register size (CX/ECX/RCX); P: instruction-pointer size of the form.
    private static void Loop<A, P>(Cpu c, ref Insn i) where A : struct, ISize where P : struct, ISize =>
        Take<P>(c, ref i, DecCount<A>(c));

    private static void Loope<A, P>(Cpu c, ref Insn i) where A : struct, ISize where P : struct, ISize =>
        Take<P>(c, ref i, DecCount<A>(c) & c.ZF);

    private static void Loopne<A, P>(Cpu c, ref Insn i) where A : struct, ISize where P : struct, ISize =>
        Take<P>(c, ref i, DecCount<A>(c) & !c.ZF);

    private static void Jrcxz<A, P>(Cpu c, ref Insn i) where A : struct, ISize where P : struct, ISize =>
        Take<P>(c, ref i, A.Get(c, Reg.Rcx) == 0);

    // ---- SETcc / CMOVcc ---------------------------------------------------------------------

    private static void SetccReg<C>(Cpu c, ref Insn i) where C : struct, ICond => c.Write8(i.R0, C.Eval(c) ? (byte)1 : (byte)0);

    private static void SetccMem<C>(Cpu c, ref Insn i) where C : struct, ICond => c.WriteMem8(c.Ea(ref i), C.Eval(c) ? (byte)1 : (byte)0);

    /// <summary>CMOV: a 32-bit destination is written (zero-extended) even when the condition is false.</summary>
    private static void CmovReg<C, S>(Cpu c, ref Insn i) where C : struct, ICond where S : struct, ISize
    {
        if (C.Eval(c)) S.Set(c, i.R0, S.Get(c, i.R1));
        else if (S.Bits == 32) S.Set(c, i.R0, S.Get(c, i.R0));
    }

    /// <summary>The source is read (and may fault) whatever the condition.</summary>
    private static void CmovMem<C, S>(Cpu c, ref Insn i) where C : struct, ICond where S : struct, ISize
    {
        ulong v = S.Load(c, c.Ea(ref i));
        if (c.Faulted) return;
        if (C.Eval(c)) S.Set(c, i.R0, v);
        else if (S.Bits == 32) S.Set(c, i.R0, S.Get(c, i.R0));
    }
}
