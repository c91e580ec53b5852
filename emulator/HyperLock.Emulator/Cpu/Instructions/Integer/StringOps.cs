using HyperLock.Emulator.Cpu.Decode;
using HyperLock.Emulator.Cpu.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Cpu.Instructions;

/// <summary>MOVS, STOS, LODS, SCAS, CMPS with REP/REPE/REPNE.</summary>
internal static unsafe partial class StringOps
{
    public static void Register()
    {
    }
}
