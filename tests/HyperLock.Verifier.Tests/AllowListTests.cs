using HyperLock.Verifier.Policy;
using Iced.Intel;
using Xunit;

namespace HyperLock.Verifier.Tests;

public class AllowListTests
{
    [Fact]
    public void EveryIcedCodeIsClassified()
    {
        var missing = Enum.GetValues<Code>().Where(c => AllowList.Classify(c).Kind == PolicyKind.Unclassified).ToList();
        Assert.True(missing.Count == 0, $"{missing.Count} Iced codes have no classification: {string.Join(", ", missing.Take(30))}");
    }

    [Fact]
    public void EveryCpuidFeatureIsClassified()
    {
        var missing = Enum.GetValues<CpuidFeature>().Where(f => !AllowListData.Features.ContainsKey(f)).ToList();
        Assert.True(missing.Count == 0, $"CPUID features without a verdict: {string.Join(", ", missing)}");
    }

    [Fact]
    public void ForbiddenFormsAlwaysCarryAReason()
    {
        foreach (var (code, p) in AllowList.All())
            if (p.Kind != PolicyKind.Allowed) Assert.False(string.IsNullOrWhiteSpace(p.Reason), code.ToString());
    }

    [Fact]
    public void NoAllowedFormIsPrivilegedOrAControlTransferOtherThanDirectBranches()
    {
        foreach (var (code, p) in AllowList.All())
        {
            if (p.Kind != PolicyKind.Allowed) continue;
            Assert.False(code.IsPrivileged(), $"{code} is privileged");
            Assert.True(code.FlowControl() is FlowControl.Next or FlowControl.UnconditionalBranch or FlowControl.ConditionalBranch
                or FlowControl.Call or FlowControl.Exception, $"{code}: {code.FlowControl()}");
            if (code.FlowControl() is FlowControl.UnconditionalBranch or FlowControl.ConditionalBranch or FlowControl.Call)
                Assert.True(code.ToOpCode().GetOpKind(0) is OpCodeOperandKind.br64_1 or OpCodeOperandKind.br64_4, $"{code} is not a near direct branch");
        }
    }

    [Theory]
    [InlineData(Code.Syscall)] [InlineData(Code.Sysenter)] [InlineData(Code.Swapgs)] [InlineData(Code.Cli)] [InlineData(Code.Sti)]
    [InlineData(Code.Popfq)] [InlineData(Code.Iretq)] [InlineData(Code.Hlt)] [InlineData(Code.In_AL_DX)] [InlineData(Code.Out_imm8_AL)]
    [InlineData(Code.Mov_cr_r64)] [InlineData(Code.Mov_r64_cr)] [InlineData(Code.Mov_dr_r64)] [InlineData(Code.Lgdt_m1664)]
    [InlineData(Code.Lidt_m1664)] [InlineData(Code.Ltr_rm16)] [InlineData(Code.Mov_Sreg_r32m16)] [InlineData(Code.Rdmsr)]
    [InlineData(Code.Wrmsr)] [InlineData(Code.Invlpg_m)] [InlineData(Code.Wbinvd)] [InlineData(Code.Wrfsbase_r64)] [InlineData(Code.Wrgsbase_r64)]
    [InlineData(Code.Xsetbv)] [InlineData(Code.Xsaves_mem)] [InlineData(Code.Xrstors_mem)] [InlineData(Code.Monitorq)] [InlineData(Code.Mwait)]
    [InlineData(Code.Vmlaunch)] [InlineData(Code.Vmresume)] [InlineData(Code.Vmxon_m64)] [InlineData(Code.Vmptrld_m64)] [InlineData(Code.Invept_r64_m128)]
    [InlineData(Code.Vmrunq)] [InlineData(Code.Int3)] [InlineData(Code.Int1)] [InlineData(Code.Retnq)] [InlineData(Code.Retfq)]
    [InlineData(Code.Jmp_m1664)] [InlineData(Code.Call_m1664)] [InlineData(Code.Clflush_m8)] [InlineData(Code.Invpcid_r64_m128)]
    public void Rule6FamiliesAreForbidden(Code code) => Assert.Equal(PolicyKind.Forbidden, AllowList.Classify(code).Kind);

    [Fact]
    public void PseudoAndGateFormsAreExactlyTheFive()
    {
        var special = AllowList.All().Where(x => x.Policy.Kind is PolicyKind.PseudoOnly or PolicyKind.GateOnly).Select(x => x.Code).OrderBy(c => c).ToArray();
        Assert.Equal(new[] { Code.Int_imm8, Code.Jmp_rm64, Code.Call_rm64, Code.Vmread_rm64_r64, Code.Vmwrite_r64_rm64 }.OrderBy(c => c), special);
    }

    [Fact]
    public void CommonIntegerAndSimdFormsAreAllowed()
    {
        foreach (var c in new[] { Code.Add_rm64_r64, Code.Mov_r64_rm64, Code.Lea_r64_m, Code.Jmp_rel32_64, Code.Je_rel8_64, Code.Call_rel32_64,
                     Code.Movdqu_xmm_xmmm128, Code.VEX_Vpaddd_ymm_ymm_ymmm256, Code.Popcnt_r64_rm64, Code.Nop_rm32, Code.Pause, Code.Cmpxchg16b_m128 })
            Assert.Equal(PolicyKind.Allowed, AllowList.Classify(c).Kind);
    }
}
