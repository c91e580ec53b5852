using HyperLock.Emulator.Processor.Decode;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>PUSHF/POPF with their privilege rules, CLI and STI (with its one-instruction interrupt shadow).</summary>
internal static unsafe partial class SystemOps
{
    private static void RegisterFlags()
    {
        OpTable.Set(Code.Pushfw, &Pushf);
        OpTable.Set(Code.Pushfd, &Pushf);
        OpTable.Set(Code.Pushfq, &Pushf);
        OpTable.SetBranch(Code.Popfw, &Popf);
        OpTable.SetBranch(Code.Popfd, &Popf);
        OpTable.SetBranch(Code.Popfq, &Popf);
        OpTable.SetBranch(Code.Cli, &Cli);
        OpTable.SetBranch(Code.Sti, &Sti);
    }

    private static int Iopl(Cpu c) => (int)((c.RflagsRest >> 12) & 3);

    private static bool InV86(Cpu c) => (c.RflagsRest & Bits.Vm) != 0;

    /// <summary>Operand size of an instruction whose only operands are implicit, from its form.</summary>
    private static int ImplicitSize(Code code) => code switch
    {
        Code.Pushfw or Code.Popfw or Code.Iretw or Code.Retfw or Code.Retfw_imm16 => 2,
        Code.Pushfq or Code.Popfq or Code.Iretq or Code.Retfq or Code.Retfq_imm16 => 8,
        _ => 4,
    };

    private static void Pushf(Cpu c, ref Insn i)
    {
        if (InV86(c) && Iopl(c) < 3) { c.RaiseGp(0); return; }
        ulong v = c.GetRflags() & ~(Bits.Rf | Bits.Vm);
        c.Push(v, ImplicitSize(i.Code));
    }

    private static void Popf(Cpu c, ref Insn i)
    {
        if (InV86(c) && Iopl(c) < 3) { c.RaiseGp(0); return; }
        int size = ImplicitSize(i.Code);
        ulong v = c.Pop(size);
        if (c.Faulted) return;
        ulong mask = Bits.Arith | Bits.Tf | Bits.Df | Bits.Nt;
        if (size >= 4) mask |= Bits.Ac | Bits.Id;
        if (!c.ProtectedMode && !InV86(c) || c.Cpl == 0) mask |= Bits.If | Bits.Iopl;
        else if (c.Cpl <= Iopl(c)) mask |= Bits.If;
        if (size == 2) mask &= 0xFFFF;
        ulong old = c.GetRflags();
        c.SetRflags(((old & ~mask) | (v & mask)) & ~Bits.Rf);
        c.Rip += i.Len;
    }

    /// <summary>CLI/STI are allowed in real mode and when CPL ≤ IOPL (V86: IOPL = 3); VME/PVI are not modelled.</summary>
    private static bool InterruptFlagAllowed(Cpu c)
    {
        if ((c.Cr0 & Bits.Cr0Pe) == 0) return true;
        bool ok = InV86(c) ? Iopl(c) == 3 : c.Cpl <= Iopl(c);
        if (!ok) c.RaiseGp(0);
        return ok;
    }

    private static void Cli(Cpu c, ref Insn i)
    {
        if (!InterruptFlagAllowed(c)) return;
        c.RflagsRest &= ~Bits.If;
        c.Rip += i.Len;
    }

    private static void Sti(Cpu c, ref Insn i)
    {
        if (!InterruptFlagAllowed(c)) return;
        if (!c.IF)
        {
            c.InterruptShadowUntil = Cpu.ShadowAfterThisInstruction;
            c.MovSsShadow = false;
        }
        c.RflagsRest |= Bits.If;
        c.Rip += i.Len;
    }
}
