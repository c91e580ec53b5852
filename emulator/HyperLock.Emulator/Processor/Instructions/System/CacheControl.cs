using HyperLock.Emulator.Processor.Decode;
using HyperLock.Emulator.Processor.Execution;
using HyperLock.Emulator.Vmx;
using Iced.Intel;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>
/// LFENCE/SFENCE/MFENCE (no-ops: one processor, memory accesses happen in program order) and
/// CLFLUSH (CPUID.1:EDX.CLFSH is advertised; there are no caches, so it only checks that the
/// byte is addressable, faulting as a one-byte load would, without touching MMIO). CLFLUSHOPT
/// and CLWB (CPUID.(EAX=7,ECX=0):EBX bits 23 and 24) differ from it only in ordering and in
/// whether the line stays cached, so they share its handler. INVPCID
/// invalidates TLB entries by PCID (CPUID.7.0:EBX.INVPCID is advertised).
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
        OpTable.SetBranch(Code.Invpcid_r32_m128, &Invpcid);
        OpTable.SetBranch(Code.Invpcid_r64_m128, &Invpcid);
    }

    private static void Fence(Cpu c, ref Insn i) { }

    private static void Clflush(Cpu c, ref Insn i)
    {
        ulong lin = c.Ea(ref i);
        if (c.Faulted) return;
        c.ProbeRead(lin, 1, c.Cpl == 3);
    }

    /// <summary>INVPCID types (the register operand).</summary>
    private const ulong InvpcidAddress = 0, InvpcidSingleContext = 1, InvpcidAllWithGlobals = 2, InvpcidAllButGlobals = 3;

    /// <summary>
    /// INVPCID: #UD in virtual-8086 mode and, in VMX non-root operation, unless "enable INVPCID"
    /// is set; #GP(0) at CPL &gt; 0; a VM exit with "INVLPG exiting"; then the 16-byte descriptor
    /// (PCID in bits 11:0, bits 63:12 zero, linear address in the second quadword) is read and
    /// checked: #GP(0) for a type above 3, reserved descriptor bits, a non-canonical address
    /// (type 0), or a PCID other than 0 with CR4.PCIDE = 0 (types 0 and 1).
    /// </summary>
    private static void Invpcid(Cpu c, ref Insn i)
    {
        if ((c.RflagsRest & Bits.Vm) != 0) { c.RaiseUd(); return; }
        if (c.InNonRoot && (c.VProc2 & VmxControls.Proc2Invpcid) == 0) { c.RaiseUd(); return; }
        if (!RequireCpl0(c)) return;
        if (c.InNonRoot && (c.VProc & VmxControls.ProcInvlpg) != 0)
        {
            c.RaiseVmExit(ExitReason.Invpcid, VmxOpsInfo.Displacement(ref i), ref i, VmxOpsInfo.Invalidate(ref i));
            return;
        }
        ulong type = c.ReadGpr(i.R0, c.In64BitMode ? 8 : 4);
        ulong lin = c.Ea(ref i);
        if (c.Faulted) return;
        ulong descriptor = c.ReadMem64(lin);
        ulong address = c.ReadMem64(c.In64BitMode ? lin + 8 : (lin + 8) & 0xFFFFFFFF);
        if (c.Faulted) return;
        int pcid = (int)(descriptor & 0xFFF);
        bool pcide = (c.Cr4 & Bits.Cr4Pcide) != 0;
        if (type > InvpcidAllButGlobals || (descriptor >> 12) != 0) { c.RaiseGp(0); return; }
        if (type <= InvpcidSingleContext && !pcide && pcid != 0) { c.RaiseGp(0); return; }
        if (type == InvpcidAddress && !Cpu.IsCanonical(address)) { c.RaiseGp(0); return; }
        switch (type)
        {
            case InvpcidAddress: c.InvalidateAddress(address, pcid, includeGlobal: false); break;
            case InvpcidSingleContext: c.FlushPcid(pcid); break;
            case InvpcidAllWithGlobals: c.FlushAllPcids(includeGlobal: true); break;
            default: c.FlushAllPcids(includeGlobal: false); break;
        }
        c.Rip += i.Len;
    }
}
