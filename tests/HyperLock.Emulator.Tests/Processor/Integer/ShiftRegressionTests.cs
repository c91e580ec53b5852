using HyperLock.Emulator.Processor;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.Emulator.Tests.Processor.Integer;

/// <summary>Cases the differential tester found against the host CPU (values observed on the host).</summary>
public class ShiftRegressionTests
{
    [Fact]
    public void ShiftOf32BitRegisterByZeroStillZeroExtends()
    {
        var (env, stop) = SnippetRunner.Run(a =>
        {
            a.mov(r9, unchecked((long)0xc8fff3f28b498a55UL));
            a.xor(ecx, ecx);
            a.shl(r9d, cl);
            a.mov(rbx, unchecked((long)0x1122334455667788UL));
            a.ror(ebx, 0x80);        // imm8 masked to 0
            a.mov(rsi, unchecked((long)0xffffffff00000001UL));
            a.shld(esi, edi, cl);
            a.int3();
        });
        using var _ = env;
        Assert.Equal("int3", stop.ToString());
        Assert.Equal(0x8b498a55UL, env.Cpu.R(Reg.R9));
        Assert.Equal(0x55667788UL, env.Cpu.R(Reg.Rbx));
        Assert.Equal(0x1UL, env.Cpu.R(Reg.Rsi));
    }

    [Fact]
    public void Shld64CarryIsTheLastBitShiftedOut()
    {
        // shld r12, rdi, 7 with r12 = 0x071cb8c46eb1e109: bit 57 of r12 (1) ends in CF, as on the host.
        var (env, stop) = SnippetRunner.Run(a =>
        {
            a.mov(r12, 0x071cb8c46eb1e109L);
            a.xor(edi, edi);
            a.shld(r12, rdi, 7);
            a.int3();
        });
        using var _ = env;
        Assert.Equal("int3", stop.ToString());
        Assert.True(env.Cpu.CF);
        Assert.Equal(0x8e5c623758f08480UL, env.Cpu.R(Reg.R12));
    }
}
