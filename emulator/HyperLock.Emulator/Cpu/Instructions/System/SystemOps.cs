using HyperLock.Emulator.Cpu.Decode;
using HyperLock.Emulator.Cpu.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Cpu.Instructions;

/// <summary>control/debug registers, descriptor tables, SYSCALL/SYSRET, SWAPGS, IRET, INT n, MSRs, I/O, far transfers.</summary>
internal static unsafe partial class SystemOps
{
    public static void Register()
    {
    }
}
