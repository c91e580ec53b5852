using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Processor.Execution;
using HyperLock.Emulator.Vmx;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.Emulator.Tests.Processor;

/// <summary>
/// The default CPUID profile against the instruction table, both ways: every instruction-set
/// feature it advertises has all its forms implemented, and every implemented form of an
/// enumerated extension is advertised (software that trusts CPUID never reaches #UD, and
/// software that probes CPUID finds what the core can run). Iced's per-form CPUID feature
/// list is the bridge. Hints that execute as NOPs on cores without the feature (CLDEMOTE,
/// PREFETCHWT1, PREFETCHIT0/1, ENDBR32/64) are deliberately not enumerated here.
/// </summary>
public class CpuidCoherenceTests
{
    private const int Eax = CpuidProfile.Eax, Ebx = CpuidProfile.Ebx, Ecx = CpuidProfile.Ecx, Edx = CpuidProfile.Edx;

    /// <summary>Where CPUID enumerates each instruction-set feature (SDM Vol. 2A, CPUID; Vol. 1 §13.2 for leaf 0DH).</summary>
    private static readonly Dictionary<CpuidFeature, (uint Leaf, uint Subleaf, int Register, int Bit)> Enumeration = new()
    {
        [CpuidFeature.FPU] = (1, 0, Edx, 0), [CpuidFeature.TSC] = (1, 0, Edx, 4), [CpuidFeature.MSR] = (1, 0, Edx, 5),
        [CpuidFeature.CX8] = (1, 0, Edx, 8), [CpuidFeature.SEP] = (1, 0, Edx, 11), [CpuidFeature.CMOV] = (1, 0, Edx, 15),
        [CpuidFeature.CLFSH] = (1, 0, Edx, 19), [CpuidFeature.MMX] = (1, 0, Edx, 23), [CpuidFeature.FXSR] = (1, 0, Edx, 24),
        [CpuidFeature.SSE] = (1, 0, Edx, 25), [CpuidFeature.SSE2] = (1, 0, Edx, 26),
        [CpuidFeature.SSE3] = (1, 0, Ecx, 0), [CpuidFeature.PCLMULQDQ] = (1, 0, Ecx, 1), [CpuidFeature.MONITOR] = (1, 0, Ecx, 3),
        [CpuidFeature.VMX] = (1, 0, Ecx, 5), [CpuidFeature.SMX] = (1, 0, Ecx, 6), [CpuidFeature.SSSE3] = (1, 0, Ecx, 9),
        [CpuidFeature.CMPXCHG16B] = (1, 0, Ecx, 13), [CpuidFeature.SSE4_1] = (1, 0, Ecx, 19), [CpuidFeature.SSE4_2] = (1, 0, Ecx, 20),
        [CpuidFeature.MOVBE] = (1, 0, Ecx, 22), [CpuidFeature.POPCNT] = (1, 0, Ecx, 23), [CpuidFeature.AES] = (1, 0, Ecx, 25),
        [CpuidFeature.XSAVE] = (1, 0, Ecx, 26), [CpuidFeature.RDRAND] = (1, 0, Ecx, 30),
        [CpuidFeature.FSGSBASE] = (7, 0, Ebx, 0), [CpuidFeature.BMI1] = (7, 0, Ebx, 3), [CpuidFeature.BMI2] = (7, 0, Ebx, 8),
        [CpuidFeature.INVPCID] = (7, 0, Ebx, 10), [CpuidFeature.RDSEED] = (7, 0, Ebx, 18), [CpuidFeature.ADX] = (7, 0, Ebx, 19),
        [CpuidFeature.SMAP] = (7, 0, Ebx, 20), [CpuidFeature.CLFLUSHOPT] = (7, 0, Ebx, 23), [CpuidFeature.CLWB] = (7, 0, Ebx, 24),
        [CpuidFeature.SHA] = (7, 0, Ebx, 29), [CpuidFeature.PKU] = (7, 0, Ecx, 3), [CpuidFeature.WAITPKG] = (7, 0, Ecx, 5),
        [CpuidFeature.GFNI] = (7, 0, Ecx, 8), [CpuidFeature.RDPID] = (7, 0, Ecx, 22), [CpuidFeature.MOVDIRI] = (7, 0, Ecx, 27),
        [CpuidFeature.MOVDIR64B] = (7, 0, Ecx, 28), [CpuidFeature.SERIALIZE] = (7, 0, Edx, 14),
        [CpuidFeature.XSAVEOPT] = (0xD, 1, Eax, 0), [CpuidFeature.XSAVEC] = (0xD, 1, Eax, 1), [CpuidFeature.XSAVES] = (0xD, 1, Eax, 3),
        [CpuidFeature.LZCNT] = (0x80000001, 0, Ecx, 5), [CpuidFeature.SSE4A] = (0x80000001, 0, Ecx, 6),
        [CpuidFeature.PREFETCHW] = (0x80000001, 0, Ecx, 8), [CpuidFeature.SYSCALL] = (0x80000001, 0, Edx, 11),
        [CpuidFeature.RDTSCP] = (0x80000001, 0, Edx, 27), [CpuidFeature.X64] = (0x80000001, 0, Edx, 29),
    };

