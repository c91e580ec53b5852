using HyperLock.Emulator.Processor;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using static HyperLock.Emulator.Tests.Processor.X87.X87Kit;

namespace HyperLock.Emulator.Tests.Processor.X87;

/// <summary>FXSAVE/FXRSTOR: the 512-byte layout, both forms, round trips and faults.</summary>
public class FxSaveTests
{
    private static readonly Float80 Pi = F(0x4000, 0xC90FDAA22168C235);
    private static readonly Float80 One = F(0x3FFF, 0x8000000000000000);

    private static void Prefill(Loaders.SnippetEnvironment env, ulong off, int n, byte value)
    {
        var b = new byte[n];
        Array.Fill(b, value);
        env.Memory.WriteBytes(Scratch + off, b);
    }

    private static ulong CodeOffsetOfSecondX87(Action<Assembler> prefix) =>
        Loaders.SnippetEnvironment.CodeBase + (ulong)SnippetRunner.Assemble(a =>
        {
            a.mov(rbx, (long)Scratch);
            prefix(a);
        }).Length;

    /// <summary>
    /// Host (fninit; fld1; fldpi; fxsave64) bytes 0-31: 7f 03 00 30 c0 00 [FOP] [FIP 8] [FDP 8]
    /// 80 1f 00 00 ff ff 00 00, then ST(0) = pi, ST(1) = 1 with zeroed padding; bytes 416-511
    /// untouched. The host (AMD) leaves FOP/FIP zero without a pending exception; the model
    /// stores them as Intel processors do.
    /// </summary>
    [Fact]
    public void Fxsave64Layout()
    {
        var (env, stop) = Run(a =>
        {
            a.fld1();
            a.fldpi();
            a.fxsave64(__[rbx + 512]);
        }, env =>
        {
            Prefill(env, 512, 512, 0xAA);
            env.Cpu.X(0) = new Xmm(0x0011223344556677, 0x8899AABBCCDDEEFF);
            env.Cpu.X(15) = new Xmm(0xF0F0F0F0F0F0F0F0, 0x0F0F0F0F0F0F0F0F);
            env.Cpu.Mxcsr = 0x1FA0;
        });
        using var _ = env;
        AssertStop("int3", stop);
        var b = ReadBytes(env, 512, 512);
        Assert.Equal(new byte[] { 0x7F, 0x03, 0x00, 0x30, 0xC0, 0x00 }, b[..6]);
        Assert.Equal(0x1EB, BitConverter.ToUInt16(b, 6)); // FOP of FLDPI (D9 EB)
        Assert.Equal(CodeOffsetOfSecondX87(a => a.fld1()), BitConverter.ToUInt64(b, 8));
        Assert.Equal(0x1FA0U, BitConverter.ToUInt32(b, 24));
        Assert.Equal(0xFFFFU, BitConverter.ToUInt32(b, 28));
        Assert.Equal(Pi, ReadF80(env, 512 + 32));
        Assert.Equal(new byte[6], b[42..48]);
        Assert.Equal(One, ReadF80(env, 512 + 48));
        Assert.Equal(0x0011223344556677UL, BitConverter.ToUInt64(b, 160));
        Assert.Equal(0x8899AABBCCDDEEFFUL, BitConverter.ToUInt64(b, 168));
        Assert.Equal(0x0F0F0F0F0F0F0F0FUL, BitConverter.ToUInt64(b, 160 + 16 * 15 + 8));
        Assert.All(b[416..], x => Assert.Equal(0xAA, x));
    }

    [Fact]
    public void DefaultFormStores32BitPointersWithSelectors()
    {
        var (env, stop) = Run(a =>
        {
            a.fld(__qword_ptr[rbx + 8]);
            a.fxsave(__[rbx + 512]);
        }, env => Prefill(env, 512, 32, 0xAA));
        using var _ = env;
        AssertStop("int3", stop);
        var b = ReadBytes(env, 512, 32);
        Assert.Equal((uint)CodeOffsetOfSecondX87(_ => { }), BitConverter.ToUInt32(b, 8));
        Assert.Equal(0x2BU, BitConverter.ToUInt32(b, 12));  // FCS (user code selector), reserved 0
        Assert.Equal((uint)(Scratch + 8), BitConverter.ToUInt32(b, 16));
        Assert.Equal(0x23U, BitConverter.ToUInt32(b, 20));  // FDS
        Assert.Equal(0x543, BitConverter.ToUInt16(b, 6)); // FOP: DD → 101, ModRM 01 000 011 ([rbx+disp8])
    }

