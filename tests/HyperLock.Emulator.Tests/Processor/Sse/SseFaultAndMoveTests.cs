using HyperLock.Emulator.Processor;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.Emulator.Tests.Processor.Sse;

/// <summary>Availability checks, alignment, MXCSR faults and #XM, moves and element insert/extract.</summary>
public class SseFaultAndMoveTests
{
    private const ulong Data = SseHarness.Data;

    // ---- availability and alignment ------------------------------------------------------

    [Fact]
    public void Cr0TsRaisesNm()
    {
        using var h = new SseHarness(a => a.addps(xmm0, xmm1));
        var stop = h.Exec(c => { c.Cr0 |= Bits.Cr0Ts; c.X(0) = new Xmm(1, 2); });
        Assert.Equal("#NM", stop.ToString());
        Assert.Equal(new Xmm(1, 2).ToString(), h.Cpu.X(0).ToString());
        Assert.Equal(0x400000UL, h.Cpu.Rip);
    }

    [Fact]
    public void Cr0EmRaisesUdBeforeNm()
    {
        using var h = new SseHarness(a => a.paddb(xmm0, xmm1));
        Assert.Equal("#UD", h.Exec(c => c.Cr0 |= Bits.Cr0Em | Bits.Cr0Ts).ToString());
    }

    [Fact]
    public void OsfxsrClearRaisesUd()
    {
        using var h = new SseHarness(a => a.movaps(xmm0, xmm1));
        Assert.Equal("#UD", h.Exec(c => c.Cr4 &= ~Bits.Cr4Osfxsr).ToString());
    }

    [Fact]
    public void MisalignedPackedOperandRaisesGp()
    {
        using var h = new SseHarness(a => a.addps(xmm0, __xmmword_ptr[rbx + 8]));
        var stop = h.Exec(c => c.X(0) = new Xmm(5, 6));
        Assert.Equal("#GP(0)", stop.ToString());
        Assert.Equal(new Xmm(5, 6).ToString(), h.Cpu.X(0).ToString());
    }

    [Fact]
    public void MisalignedMovdqaStoreRaisesGpAndWritesNothing()
    {
        using var h = new SseHarness(a => a.movdqa(__xmmword_ptr[rbx + 4], xmm0));
        var stop = h.Exec(c => c.X(0) = new Xmm(0x1111, 0x2222));
        Assert.Equal("#GP(0)", stop.ToString());
        Assert.Equal(0UL, h.ReadData64(4));
    }

    [Fact]
    public void UnalignedFormsAndScalarsAcceptMisalignedOperands()
    {
        using var h = new SseHarness(a =>
        {
            a.movdqu(xmm0, __xmmword_ptr[rbx + 3]);
            a.movups(__xmmword_ptr[rbx + 0x21], xmm0);
            a.addss(xmm1, __dword_ptr[rbx + 1]);
            a.lddqu(xmm2, __xmmword_ptr[rbx + 7]);
            a.pcmpistri(xmm2, __xmmword_ptr[rbx + 5], 0);
        });
        for (int k = 0; k < 32; k++) h.WriteData((ulong)k, (byte)(k + 1));
        var stop = h.Exec();
        Assert.Equal("int3", stop.ToString());
        Assert.Equal(0x0B0A090807060504UL, h.Cpu.X(0).Lo);
        Assert.Equal(0x0B0A090807060504UL, h.ReadData64(0x21));
        Assert.Equal(0x0F0E0D0C0B0A0908UL, h.Cpu.X(2).Lo);
    }

    [Fact]
    public void PageFaultOnSecondHalfLeavesDestinationUnchanged()
    {
        // The last 8 bytes of the scratch area are mapped; the next page is not.
        using var h = new SseHarness(a => a.movdqu(xmm0, __xmmword_ptr[rax]));
        var stop = h.Exec(c =>
        {
            c.R(Reg.Rax) = HyperLock.Emulator.Loaders.SnippetEnvironment.ScratchBase + h.Env.ScratchSize - 8;
            c.X(0) = new Xmm(7, 7);
        });
        Assert.Equal(Vector.PF, stop.Vector);
        Assert.Equal(new Xmm(7, 7).ToString(), h.Cpu.X(0).ToString());
    }

