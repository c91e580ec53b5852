using HyperLock.Emulator.Cpu.Decode;
using HyperLock.Emulator.Cpu.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Cpu.Instructions;

/// <summary>NOP forms, CPUID, RDTSC/RDTSCP, PAUSE, UD2, LAHF/SAHF, flag instructions, INT3, HLT.</summary>
internal static unsafe partial class Misc
{
    public static void Register()
    {
        foreach (var c in FormTable.Legacy(Mnemonic.Nop)) OpTable.Set(c, &Nop);
        OpTable.Set(Code.Pause, &Nop);
        OpTable.SetBranch(Code.Int3, &Int3);
        OpTable.Set(Code.Ud2, &Ud);
    }

    private static void Nop(Cpu c, ref Insn i) { }

    private static void Ud(Cpu c, ref Insn i) => c.RaiseUd();

    private static void Int3(Cpu c, ref Insn i)
    {
        c.Rip += i.Len;
        c.RaiseSoftwareInterrupt(Vector.BP, SoftwareEventKind.Int3);
    }
}
