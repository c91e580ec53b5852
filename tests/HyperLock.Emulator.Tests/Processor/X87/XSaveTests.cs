using HyperLock.Emulator.Processor;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using static HyperLock.Emulator.Tests.Processor.X87.X87Kit;

namespace HyperLock.Emulator.Tests.Processor.X87;

/// <summary>XSAVE/XRSTOR (standard format, x87 + SSE), XGETBV and XSETBV.</summary>
public class XSaveTests
{
    private static readonly Float80 One = F(0x3FFF, 0x8000000000000000);

    /// <summary>CR4.OSXSAVE on and XCR0 = x87 | SSE, as an OS would set them.</summary>
    private static void EnableXsave(Loaders.SnippetEnvironment env)
    {
        env.Cpu.Cr4 |= Bits.Cr4Osxsave;
        env.Cpu.Xcr0 = 3;
    }

    private static void Prefill(Loaders.SnippetEnvironment env, ulong off, int n, byte value)
    {
        var b = new byte[n];
        Array.Fill(b, value);
        env.Memory.WriteBytes(Scratch + off, b);
    }

    // ---- XSETBV / XGETBV ----------------------------------------------------------------------

    [Fact]
    public void XsetbvAtCpl0SetsXcr0AndXgetbvReadsIt()
    {
        var (env, stop) = Run(a =>
        {
            a.xor(ecx, ecx);
            a.xor(edx, edx);
            a.mov(eax, 3);
            a.xsetbv();
            a.xor(eax, eax);
            a.xgetbv();
        }, env => env.Cpu.Cr4 |= Bits.Cr4Osxsave, user: false);
        using var _ = env;
        AssertStop("int3", stop);
        Assert.Equal(3UL, env.Cpu.Xcr0);
        Assert.Equal(3UL, env.Cpu.R(Reg.Rax));
        Assert.Equal(0UL, env.Cpu.R(Reg.Rdx));
    }

    /// <summary>XSETBV #GP(0): ECX ≠ 0, bit 0 clear, unsupported bits (AVX, bit 2; any EDX bit), AVX without SSE.</summary>
    [Theory]
    [InlineData(1u, 3u, 0u)]
    [InlineData(0u, 2u, 0u)]
    [InlineData(0u, 0u, 0u)]
    [InlineData(0u, 7u, 0u)]
    [InlineData(0u, 5u, 0u)]
    [InlineData(0u, 3u, 1u)]
    public void XsetbvInvalidValuesRaiseGp(uint index, uint low, uint high)
    {
        var (env, stop) = Run(a =>
        {
            a.mov(ecx, (int)index);
            a.mov(eax, (int)low);
            a.mov(edx, (int)high);
            a.xsetbv();
        }, env => env.Cpu.Cr4 |= Bits.Cr4Osxsave, user: false);
        using var _ = env;
        Assert.Equal("#GP(0)", stop.ToString());
        Assert.Equal(1UL, env.Cpu.Xcr0);
    }

