using HyperLock.Emulator.Processor;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.Emulator.Tests.Processor.Integer;

public class IntegerBitOpsTests
{
    [Fact]
    public void BtRegisterFormsMaskOffsetAndChangeOnlyCf()
    {
        using var s = Snip.Run(a => { a.bt(eax, ecx); a.int3(); }, c => { c.R(Reg.Rax) = 2; c.R(Reg.Rcx) = 33; c.SetRflags(0x202 | 0x8D4); });
        Assert.Equal(0x8D5UL, s.Flags); // bit 33 & 31 = 1 is set; the other flags are kept (Intel)
        using var t = Snip.Run(a => { a.bts(rax, 63); a.btr(rbx, rcx); a.btc(dx, 15); a.int3(); },
            c => { c.R(Reg.Rbx) = 0xFF; c.R(Reg.Rcx) = 64 + 3; c.R(Reg.Rdx) = 0x18000; });
        Assert.Equal(0x8000000000000000UL, t.R(Reg.Rax));
        Assert.Equal(0xF7UL, t.R(Reg.Rbx));
        Assert.Equal(0x10000UL, t.R(Reg.Rdx));
        Assert.Equal(F.CF, t.Flags & F.CF);
    }

    [Fact]
    public void BtMemoryWithRegisterOffsetAddressesBeyondTheOperand()
    {
        // Offset 100 from a dword at Scratch+16: dword index 3 (Scratch+28), bit 4. Offset -1: Scratch+12 bit 31.
        using var s = Snip.Run(a =>
        {
            a.mov(rbx, (long)Snip.Scratch + 16);
            a.mov(ecx, 100);
            a.bts(__dword_ptr[rbx], ecx);
            a.setc(sil);
            a.mov(ecx, -1);
            a.btc(__dword_ptr[rbx], ecx);
            a.setc(dil);
            a.int3();
        }, c => c.Memory.Write(Snip.Scratch, 8, 0x8000000000000000));
        s.AssertInt3();
        Assert.Equal(0x10UL, s.Mem(Snip.Scratch + 28, 4));
        Assert.Equal(0UL, s.R(Reg.Rsi) & 0xFF);
        Assert.Equal(0x80000000UL, s.Mem(Snip.Scratch + 12, 4));
        Assert.Equal(0UL, s.R(Reg.Rdi) & 0xFF);
    }

    [Fact]
    public void BtMemoryOffsetOutsideMappedMemoryFaultsAtTheComputedAddress()
    {
        // Offset -129 from Scratch+16: qword index -3 → Scratch-8, which is unmapped.
        using var s = Snip.Run(a =>
        {
            a.mov(rbx, (long)Snip.Scratch + 16);
            a.mov(rcx, -129);
            a.bt(__qword_ptr[rbx], rcx);
            a.int3();
        });
        Assert.Equal(Vector.PF, s.Stop.Vector);
        Assert.Equal(Snip.Scratch - 8, s.Cpu.Cr2);
    }

    [Fact]
    public void BtMemoryNegativeOffsetReachesLowerQword()
    {
        using var s = Snip.Run(a =>
        {
            a.mov(rbx, (long)Snip.Scratch + 64);
            a.mov(rcx, -64 * 2 + 63); // qword index -2 → Scratch+48, bit 63
            a.bt(__qword_ptr[rbx], rcx);
            a.int3();
        }, c => c.Memory.Write(Snip.Scratch + 48, 8, 0x8000000000000000));
        Assert.Equal(F.CF, s.Flags & F.CF);
    }

    [Fact]
    public void BtImmediateMemoryFormStaysInOperand()
    {
        using var s = Snip.Run(a => { a.bts(__word_ptr[(long)Snip.Scratch], 17); a.int3(); });
        Assert.Equal(2UL, s.Mem(Snip.Scratch, 4)); // 17 & 15 = 1
    }

    [Fact]
    public void BsfBsrResultsAndZeroSource()
    {
        using var s = Snip.Run(a => { a.bsf(rax, rbx); a.bsr(ecx, edx); a.int3(); },
            c => { c.R(Reg.Rbx) = 0x100; c.R(Reg.Rdx) = 0x80000001; });
        Assert.Equal(8UL, s.R(Reg.Rax));
        Assert.Equal(31UL, s.R(Reg.Rcx));
        Assert.Equal(0UL, s.Flags); // PF of 31 (five bits) is odd
        using var z = Snip.Run(a => { a.bsf(eax, ebx); a.int3(); }, c => { c.R(Reg.Rax) = 0xFFFFFFFF00000055; c.R(Reg.Rbx) = 0; c.SetRflags(0x202 | 0x8D5); });
        Assert.Equal(0xFFFFFFFF00000055UL, z.R(Reg.Rax)); // destination (all 64 bits) unchanged on Intel
        Assert.Equal(F.ZF | F.PF, z.Flags);
    }