    [Fact]
    public void FxrstorRoundTripsX87AndSseState()
    {
        var (env, stop) = Run(a =>
        {
            a.fldcw(__word_ptr[rbx]);
            a.fld1();
            a.fldpi();
            a.fld(__tword_ptr[rbx + 16]);
            a.fxsave64(__[rbx + 512]);
            a.fninit();
            a.fxrstor64(__[rbx + 512]);
            a.fxsave64(__[rbx + 1024]);
        }, env =>
        {
            Write16(env, 0, 0x0E72);
            WriteF80(env, 16, F(0x8000, 0x0000000000000042)); // negative denormal
            env.Cpu.X(7) = new Xmm(7, 77);
            env.Cpu.Mxcsr = 0x9FC0;
        });
        using var _ = env;
        AssertStop("int3", stop);
        var c = env.Cpu;
        Assert.Equal(0x0E72, c.FpuControl);
        Assert.Equal(5, c.FpuTop);
        Assert.Equal(F(0x8000, 0x42), c.St(0));
        Assert.Equal(F(0x4000, 0xC90FDAA22168C234), c.St(1)); // FLDPI under RC = toward zero
        Assert.Equal(One, c.St(2));
        Assert.True(c.StEmpty(3));
        Assert.Equal(ReadBytes(env, 512, 416), ReadBytes(env, 1024, 416));
        Assert.Equal(0x9FC0U, c.Mxcsr);
    }

    [Fact]
    public void FxrstorRestoresXmmAndMxcsrFromImage()
    {
        var (env, stop) = Run(a => a.fxrstor64(__[rbx + 512]), env =>
        {
            Write32(env, 512 + 24, 0x1F00);
            Write64(env, 512 + 160 + 16 * 9, 0x1234);
            Write64(env, 512 + 160 + 16 * 9 + 8, 0x5678);
            env.Memory.Write(Scratch + 512 + 4, 1, 0x01); // abridged tag: R0 valid
        });
        using var _ = env;
        AssertStop("int3", stop);
        Assert.Equal(0x1F00U, env.Cpu.Mxcsr);
        Assert.Equal(0x1234UL, env.Cpu.X(9).Lo);
        Assert.Equal(0x5678UL, env.Cpu.X(9).Hi);
        Assert.Equal(1, env.Cpu.FpuValid);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void MisalignedAreaRaisesGp(bool save)
    {
        var (env, stop) = Run(a =>
        {
            if (save) a.fxsave64(__[rbx + 520]);
            else a.fxrstor64(__[rbx + 520]);
        });
        using var _ = env;
        Assert.Equal("#GP(0)", stop.ToString());
    }

    [Fact]
    public void FxrstorWithReservedMxcsrBitsRaisesGpAndChangesNothing()
    {
        var (env, stop) = Run(a =>
        {
            a.fld1();
            a.fxrstor64(__[rbx + 512]);
        }, env => Write32(env, 512 + 24, 0x00011F80)); // bit 16 is reserved
        using var _ = env;
        Assert.Equal("#GP(0)", stop.ToString());
        Assert.Equal(0x1F80U, env.Cpu.Mxcsr);
        Assert.Equal(One, env.Cpu.St(0));
        Assert.Equal(7, env.Cpu.FpuTop);
    }

    [Fact]
    public void FxsaveWithTsRaisesNm()
    {
        var (env, stop) = Run(a => a.fxsave64(__[rbx + 512]), env => env.Cpu.Cr0 |= Bits.Cr0Ts);
        using var _ = env;
        Assert.Equal("#NM", stop.ToString());
    }
}
