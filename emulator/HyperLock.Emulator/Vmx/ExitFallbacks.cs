using HyperLock.Emulator.Processor.Decode;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>
/// Exit-only stand-ins for instructions that cause VM exits but whose real handlers belong to
/// other families. They are registered only for forms nobody has implemented (VmxOps registers
/// last), so a real handler always wins; that handler then calls the matching
/// <c>Cpu.VmxIntercept*</c> method as its first line. A stand-in performs the VM exit when the
/// current controls demand one and otherwise behaves as an unimplemented instruction (#UD).
/// </summary>
internal static unsafe partial class VmxOps
{
    private static void RegisterExitFallbacks()
    {
        Fallback(Code.Cpuid, &FbCpuid);
        Fallback(Code.Hlt, &FbHlt);
        Fallback(Code.Invd, &FbInvd);
        Fallback(Code.Wbinvd, &FbWbinvd);
        Fallback(Code.Getsecd, &FbGetsec);
        Fallback(Code.Getsecq, &FbGetsec);
        Fallback(Code.Xsetbv, &FbXsetbv);
        Fallback(Code.Rdtsc, &FbRdtsc);
        Fallback(Code.Rdtscp, &FbRdtscp);
        Fallback(Code.Rdpmc, &FbRdpmc);
        Fallback(Code.Rdmsr, &FbRdmsr);
        Fallback(Code.Wrmsr, &FbWrmsr);
        Fallback(Code.Mwait, &FbMwait);
        Fallback(Code.Monitorq, &FbMonitor);
        Fallback(Code.Monitord, &FbMonitor);
        Fallback(Code.Invlpg_m, &FbInvlpg);
        Fallback(Code.Mov_cr_r64, &FbMovToCr);
        Fallback(Code.Mov_cr_r32, &FbMovToCr);
        Fallback(Code.Mov_r64_cr, &FbMovFromCr);
        Fallback(Code.Mov_r32_cr, &FbMovFromCr);
        Fallback(Code.Mov_dr_r64, &FbMovToDr);
        Fallback(Code.Mov_r64_dr, &FbMovFromDr);
        Fallback(Code.Clts, &FbClts);
        foreach (var c in new[] { Code.In_AL_DX, Code.In_AX_DX, Code.In_EAX_DX, Code.In_AL_imm8, Code.In_AX_imm8, Code.In_EAX_imm8,
                     Code.Out_DX_AL, Code.Out_DX_AX, Code.Out_DX_EAX, Code.Out_imm8_AL, Code.Out_imm8_AX, Code.Out_imm8_EAX,
                     Code.Insb_m8_DX, Code.Insw_m16_DX, Code.Insd_m32_DX, Code.Outsb_DX_m8, Code.Outsw_DX_m16, Code.Outsd_DX_m32 })
            Fallback(c, &FbIo);
    }

    private static void Fallback(Code code, delegate*<Cpu, ref Insn, void> handler)
    {
        if (!OpTable.IsImplemented(code)) OpTable.SetBranch(code, handler);
    }

    private static void NotImplemented(Cpu c, ref Insn i) => OpTable.Unimplemented(c, ref i);

    private static void FbCpuid(Cpu c, ref Insn i) { if (c.InNonRoot && c.VmxInterceptCpuid(ref i)) return; NotImplemented(c, ref i); }
    private static void FbHlt(Cpu c, ref Insn i) { if (c.InNonRoot && c.VmxInterceptHlt(ref i)) return; NotImplemented(c, ref i); }
    private static void FbInvd(Cpu c, ref Insn i) { if (c.InNonRoot && c.VmxInterceptInvd(ref i)) return; NotImplemented(c, ref i); }
    private static void FbWbinvd(Cpu c, ref Insn i) { if (c.InNonRoot && c.VmxInterceptWbinvd(ref i)) return; NotImplemented(c, ref i); }
    private static void FbGetsec(Cpu c, ref Insn i) { if (c.InNonRoot && c.VmxInterceptGetsec(ref i)) return; NotImplemented(c, ref i); }
    private static void FbXsetbv(Cpu c, ref Insn i) { if (c.InNonRoot && c.VmxInterceptXsetbv(ref i)) return; NotImplemented(c, ref i); }
    private static void FbRdtsc(Cpu c, ref Insn i) { if (c.InNonRoot && c.VmxInterceptRdtsc(ref i)) return; NotImplemented(c, ref i); }
    private static void FbRdtscp(Cpu c, ref Insn i) { if (c.InNonRoot && c.VmxInterceptRdtscp(ref i)) return; NotImplemented(c, ref i); }
    private static void FbRdpmc(Cpu c, ref Insn i) { if (c.InNonRoot && c.VmxInterceptRdpmc(ref i)) return; NotImplemented(c, ref i); }
    private static void FbMwait(Cpu c, ref Insn i) { if (c.InNonRoot && c.VmxInterceptMwait(ref i)) return; NotImplemented(c, ref i); }
    private static void FbMonitor(Cpu c, ref Insn i) { if (c.InNonRoot && c.VmxInterceptMonitor(ref i)) return; NotImplemented(c, ref i); }

