using HyperLock.Emulator.Cpu.Decode;
using HyperLock.Emulator.Cpu.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Cpu.Instructions;

/// <summary>
/// LFENCE/SFENCE/MFENCE (no-ops: one processor, memory accesses happen in program order) and
/// CLFLUSH (CPUID.1:EDX.CLFSH is advertised; there are no caches, so it only checks that the
/// byte is addressable, faulting as a one-byte load would, without touching MMIO).
/// </summary>
internal static unsafe partial class SystemOps
{
    private static void RegisterCacheControl()
    {
        foreach (var m in new[] { Mnemonic.Lfence, Mnemonic.Sfence, Mnemonic.Mfence })
            foreach (var code in FormTable.Legacy(m)) OpTable.Set(code, &Fence);
        OpTable.Set(Code.Clflush_m8, &Clflush);
    }

    private static void Fence(Cpu c, ref Insn i) { }

    private static void Clflush(Cpu c, ref Insn i)
    {
        ulong lin = c.Ea(ref i);
        if (c.Faulted) return;
        c.ProbeRead(lin, 1, c.Cpl == 3);
    }
}
