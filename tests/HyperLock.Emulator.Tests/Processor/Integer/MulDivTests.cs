using HyperLock.Emulator.Processor;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.Emulator.Tests.Processor.Integer;

public class IntegerMulDivTests
{
    [Fact]
    public void MulAllWidths()
    {
        using var s = Snip.Run(a => { a.mul(bl); a.int3(); }, c => { c.R(Reg.Rax) = 0xAB80; c.R(Reg.Rbx) = 2; });
        Assert.Equal(0x100UL, s.R(Reg.Rax)); // AX = 0x80 * 2
        Assert.Equal(F.CF | F.OF | F.PF, s.Flags); // Intel: SF/PF from AL, ZF = AF = 0
        using var w = Snip.Run(a => { a.mul(bx); a.int3(); }, c => { c.R(Reg.Rax) = 0xFFFF; c.R(Reg.Rbx) = 0xFFFF; c.R(Reg.Rdx) = 0x1111111111111111; });
        Assert.Equal(0x0001UL, s.R(Reg.Rax) & 0 | w.R(Reg.Rax) & 0xFFFF);
        Assert.Equal(0x111111111111FFFEUL, w.R(Reg.Rdx));
        using var d = Snip.Run(a => { a.mul(ebx); a.int3(); }, c => { c.R(Reg.Rax) = 0xFFFFFFFF00000003; c.R(Reg.Rbx) = 5; c.R(Reg.Rdx) = ulong.MaxValue; });
        Assert.Equal(15UL, d.R(Reg.Rax));
        Assert.Equal(0UL, d.R(Reg.Rdx));
        Assert.Equal(F.PF, d.Flags);
        using var q = Snip.Run(a => { a.mul(__qword_ptr[(long)Snip.Scratch]); a.int3(); },
            c => { c.R(Reg.Rax) = ulong.MaxValue; c.Memory.Write(Snip.Scratch, 8, ulong.MaxValue); });
        Assert.Equal(1UL, q.R(Reg.Rax));
        Assert.Equal(0xFFFFFFFFFFFFFFFEUL, q.R(Reg.Rdx));
        Assert.Equal(F.CF | F.OF, q.Flags & (F.CF | F.OF));
    }

    [Fact]
    public void ImulOneTwoThreeOperands()
    {
        using var s = Snip.Run(a => { a.imul(ecx); a.int3(); }, c => { c.R(Reg.Rax) = 0xFFFFFFFF; c.R(Reg.Rcx) = 5; });
        Assert.Equal(0xFFFFFFFBUL, s.R(Reg.Rax));
        Assert.Equal(0xFFFFFFFFUL, s.R(Reg.Rdx));
        Assert.Equal(F.SF, s.Flags); // fits: CF = OF = 0; SF from EAX; PF of 0xFB is odd
        using var t = Snip.Run(a => { a.imul(rax, rbx); a.imul(ecx, edx, -3); a.imul(si, __word_ptr[(long)Snip.Scratch], 300); a.int3(); },
            c => { c.R(Reg.Rax) = 0x4000000000000000; c.R(Reg.Rbx) = 2; c.R(Reg.Rdx) = 7; c.R(Reg.Rsi) = 0xAAAA0000; c.Memory.Write(Snip.Scratch, 2, 300); });
        Assert.Equal(0x8000000000000000UL, t.R(Reg.Rax));
        Assert.Equal(unchecked((uint)-21), t.R(Reg.Rcx));
        Assert.Equal(0xAAAA0000UL | (90000 & 0xFFFF), t.R(Reg.Rsi));
        Assert.Equal(F.CF | F.OF, t.Flags & (F.CF | F.OF)); // 90000 does not fit 16 bits
        using var u = Snip.Run(a => { a.imul(al); a.int3(); }, c => c.R(Reg.Rax) = 0x80);
        Assert.Equal(0x4000UL, u.R(Reg.Rax)); // -128 * -128
    }