    [Fact]
    public void XsetbvAtCpl3RaisesGp()
    {
        var (env, stop) = Run(a =>
        {
            a.xor(ecx, ecx);
            a.xor(edx, edx);
            a.mov(eax, 3);
            a.xsetbv();
        }, env => env.Cpu.Cr4 |= Bits.Cr4Osxsave, user: true);
        using var _ = env;
        Assert.Equal("#GP(0)", stop.ToString());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void WithoutOsxsaveXInstructionsRaiseUd(int which)
    {
        var (env, stop) = Run(a =>
        {
            a.xor(ecx, ecx);
            if (which == 0) a.xgetbv();
            else if (which == 1) a.xsetbv();
            else a.xsave64(__[rbx + 4096]);
        }, user: false);
        using var _ = env;
        Assert.Equal("#UD", stop.ToString());
    }

    [Fact]
    public void XgetbvOfUnsupportedIndexRaisesGp()
    {
        var (env, stop) = Run(a =>
        {
            a.mov(ecx, 1);
            a.xgetbv();
        }, EnableXsave);
        using var _ = env;
        Assert.Equal("#GP(0)", stop.ToString());
    }

    // ---- XSAVE --------------------------------------------------------------------------------

    [Fact]
    public void XsaveWritesRequestedComponentsAndXstateBv()
    {
        var (env, stop) = Run(a =>
        {
            a.fld1();
            a.mov(eax, 3);
            a.xor(edx, edx);
            a.xsave64(__[rbx + 4096]);
        }, env =>
        {
            EnableXsave(env);
            Prefill(env, 4096, 576, 0xAA);
            env.Cpu.X(2) = new Xmm(0x2222, 0x3333);
        });
        using var _ = env;
        AssertStop("int3", stop);
        var b = ReadBytes(env, 4096, 576);
        Assert.Equal(0x037F, BitConverter.ToUInt16(b, 0));
        Assert.Equal(0x3800, BitConverter.ToUInt16(b, 2));
        Assert.Equal(0x80, b[4]);
        Assert.Equal(0x1F80U, BitConverter.ToUInt32(b, 24));
        Assert.Equal(One, ReadF80(env, 4096 + 32));
        Assert.Equal(0x2222UL, BitConverter.ToUInt64(b, 160 + 32));
        // XSTATE_BV ← (old AND NOT RFBM) OR (XINUSE AND RFBM): both components in use, the other bits kept.
        Assert.Equal((0xAAAAAAAAAAAAAAAAUL & ~3UL) | 3UL, BitConverter.ToUInt64(b, 512));
        Assert.Equal(0xAAAAAAAAAAAAAAAAUL, BitConverter.ToUInt64(b, 520)); // XCOMP_BV not written
        Assert.All(b[416..512], x => Assert.Equal(0xAA, x));
    }

    [Fact]
    public void XsaveOfOnlyX87LeavesSseAreaAndOtherXstateBitsAlone()
    {
        var (env, stop) = Run(a =>
        {
            a.mov(eax, 1);
            a.xor(edx, edx);
            a.xsave(__[rbx + 4096]);
        }, env =>
        {
            EnableXsave(env);
            Prefill(env, 4096, 512, 0xAA);
            Write64(env, 4096 + 512, 0x2); // XSTATE_BV[1] from an earlier save
            env.Cpu.X(0) = new Xmm(1, 1);
        });
        using var _ = env;
        AssertStop("int3", stop);
        var b = ReadBytes(env, 4096, 576);
        Assert.Equal(0x037F, BitConverter.ToUInt16(b, 0));
        Assert.Equal(0xAAAAAAAAU, BitConverter.ToUInt32(b, 24)); // MXCSR belongs to SSE/AVX: not written
        Assert.Equal(0xAAAAAAAAAAAAAAAAUL, BitConverter.ToUInt64(b, 160));
        Assert.Equal(2UL, BitConverter.ToUInt64(b, 512)); // x87 in init state → bit 0 = 0; bit 1 kept
    }

    [Fact]
    public void XsaveMisalignedRaisesGp()
    {
        var (env, stop) = Run(a =>
        {
            a.mov(eax, 3);
            a.xor(edx, edx);
            a.xsave64(__[rbx + 4096 + 32]);
        }, EnableXsave);
        using var _ = env;
        Assert.Equal("#GP(0)", stop.ToString());
    }

    // ---- XRSTOR -------------------------------------------------------------------------------

    [Fact]
    public void XrstorRoundTrip()
    {
        var (env, stop) = Run(a =>
        {
            a.fldpi();
            a.fld1();
            a.mov(eax, 3);
            a.xor(edx, edx);
            a.xsave64(__[rbx + 4096]);
            a.fninit();
            a.xrstor64(__[rbx + 4096]);
        }, env =>
        {
            EnableXsave(env);
            env.Cpu.X(5) = new Xmm(0x55, 0x66);
        });
        using var _ = env;
        AssertStop("int3", stop);
        Assert.Equal(One, env.Cpu.St(0));
        Assert.Equal(F(0x4000, 0xC90FDAA22168C235), env.Cpu.St(1));
        Assert.Equal(6, env.Cpu.FpuTop);
        Assert.Equal(0x55UL, env.Cpu.X(5).Lo);
    }

    /// <summary>
    /// XSTATE_BV = 1 with RFBM = 3: x87 comes from memory, SSE goes to its initial state (XMM
    /// registers zero) while MXCSR is still loaded from memory.
    /// </summary>
    [Fact]
    public void XrstorPartialXstateBvInitializesSseButLoadsMxcsr()
    {
        var (env, stop) = Run(a =>
        {
            a.mov(eax, 3);
            a.xor(edx, edx);
            a.xrstor64(__[rbx + 4096]);
        }, env =>
        {
            EnableXsave(env);
            Write16(env, 4096, 0x027F);            // FCW
            env.Memory.Write(Scratch + 4096 + 4, 1, 0x01); // R0 valid
            WriteF80(env, 4096 + 32, One);         // ST(0) with TOP = 0 → R0
            Write32(env, 4096 + 24, 0x1F00);       // MXCSR
            Write64(env, 4096 + 160, 0xDEAD);      // XMM0 image, ignored (XSTATE_BV[1] = 0)
            Write64(env, 4096 + 512, 1);
            env.Cpu.X(0) = new Xmm(9, 9);
            env.Cpu.X(12) = new Xmm(9, 9);
        });
        using var _ = env;
        AssertStop("int3", stop);
        Assert.Equal(0x027F, env.Cpu.FpuControl);
        Assert.Equal(One, env.Cpu.St(0));
        Assert.False(env.Cpu.StEmpty(0));
        Assert.Equal(0x1F00U, env.Cpu.Mxcsr);
        Assert.Equal(0UL, env.Cpu.X(0).Lo | env.Cpu.X(0).Hi);
        Assert.Equal(0UL, env.Cpu.X(12).Lo | env.Cpu.X(12).Hi);
    }

    [Fact]
    public void XrstorWithXstateBvZeroInitializesX87()
    {
        var (env, stop) = Run(a =>
        {
            a.fld1();
            a.fldcw(__word_ptr[rbx]);
            a.mov(eax, 1);
            a.xor(edx, edx);
            a.xrstor(__[rbx + 4096]);
        }, env =>
        {
            EnableXsave(env);
            Write16(env, 0, 0x0C7F);
            env.Cpu.X(1) = new Xmm(1, 2);
        });
        using var _ = env;
        AssertStop("int3", stop);
        Assert.Equal(0x037F, env.Cpu.FpuControl);
        Assert.Equal(0, env.Cpu.FpuValid);
        Assert.Equal(0, env.Cpu.FpuTop);
        Assert.Equal(Float80.Zero, env.Cpu.St(7));
        Assert.Equal(1UL, env.Cpu.X(1).Lo); // SSE not requested: untouched
    }

    /// <summary>#GP(0): XSTATE_BV outside XCR0, nonzero XCOMP_BV, nonzero header bytes 23:16, reserved MXCSR bits, misalignment.</summary>
    [Theory]
    [InlineData(512, 4UL, 0)]
    [InlineData(520, 1UL, 0)]
    [InlineData(520, 1UL << 63, 0)]
    [InlineData(528, 1UL, 0)]
    [InlineData(24, 0x10000UL, 0)]
    [InlineData(512, 0UL, 16)]
    public void XrstorFaults(int offset, ulong value, int misalign)
    {
        var (env, stop) = Run(a =>
        {
            a.fld1();
            a.mov(eax, 3);
            a.xor(edx, edx);
            a.xrstor64(__[rbx + 4096 + misalign]);
        }, env =>
        {
            EnableXsave(env);
            Write32(env, 4096 + 24, 0x1F80);
            Write64(env, 4096 + 512, 3);
            Write64(env, 4096 + (ulong)offset, value);
        });
        using var _ = env;
        Assert.Equal("#GP(0)", stop.ToString());
        Assert.Equal(One, env.Cpu.St(0)); // nothing restored
        Assert.Equal(7, env.Cpu.FpuTop);
    }
}