    // ---- MXCSR -------------------------------------------------------------------------

    [Fact]
    public void LdmxcsrAndStmxcsrRoundTrip()
    {
        using var h = SseHarness.RunOnce(a =>
        {
            a.ldmxcsr(__dword_ptr[rbx]);
            a.stmxcsr(__dword_ptr[rbx + 8]);
        }, c => c.Env().WriteData64(0, 0xFFC0));
        Assert.Equal(0xFFC0u, h.Cpu.Mxcsr);
        Assert.Equal(0xFFC0UL, h.ReadData64(8));
    }

    [Fact]
    public void LdmxcsrWithReservedBitsRaisesGp()
    {
        using var h = new SseHarness(a => a.ldmxcsr(__dword_ptr[rbx]));
        h.WriteData64(0, 0x10000);
        Assert.Equal("#GP(0)", h.Exec(c => c.Mxcsr = 0x1F80).ToString());
        Assert.Equal(0x1F80u, h.Cpu.Mxcsr);
    }

    [Fact]
    public void UnmaskedPrecisionExceptionRaisesXmAndKeepsDestination()
    {
        using var h = new SseHarness(a => a.divss(xmm0, xmm1));
        var stop = h.Exec(c =>
        {
            c.Mxcsr = 0x1F80 & ~(Cpu.MxcsrPe << 7);
            c.X(0) = new Xmm(0x3F800000, 0);  // 1.0
            c.X(1) = new Xmm(0x40400000, 0);  // 3.0
        });
        Assert.Equal("#XM", stop.ToString());
        Assert.Equal(0x3F800000UL, h.Cpu.X(0).Lo);
        Assert.Equal(0x1F80u & ~(Cpu.MxcsrPe << 7) | Cpu.MxcsrPe, h.Cpu.Mxcsr);
    }

    [Fact]
    public void UnmaskedPrecisionFaultsEvenWhenTheFlagIsAlreadySet()
    {
        using var h = new SseHarness(a => a.mulpd(xmm0, xmm1));
        var stop = h.Exec(c =>
        {
            c.Mxcsr = (0x1F80 & ~(Cpu.MxcsrPe << 7)) | Cpu.MxcsrPe;
            c.X(0) = new Xmm(0x3FF199999999999A, 0x3FF0000000000000);  // 1.1, 1.0
            c.X(1) = new Xmm(0x3FF199999999999A, 0x3FF0000000000000);
        });
        Assert.Equal("#XM", stop.ToString());
        Assert.Equal(0x3FF199999999999AUL, h.Cpu.X(0).Lo);
    }

    [Fact]
    public void UnmaskedExceptionWithoutOsxmmexcptRaisesUd()
    {
        using var h = new SseHarness(a => a.divsd(xmm0, xmm1));
        var stop = h.Exec(c =>
        {
            c.Cr4 &= ~Bits.Cr4Osxmmexcpt;
            c.Mxcsr = 0x1F80 & ~(Cpu.MxcsrZe << 7);
            c.X(0) = new Xmm(0x3FF0000000000000, 0);
            c.X(1) = new Xmm(0, 0);
        });
        Assert.Equal("#UD", stop.ToString());
        Assert.Equal(0x3FF0000000000000UL, h.Cpu.X(0).Lo);
        Assert.NotEqual(0u, h.Cpu.Mxcsr & Cpu.MxcsrZe);
    }

