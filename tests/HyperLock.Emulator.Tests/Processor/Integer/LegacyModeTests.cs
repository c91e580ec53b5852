using HyperLock.Emulator.Processor;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.Emulator.Tests.Processor.Integer;

/// <summary>The same handlers in 32-bit code (compatibility mode): operand/stack sizes, 16-bit forms, INTO.</summary>
public class IntegerLegacyModeTests
{
    [Fact]
    public void CallRetPushPopAreFourBytes()
    {
        using var s = Snip.Run(a =>
        {
            var f = a.CreateLabel(); var end = a.CreateLabel();
            a.call(f);
            a.jmp(end);
            a.Label(ref f);
            a.push(0x11223344);
            a.pop(eax);
            a.mov(ebx, esp);
            a.ret();
            a.Label(ref end);
            a.int3();
        }, bitness: 32);
        s.AssertInt3();
        Assert.Equal(0x11223344UL, s.R(Reg.Rax));
        Assert.Equal(0x100FFFF8UL - 4, s.R(Reg.Rbx));
        Assert.Equal(0x100FFFF8UL, s.R(Reg.Rsp));
    }

    [Fact]
    public void PushaPopaRoundTripAndSixteenBitPush()
    {
        using var s = Snip.Run(a =>
        {
            a.pushad();
            a.xor(eax, eax); a.xor(ecx, ecx); a.xor(ebp, ebp); a.xor(edi, edi);
            a.popad();
            a.push(si);          // 16-bit push: 2 bytes
            a.pop(dx);
            a.int3();
        }, c => { c.R(Reg.Rax) = 1; c.R(Reg.Rcx) = 2; c.R(Reg.Rbp) = 3; c.R(Reg.Rdi) = 4; c.R(Reg.Rsi) = 0xABCD; c.R(Reg.Rdx) = 0x55550000; }, bitness: 32);
        s.AssertInt3();
        Assert.Equal(1UL, s.R(Reg.Rax));
        Assert.Equal(2UL, s.R(Reg.Rcx));
        Assert.Equal(3UL, s.R(Reg.Rbp));
        Assert.Equal(4UL, s.R(Reg.Rdi));
        Assert.Equal(0x5555ABCDUL, s.R(Reg.Rdx));
        Assert.Equal(0x100FFFF8UL, s.R(Reg.Rsp));
    }

    [Fact]
    public void IntoTrapsOnlyWhenOverflow()
    {
        using var s = Snip.Run(a => { a.into(); a.mov(eax, 0x7FFFFFFF); a.inc(eax); a.into(); a.int3(); }, bitness: 32);
        Assert.Equal(Vector.OF, s.Stop.Vector);
        Assert.Equal(0x400000UL + 1 + 5 + 1 + 1, s.Rip); // trap: RIP after the INTO
    }

    [Fact]
    public void IncDecShortFormsAndLoopWithEcx()
    {
        using var s = Snip.Run(a =>
        {
            var top = a.CreateLabel();
            a.mov(ecx, 5);
            a.Label(ref top);
            a.inc(eax);             // 40: inc eax (one byte in 32-bit code)
            a.dec(ebx);
            a.loop(top);
            a.int3();
        }, bitness: 32);
        s.AssertInt3();
        Assert.Equal(5UL, s.R(Reg.Rax));
        Assert.Equal(0xFFFFFFFBUL, s.R(Reg.Rbx) & 0xFFFFFFFF);
    }

    [Fact]
    public void SixteenBitAddressingForStringAndLea()
    {
        // 67 8D 40 10: lea eax, [bx+si+0x10] in 32-bit code.
        using var s = Snip.Run(a => { a.db(0x67, 0x8D, 0x40, 0x10); a.int3(); },
            c => { c.R(Reg.Rbx) = 0x1FFF0; c.R(Reg.Rsi) = 0x20; }, bitness: 32);
        Assert.Equal((0xFFF0UL + 0x20 + 0x10) & 0xFFFF, s.R(Reg.Rax));
    }

