using HyperLock.Emulator.Cpu.Decode;
using HyperLock.Emulator.Cpu.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Cpu.Instructions;

/// <summary>
/// LFENCE/SFENCE/MFENCE (no-ops: one processor, memory accesses happen in program order) and
/// CLFLUSH (CPUID.1:EDX.CLFSH is advertised; there are no caches, so it only checks that the
/// byte is addressable, faulting as a one-byte load would, without touching MMIO). CLFLUSHOPT
/// and CLWB (CPUID.(EAX=7,ECX=0):EBX bits 23 and 24) differ from it only in ordering and in
/// whether the line stays cached, so they share its handler.
/// </summary>
internal static unsafe partial class SystemOps
{
    private static void RegisterCacheControl()
    {
        foreach (var m in new[] { Mnemonic.Lfence, Mnemonic.Sfence, Mnemonic.Mfence })
            foreach (var code in FormTable.Legacy(m)) OpTable.Set(code, &Fence);
        OpTable.Set(Code.Clflush_m8, &Clflush);
        OpTable.Set(Code.Clflushopt_m8, &Clflush);
        OpTable.Set(Code.Clwb_m8, &Clflush);
    }

    private static void Fence(Cpu c, ref Insn i) { }

    private static void Clflush(Cpu c, ref Insn i)
    {
        ulong lin = c.Ea(ref i);
        if (c.Faulted) return;
        c.ProbeRead(lin, 1, c.Cpl == 3);
    }
}