    [Fact]
    public void ComissSignalsInvalidOnQnanButUcomissDoesNot()
    {
        using var h = new SseHarness(a => { a.ucomiss(xmm0, xmm1); a.comiss(xmm0, xmm1); });
        h.Exec(c => { c.Mxcsr = 0x1F80; c.X(0) = new Xmm(0x7FC00000, 0); c.X(1) = new Xmm(0x3F800000, 0); });
        Assert.Equal(0x1F81u, h.Cpu.Mxcsr);
        Assert.Equal(0x45UL, h.Cpu.GetRflags() & 0x8D5);
    }

    // ---- rounding modes and special values (hand-derived) ---------------------------------

    [Theory]
    [InlineData(0x1F80u, 0x3EAAAAABu)] // nearest
    [InlineData(0x3F80u, 0x3EAAAAAAu)] // down
    [InlineData(0x5F80u, 0x3EAAAAABu)] // up
    [InlineData(0x7F80u, 0x3EAAAAAAu)] // toward zero
    public void OneThirdInEachRoundingMode(uint mxcsr, uint want)
    {
        using var h = SseHarness.RunOnce(a => a.divps(xmm0, xmm1), c =>
        {
            c.Mxcsr = mxcsr;
            c.X(0) = new Xmm(0xBF8000003F800000, 0xBF8000003F800000);  // 1, -1, 1, -1
            c.X(1) = new Xmm(0x4040000040400000, 0x4040000040400000);  // 3
        });
        Assert.Equal(want, (uint)h.Cpu.X(0).Lo);
        // The negative lane rounds the other way in the directed modes.
        uint neg = (uint)(h.Cpu.X(0).Lo >> 32);
        uint wantNeg = 0x80000000u | (mxcsr switch { 0x3F80u => 0x3EAAAAABu, 0x5F80u => 0x3EAAAAAAu, _ => want });
        Assert.Equal(wantNeg, neg);
        Assert.Equal(mxcsr | Cpu.MxcsrPe, h.Cpu.Mxcsr);
    }

    [Fact]
    public void ExactCancellationGivesMinusZeroOnlyWhenRoundingDown()
    {
        using var h = new SseHarness(a => a.subsd(xmm0, xmm1));
        h.Exec(c => { c.Mxcsr = 0x1F80; c.X(0) = new Xmm(0x4000000000000000, 0); c.X(1) = new Xmm(0x4000000000000000, 0); });
        Assert.Equal(0UL, h.Cpu.X(0).Lo);
        h.Exec(c => { c.Mxcsr = 0x3F80; c.X(0) = new Xmm(0x4000000000000000, 0); c.X(1) = new Xmm(0x4000000000000000, 0); });
        Assert.Equal(0x8000000000000000UL, h.Cpu.X(0).Lo);
    }

    [Fact]
    public void FtzFlushesTinyResultsAndDazZeroesDenormalInputs()
    {
        using var h = new SseHarness(a => a.mulss(xmm0, xmm1));
        h.Exec(c => { c.Mxcsr = 0x1F80 | Cpu.MxcsrFtz; c.X(0) = new Xmm(0x00800000, 0); c.X(1) = new Xmm(0x3F000000, 0); });
        Assert.Equal(0UL, h.Cpu.X(0).Lo);
        Assert.Equal(0x1F80u | Cpu.MxcsrFtz | Cpu.MxcsrUe | Cpu.MxcsrPe, h.Cpu.Mxcsr);
        h.Exec(c => { c.Mxcsr = 0x1F80; c.X(0) = new Xmm(0x00800000, 0); c.X(1) = new Xmm(0x3F000000, 0); });
        Assert.Equal(0x00400000UL, h.Cpu.X(0).Lo); // exact denormal: no flags
        Assert.Equal(0x1F80u, h.Cpu.Mxcsr);
        h.Exec(c => { c.Mxcsr = 0x1F80 | Cpu.MxcsrDaz; c.X(0) = new Xmm(0x80000001, 0); c.X(1) = new Xmm(0x3F800000, 0); });
        Assert.Equal(0x80000000UL, h.Cpu.X(0).Lo);
        Assert.Equal(0x1F80u | Cpu.MxcsrDaz, h.Cpu.Mxcsr);
    }

