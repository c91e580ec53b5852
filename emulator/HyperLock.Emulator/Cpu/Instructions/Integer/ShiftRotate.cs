using HyperLock.Emulator.Cpu.Decode;
using HyperLock.Emulator.Cpu.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Cpu.Instructions;

/// <summary>SHL/SAL, SHR, SAR, ROL, ROR, RCL, RCR, SHLD, SHRD.</summary>
internal static unsafe partial class ShiftRotate
{
    public static void Register()
    {
    }
}
