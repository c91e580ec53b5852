using HyperLock.Toolchain;
using Iced.Intel;
using Xunit;

namespace HyperLock.Verifier.Tests;

/// <summary>The set of validated instruction starts an accepted image exposes (for the runtime's loader).</summary>
public class ValidatedStartsTests
{
    private static AssembledImage Sample()
    {
        var asm = new BundleAssembler();
        var f = asm.CreateLabel();
        var main = asm.CreateLabel();
        asm.BindEntry(main);
        asm.Add(Instruction.Create(Code.Mov_r64_imm64, Register.RAX, 0x1122334455667788UL));
        asm.Vmread(Register.RBX, 0x4402);   // exit reason: mov r32, imm32 + vmread (rule 7 pair)
        asm.Call(f);
        asm.Add(Instruction.Create(Code.Add_rm64_imm8, Register.RAX, 1));
        asm.BindEntry(f);
        asm.Ret();                          // pop + and -32 + jmp (rule 4 pair)
        return asm.Assemble();
    }

    [Fact]
    public void AcceptedImageExposesEveryInstructionStartExceptPseudoSecondHalves()
    {
        var img = Sample();
        Assert.True(img.Verification.Accepted);
        var expected = new List<int>();
        foreach (var i in ToolchainTests.DecodeAll(img.Bytes))
        {
            bool secondHalf = i.Code is Code.Jmp_rm64 or Code.Call_rm64 or Code.Vmread_rm64_r64 or Code.Vmwrite_r64_rm64;
            if (!secondHalf) expected.Add((int)i.IP);
        }
        var starts = img.Verification.ValidatedStarts;
        Assert.Equal(expected, starts.Offsets());
        Assert.Equal(expected.Count, starts.Count);
        Assert.Equal(img.Bytes.Length, starts.ImageSize);
        // The pairs' second halves exist in the image but are not entries.
        var jmp = ToolchainTests.DecodeAll(img.Bytes).First(i => i.Code == Code.Jmp_rm64);
        Assert.False(starts.Contains((long)jmp.IP));
        Assert.True(starts.Contains(0));
        Assert.All(img.EntryPoints, e => Assert.True(starts.Contains(e)));
        Assert.False(starts.Contains(-1));
        Assert.False(starts.Contains(img.Bytes.Length));
    }

    [Fact]
    public void RejectedImageHasNoValidatedStarts()
    {
        var bytes = new byte[32];
        bytes[0] = 0xF4; // hlt: forbidden
        for (int k = 1; k < 32; k++) bytes[k] = 0x90;
        var r = ImageVerifier.Verify(bytes);
        Assert.False(r.Accepted);
        Assert.Equal(0, r.ValidatedStarts.Count);
        Assert.False(r.ValidatedStarts.Contains(1));
    }

    [Fact]
    public void StartsAreLeftOutWhenNotAskedForAndTheVerdictIsTheSame()
    {
        var img = Sample();
        var full = ImageVerifier.Verify(img.Bytes);
        var lean = ImageVerifier.Verify(img.Bytes, new VerifierOptions { KeepValidatedStarts = false });
        Assert.True(full.Accepted);
        Assert.True(lean.Accepted);
        Assert.True(full.ValidatedStarts.Count > 0);
        Assert.Equal(0, lean.ValidatedStarts.Count);
        Assert.Equal(full.ToText(), lean.ToText());
    }
}