    [Fact]
    public void TzcntLzcntPopcnt()
    {
        using var s = Snip.Run(a => { a.tzcnt(eax, ebx); a.lzcnt(cx, dx); a.popcnt(rsi, rdi); a.int3(); },
            c => { c.R(Reg.Rbx) = 0; c.R(Reg.Rdx) = 0x00F0; c.R(Reg.Rdi) = 0xF0F0F0F0F0F0F0F0; c.R(Reg.Rcx) = 0xABCD0000; });
        Assert.Equal(32UL, s.R(Reg.Rax));
        Assert.Equal(0xABCD0008UL, s.R(Reg.Rcx));
        Assert.Equal(32UL, s.R(Reg.Rsi));
        Assert.Equal(0UL, s.Flags); // popcnt of non-zero: all clear
        using var t = Snip.Run(a => { a.lzcnt(rax, rbx); a.int3(); }, c => c.R(Reg.Rbx) = 0);
        Assert.Equal(64UL, t.R(Reg.Rax));
        Assert.Equal(F.CF, t.Flags);
        using var u = Snip.Run(a => { a.tzcnt(rax, rbx); a.int3(); }, c => c.R(Reg.Rbx) = 1);
        Assert.Equal(F.ZF, u.Flags);
    }

    [Fact]
    public void Bmi1()
    {
        using var s = Snip.Run(a =>
        {
            a.andn(rax, rbx, rcx);      // ~0xFF & 0xFFF0 = 0xFF00
            a.bextr(edx, ecx, esi);     // start 4, len 8 of 0xFFF0 → 0xFF
            a.blsi(rdi, rcx);           // lowest set bit of 0xFFF0 = 0x10
            a.blsmsk(r8, rcx);          // 0x1F
            a.blsr(r9d, ecx);           // 0xFFE0
            a.int3();
        }, c => { c.R(Reg.Rbx) = 0xFF; c.R(Reg.Rcx) = 0xFFF0; c.R(Reg.Rsi) = 0x0804; });
        Assert.Equal(0xFF00UL, s.R(Reg.Rax));
        Assert.Equal(0xFFUL, s.R(Reg.Rdx));
        Assert.Equal(0x10UL, s.R(Reg.Rdi));
        Assert.Equal(0x1FUL, s.R(8));
        Assert.Equal(0xFFE0UL, s.R(9));
        Assert.Equal(0UL, s.Flags); // blsr of non-zero: CF = 0, result non-zero
        using var z = Snip.Run(a => { a.blsi(rax, rbx); a.int3(); }, c => c.R(Reg.Rbx) = 0);
        Assert.Equal(F.ZF, z.Flags);
        using var m = Snip.Run(a => { a.blsmsk(rax, rbx); a.int3(); }, c => c.R(Reg.Rbx) = 0);
        Assert.Equal(ulong.MaxValue, m.R(Reg.Rax));
        Assert.Equal(F.CF | F.SF, m.Flags);
    }

    [Fact]
    public void Bmi2BzhiPdepPext()
    {
        using var s = Snip.Run(a =>
        {
            a.bzhi(rax, rbx, rcx);
            a.pdep(rdx, rsi, rdi);
            a.pext(r8, rsi, rdi);
            a.int3();
        }, c => { c.R(Reg.Rbx) = 0xFFFF; c.R(Reg.Rcx) = 8; c.R(Reg.Rsi) = 0b1011_0110; c.R(Reg.Rdi) = 0xF0F0; });
        Assert.Equal(0xFFUL, s.R(Reg.Rax));
        Assert.Equal(0xB060UL, s.R(Reg.Rdx));
        Assert.Equal(PdepRef(0b1011_0110, 0xF0F0), s.R(Reg.Rdx));
        Assert.Equal(PextRef(0b1011_0110, 0xF0F0), s.R(8));
        using var b = Snip.Run(a => { a.bzhi(eax, ebx, ecx); a.int3(); }, c => { c.R(Reg.Rbx) = 0x8000FF00; c.R(Reg.Rcx) = 0x120; });
        Assert.Equal(0x8000FF00UL, b.R(Reg.Rax));
        Assert.Equal(F.CF | F.SF, b.Flags);
    }

    private static ulong PdepRef(ulong src, ulong mask)
    {
        ulong r = 0; int k = 0;
        for (int bit = 0; bit < 64; bit++)
            if (((mask >> bit) & 1) != 0) { if (((src >> k) & 1) != 0) r |= 1UL << bit; k++; }
        return r;
    }

    private static ulong PextRef(ulong src, ulong mask)
    {
        ulong r = 0; int k = 0;
        for (int bit = 0; bit < 64; bit++)
            if (((mask >> bit) & 1) != 0) { if (((src >> bit) & 1) != 0) r |= 1UL << k; k++; }
        return r;
    }
}
