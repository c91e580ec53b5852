using HyperLock.Emulator.Processor;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.Emulator.Tests.Processor.Integer;

public class IntegerAluTests
{
    /// <summary>Reference flags of an 8..64-bit add/sub computed from first principles.</summary>
    private static ulong AddFlags(ulong a, ulong b, ulong cin, int bits, bool sub)
    {
        ulong m = bits == 64 ? ulong.MaxValue : (1UL << bits) - 1;
        UInt128 wide = sub ? (UInt128)a - b - cin : (UInt128)a + b + cin;
        ulong r = (ulong)wide & m;
        bool cf = sub ? (UInt128)a < (UInt128)b + cin : wide > m;
        ulong sign = 1UL << (bits - 1);
        bool of = sub ? ((a ^ b) & (a ^ r) & sign) != 0 : (~(a ^ b) & (a ^ r) & sign) != 0;
        ulong f = 0;
        if (cf) f |= F.CF;
        if (of) f |= F.OF;
        if (r == 0) f |= F.ZF;
        if ((r & sign) != 0) f |= F.SF;
        if ((((a ^ b ^ r) >> 4) & 1) != 0) f |= F.AF;
        if ((global::System.Numerics.BitOperations.PopCount(r & 0xFF) & 1) == 0) f |= F.PF;
        return f;
    }

    public static TheoryData<ulong, ulong> Pairs => new()
    {
        { 0, 0 }, { 1, 1 }, { 0x7F, 1 }, { 0x80, 0x80 }, { 0xFF, 1 }, { 0x7FFF, 1 }, { 0xFFFF, 0xFFFF },
        { 0x7FFFFFFF, 1 }, { 0xFFFFFFFF, 1 }, { 0x8000000000000000, 0x8000000000000000 }, { 0x7FFFFFFFFFFFFFFF, 1 },
        { 0x123456789ABCDEF0, 0x0FEDCBA987654321 }, { 5, 7 }, { 0x10, 0x0F },
    };

    [Theory]
    [MemberData(nameof(Pairs))]
    public void AddSubAdcSbbAtAllWidthsMatchReference(ulong x, ulong y)
    {
        foreach (int bits in new[] { 8, 16, 32, 64 })
        {
            ulong m = bits == 64 ? ulong.MaxValue : (1UL << bits) - 1;
            ulong a = x & m, b = y & m;
            foreach (var (op, sub, carry) in new[] { ("add", false, 0UL), ("sub", true, 0UL), ("adc", false, 1UL), ("sbb", true, 1UL) })
            {
                using var s = Snip.Run(asm =>
                {
                    if (carry != 0) asm.stc(); else asm.clc();
                    Emit(asm, op, bits);
                    asm.int3();
                }, c => { c.R(Reg.Rax) = 0xAAAAAAAAAAAAAAAA & ~m | a; c.R(Reg.Rbx) = b; });
                s.AssertInt3();
                ulong expect = sub ? a - b - carry : a + b + carry;
                ulong upper = bits == 32 ? 0 : bits == 64 ? 0 : 0xAAAAAAAAAAAAAAAA & ~m;
                Assert.Equal(upper | (expect & m), s.R(Reg.Rax));
                Assert.Equal(AddFlags(a, b, carry, bits, sub), s.Flags);
            }
        }
    }

    private static void Emit(Assembler a, string op, int bits)
    {
        switch (bits)
        {
            case 8: Do(op, a, al, bl); break;
            case 16: Do(op, a, ax, bx); break;
            case 32: Do(op, a, eax, ebx); break;
            default: Do(op, a, rax, rbx); break;
        }
        static void Do(string op, Assembler a, dynamic d, dynamic s)
        {
            switch (op)
            {
                case "add": a.add(d, s); break;
                case "sub": a.sub(d, s); break;
                case "adc": a.adc(d, s); break;
                default: a.sbb(d, s); break;
            }
        }
    }

    [Fact]
    public void CmpSetsFlagsWithoutWriting()
    {
        using var s = Snip.Run(a => { a.cmp(eax, ebx); a.int3(); }, c => { c.R(Reg.Rax) = 0xFFFFFFFF00000001; c.R(Reg.Rbx) = 2; });
        Assert.Equal(0xFFFFFFFF00000001UL, s.R(Reg.Rax));
        Assert.Equal(F.CF | F.SF | F.PF | F.AF, s.Flags); // 1 - 2 = 0xFFFFFFFF
    }

    [Fact]
    public void ThirtyTwoBitWritesZeroExtendEightAndSixteenMerge()
    {
        using var s = Snip.Run(a =>
        {
            a.add(eax, 1);
            a.add(bx, 1);
            a.add(cl, 1);
            a.add(dh, 1);
            a.xor(esi, esi);
            a.int3();
        }, c =>
        {
            c.R(Reg.Rax) = 0x1111111122222222; c.R(Reg.Rbx) = 0x111111112222FFFF;
            c.R(Reg.Rcx) = 0x11111111222222FF; c.R(Reg.Rdx) = 0x1111111122227F22; c.R(Reg.Rsi) = ulong.MaxValue;
        });
        Assert.Equal(0x22222223UL, s.R(Reg.Rax));
        Assert.Equal(0x1111111122220000UL, s.R(Reg.Rbx));
        Assert.Equal(0x1111111122222200UL, s.R(Reg.Rcx));
        Assert.Equal(0x1111111122228022UL, s.R(Reg.Rdx));
        Assert.Equal(0UL, s.R(Reg.Rsi));
        Assert.Equal(F.ZF | F.PF, s.Flags);
    }

