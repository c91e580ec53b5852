using HyperLock.Toolchain;
using HyperLock.Abi;
using HyperLock.Verifier.Policy;
using Iced.Intel;
using Xunit;

namespace HyperLock.Verifier.Tests;

public class ToolchainTests
{
    internal static List<Instruction> DecodeAll(byte[] bytes)
    {
        var d = Decoder.Create(64, new ByteArrayCodeReader(bytes));
        var list = new List<Instruction>();
        while (d.IP < (ulong)bytes.Length) list.Add(d.Decode());
        return list;
    }

    [Fact]
    public void CallsEndBundlesAndImagesAreWholeBundles()
    {
        var asm = new BundleAssembler();
        var f = asm.CreateLabel();
        var main = asm.CreateLabel();
        asm.BindEntry(main);
        for (int i = 0; i < 5; i++)
        {
            asm.Add(Instruction.Create(Code.Add_rm64_imm8, Register.RAX, i));
            asm.Call(f);
        }
        asm.BindEntry(f);
        asm.Ret();
        var img = asm.Assemble();
        Assert.True(img.Verification.Accepted);
        Assert.Equal(0, img.Bytes.Length % 32);
        foreach (var i in DecodeAll(img.Bytes).Where(i => i.FlowControl is FlowControl.Call or FlowControl.IndirectCall))
            Assert.Equal(0UL, i.NextIP % 32);
        Assert.Equal(0, img.OffsetOf(f) % 32);
    }

    [Fact]
    public void ReturnBecomesPopMaskJumpThroughR11()
    {
        var asm = new BundleAssembler();
        asm.Ret();
        var ins = DecodeAll(asm.Assemble().Bytes).Where(i => i.Code is not (Code.Nopd or Code.Nopw or Code.Nop_rm16 or Code.Nop_rm32)).ToList();
        Assert.Equal([Code.Pop_r64, Code.And_rm64_imm8, Code.Jmp_rm64], ins.Select(i => i.Code));
        Assert.All(ins, i => Assert.Equal(Register.R11, i.Op0Register));
    }

    [Fact]
    public void ShortBranchesGrowWhenPaddingPushesTargetsAway()
    {
        var asm = new BundleAssembler();
        var top = asm.CreateLabel();
        asm.Bind(top);
        for (int i = 0; i < 40; i++) asm.Add(Instruction.Create(Code.Mov_r64_imm64, Register.RAX, 0x1122334455667788UL));
        asm.Jcc(ConditionCode.ne, top);
        asm.Jmp(top);
        var img = asm.Assemble();
        var branches = DecodeAll(img.Bytes).Where(i => i.FlowControl is FlowControl.ConditionalBranch or FlowControl.UnconditionalBranch).ToList();
        Assert.Equal([Code.Jne_rel32_64, Code.Jmp_rel32_64], branches.Select(b => b.Code));
        Assert.All(branches, b => Assert.Equal(0UL, b.NearBranch64));
    }

    [Fact]
    public void PrivilegedInstructionsBecomeServiceCalls()
    {
        var asm = new BundleAssembler();
        asm.Add(Instruction.Create(Code.Wrmsr));
        asm.Add(Instruction.Create(Code.Vmresume));
        var ins = DecodeAll(asm.Assemble().Bytes).Where(i => i.Code is Code.Mov_r32_imm32 or Code.Int_imm8).ToList();
        Assert.Equal((uint)RuntimeService.WriteMsr, ins[0].Immediate32);
        Assert.Equal(0x82, ins[1].Immediate8);
        Assert.Equal((uint)RuntimeService.EnterGuest, ins[2].Immediate32);
    }

    [Fact]
    public void VmcsHelpersKeepImmediateAndVmxInstructionTogether()
    {
        var asm = new BundleAssembler();
        for (int i = 0; i < 10; i++)
        {
            asm.Add(Instruction.Create(Code.Mov_r64_imm64, Register.RAX, 1UL));
            asm.Vmread(Register.RCX, 0x681E);
            asm.Vmwrite(0x4016, Register.RDX);
        }
        Assert.True(asm.Assemble().Verification.Accepted);
    }

    [Fact]
    public void DisallowedVmcsFieldIsRefused()
    {
        var asm = new BundleAssembler();
        var ex = Assert.Throws<ToolchainException>(() => asm.Vmwrite(0x6C16, Register.RAX));
        Assert.Contains("host RIP", ex.Message);
    }

    [Fact]
    public void UntranslatableInstructionsAreRefused()
    {
        var asm = new BundleAssembler();
        Assert.Throws<ToolchainException>(() => asm.Add(Instruction.Create(Code.Cli)));
        Assert.Throws<ToolchainException>(() => asm.Add(Instruction.Create(Code.Int_imm8, 0x80u)));
        Assert.Throws<ToolchainException>(() => asm.JmpIndirect(Register.RSP));
    }

