using HyperLock.Emulator.Processor.Decode;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>
/// PUSH/POP (register, memory, immediate; 16-, 32- and 64-bit operand sizes), PUSHA/POPA,
/// ENTER, LEAVE. The stack-pointer width (SS.B or 64-bit mode) is applied by <see cref="Cpu.Push"/>
/// and <see cref="Cpu.Pop"/>; PUSHF/POPF and segment-register pushes are in the system family.
/// </summary>
internal static unsafe class StackOps
{
    public static void Register()
    {
        OpTable.Set(Code.Push_r64, &PushReg64);
        OpTable.Set(Code.Push_r32, &PushReg<S32>);
        OpTable.Set(Code.Push_r16, &PushReg<S16>);
        OpTable.Set(Code.Pop_r64, &PopReg64);
        OpTable.Set(Code.Pop_r32, &PopReg<S32>);
        OpTable.Set(Code.Pop_r16, &PopReg<S16>);
        OpTable.Set(Code.Push_rm64, &PushRm<S64>);
        OpTable.Set(Code.Push_rm32, &PushRm<S32>);
        OpTable.Set(Code.Push_rm16, &PushRm<S16>);
        OpTable.Set(Code.Pop_rm64, &PopRm<S64>);
        OpTable.Set(Code.Pop_rm32, &PopRm<S32>);
        OpTable.Set(Code.Pop_rm16, &PopRm<S16>);
        OpTable.Set(Code.Pushq_imm32, &PushImm<S64>);
        OpTable.Set(Code.Pushq_imm8, &PushImm<S64>);
        OpTable.Set(Code.Pushd_imm32, &PushImm<S32>);
        OpTable.Set(Code.Pushd_imm8, &PushImm<S32>);
        OpTable.Set(Code.Push_imm16, &PushImm<S16>);
        OpTable.Set(Code.Pushw_imm8, &PushImm<S16>);
        OpTable.Set(Code.Pushad, &Pusha<S32>);
        OpTable.Set(Code.Pushaw, &Pusha<S16>);
        OpTable.Set(Code.Popad, &Popa<S32>);
        OpTable.Set(Code.Popaw, &Popa<S16>);
        OpTable.Set(Code.Enterq_imm16_imm8, &Enter<S64>);
        OpTable.Set(Code.Enterd_imm16_imm8, &Enter<S32>);
        OpTable.Set(Code.Enterw_imm16_imm8, &Enter<S16>);
        OpTable.Set(Code.Leaveq, &Leave<S64>);
        OpTable.Set(Code.Leaved, &Leave<S32>);
        OpTable.Set(Code.Leavew, &Leave<S16>);
    }

    private static void PushReg64(Cpu c, ref Insn i) => c.Push(c.R(i.R0), 8);

    private static void PopReg64(Cpu c, ref Insn i)
    {
        ulong v = c.Pop(8);
        if (!c.Faulted) c.R(i.R0) = v;
    }

    private static void PushReg<S>(Cpu c, ref Insn i) where S : struct, ISize => c.Push(S.Get(c, i.R0), S.Bytes);

    private static void PopReg<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong v = c.Pop(S.Bytes);
        if (!c.Faulted) S.Set(c, i.R0, v);
    }

    private static void PushImm<S>(Cpu c, ref Insn i) where S : struct, ISize => c.Push(i.Imm & S.Mask, S.Bytes);

    private static void PushRm<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong v = i.Op0IsMem ? S.Load(c, c.Ea(ref i)) : S.Get(c, i.R0);
        if (c.Faulted) return;
        c.Push(v, S.Bytes);
    }

    /// <summary>POP r/m: a memory destination addressed through rSP uses the incremented rSP.</summary>
    private static void PopRm<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        if (!i.Op0IsMem)
        {
            PopReg<S>(c, ref i);
            return;
        }
        ulong v = c.PeekStack(0, S.Bytes);
        if (c.Faulted) return;
        ulong old = c.R(Reg.Rsp);
        int sas = c.StackAddrSize;
        IntForms.SetAddrReg(c, Reg.Rsp, sas, (old + (ulong)S.Bytes) & IntForms.AddrMask(sas));
        S.Store(c, c.Ea(ref i), v);
        if (c.Faulted) c.R(Reg.Rsp) = old;
    }

    private static void Pusha<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        int sas = c.StackAddrSize;
        ulong sp = c.R(Reg.Rsp);
        ulong low = (sp - (ulong)(8 * S.Bytes)) & IntForms.AddrMask(sas);
        if (!c.ProbeWrite(c.SegLinear(Seg.Ss, low), 8 * S.Bytes, c.Cpl == 3)) return;
        ulong origSp = S.Get(c, Reg.Rsp);
        for (int r = 0; r < 8; r++)
        {
            c.Push(r == Reg.Rsp ? origSp : S.Get(c, r), S.Bytes);
            if (c.Faulted) { c.R(Reg.Rsp) = sp; return; }
        }
    }

    private static void Popa<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        Span<ulong> v = stackalloc ulong[8];
        for (int k = 0; k < 8; k++)
        {
            v[7 - k] = c.PeekStack(k * S.Bytes, S.Bytes);
            if (c.Faulted) return;
        }
        for (int r = 0; r < 8; r++)
            if (r != Reg.Rsp) S.Set(c, r, v[r]);
        int sas = c.StackAddrSize;
        IntForms.SetAddrReg(c, Reg.Rsp, sas, (c.R(Reg.Rsp) + (ulong)(8 * S.Bytes)) & IntForms.AddrMask(sas));
    }

    /// <summary>ENTER alloc, level: on a fault rSP and rBP are restored.</summary>
    private static void Enter<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong rsp = c.R(Reg.Rsp), rbp = c.R(Reg.Rbp);
        int level = (int)(i.Imm2 & 31);
        ulong alloc = i.Imm & 0xFFFF;
        int sas = c.StackAddrSize;
        ulong am = IntForms.AddrMask(sas);
        c.Push(S.Get(c, Reg.Rbp), S.Bytes);
        if (c.Faulted) return;
        ulong frame = c.R(Reg.Rsp) & am;
        if (level > 0)
        {
            ulong bp = rbp & am;
            for (int n = 1; n < level; n++)
            {
                bp = (bp - (ulong)S.Bytes) & am;
                ulong v = S.Load(c, c.SegLinear(Seg.Ss, bp));
                if (!c.Faulted) c.Push(v, S.Bytes);
                if (c.Faulted) { c.R(Reg.Rsp) = rsp; c.R(Reg.Rbp) = rbp; return; }
            }
            c.Push(frame & S.Mask, S.Bytes);
            if (c.Faulted) { c.R(Reg.Rsp) = rsp; return; }
        }
        ulong newSp = (c.R(Reg.Rsp) - alloc) & am;
        // The new stack top must be writable (hardware checks the whole frame).
        if (alloc != 0 && !c.ProbeWrite(c.SegLinear(Seg.Ss, newSp), 1, c.Cpl == 3)) { c.R(Reg.Rsp) = rsp; return; }
        S.Set(c, Reg.Rbp, frame);
        IntForms.SetAddrReg(c, Reg.Rsp, sas, newSp);
    }

    private static void Leave<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong rsp = c.R(Reg.Rsp);
        int sas = c.StackAddrSize;
        IntForms.SetAddrReg(c, Reg.Rsp, sas, c.R(Reg.Rbp) & IntForms.AddrMask(sas));
        ulong v = c.Pop(S.Bytes);
        if (c.Faulted) { c.R(Reg.Rsp) = rsp; return; }
        S.Set(c, Reg.Rbp, v);
    }
}
