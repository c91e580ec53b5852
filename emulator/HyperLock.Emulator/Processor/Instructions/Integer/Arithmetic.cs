using HyperLock.Emulator.Processor.Decode;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>ADD, ADC, SUB, SBB, CMP, INC, DEC, NEG (MUL/IMUL/DIV/IDIV are in MulDiv.cs).</summary>
internal static unsafe partial class Arithmetic
{
    public static void Register()
    {
        MulDiv.Register(); // OpTable lists one Register() per original family file
        Alu.Register<OpAdd>(Mnemonic.Add);
        Alu.Register<OpAdc>(Mnemonic.Adc);
        Alu.Register<OpSub>(Mnemonic.Sub);
        Alu.Register<OpSbb>(Mnemonic.Sbb);
        Alu.Register<OpCmp>(Mnemonic.Cmp);
        Alu.RegisterUnary(Mnemonic.Inc, s => s switch
        {
            1 => ((nint)(delegate*<Cpu, ref Insn, void>)&IncM<S8>, (nint)(delegate*<Cpu, ref Insn, void>)&IncR<S8>),
            2 => ((nint)(delegate*<Cpu, ref Insn, void>)&IncM<S16>, (nint)(delegate*<Cpu, ref Insn, void>)&IncR<S16>),
            4 => ((nint)(delegate*<Cpu, ref Insn, void>)&IncM<S32>, (nint)(delegate*<Cpu, ref Insn, void>)&IncR<S32>),
            _ => ((nint)(delegate*<Cpu, ref Insn, void>)&IncM<S64>, (nint)(delegate*<Cpu, ref Insn, void>)&IncR<S64>),
        });
        Alu.RegisterUnary(Mnemonic.Dec, s => s switch
        {
            1 => ((nint)(delegate*<Cpu, ref Insn, void>)&DecM<S8>, (nint)(delegate*<Cpu, ref Insn, void>)&DecR<S8>),
            2 => ((nint)(delegate*<Cpu, ref Insn, void>)&DecM<S16>, (nint)(delegate*<Cpu, ref Insn, void>)&DecR<S16>),
            4 => ((nint)(delegate*<Cpu, ref Insn, void>)&DecM<S32>, (nint)(delegate*<Cpu, ref Insn, void>)&DecR<S32>),
            _ => ((nint)(delegate*<Cpu, ref Insn, void>)&DecM<S64>, (nint)(delegate*<Cpu, ref Insn, void>)&DecR<S64>),
        });
        Alu.RegisterUnary(Mnemonic.Neg, s => s switch
        {
            1 => ((nint)(delegate*<Cpu, ref Insn, void>)&NegM<S8>, (nint)(delegate*<Cpu, ref Insn, void>)&NegR<S8>),
            2 => ((nint)(delegate*<Cpu, ref Insn, void>)&NegM<S16>, (nint)(delegate*<Cpu, ref Insn, void>)&NegR<S16>),
            4 => ((nint)(delegate*<Cpu, ref Insn, void>)&NegM<S32>, (nint)(delegate*<Cpu, ref Insn, void>)&NegR<S32>),
            _ => ((nint)(delegate*<Cpu, ref Insn, void>)&NegM<S64>, (nint)(delegate*<Cpu, ref Insn, void>)&NegR<S64>),
        });
    }

    private static void IncR<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong a = S.Get(c, i.R0);
        ulong r = (a + 1) & S.Mask;
        c.LazyCarry = c.CF;
        S.Set(c, i.R0, r);
        c.SetLazy(FlagOp.Inc, a, 1, r, S.Bits);
    }

    private static void DecR<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong a = S.Get(c, i.R0);
        ulong r = (a - 1) & S.Mask;
        c.LazyCarry = c.CF;
        S.Set(c, i.R0, r);
        c.SetLazy(FlagOp.Dec, a, 1, r, S.Bits);
    }

    private static void NegR<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong b = S.Get(c, i.R0);
        ulong r = (0 - b) & S.Mask;
        S.Set(c, i.R0, r);
        c.SetLazy(FlagOp.Sub, 0, b, r, S.Bits);
    }

    private static void IncM<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong lin = c.Ea(ref i);
        ulong a = S.Load(c, lin);
        if (c.Faulted) return;
        ulong r = (a + 1) & S.Mask;
        bool cf = c.CF;
        S.Store(c, lin, r);
        if (c.Faulted) return;
        c.LazyCarry = cf;
        c.SetLazy(FlagOp.Inc, a, 1, r, S.Bits);
    }

    private static void DecM<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong lin = c.Ea(ref i);
        ulong a = S.Load(c, lin);
        if (c.Faulted) return;
        ulong r = (a - 1) & S.Mask;
        bool cf = c.CF;
        S.Store(c, lin, r);
        if (c.Faulted) return;
        c.LazyCarry = cf;
        c.SetLazy(FlagOp.Dec, a, 1, r, S.Bits);
    }

    private static void NegM<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong lin = c.Ea(ref i);
        ulong b = S.Load(c, lin);
        if (c.Faulted) return;
        ulong r = (0 - b) & S.Mask;
        S.Store(c, lin, r);
        if (c.Faulted) return;
        c.SetLazy(FlagOp.Sub, 0, b, r, S.Bits);
    }
}
