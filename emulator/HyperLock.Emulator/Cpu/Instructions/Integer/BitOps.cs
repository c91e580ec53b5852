using HyperLock.Emulator.Cpu.Decode;
using HyperLock.Emulator.Cpu.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Cpu.Instructions;

/// <summary>BT/BTS/BTR/BTC, BSF/BSR, TZCNT/LZCNT/POPCNT, BMI1, BMI2.</summary>
internal static unsafe partial class BitOps
{
    public static void Register()
    {
    }
}