    [Fact]
    public void MinMaxReturnSecondOperandForNanAndZeros()
    {
        using var h = SseHarness.RunOnce(a =>
        {
            a.movaps(xmm2, xmm0); a.minps(xmm2, xmm1);
            a.movaps(xmm3, xmm0); a.maxps(xmm3, xmm1);
        }, c =>
        {
            c.Mxcsr = 0x1F80;
            c.X(0) = new Xmm(0x7FC0000100000000, 0x3F80000080000000); // lanes: +0, QNaN, -0, 1
            c.X(1) = new Xmm(0x4000000080000000, 0x7F80000100000000); // lanes: -0, 2, +0, SNaN
        });
        Assert.Equal(new Xmm(0x4000000080000000, 0x7F80000100000000).ToString(), h.Cpu.X(2).ToString());
        Assert.Equal(new Xmm(0x4000000080000000, 0x7F80000100000000).ToString(), h.Cpu.X(3).ToString());
        Assert.Equal(0x1F81u, h.Cpu.Mxcsr);
    }

    [Fact]
    public void MaxWithNanReturnsTheSourceAfterDaz()
    {
        // Host-checked: with DAZ, a denormal second operand comes back as zero even when the first is a NaN.
        using var h = SseHarness.RunOnce(a => a.maxss(xmm0, xmm1), c =>
        {
            c.Mxcsr = 0x1F80 | Cpu.MxcsrDaz;
            c.X(0) = new Xmm(0xFFFFFFFF, 0);
            c.X(1) = new Xmm(0x80000001, 0);
        });
        Assert.Equal(0x80000000UL, h.Cpu.X(0).Lo);
        Assert.Equal(0x1F80u | Cpu.MxcsrDaz | Cpu.MxcsrIe, h.Cpu.Mxcsr);
    }

    [Fact]
    public void ConversionOverflowGivesIntegerIndefinite()
    {
        using var h = SseHarness.RunOnce(a =>
        {
            a.cvttss2si(eax, xmm0);
            a.cvtsd2si(rcx, xmm1);
            a.cvttps2dq(xmm2, xmm3);
        }, c =>
        {
            c.Mxcsr = 0x1F80;
            c.X(0) = new Xmm(0x4F000000, 0);              // 2^31
            c.X(1) = new Xmm(0x7FF8000000000000, 0);      // NaN
            c.X(3) = new Xmm(0xCF000000C1200000, 0xCF0000014F7FFFFF); // -10, -2^31, 4.29e9, -2^31-256 → overflow
        });
        Assert.Equal(0x80000000UL, h.Cpu.R(Reg.Rax));
        Assert.Equal(0x8000000000000000UL, h.Cpu.R(Reg.Rcx));
        Assert.Equal(new Xmm(0x80000000FFFFFFF6, 0x8000000080000000).ToString(), h.Cpu.X(2).ToString());
        Assert.Equal(0x1F81u, h.Cpu.Mxcsr);
    }

    [Fact]
    public void RcpAndRsqrtAreWithinTheArchitecturalErrorBound()
    {
        var rnd = new Random(5);
        using var h = new SseHarness(a => { a.rcpps(xmm1, xmm0); a.rsqrtps(xmm2, xmm0); });
        for (int k = 0; k < 200; k++)
        {
            float x = (float)Math.Exp(rnd.NextDouble() * 80 - 40);
            uint bits = BitConverter.SingleToUInt32Bits(x);
            h.Exec(c => { c.Mxcsr = 0x1F80; c.X(0) = new Xmm(bits, 0); });
            double rcp = BitConverter.UInt32BitsToSingle((uint)h.Cpu.X(1).Lo);
            double rsq = BitConverter.UInt32BitsToSingle((uint)h.Cpu.X(2).Lo);
            Assert.True(Math.Abs(rcp * x - 1) <= 1.5 / 4096, $"rcp({x}) = {rcp}");
            Assert.True(Math.Abs(rsq * Math.Sqrt(x) - 1) <= 1.5 / 4096, $"rsqrt({x}) = {rsq}");
            Assert.Equal(0x1F80u, h.Cpu.Mxcsr);
        }
        h.Exec(c => c.X(0) = new Xmm(0x80000000, 0));
        Assert.Equal(0xFF800000UL, h.Cpu.X(1).Lo & 0xFFFFFFFF);
        Assert.Equal(0xFF800000UL, h.Cpu.X(2).Lo & 0xFFFFFFFF);
    }