    /// <summary>Features every processor the model claims to be has, with no CPUID bit of their own.</summary>
    private static readonly HashSet<CpuidFeature> Architectural =
    [
        CpuidFeature.INTEL8086, CpuidFeature.INTEL186, CpuidFeature.INTEL286, CpuidFeature.INTEL386, CpuidFeature.INTEL486,
        CpuidFeature.FPU287, CpuidFeature.FPU387, CpuidFeature.CPUID, CpuidFeature.MULTIBYTENOP, CpuidFeature.PAUSE,
    ];

    /// <summary>
    /// Forms that have a handler only as a VM-exit stand-in (VmxExitFallbacks): outside VMX
    /// non-root operation they raise #UD, exactly as on a core without the feature.
    /// </summary>
    private static readonly HashSet<Code> ExitOnlyStandIns = [Code.Monitord, Code.Monitorq, Code.Mwait, Code.Getsecd, Code.Getsecq];

    private static bool Advertised(CpuidProfile p, CpuidFeature f) =>
        Architectural.Contains(f) || Enumeration.TryGetValue(f, out var b) && p.HasBit(b.Leaf, b.Subleaf, b.Register, b.Bit);

    /// <summary>Legacy forms and VEX forms without vector registers (BMI1/BMI2): the encodings the model covers.</summary>
    private static IEnumerable<Code> ModelledForms()
    {
        foreach (var c in Enum.GetValues<Code>())
        {
            if (c == Code.INVALID) continue;
            var op = c.ToOpCode();
            if (!op.IsInstruction || op.Encoding is not (EncodingKind.Legacy or EncodingKind.VEX)) continue;
            yield return c;
        }
    }

    [Fact]
    public void EveryAdvertisedInstructionSetIsImplemented()
    {
        var p = CpuidProfile.Default();
        var missing = new List<string>();
        foreach (var c in ModelledForms())
        {
            var features = c.CpuidFeatures();
            bool all = features.Length > 0;
            foreach (var f in features) all &= Advertised(p, f);
            if (!all || OpTable.IsImplemented(c)) continue;
            // VMFUNC exists only where the "enable VM functions" control may be 1; the model's
            // IA32_VMX_PROCBASED_CTLS2 forbids it, so #UD is the architectural outcome.
            if (c == Code.Vmfunc && (VmxCapabilities.Proc2Allowed1 & VmxControls.Proc2Vmfunc) == 0) continue;
            missing.Add($"{c} ({string.Join("+", features)})");
        }
        Assert.True(missing.Count == 0, "advertised but unimplemented:\n" + string.Join("\n", missing));
    }

    [Fact]
    public void EveryImplementedExtensionIsAdvertised()
    {
        var p = CpuidProfile.Default();
        var hidden = new List<string>();
        foreach (var c in ModelledForms())
        {
            if (!OpTable.IsImplemented(c) || ExitOnlyStandIns.Contains(c)) continue;
            foreach (var f in c.CpuidFeatures())
                if (Enumeration.ContainsKey(f) && !Advertised(p, f)) hidden.Add($"{c} needs {f}");
        }
        Assert.True(hidden.Count == 0, "implemented but not advertised:\n" + string.Join("\n", hidden));
    }

    [Fact]
    public void GuestCpuidReportsTheCryptoAndDataMovementExtensions()
    {
        var (env, stop) = SnippetRunner.Run(a =>
        {
            a.mov(eax, 1); a.xor(ecx, ecx); a.cpuid(); a.mov(r8d, ecx);
            a.mov(eax, 7); a.xor(ecx, ecx); a.cpuid(); a.mov(r9d, ebx);
            a.mov(eax, 0x80000001); a.cpuid(); a.mov(r10d, ecx);
            a.int3();
        });
        using var _ = env;
        Assert.Equal("int3", stop.ToString());
        ulong ecx1 = env.Cpu.R(Reg.R8), ebx7 = env.Cpu.R(Reg.R9), ecx81 = env.Cpu.R(Reg.R10);
        Assert.True((ecx1 >> 1 & 1) == 1, "PCLMULQDQ");
        Assert.True((ecx1 >> 22 & 1) == 1, "MOVBE");
        Assert.True((ecx1 >> 25 & 1) == 1, "AES");
        Assert.True((ebx7 >> 19 & 1) == 1, "ADX");
        Assert.True((ebx7 >> 29 & 1) == 1, "SHA");
        Assert.True((ecx81 >> 8 & 1) == 1, "PREFETCHW");
    }

    [Fact]
    public void AdvertisedDataMovementExtensionsRunInTheGuest()
    {
        // MOVBE and ADCX/ADOX are gated on the profile: with the default one they execute.
        var (env, stop) = SnippetRunner.Run(a =>
        {
            a.mov(rax, 0x1122334455667788); a.mov(__qword_ptr[(long)SnippetEnvironmentScratch], rax);
            a.movbe(rcx, __qword_ptr[(long)SnippetEnvironmentScratch]);
            a.xor(edx, edx); a.stc(); a.adcx(rdx, rdx);
            a.int3();
        });
        using var _ = env;
        Assert.Equal("int3", stop.ToString());
        Assert.Equal(0x8877665544332211UL, env.Cpu.R(Reg.Rcx));
        Assert.Equal(1UL, env.Cpu.R(Reg.Rdx));
    }

    private const ulong SnippetEnvironmentScratch = HyperLock.Emulator.Loaders.SnippetEnvironment.ScratchBase;
}
