using HyperLock.Emulator.Processor.Decode;
using Iced.Intel;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>AND, OR, XOR, TEST, NOT.</summary>
internal static unsafe partial class Logic
{
    public static void Register()
    {
        Alu.Register<OpAnd>(Mnemonic.And);
        Alu.Register<OpOr>(Mnemonic.Or);
        Alu.Register<OpXor>(Mnemonic.Xor);
        Alu.Register<OpTest>(Mnemonic.Test);
        Alu.RegisterUnary(Mnemonic.Not, s => s switch
        {
            1 => ((nint)(delegate*<Cpu, ref Insn, void>)&NotM<S8>, (nint)(delegate*<Cpu, ref Insn, void>)&NotR<S8>),
            2 => ((nint)(delegate*<Cpu, ref Insn, void>)&NotM<S16>, (nint)(delegate*<Cpu, ref Insn, void>)&NotR<S16>),
            4 => ((nint)(delegate*<Cpu, ref Insn, void>)&NotM<S32>, (nint)(delegate*<Cpu, ref Insn, void>)&NotR<S32>),
            _ => ((nint)(delegate*<Cpu, ref Insn, void>)&NotM<S64>, (nint)(delegate*<Cpu, ref Insn, void>)&NotR<S64>),
        });
    }

    /// <summary>NOT changes no flags.</summary>
    private static void NotR<S>(Cpu c, ref Insn i) where S : struct, ISize => S.Set(c, i.R0, ~S.Get(c, i.R0) & S.Mask);

    private static void NotM<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong lin = c.Ea(ref i);
        ulong a = S.Load(c, lin);
        if (c.Faulted) return;
        S.Store(c, lin, ~a & S.Mask);
    }
}