    // ---- moves ---------------------------------------------------------------------------

    [Fact]
    public void ScalarMovesMergeOrZeroAsDefined()
    {
        using var h = SseHarness.RunOnce(a =>
        {
            a.movaps(xmm2, xmm0); a.movss(xmm2, xmm1);         // register: merge low dword
            a.movaps(xmm3, xmm0); a.movss(xmm3, __dword_ptr[rbx]); // memory: zero upper
            a.movaps(xmm4, xmm0); a.movsd(xmm4, xmm1);
            a.movaps(xmm5, xmm0); a.movq(xmm5, xmm1);          // zero upper
            a.movd(eax, xmm1);
            a.movq(rcx, xmm1);
            a.movaps(xmm6, xmm0); a.movhlps(xmm6, xmm1);
            a.movaps(xmm7, xmm0); a.movlhps(xmm7, xmm1);
            a.movhps(__qword_ptr[rbx + 16], xmm1);
            a.movddup(xmm8, xmm1);
            a.movshdup(xmm9, xmm1);
        }, c =>
        {
            c.X(0) = new Xmm(0x1111111122222222, 0x3333333344444444);
            c.X(1) = new Xmm(0xAAAAAAAABBBBBBBB, 0xCCCCCCCCDDDDDDDD);
            c.Env().WriteData64(0, 0x0102030405060708);
        });
        var c = h.Cpu;
        Assert.Equal(new Xmm(0x11111111BBBBBBBB, 0x3333333344444444).ToString(), c.X(2).ToString());
        Assert.Equal(new Xmm(0x05060708, 0).ToString(), c.X(3).ToString());
        Assert.Equal(new Xmm(0xAAAAAAAABBBBBBBB, 0x3333333344444444).ToString(), c.X(4).ToString());
        Assert.Equal(new Xmm(0xAAAAAAAABBBBBBBB, 0).ToString(), c.X(5).ToString());
        Assert.Equal(0xBBBBBBBBUL, c.R(Reg.Rax));
        Assert.Equal(0xAAAAAAAABBBBBBBBUL, c.R(Reg.Rcx));
        Assert.Equal(new Xmm(0xCCCCCCCCDDDDDDDD, 0x3333333344444444).ToString(), c.X(6).ToString());
        Assert.Equal(new Xmm(0x1111111122222222, 0xAAAAAAAABBBBBBBB).ToString(), c.X(7).ToString());
        Assert.Equal(0xCCCCCCCCDDDDDDDDUL, h.ReadData64(16));
        Assert.Equal(new Xmm(0xAAAAAAAABBBBBBBB, 0xAAAAAAAABBBBBBBB).ToString(), c.X(8).ToString());
        Assert.Equal(new Xmm(0xAAAAAAAAAAAAAAAA, 0xCCCCCCCCCCCCCCCC).ToString(), c.X(9).ToString());
    }