    [Fact]
    public void MemoryIndirectCallIsLoadedIntoScratchAndMasked()
    {
        var asm = new BundleAssembler();
        asm.Add(Instruction.Create(Code.Call_rm64, new MemoryOperand(Register.RBX, 16)));
        var img = asm.Assemble();
        var ins = DecodeAll(img.Bytes).Where(i => i.Code is not (Code.Nopd or Code.Nopw or Code.Nop_rm16 or Code.Nop_rm32)).ToList();
        Assert.Equal([Code.Mov_r64_rm64, Code.And_rm64_imm8, Code.Call_rm64], ins.Select(i => i.Code));
    }

    [Fact]
    public void RewriterTurnsOrdinaryCodeIntoVerifiedImage()
    {
        // f: push rbp; mov rbp,rsp; call g; test eax,eax; jne f+1 (mid: mov) no -- plain loop; pop rbp; ret
        // g: mov eax, 0x681e; vmread rcx, rax; wrmsr; jmp [rip+0]?? (kept simple); ret
        var code = Convert.FromHexString(
            "55" + "4889E5" + "E806000000" + "85C0" + "75F4" + "5D" + "C3" +
            "B81E680000" + "0F78C1" + "0F30" + "FFE1");
        var r = Rewriter.Rewrite(code, [0]);
        Assert.True(r.Succeeded, r.ToText());
        Assert.True(r.Image!.Verification.Accepted);
        Assert.Equal(0, r.OffsetMap[0] % 32);
        Assert.Equal(0, r.UnreachableBytes);
    }

    [Fact]
    public void RewriterReportsWhatItCannotRewrite()
    {
        // jmp into the middle of an instruction (overlap), cli, vmwrite to a host field, int 0x80
        var code = Convert.FromHexString("EB01" + "B80F059090" + "FA" + "B8166C00000F79C3" + "CD80" + "C3");
        var r = Rewriter.Rewrite(code, [0, 2]);
        Assert.False(r.Succeeded);
        var text = r.ToText();
        Assert.Contains(r.Problems, p => p.Reason.Contains("overlap"));
        Assert.Contains(r.Problems, p => p.Offset == 7 && p.Reason.Contains("IF"));
        Assert.Contains(r.Problems, p => p.Offset == 13 && p.Reason.Contains("host RIP"));
        Assert.Contains(r.Problems, p => p.Offset == 16 && p.Reason.Contains("gate"));
        Assert.StartsWith("not rewritten", text);
    }

    [Fact]
    public void LoopKeepsRel8InRangeAndUsesATrampolineOutOfRange()
    {
        // A rel8-only branch (loop) in rewritten code keeps its short form when it reaches...
        var code = new List<byte>();
        for (int i = 0; i < 3; i++) code.AddRange(Convert.FromHexString("48B88877665544332211"));
        code.AddRange([0xE2, 0xE0, 0xCD, 0x82]); // loop to offset 0 (-32), then int 0x82
        var r = Rewriter.Rewrite(code.ToArray(), [0]);
        Assert.True(r.Succeeded, r.ToText());
        Assert.Contains(DecodeAll(r.Image!.Bytes), i => i.Code == Code.Loop_rel8_64_RCX && i.NearBranch64 == 0);

        // ...and goes through a trampoline when bundling pushes the target out of rel8 range.
        var asm = new BundleAssembler();
        var top = asm.CreateLabel();
        asm.BindEntry(top);
        for (int i = 0; i < 40; i++) asm.Add(Instruction.Create(Code.Mov_r64_imm64, Register.RAX, 0x1122334455667788UL));
        asm.AddBranch(Code.Loop_rel8_64_RCX, Code.Loop_rel8_64_RCX, top, call: false);
        var img = asm.Assemble();
        var ins = DecodeAll(img.Bytes).Where(i => i.FlowControl != FlowControl.Next).ToList();
        Assert.Equal([Code.Loop_rel8_64_RCX, Code.Jmp_rel8_64, Code.Jmp_rel32_64], ins.Select(i => i.Code));
        Assert.Equal(0UL, ins[2].NearBranch64);
        Assert.Equal(ins[2].IP, ins[0].NearBranch64);
        Assert.Equal(ins[2].NextIP, ins[1].NearBranch64);
    }

    [Fact]
    public void SyntheticProgramVerifies()
    {
        var img = SyntheticProgram.Build(7, 64 * 1024);
        Assert.True(img.Bytes.Length >= 64 * 1024);
        Assert.True(img.Verification.Accepted);
    }
}
