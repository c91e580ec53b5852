using Iced.Intel;
using static Iced.Intel.CpuidFeature;

namespace HyperLock.Verifier.Policy;

/// <summary>
/// The allow-list's data: verdicts per CPUID feature, per mnemonic and per Iced code.
/// <see cref="AllowList"/> applies them in a fixed order; a test checks that every
/// <see cref="CpuidFeature"/> and every <see cref="Code"/> ends up classified.
/// </summary>
public static class AllowListData
{
    /// <summary>Every CPUID feature Iced knows, allowed or forbidden with a reason.</summary>
    public static IReadOnlyDictionary<CpuidFeature, InstructionPolicy> Features { get; } = BuildFeatures();

    /// <summary>Mnemonics forbidden although their features are allowed (rule 5 or 6).</summary>
    public static IReadOnlyDictionary<Mnemonic, InstructionPolicy> Mnemonics { get; } = BuildMnemonics();

    /// <summary>Single forms with a special role: the pseudo-instruction halves and the gate.</summary>
    public static IReadOnlyDictionary<Code, InstructionPolicy> Codes { get; } = new Dictionary<Code, InstructionPolicy>
    {
        [Code.Jmp_rm64] = new(PolicyKind.PseudoOnly, Rule.MaskedIndirect, "only as 'and rX,-32; jmp rX' (register form) in one bundle"),
        [Code.Call_rm64] = new(PolicyKind.PseudoOnly, Rule.MaskedIndirect, "only as 'and rX,-32; call rX' (register form) in one bundle, ending it"),
        [Code.Vmread_rm64_r64] = new(PolicyKind.PseudoOnly, Rule.VmcsAccess, "only as 'mov r32,imm32; vmread' with a readable field"),
        [Code.Vmwrite_r64_rm64] = new(PolicyKind.PseudoOnly, Rule.VmcsAccess, "only as 'mov r32,imm32; vmwrite' with a writable field"),
        [Code.Int_imm8] = new(PolicyKind.GateOnly, Rule.AllowList, "only as 'int GATE', the runtime gate"),
        [Code.Ud2] = InstructionPolicy.Allow("defined trap; the fault is contained like any other"),
        [Code.Jmp_m1616] = InstructionPolicy.Forbid("far jump"),
        [Code.Jmp_m1632] = InstructionPolicy.Forbid("far jump"),
        [Code.Jmp_m1664] = InstructionPolicy.Forbid("far jump"),
        [Code.Call_m1616] = InstructionPolicy.Forbid("far call"),
        [Code.Call_m1632] = InstructionPolicy.Forbid("far call"),
        [Code.Call_m1664] = InstructionPolicy.Forbid("far call"),
    };

