using HyperLock.Emulator.Cpu.Decode;
using HyperLock.Emulator.Cpu.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Cpu.Instructions;

/// <summary>SSE through SSE4.2, integer and floating point.</summary>
internal static unsafe partial class Sse
{
    public static void Register()
    {
    }
}