    [Fact]
    public void DivAndIdivResults()
    {
        using var s = Snip.Run(a => { a.div(cl); a.int3(); }, c => { c.R(Reg.Rax) = 0x1234; c.R(Reg.Rcx) = 0x56; });
        Assert.Equal((ulong)((0x1234 % 0x56) << 8 | (0x1234 / 0x56)), s.R(Reg.Rax));
        using var t = Snip.Run(a => { a.div(rcx); a.int3(); }, c => { c.R(Reg.Rdx) = 1; c.R(Reg.Rax) = 0; c.R(Reg.Rcx) = 3; });
        UInt128 n = (UInt128)1 << 64;
        Assert.Equal((ulong)(n / 3), t.R(Reg.Rax));
        Assert.Equal((ulong)(n % 3), t.R(Reg.Rdx));
        using var u = Snip.Run(a => { a.cqo(); a.idiv(rcx); a.int3(); }, c => { c.R(Reg.Rax) = unchecked((ulong)-7L); c.R(Reg.Rcx) = 2; });
        Assert.Equal(unchecked((ulong)-3L), u.R(Reg.Rax));
        Assert.Equal(unchecked((ulong)-1L), u.R(Reg.Rdx));
        using var v = Snip.Run(a => { a.idiv(bx); a.int3(); }, c => { c.R(Reg.Rdx) = 0xFFFF; c.R(Reg.Rax) = 0xFFF9; c.R(Reg.Rbx) = 0xFFFE; });
        Assert.Equal(3UL, v.R(Reg.Rax) & 0xFFFF); // -7 / -2 = 3 rem -1
        Assert.Equal(0xFFFFUL, v.R(Reg.Rdx) & 0xFFFF);
    }

    [Fact]
    public void DivLeavesFlagsUnchanged()
    {
        using var s = Snip.Run(a => { a.div(ecx); a.int3(); }, c => { c.R(Reg.Rax) = 100; c.R(Reg.Rcx) = 7; c.SetRflags(0x202 | 0x8D5); });
        Assert.Equal(0x8D5UL, s.Flags);
    }

    [Theory]
    [InlineData("div0")]
    [InlineData("divOverflow8")]
    [InlineData("divOverflow64")]
    [InlineData("idivMin8")]
    [InlineData("idivMin32")]
    [InlineData("idivMin64")]
    [InlineData("idivOverflowPositive")]
    public void DivideErrorsRaiseDeAndChangeNothing(string kind)
    {
        using var s = Snip.Run(a =>
        {
            switch (kind)
            {
                case "div0": a.div(ecx); break;
                case "divOverflow8": a.div(cl); break;
                case "divOverflow64": a.div(rcx); break;
                case "idivMin8": a.idiv(cl); break;
                case "idivMin32": a.idiv(ecx); break;
                case "idivMin64": a.idiv(rcx); break;
                default: a.idiv(ecx); break;
            }
            a.int3();
        }, c =>
        {
            switch (kind)
            {
                case "div0": c.R(Reg.Rax) = 5; c.R(Reg.Rcx) = 0; break;
                case "divOverflow8": c.R(Reg.Rax) = 0x200; c.R(Reg.Rcx) = 2; break;
                case "divOverflow64": c.R(Reg.Rdx) = 5; c.R(Reg.Rax) = 0; c.R(Reg.Rcx) = 5; break;
                case "idivMin8": c.R(Reg.Rax) = 0xFF80; c.R(Reg.Rcx) = 0xFF; break;      // -128 / -1 = 128
                case "idivMin32": c.R(Reg.Rdx) = 0xFFFFFFFF; c.R(Reg.Rax) = 0x80000000; c.R(Reg.Rcx) = 0xFFFFFFFF; break;
                case "idivMin64": c.R(Reg.Rdx) = ulong.MaxValue; c.R(Reg.Rax) = 0x8000000000000000; c.R(Reg.Rcx) = ulong.MaxValue; break;
                default: c.R(Reg.Rdx) = 0; c.R(Reg.Rax) = 0x80000000; c.R(Reg.Rcx) = 1; break; // +2^31 does not fit
            }
            c.R(Reg.Rbx) = 0xB0B;
        });
        Assert.Equal("#DE", s.StopText);
        Assert.Equal(0x400000UL, s.Rip);
        Assert.Equal(0xB0BUL, s.R(Reg.Rbx));
        Assert.Equal(0UL, s.Cpu.Retired);
    }

    [Fact]
    public void MulxWritesBothHalvesWithoutFlags()
    {
        using var s = Snip.Run(a => { a.clc(); a.mulx(rax, rbx, rcx); a.mulx(esi, edi, ecx); a.int3(); },
            c => { c.R(Reg.Rdx) = 0xFFFFFFFFFFFFFFFF; c.R(Reg.Rcx) = 0x10; });
        Assert.Equal(0xFUL, s.R(Reg.Rax));
        Assert.Equal(0xFFFFFFFFFFFFFFF0UL, s.R(Reg.Rbx));
        Assert.Equal(0xFUL, s.R(Reg.Rsi));
        Assert.Equal(0xFFFFFFF0UL, s.R(Reg.Rdi));
        Assert.Equal(0UL, s.Flags & F.CF);
    }
}
