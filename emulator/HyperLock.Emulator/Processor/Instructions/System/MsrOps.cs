using HyperLock.Emulator.Processor.Decode;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>RDMSR, WRMSR (through <see cref="Cpu.TryReadMsr"/>/<see cref="Cpu.TryWriteMsr"/>) and RDPMC.</summary>
internal static unsafe partial class SystemOps
{
    private static void RegisterMsrs()
    {
        OpTable.Set(Code.Rdmsr, &Rdmsr);
        // WRMSR can change EFER, segment bases or the APIC: the block ends after it.
        OpTable.SetBranch(Code.Wrmsr, &Wrmsr);
        OpTable.Set(Code.Rdpmc, &Rdpmc);
    }

    private static void Rdmsr(Cpu c, ref Insn i)
    {
        if (!RequireCpl0(c)) return;
        if (c.InNonRoot && c.VmxInterceptRdmsr(ref i, (uint)c.R(Reg.Rcx))) return;
        if (!c.TryReadMsr((uint)c.R(Reg.Rcx), out ulong v))
        {
            if (!c.Faulted) c.RaiseGp(0);
            return;
        }
        c.R(Reg.Rax) = (uint)v;
        c.R(Reg.Rdx) = v >> 32;
    }

    private static void Wrmsr(Cpu c, ref Insn i)
    {
        if (!RequireCpl0(c)) return;
        if (c.InNonRoot && c.VmxInterceptWrmsr(ref i, (uint)c.R(Reg.Rcx))) return;
        ulong v = ((c.R(Reg.Rdx) & 0xFFFFFFFF) << 32) | (uint)c.R(Reg.Rax);
        if (!c.TryWriteMsr((uint)c.R(Reg.Rcx), v))
        {
            if (!c.Faulted) c.RaiseGp(0);
            return;
        }
        if (!c.Faulted) c.Rip += i.Len;
    }

    /// <summary>
    /// RDPMC: #GP(0) at CPL &gt; 0 unless CR4.PCE. The profile advertises no performance
    /// counters (no CPUID leaf 0xA), so every counter index is invalid and also raises #GP(0).
    /// </summary>
    private static void Rdpmc(Cpu c, ref Insn i)
    {
        if (c.Cpl > 0 && (c.Cr4 & Bits.Cr4Pce) == 0) { c.RaiseGp(0); return; }
        if (c.InNonRoot && c.VmxInterceptRdpmc(ref i)) return;
        c.RaiseGp(0);
    }
}