    private static Dictionary<CpuidFeature, InstructionPolicy> BuildFeatures()
    {
        var d = new Dictionary<CpuidFeature, InstructionPolicy>();
        void Allow(params CpuidFeature[] fs) { foreach (var f in fs) d.Add(f, InstructionPolicy.Allow()); }
        void Forbid(string reason, params CpuidFeature[] fs) { foreach (var f in fs) d.Add(f, InstructionPolicy.Forbid(reason)); }

        // General-purpose integer, x87, MMX/SSE/AVX data operations, bit manipulation.
        Allow(INTEL8086, INTEL186, INTEL286, INTEL386, INTEL486, X64, CMOV, CX8, CMPXCHG16B,
            FPU, FPU287, FPU387, MMX, SSE, SSE2, SSE3, SSSE3, SSE4_1, SSE4_2, POPCNT, LZCNT,
            BMI1, BMI2, ADX, MOVBE, AVX, AVX2, FMA, F16C, AES, PCLMULQDQ, SHA, RDRAND, RDSEED,
            MULTIBYTENOP, PAUSE, FXSR, XSAVE, XSAVEOPT, XSAVEC, PREFETCHW);
        // VMX: only vmread/vmwrite survive, through AllowListData.Codes; the rest is privileged.
        Forbid("VMX instruction other than vmread/vmwrite", VMX, INVEPT, INVVPID);
        Forbid("SVM / secure-VM instruction", SVM, SKINIT, SKINIT_or_SVM, SEV_ES, SEV_SNP, RMPQUERY, TDX, PCONFIG, TSE);
        Forbid("not valid in 64-bit mode", INTEL8086_ONLY, INTEL286_ONLY, INTEL386_ONLY, INTEL386_A0_ONLY,
            INTEL486_A_ONLY, UMOV, IA64, FPU287XL_ONLY, FPU387SL_ONLY);
        Forbid("MSR access", MSR, MSRLIST, WRMSRNS);
        Forbid("system call / fast system entry", SYSCALL, SEP, FRED, LKGS);
        Forbid("cache or TLB maintenance", CLFSH, CLFLUSHOPT, CLWB, CLZERO, CLDEMOTE, WBNOINVD, INVPCID, INVLPGB, CL1INVMB, PCOMMIT, MCOMMIT);
        Forbid("monitor/mwait family", MONITOR, MONITORX, WAITPKG);
        Forbid("reads host identity or time (cpuid, rdtsc, rdtscp, rdpid, rdpmc, rdpru); the runtime provides these",
            CPUID, TSC, RDTSCP, RDPID, RDPMC, RDPRU);
        Forbid("fs/gs base access", FSGSBASE);
        Forbid("supervisor state save/restore", XSAVES);
        Forbid("transactional memory", RTM, HLE, HLE_or_RTM, TSXLDTRK);
        Forbid("SMX/SGX/SMM/key locker", SMX, SGX1, OSS, SMM, KL, AESKLE, WIDE_KL, CYRIX_SMM, CYRIX_SMINT, CYRIX_SMINT_0F7E);
        Forbid("control-flow enforcement (shadow stack / IBT state)", CET_IBT, CET_SS);
        Forbid("changes supervisor access or protection-key state", SMAP, PKU, UINTR, HRESET, UDBG);
        Forbid("AVX-512 / AMX / KNC: not in the testbed CPU profile", AVX512_4FMAPS, AVX512_4VNNIW, AVX512_BF16,
            AVX512_BITALG, AVX512_IFMA, AVX512_VBMI, AVX512_VBMI2, AVX512_VNNI, AVX512_VP2INTERSECT, AVX512_VPOPCNTDQ,
            AVX512BW, AVX512CD, AVX512DQ, AVX512ER, AVX512F, AVX512PF, AVX512VL, AVX512_FP16,
            AMX_BF16, AMX_TILE, AMX_INT8, AMX_FP16, AMX_COMPLEX, KNC);
        Forbid("extension not in the testbed CPU profile", D3NOW, D3NOWEXT, CYRIX_D3NOW, FMA4, XOP, TBM, LWP, SSE4A,
            GFNI, VAES, VPCLMULQDQ, AVX_VNNI, AVX_IFMA, AVX_NE_CONVERT, AVX_VNNI_INT8, AVX_VNNI_INT16,
            SHA512, SM3, SM4, RAO_INT, CMPCCXADD, PREFETCHITI, PREFETCHWT1, MPX, ENQCMD, MOVDIRI, MOVDIR64B,
            SERIALIZE, PTWRITE);
        Forbid("vendor-specific extension", PADLOCK_ACE, PADLOCK_PHE, PADLOCK_PMM, PADLOCK_RNG, PADLOCK_GMI,
            PADLOCK_UNDOC, CYRIX_FPU, CYRIX_SHR, CYRIX_DDI, CYRIX_EMMI, CYRIX_DMI, CENTAUR_AIS, MOV_TR);
        return d;
    }

    private static Dictionary<Mnemonic, InstructionPolicy> BuildMnemonics()
    {
        var d = new Dictionary<Mnemonic, InstructionPolicy>();
        void Forbid(string reason, Rule rule, params Mnemonic[] ms) { foreach (var m in ms) d.Add(m, InstructionPolicy.Forbid(reason, rule)); }
        Forbid("near or far return", Rule.NoReturn, Mnemonic.Ret, Mnemonic.Retf);
        Forbid("changes RFLAGS.IF/IOPL or returns from an interrupt", Rule.AllowList,
            Mnemonic.Popf, Mnemonic.Popfd, Mnemonic.Popfq, Mnemonic.Iret, Mnemonic.Iretd, Mnemonic.Iretq, Mnemonic.Cli, Mnemonic.Sti);
        Forbid("I/O port access", Rule.AllowList, Mnemonic.In, Mnemonic.Out, Mnemonic.Insb, Mnemonic.Insw, Mnemonic.Insd,
            Mnemonic.Outsb, Mnemonic.Outsw, Mnemonic.Outsd);
        Forbid("software interrupt or halt other than the gate", Rule.AllowList, Mnemonic.Int3, Mnemonic.Into, Mnemonic.Int1, Mnemonic.Hlt);
        Forbid("loads a segment register or reads descriptor tables", Rule.AllowList, Mnemonic.Lfs, Mnemonic.Lgs, Mnemonic.Lss,
            Mnemonic.Lds, Mnemonic.Les, Mnemonic.Swapgs, Mnemonic.Lar, Mnemonic.Lsl, Mnemonic.Verr, Mnemonic.Verw,
            Mnemonic.Sgdt, Mnemonic.Sidt, Mnemonic.Sldt, Mnemonic.Str, Mnemonic.Smsw, Mnemonic.Lgdt, Mnemonic.Lidt,
            Mnemonic.Lldt, Mnemonic.Ltr, Mnemonic.Lmsw, Mnemonic.Clts, Mnemonic.Arpl);
        Forbid("cache or TLB state", Rule.AllowList, Mnemonic.Invd, Mnemonic.Wbinvd, Mnemonic.Invlpg);
        Forbid("reads XCR0 or writes XCR", Rule.AllowList, Mnemonic.Xgetbv, Mnemonic.Xsetbv);
        Forbid("vendor-dependent length (ud0/ud1); use ud2", Rule.AllowList, Mnemonic.Ud0, Mnemonic.Ud1);
        Forbid("reserved-NOP opcode space (future CPUs give it meaning); use 0F 1F nop", Rule.AllowList, Mnemonic.Reservednop);
        return d;
    }
}