    [Fact]
    public void HighByteRegistersAsSourceAndDestination()
    {
        using var s = Snip.Run(a => { a.mov(ah, bh); a.add(ch, ah); a.sub(al, ch); a.int3(); },
            c => { c.R(Reg.Rax) = 0x1020; c.R(Reg.Rbx) = 0x3000; c.R(Reg.Rcx) = 0x0500; });
        Assert.Equal(0x30UL, (s.R(Reg.Rax) >> 8) & 0xFF);
        Assert.Equal(0x35UL, (s.R(Reg.Rcx) >> 8) & 0xFF);
        Assert.Equal(unchecked(0x20UL - 0x35) & 0xFF, s.R(Reg.Rax) & 0xFF);
    }

    [Fact]
    public void LogicOpsClearCfOfAndSetSzp()
    {
        using var s = Snip.Run(a => { a.stc(); a.and(eax, ebx); a.int3(); }, c => { c.R(Reg.Rax) = 0x80000003; c.R(Reg.Rbx) = 0x80000001; });
        Assert.Equal(0x80000001UL, s.R(Reg.Rax));
        Assert.Equal(F.SF, s.Flags);
        using var t = Snip.Run(a => { a.or(rax, -1); a.xor(bl, 0xFF); a.test(cl, cl); a.int3(); }, c => { c.R(Reg.Rbx) = 0x0F; });
        Assert.Equal(ulong.MaxValue, t.R(Reg.Rax));
        Assert.Equal(0xF0UL, t.R(Reg.Rbx));
        Assert.Equal(F.ZF | F.PF, t.Flags);
    }

    [Fact]
    public void IncDecKeepCarryNegSetsCarryUnlessZeroNotKeepsFlags()
    {
        using var s = Snip.Run(a => { a.stc(); a.inc(eax); a.int3(); }, c => c.R(Reg.Rax) = 0xFFFFFFFF);
        Assert.Equal(0UL, s.R(Reg.Rax));
        Assert.Equal(F.CF | F.ZF | F.PF | F.AF, s.Flags);
        using var d = Snip.Run(a => { a.clc(); a.dec(byte_ptr(Snip.Scratch)); a.int3(); });
        Assert.Equal(0xFFUL, d.Mem(Snip.Scratch, 1));
        Assert.Equal(F.SF | F.PF | F.AF, d.Flags);
        using var n = Snip.Run(a => { a.neg(rax); a.neg(rbx); a.int3(); }, c => { c.R(Reg.Rax) = 5; c.R(Reg.Rbx) = 0; });
        Assert.Equal(unchecked((ulong)-5L), n.R(Reg.Rax));
        Assert.Equal(F.ZF | F.PF, n.Flags); // neg 0: CF = 0
        using var o = Snip.Run(a => { a.stc(); a.not(word_ptr(Snip.Scratch)); a.int3(); });
        Assert.Equal(0xFFFFUL, o.Mem(Snip.Scratch, 2));
        Assert.Equal(F.CF, o.Flags & F.CF);
    }

    private static AssemblerMemoryOperand byte_ptr(ulong a) => __byte_ptr[(long)a];
    private static AssemblerMemoryOperand word_ptr(ulong a) => __word_ptr[(long)a];

    [Fact]
    public void MemoryDestinationWithImmediateAndPageCrossingOperand()
    {
        ulong addr = Snip.Scratch + 0xFFE; // dword straddles two pages
        using var s = Snip.Run(a =>
        {
            a.mov(rbx, (long)addr);
            a.mov(__dword_ptr[rbx], 0x01020304);
            a.add(__dword_ptr[rbx], -4);
            a.sub(__dword_ptr[rbx], eax);
            a.int3();
        }, c => c.R(Reg.Rax) = 0x100);
        s.AssertInt3();
        Assert.Equal(0x01020304UL - 4 - 0x100, s.Mem(addr, 2) | (s.Mem(addr + 2, 2) << 16));
    }

    [Fact]
    public void FaultingMemoryDestinationLeavesFlagsAndRegistersUnchanged()
    {
        // The code page is read-only at CPL3: the add's store faults after its load succeeded.
        using var s = Snip.Run(a =>
        {
            a.stc();
            a.mov(rbx, 0x400000);
            a.add(__dword_ptr[rbx], 1);
            a.int3();
        });
        Assert.Equal(Vector.PF, s.Stop.Vector);
        Assert.Equal(F.CF, s.Flags & F.CF);
        Assert.Equal(0x400000UL + 1 + 10, s.Rip); // at the add
        using var x = Snip.Run(a =>
        {
            a.mov(rbx, 0x400000);
            a.xadd(__dword_ptr[rbx], ecx);
            a.int3();
        }, c => c.R(Reg.Rcx) = 77);
        Assert.Equal(Vector.PF, x.Stop.Vector);
        Assert.Equal(77UL, x.R(Reg.Rcx));
    }

    [Fact]
    public void NonCanonicalMemoryOperandRaisesGp()
    {
        using var s = Snip.Run(a => { a.mov(rbx, unchecked((long)0x8000000000000000)); a.add(__qword_ptr[rbx], 1); a.int3(); });
        Assert.Equal("#GP(0)", s.StopText);
    }
}