    private static void FbRdmsr(Cpu c, ref Insn i)
    {
        if (c.InNonRoot && c.VmxInterceptRdmsr(ref i, (uint)c.R(Reg.Rcx))) return;
        NotImplemented(c, ref i);
    }

    private static void FbWrmsr(Cpu c, ref Insn i)
    {
        if (c.InNonRoot && c.VmxInterceptWrmsr(ref i, (uint)c.R(Reg.Rcx))) return;
        NotImplemented(c, ref i);
    }

    private static void FbInvlpg(Cpu c, ref Insn i)
    {
        if (c.InNonRoot && c.VmxInterceptInvlpg(ref i, c.Ea(ref i))) return;
        NotImplemented(c, ref i);
    }

    private static void FbMovToCr(Cpu c, ref Insn i)
    {
        ulong v = c.R(i.R1);
        if (c.InNonRoot && c.VmxInterceptMovToCr(ref i, i.R0, i.R1, ref v)) return;
        NotImplemented(c, ref i);
    }

    private static void FbMovFromCr(Cpu c, ref Insn i)
    {
        ulong v = 0;
        if (c.InNonRoot && c.VmxInterceptMovFromCr(ref i, i.R1, i.R0, ref v)) return;
        NotImplemented(c, ref i);
    }

    private static void FbMovToDr(Cpu c, ref Insn i)
    {
        if (c.InNonRoot && c.VmxInterceptMovDr(ref i, i.R0, i.R1, toDr: true)) return;
        NotImplemented(c, ref i);
    }

    private static void FbMovFromDr(Cpu c, ref Insn i)
    {
        if (c.InNonRoot && c.VmxInterceptMovDr(ref i, i.R1, i.R0, toDr: false)) return;
        NotImplemented(c, ref i);
    }

    private static void FbClts(Cpu c, ref Insn i)
    {
        if (c.InNonRoot && c.VmxInterceptClts(ref i, out _)) return;
        NotImplemented(c, ref i);
    }

    private static void FbIo(Cpu c, ref Insn i)
    {
        if (c.InNonRoot)
        {
            var code = i.Code;
            bool input = code is Code.In_AL_DX or Code.In_AX_DX or Code.In_EAX_DX or Code.In_AL_imm8 or Code.In_AX_imm8
                or Code.In_EAX_imm8 or Code.Insb_m8_DX or Code.Insw_m16_DX or Code.Insd_m32_DX;
            bool str = code is Code.Insb_m8_DX or Code.Insw_m16_DX or Code.Insd_m32_DX or Code.Outsb_DX_m8
                or Code.Outsw_DX_m16 or Code.Outsd_DX_m32;
            bool imm = code is Code.In_AL_imm8 or Code.In_AX_imm8 or Code.In_EAX_imm8 or Code.Out_imm8_AL
                or Code.Out_imm8_AX or Code.Out_imm8_EAX;
            int size = code is Code.In_AL_DX or Code.In_AL_imm8 or Code.Out_DX_AL or Code.Out_imm8_AL or Code.Insb_m8_DX
                or Code.Outsb_DX_m8 ? 1
                : code is Code.In_AX_DX or Code.In_AX_imm8 or Code.Out_DX_AX or Code.Out_imm8_AX or Code.Insw_m16_DX
                    or Code.Outsw_DX_m16 ? 2 : 4;
            ushort port = imm ? (ushort)(i.Imm & 0xFF) : (ushort)c.R(Reg.Rdx);
            bool rep = (i.Attr & (InsnAttr.Rep | InsnAttr.RepNe)) != 0;
            if (c.VmxInterceptIo(ref i, port, size, input, str, rep, imm)) return;
        }
        NotImplemented(c, ref i);
    }
}
