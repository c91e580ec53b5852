using HyperLock.Emulator.Cpu.Decode;
using HyperLock.Emulator.Cpu.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Cpu.Instructions;

/// <summary>VMX instructions.</summary>
internal static unsafe partial class VmxOps
{
    public static void Register()
    {
    }
}
