using System.Numerics;
using HyperLock.Emulator.Processor.Decode;
using HyperLock.Emulator.Processor.Execution;
using HyperLock.Emulator.Vmx;
using Iced.Intel;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>
/// NOP forms (incl. hint NOPs, prefetches, ENDBR), PAUSE, UD0/UD1/UD2, CPUID, RDTSC/RDTSCP,
/// LAHF/SAHF, CLC/STC/CMC/CLD/STD, INT3, SALC, CRC32, ADCX/ADOX (INTO, fences, CLFLUSH, MOVNTI are
/// registered by the system and SSE families).
/// </summary>
internal static unsafe partial class Misc
{
    public static void Register()
    {
        Bcd.Register(); // OpTable calls one Register() per original family file
        foreach (var m in new[]
        {
            Mnemonic.Nop, Mnemonic.Reservednop, Mnemonic.Prefetch, Mnemonic.Prefetchw, Mnemonic.Prefetchwt1,
            Mnemonic.Prefetchnta, Mnemonic.Prefetcht0, Mnemonic.Prefetcht1, Mnemonic.Prefetcht2, Mnemonic.Endbr64, Mnemonic.Endbr32,
            // hints in the NOP space that execute as NOPs where unsupported
            Mnemonic.Cldemote, Mnemonic.Prefetchit0, Mnemonic.Prefetchit1,
        })
        {
            foreach (var c in FormTable.Legacy(m)) OpTable.Set(c, &Nop);
        }
        foreach (var m in new[] { Mnemonic.Ud0, Mnemonic.Ud1, Mnemonic.Ud2 })
            foreach (var c in FormTable.Legacy(m)) OpTable.Set(c, &Ud);

        OpTable.SetBranch(Code.Int3, &Int3);
        OpTable.Set(Code.Pause, &Pause);
        OpTable.Set(Code.Cpuid, &Cpuid);
        OpTable.Set(Code.Rdtsc, &Rdtsc);
        OpTable.Set(Code.Rdtscp, &Rdtscp);
        OpTable.Set(Code.Lahf, &Lahf);
        OpTable.Set(Code.Sahf, &Sahf);
        OpTable.Set(Code.Clc, &Clc);
        OpTable.Set(Code.Stc, &Stc);
        OpTable.Set(Code.Cmc, &Cmc);
        OpTable.Set(Code.Cld, &Cld);
        OpTable.Set(Code.Std, &Std);
        OpTable.Set(Code.Salc, &Salc);

        OpTable.Set(Code.Crc32_r32_rm8, &Crc32<S8>);
        OpTable.Set(Code.Crc32_r64_rm8, &Crc32<S8>);
        OpTable.Set(Code.Crc32_r32_rm16, &Crc32<S16>);
        OpTable.Set(Code.Crc32_r32_rm32, &Crc32<S32>);
        OpTable.Set(Code.Crc32_r64_rm64, &Crc32<S64>);


        OpTable.Set(Code.Adcx_r32_rm32, &Adcx<S32>);
        OpTable.Set(Code.Adcx_r64_rm64, &Adcx<S64>);
        OpTable.Set(Code.Adox_r32_rm32, &Adox<S32>);
        OpTable.Set(Code.Adox_r64_rm64, &Adox<S64>);
    }

    private static void Nop(Cpu c, ref Insn i) { }

    private static void Ud(Cpu c, ref Insn i) => c.RaiseUd();

    private static void Int3(Cpu c, ref Insn i)
    {
        c.Rip += i.Len;
        c.RaiseSoftwareInterrupt(Vector.BP, SoftwareEventKind.Int3);
    }

    /// <summary>PAUSE: a NOP, or a VM exit in VMX non-root operation with PAUSE exiting.</summary>
    private static void Pause(Cpu c, ref Insn i)
    {
        if (c.InNonRoot) c.VmxInterceptPause(ref i);
    }

    /// <summary>
    /// CPUID from the profile with the state-dependent bits patched in (<see cref="CpuidProfile.Read"/>:
    /// OSXSAVE mirrors CR4.OSXSAVE, initial APIC ID 0, APIC bit per IA32_APIC_BASE). Always exits in non-root.
    /// </summary>
    private static void Cpuid(Cpu c, ref Insn i)
    {
        if (c.InNonRoot && c.VmxInterceptCpuid(ref i)) return;
        var v = c.Cpuid.Read((uint)c.R(Reg.Rax), (uint)c.R(Reg.Rcx), c);
        c.R(Reg.Rax) = v.Eax;
        c.R(Reg.Rbx) = v.Ebx;
        c.R(Reg.Rcx) = v.Ecx;
        c.R(Reg.Rdx) = v.Edx;
    }

    /// <summary>RDTSC: #GP(0) at CPL > 0 when CR4.TSD is set; in non-root, RDTSC exiting and TSC offsetting apply.</summary>
    private static void Rdtsc(Cpu c, ref Insn i)
    {
        if ((c.Cr4 & Bits.Cr4Tsd) != 0 && c.Cpl != 0) { c.RaiseGp(0); return; }
        if (c.InNonRoot && c.VmxInterceptRdtsc(ref i)) return;
        ulong t = c.GuestTsc;
        c.R(Reg.Rax) = (uint)t;
        c.R(Reg.Rdx) = t >> 32;
    }