    [Fact]
    public void MasksExtractsAndInserts()
    {
        using var h = SseHarness.RunOnce(a =>
        {
            a.movmskps(eax, xmm0);
            a.movmskpd(ecx, xmm0);
            a.pmovmskb(edx, xmm0);
            a.pextrb(esi, xmm0, 17);        // index mod 16 → byte 1
            a.pextrw(edi, xmm0, 5);
            a.pextrq(r8, xmm0, 1);
            a.extractps(r9d, xmm0, 2);
            a.pextrd(__dword_ptr[rbx], xmm0, 3);
            a.movaps(xmm1, xmm0);
            a.pinsrb(xmm1, r10d, 15);
            a.pinsrw(xmm1, r10d, 0);
            a.pinsrq(xmm1, r10, 1);
            a.movaps(xmm2, xmm0);
            a.insertps(xmm2, xmm0, 0b11_01_0100); // element 3 → slot 1, zero slot 2
        }, c =>
        {
            c.X(0) = new Xmm(0x8000000100FF7F80, 0x7FFFFFFF80000000);
            c.R(Reg.R10) = 0x123456789ABCDEF0;
        });
        var c = h.Cpu;
        Assert.Equal(0b0110UL, c.R(Reg.Rax));
        Assert.Equal(0b01UL, c.R(Reg.Rcx));
        Assert.Equal(0b0111_1000_1000_0101UL, c.R(Reg.Rdx));
        Assert.Equal(0x7FUL, c.R(Reg.Rsi));
        Assert.Equal(0x8000UL, c.R(Reg.Rdi));
        Assert.Equal(0x7FFFFFFF80000000UL, c.R(Reg.R8));
        Assert.Equal(0x80000000UL, c.R(Reg.R9));
        Assert.Equal(0x7FFFFFFFUL, h.ReadData64(0) & 0xFFFFFFFF);
        Assert.Equal(new Xmm(0x8000000100FFDEF0, 0x123456789ABCDEF0).ToString(), c.X(1).ToString());
        Assert.Equal(new Xmm(0x7FFFFFFF00FF7F80, 0x7FFFFFFF00000000).ToString(), c.X(2).ToString());
    }

    [Fact]
    public void MaskmovdquStoresSelectedBytes()
    {
        using var h = SseHarness.RunOnce(a => a.maskmovdqu(xmm0, xmm1), c =>
        {
            c.R(Reg.Rdi) = Data + 32;
            c.X(0) = new Xmm(0x8877665544332211, 0xFFEEDDCCBBAA9900);
            c.X(1) = new Xmm(0x0000000000008080, 0x8000000000000000);
        });
        Assert.Equal(0x2211UL, h.ReadData64(32));
        Assert.Equal(0xFF00000000000000UL, h.ReadData64(40));
    }
}

internal static class SseHarnessExtensions
{
    /// <summary>Test-only access to the harness of a CPU created by it (via the scratch memory).</summary>
    public static Scratch Env(this HyperLock.Emulator.Processor.Cpu c) => new(c);

    public readonly struct Scratch(HyperLock.Emulator.Processor.Cpu cpu)
    {
        public void WriteData64(ulong offset, ulong v) => cpu.Memory.Write(SseHarness.Data + offset, 8, v);
    }
}

public class SseCacheControlTests
{
    [Fact]
    public void ClflushAndFencesRunAndClflushFaultsOnUnmappedLine()
    {
        using var h = new SseHarness(a =>
        {
            a.clflush(__byte_ptr[rax]);
            a.lfence();
            a.mfence();
            a.sfence();
        });
        Assert.Equal("int3", h.Exec(c => c.R(Reg.Rax) = SseHarness.Data).ToString());
        var stop = h.Exec(c => c.R(Reg.Rax) = 0x7000_0000);
        Assert.Equal(Vector.PF, stop.Vector);
    }

    [Fact]
    public void ClflushoptAndClwbRunAndFaultOnUnmappedLineLikeClflush()
    {
        foreach (Action<Assembler> body in new Action<Assembler>[] { a => a.clflushopt(__byte_ptr[rax]), a => a.clwb(__byte_ptr[rax]) })
        {
            using var h = new SseHarness(body);
            Assert.Equal("int3", h.Exec(c => c.R(Reg.Rax) = SseHarness.Data + 0x41).ToString());
            Assert.Equal(Vector.PF, h.Exec(c => c.R(Reg.Rax) = 0x7000_0000).Vector);
        }
    }
}
