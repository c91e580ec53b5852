using HyperLock.Emulator.Processor;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.Emulator.Tests.Processor.Sse;

/// <summary>MMX forms: results (hand-derived), x87 aliasing (TOP, tags, exponent), EMMS and the MMX checks.</summary>
public class SseMmxTests
{
    private static SseHarness Run(Action<Assembler> body, ulong mm0, ulong mm1)
    {
        return SseHarness.RunOnce(body, c =>
        {
            c.MmxWrite(0, mm0);
            c.MmxWrite(1, mm1);
            c.FpuTop = 3;
            c.FpuValid = 0;
        });
    }

    [Fact]
    public void ArithmeticAndAliasing()
    {
        using var h = Run(a => a.paddusb(mm0, mm1), 0x01FF_7F80_0010_FE02, 0x0101_0101_0101_0101);
        var c = h.Cpu;
        Assert.Equal(0x02FF_8081_0111_FF03UL, c.Mmx(0));
        Assert.Equal(0, c.FpuTop);
        Assert.Equal(0xFF, c.FpuValid);
        Assert.Equal(0xFFFF, c.FpuRegs[0].SignExp);
    }

    [Fact]
    public void HighUnpackUsesHighDwords()
    {
        using var h = Run(a => a.punpckhbw(mm0, mm1), 0x8877665544332211, 0xFFEEDDCCBBAA9900);
        Assert.Equal(0xFF88EE77DD66CC55UL, h.Cpu.Mmx(0));
    }

    [Fact]
    public void LowUnpackFromMemoryReadsFourBytes()
    {
        using var h = new SseHarness(a => a.punpcklwd(mm0, __dword_ptr[rbx]));
        h.WriteData64(0, 0xDDDD_CCCC_BBBB_AAAA);
        var stop = h.Exec(c => c.MmxWrite(0, 0x4444_3333_2222_1111));
        Assert.Equal("int3", stop.ToString());
        Assert.Equal(0xBBBB_2222_AAAA_1111UL, h.Cpu.Mmx(0));
    }

    [Fact]
    public void PackAndHorizontalJoinDestAndSource()
    {
        using var h = Run(a => { a.movq(mm2, mm0); a.packsswb(mm2, mm1); a.movq(mm3, mm0); a.phaddw(mm3, mm1); }, 0x0080_FF7F_0001_FFFF, 0x8000_0003_7FFF_0002);
        Assert.Equal(0x8003_7F02_7F80_01FFUL, h.Cpu.Mmx(2));
        // phaddw: dest pairs (0xFFFF+0x0001, 0xFF7F+0x0080), src pairs (0x0002+0x7FFF, 0x0003+0x8000)
        Assert.Equal(0x8003_8001_FFFF_0000UL, h.Cpu.Mmx(3));
    }

    [Fact]
    public void PshufbAndPalignr()
    {
        using var h = Run(a => { a.movq(mm2, mm0); a.pshufb(mm2, mm1); a.movq(mm3, mm0); a.palignr(mm3, mm1, 3); },
            0x8877665544332211, 0x0F80_0908_0700_0102);
        // pshufb indices (low byte first): 02 01 00 07 08→0 09→1 80→zero 0F→7
        Assert.Equal(0x8800_2211_8811_2233UL, h.Cpu.Mmx(2));
        // (dest:src) >> 24: src bytes 3..7 then dest bytes 0..2
        Assert.Equal(0x332211_0F80090807UL, h.Cpu.Mmx(3));
    }

    [Fact]
    public void MovesAndExtract()
    {
        using var h = Run(a =>
        {
            a.movd(eax, mm0);
            a.movq(rcx, mm1);
            a.movq(mm4, rdx);
            a.pextrw(esi, mm0, 6);
            a.pinsrw(mm5, edx, 1);
            a.pmovmskb(edi, mm0);
            a.movq2dq(xmm1, mm1);
            a.emms();
        }, 0x8000_7FFF_1234_5678, 0xAAAA_BBBB_CCCC_DDDD);
        var c = h.Cpu;
        Assert.Equal(0x12345678UL, c.R(Reg.Rax));
        Assert.Equal(0xAAAA_BBBB_CCCC_DDDDUL, c.R(Reg.Rcx));
        Assert.Equal(0x7FFFUL, c.R(Reg.Rsi));
        Assert.Equal(0b1001_0000UL, c.R(Reg.Rdi));
        Assert.Equal(new Xmm(0xAAAA_BBBB_CCCC_DDDD, 0).ToString(), c.X(1).ToString());
        Assert.Equal(0, c.FpuValid); // EMMS
        Assert.Equal(0, c.FpuTop);
    }

    [Fact]
    public void ShiftsByImmediateAndRegister()
    {
        using var h = Run(a => { a.movq(mm2, mm0); a.psraw(mm2, 4); a.movq(mm3, mm0); a.psllq(mm3, mm1); }, 0x8000_7FF0_0F00_F00F, 8);
        Assert.Equal(0xF800_07FF_00F0_FF00UL, h.Cpu.Mmx(2));
        Assert.Equal(0x007F_F00F_00F0_0F00UL, h.Cpu.Mmx(3));
    }

    [Fact]
    public void ConversionsWithMmx()
    {
        using var h = Run(a => { a.cvtpi2ps(xmm0, mm1); a.cvttps2pi(mm2, xmm1); }, 0, 0xFFFF_FFFD_0000_0007);
        Assert.Equal(0xC040_0000_40E0_0000UL, h.Cpu.X(0).Lo);
        h.Exec(c => c.X(1) = new Xmm(0xC0200000_3FC00000, 0)); // -2.5, 1.5
        Assert.Equal(0xFFFF_FFFE_0000_0001UL, h.Cpu.Mmx(2));
    }

    [Fact]
    public void MmxChecks()
    {
        using var h = new SseHarness(a => a.paddb(mm0, mm1));
        Assert.Equal("#NM", h.Exec(c => c.Cr0 |= Bits.Cr0Ts).ToString());
        Assert.Equal("#UD", h.Exec(c => { c.Cr0 &= ~Bits.Cr0Ts; c.Cr0 |= Bits.Cr0Em; }).ToString());
        // MMX needs no OSFXSR.
        Assert.Equal("int3", h.Exec(c => { c.Cr0 &= ~Bits.Cr0Em; c.Cr4 &= ~Bits.Cr4Osfxsr; }).ToString());
        Assert.Equal("#MF", h.Exec(c => c.FpuSw = HyperLock.Emulator.Processor.Cpu.FswEs | 1).ToString());
    }
}