    /// <summary>RDTSCP: RDTSC plus ECX = IA32_TSC_AUX[31:0].</summary>
    private static void Rdtscp(Cpu c, ref Insn i)
    {
        // Priority: #UD (non-root without "enable RDTSCP"), then #GP for CR4.TSD, then the VM exit.
        if (c.InNonRoot && ((c.VProc & VmxControls.ProcSecondary) == 0 || (c.VProc2 & VmxControls.Proc2Rdtscp) == 0)) { c.RaiseUd(); return; }
        if ((c.Cr4 & Bits.Cr4Tsd) != 0 && c.Cpl != 0) { c.RaiseGp(0); return; }
        if (c.InNonRoot && c.VmxInterceptRdtscp(ref i)) return;
        ulong t = c.GuestTsc;
        c.R(Reg.Rax) = (uint)t;
        c.R(Reg.Rdx) = t >> 32;
        c.R(Reg.Rcx) = (uint)c.TscAux;
    }

    private const ulong AhFlags = Bits.Sf | Bits.Zf | Bits.Af | Bits.Pf | Bits.Cf;

    private static void Lahf(Cpu c, ref Insn i) =>
        c.Write8(Reg.HighByteBase + Reg.Rax, (byte)((c.ArithFlags & AhFlags) | 2));

    private static void Sahf(Cpu c, ref Insn i)
    {
        ulong ah = (c.R(Reg.Rax) >> 8) & AhFlags;
        c.UpdateArithFlags(ah, AhFlags & ~ah);
    }

    private static void Clc(Cpu c, ref Insn i) => c.UpdateArithFlags(0, Bits.Cf);
    private static void Stc(Cpu c, ref Insn i) => c.UpdateArithFlags(Bits.Cf, 0);
    private static void Cmc(Cpu c, ref Insn i)
    {
        if (c.CF) c.UpdateArithFlags(0, Bits.Cf); else c.UpdateArithFlags(Bits.Cf, 0);
    }
    private static void Cld(Cpu c, ref Insn i) => c.RflagsRest &= ~Bits.Df;
    private static void Std(Cpu c, ref Insn i) => c.RflagsRest |= Bits.Df;

    /// <summary>SALC (undocumented, 16/32-bit only): AL = CF ? 0xFF : 0.</summary>
    private static void Salc(Cpu c, ref Insn i) => c.Write8(Reg.Rax, c.CF ? (byte)0xFF : (byte)0);

    /// <summary>CRC32 (CRC-32C, as SSE4.2 defines it: no pre/post inversion); the result zero-extends.</summary>
    private static void Crc32<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong v = i.Op1IsMem ? S.Load(c, c.Ea(ref i)) : S.Get(c, i.R1);
        if (c.Faulted) return;
        uint crc = (uint)c.R(i.R0);
        crc = S.Bits switch
        {
            8 => BitOperations.Crc32C(crc, (byte)v),
            16 => BitOperations.Crc32C(crc, (ushort)v),
            32 => BitOperations.Crc32C(crc, (uint)v),
            _ => BitOperations.Crc32C(crc, v),
        };
        c.R(i.R0) = crc;
    }

    /// <summary>True when CPUID.(EAX=7,ECX=0):EBX.ADX[19] is set; ADCX/ADOX raise #UD otherwise.</summary>
    private static bool HasAdx(Cpu c) => (c.Cpuid.Get(7, 0).Ebx & (1u << 19)) != 0;

    private static void Adcx<S>(Cpu c, ref Insn i) where S : struct, ISize => AddCarry<S>(c, ref i, Bits.Cf);
    private static void Adox<S>(Cpu c, ref Insn i) where S : struct, ISize => AddCarry<S>(c, ref i, Bits.Of);

    /// <summary>ADCX/ADOX: add with carry through CF (or OF) only; the other flags are unchanged.</summary>
    private static void AddCarry<S>(Cpu c, ref Insn i, ulong flag) where S : struct, ISize
    {
        if (!HasAdx(c)) { c.RaiseUd(); return; }
        ulong b = i.Op1IsMem ? S.Load(c, c.Ea(ref i)) : S.Get(c, i.R1);
        if (c.Faulted) return;
        ulong a = S.Get(c, i.R0);
        ulong cin = (c.ArithFlags & flag) != 0 ? 1UL : 0;
        ulong r, cout;
        if (S.Bits == 64)
        {
            r = a + b;
            cout = r < a ? 1UL : 0;
            ulong r2 = r + cin;
            if (r2 < r) cout = 1;
            r = r2;
        }
        else
        {
            ulong full = a + b + cin;
            r = full & S.Mask;
            cout = full >> S.Bits;
        }
        S.Set(c, i.R0, r);
        if (cout != 0) c.UpdateArithFlags(flag, 0); else c.UpdateArithFlags(0, flag);
    }
}
