using System.Numerics;
using HyperLock.Emulator.Cpu.Decode;
using HyperLock.Emulator.Cpu.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Cpu.Instructions;

/// <summary>
/// NOP forms (incl. hint NOPs, prefetches, ENDBR), PAUSE, UD0/UD1/UD2, CPUID, RDTSC/RDTSCP,
/// LAHF/SAHF, CLC/STC/CMC/CLD/STD, INT3, INTO, SALC, CRC32, ADCX/ADOX.
/// </summary>
internal static unsafe partial class Misc
{
    public static void Register()
    {
        Bcd.Register(); // OpTable calls one Register() per original family file
        foreach (var m in new[]
        {
            Mnemonic.Nop, Mnemonic.Pause, Mnemonic.Reservednop, Mnemonic.Prefetch, Mnemonic.Prefetchw, Mnemonic.Prefetchwt1,
            Mnemonic.Prefetchnta, Mnemonic.Prefetcht0, Mnemonic.Prefetcht1, Mnemonic.Prefetcht2, Mnemonic.Endbr64, Mnemonic.Endbr32,
            // hints in the NOP space that execute as NOPs where unsupported; fences order nothing on one in-order core
            Mnemonic.Cldemote, Mnemonic.Prefetchit0, Mnemonic.Prefetchit1, Mnemonic.Lfence, Mnemonic.Mfence, Mnemonic.Sfence,
        })
        {
            foreach (var c in FormTable.Legacy(m)) OpTable.Set(c, &Nop);
        }
        foreach (var m in new[] { Mnemonic.Ud0, Mnemonic.Ud1, Mnemonic.Ud2 })
            foreach (var c in FormTable.Legacy(m)) OpTable.Set(c, &Ud);

        OpTable.SetBranch(Code.Int3, &Int3);
        OpTable.SetBranch(Code.Into, &Into);
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

        OpTable.Set(Code.Movnti_m32_r32, &Movnti<S32>);
        OpTable.Set(Code.Movnti_m64_r64, &Movnti<S64>);
        OpTable.Set(Code.Clflush_m8, &Clflush);

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

    /// <summary>INTO: #OF as a trap when OF = 1 (Iced decodes it as invalid in 64-bit mode).</summary>
    private static void Into(Cpu c, ref Insn i)
    {
        c.Rip += i.Len;
        if (c.OF) c.RaiseSoftwareInterrupt(Vector.OF, SoftwareEventKind.Into);
    }

    /// <summary>
    /// CPUID from the profile, with the dynamic bits patched in: CPUID.1:ECX.OSXSAVE[27] mirrors
    /// CR4.OSXSAVE, CPUID.1:EBX[31:24] (initial APIC ID) is 0, CPUID.1:EDX.APIC[9] follows the
    /// APIC global enable in IA32_APIC_BASE.
    /// </summary>
    private static void Cpuid(Cpu c, ref Insn i)
    {
        uint leaf = (uint)c.R(Reg.Rax), sub = (uint)c.R(Reg.Rcx);
        var v = c.Cpuid.Get(leaf, sub);
        uint eax = v.Eax, ebx = v.Ebx, ecx = v.Ecx, edx = v.Edx;
        if (leaf == 1)
        {
            ecx = (ecx & ~(1u << 27)) | ((c.Cr4 & Bits.Cr4Osxsave) != 0 ? 1u << 27 : 0);
            ebx &= 0x00FFFFFF;
            if ((c.ApicBaseMsr & (1UL << 11)) == 0) edx &= ~(1u << 9);
        }
        c.R(Reg.Rax) = eax;
        c.R(Reg.Rbx) = ebx;
        c.R(Reg.Rcx) = ecx;
        c.R(Reg.Rdx) = edx;
    }

    /// <summary>RDTSC: #GP(0) at CPL > 0 when CR4.TSD is set.</summary>
    private static void Rdtsc(Cpu c, ref Insn i)
    {
        if ((c.Cr4 & Bits.Cr4Tsd) != 0 && c.Cpl != 0) { c.RaiseGp(0); return; }
        ulong t = c.Tsc;
        c.R(Reg.Rax) = (uint)t;
        c.R(Reg.Rdx) = t >> 32;
    }

    private static void Rdtscp(Cpu c, ref Insn i)
    {
        if ((c.Cr4 & Bits.Cr4Tsd) != 0 && c.Cpl != 0) { c.RaiseGp(0); return; }
        ulong t = c.Tsc;
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

    /// <summary>MOVNTI: a plain store (no caches are modelled).</summary>
    private static void Movnti<S>(Cpu c, ref Insn i) where S : struct, ISize => S.Store(c, c.Ea(ref i), S.Get(c, i.R1));

    /// <summary>CLFLUSH: no caches are modelled, but the address is translated as for a byte read (#PF, #GP) without touching MMIO.</summary>
    private static void Clflush(Cpu c, ref Insn i) => c.Translate(c.Ea(ref i), Cpu.Access.Read, c.Cpl == 3, out _);

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