    [Fact]
    public void BcdAdjustments()
    {
        using var s = Snip.Run(a =>
        {
            a.mov(al, 0x79);
            a.add(al, 0x35);
            a.daa();                 // 79 + 35 = 114 (BCD): AL = 0x14, CF = 1
            a.mov(bl, al);
            a.mov(ax, 0x0006);
            a.add(al, 9);
            a.aaa();                 // 6 + 9 = 15 unpacked: AX = 0x0105
            a.mov(cx, ax);
            a.mov(al, 53);
            a.aam(10);               // AH = 5, AL = 3
            a.mov(dx, ax);
            a.aad(10);               // back to 53
            a.int3();
        }, bitness: 32);
        s.AssertInt3();
        Assert.Equal(0x14UL, s.R(Reg.Rbx) & 0xFF);
        Assert.Equal(0x0105UL, s.R(Reg.Rcx) & 0xFFFF);
        Assert.Equal(0x0503UL, s.R(Reg.Rdx) & 0xFFFF);
        Assert.Equal(53UL, s.R(Reg.Rax) & 0xFFFF);
        using var z = Snip.Run(a => { a.db(0xD4, 0x00); a.int3(); }, bitness: 32); // aam 0
        Assert.Equal("#DE", z.StopText);
    }

    [Fact]
    public void BoundRaisesBrOutsideRange()
    {
        using var s = Snip.Run(a => { a.bound(eax, __qword_ptr[(int)Snip.Scratch]); a.int3(); },
            c => { c.Memory.Write(Snip.Scratch, 4, unchecked((uint)-5)); c.Memory.Write(Snip.Scratch + 4, 4, 10); c.R(Reg.Rax) = 10; }, bitness: 32);
        s.AssertInt3();
        using var t = Snip.Run(a => { a.bound(eax, __qword_ptr[(int)Snip.Scratch]); a.int3(); },
            c => { c.Memory.Write(Snip.Scratch, 4, unchecked((uint)-5)); c.Memory.Write(Snip.Scratch + 4, 4, 10); c.R(Reg.Rax) = unchecked((uint)-6); }, bitness: 32);
        Assert.Equal(Vector.BR, t.Stop.Vector);
    }

    [Fact]
    public void IndirectCallJccEnterLeaveIn32BitCode()
    {
        using var s = Snip.Run(a =>
        {
            var f = a.CreateLabel(); var skip = a.CreateLabel(); var start = a.CreateLabel();
            a.db(0xEB, 10);            // jmp short over the 10-byte function at 0x400002
            a.Label(ref f);
            a.enter(8, 0);             // 4 bytes
            a.mov(ecx, esp);           // 2
            a.mov(edx, ebp);           // 2
            a.leave();                 // 1
            a.ret();                   // 1
            a.Label(ref start);
            a.mov(ebx, 0);
            a.mov(eax, 0x400002);
            a.mov(__dword_ptr[(int)Snip.Scratch], eax);
            a.call(__dword_ptr[(int)Snip.Scratch]);
            a.cmp(ecx, 5);
            a.jl(skip);
            a.mov(ebx, 1);
            a.Label(ref skip);
            a.int3();
        }, c => c.R(Reg.Rbp) = 0x1234, bitness: 32);
        s.AssertInt3();
        ulong sp = 0x100FFFF8 - 4; // after the call pushed its 4-byte return address
        Assert.Equal(sp - 4, s.R(Reg.Rdx));        // EBP = frame after pushing EBP (4 bytes)
        Assert.Equal(sp - 4 - 8, s.R(Reg.Rcx));
        Assert.Equal(0x1234UL, s.R(Reg.Rbp));
        Assert.Equal(0x100FFFF8UL, s.R(Reg.Rsp));
        Assert.Equal(1UL, s.R(Reg.Rbx));          // ECX (an address near 0x100FFFE8) is not < 5
    }

    [Fact]
    public void StringOpsWithSixteenBitElementsIn32BitCode()
    {
        using var s = Snip.Run(a => { a.cld(); a.rep.movsw(); a.int3(); }, c =>
        {
            c.Memory.Write(Snip.Scratch, 8, 0x4444333322221111);
            c.R(Reg.Rsi) = Snip.Scratch; c.R(Reg.Rdi) = Snip.Scratch + 0x100; c.R(Reg.Rcx) = 3;
        }, bitness: 32);
        s.AssertInt3();
        Assert.Equal(0x0000333322221111UL, s.Mem64(Snip.Scratch + 0x100));
        Assert.Equal(Snip.Scratch + 6, s.R(Reg.Rsi));
    }
}
