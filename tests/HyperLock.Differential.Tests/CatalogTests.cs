using HyperLock.Differential.Tests.Harness;
using Iced.Intel;
using Snapshooter.Xunit;

namespace HyperLock.Differential.Tests;

/// <summary>The form catalog: every Iced Code is either a candidate or excluded with a known class.</summary>
[Trait("Category", "Differential")]
public class CatalogTests
{
    [Fact]
    public void EveryCodeIsClassifiedWithAKnownReason()
    {
        int total = Enum.GetValues<Code>().Length - 1; // INVALID
        Assert.Equal(total, FormCatalog.Forms.Count + FormCatalog.Excluded.Count);
        foreach (var e in FormCatalog.Excluded)
            Assert.True(FormCatalog.ExclusionClasses.ContainsKey(e.Class), $"{e.Code}: unknown class {e.Class}");
    }

    [Fact]
    public void CoreFamiliesAreCandidates()
    {
        var forms = FormCatalog.Forms.Select(f => f.Code).ToHashSet();
        Code[] expected =
        [
            Code.Add_rm64_r64, Code.Div_rm64, Code.Shld_rm32_r32_CL, Code.Bsf_r64_rm64, Code.VEX_Andn_r64_r64_rm64,
            Code.VEX_Pdep_r64_r64_rm64, Code.Cmpxchg16b_m128, Code.Movsb_m8_m8, Code.Pushq_imm32, Code.Popfq,
            Code.Pcmpistri_xmm_xmmm128_imm8, Code.Addps_xmm_xmmm128, Code.Pshufb_xmm_xmmm128, Code.Cvttsd2si_r64_xmmm64,
            Code.Je_rel8_64, Code.Retnq, Code.Jmp_rm64, Code.Lea_r64_m, Code.Nop_rm32,
        ];
        foreach (var c in expected) Assert.Contains(c, forms);
        Assert.DoesNotContain(Code.Hlt, forms);
        Assert.DoesNotContain(Code.Syscall, forms);
        Assert.DoesNotContain(Code.Rdtsc, forms);
        Assert.DoesNotContain(Code.Mov_Sreg_rm16, forms);
    }

    /// <summary>How many forms each exclusion class holds (host-independent classes): a change here is a policy change.</summary>
    [Fact]
    public void ExclusionClassCountsSnapshot()
    {
        Snapshot.Match(CoverageReport.ExclusionTable(FormCatalog.Excluded));
    }
}
