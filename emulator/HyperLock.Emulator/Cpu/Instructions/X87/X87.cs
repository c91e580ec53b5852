using HyperLock.Emulator.Cpu.Decode;
using HyperLock.Emulator.Cpu.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Cpu.Instructions;

/// <summary>x87 FPU, FXSAVE/FXRSTOR, XSAVE/XRSTOR.</summary>
internal static unsafe partial class X87
{
    public static void Register()
    {
    }
}
