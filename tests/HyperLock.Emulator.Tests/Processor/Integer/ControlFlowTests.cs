using HyperLock.Emulator.Processor;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.Emulator.Tests.Processor.Integer;

public class IntegerControlFlowTests
{
    /// <summary>Condition codes 0-15 evaluated from first principles on CMP a, b at a width.</summary>
    private static bool Reference(int cc, ulong a, ulong b, int bits)
    {
        ulong m = bits == 64 ? ulong.MaxValue : (1UL << bits) - 1;
        ulong r = (a - b) & m;
        ulong sign = 1UL << (bits - 1);
        bool cf = a < b, zf = r == 0, sf = (r & sign) != 0, of = ((a ^ b) & (a ^ r) & sign) != 0;
        bool pf = (global::System.Numerics.BitOperations.PopCount(r & 0xFF) & 1) == 0;
        bool v = (cc >> 1) switch { 0 => of, 1 => cf, 2 => zf, 3 => cf || zf, 4 => sf, 5 => pf, 6 => sf != of, _ => zf || sf != of };
        return v ^ ((cc & 1) != 0);
    }

    public static TheoryData<ulong, ulong, int> ComparePairs => new()
    {
        { 1, 2, 32 }, { 2, 1, 32 }, { 5, 5, 64 }, { 0x80000000, 1, 32 }, { 1, 0x80000000, 32 }, { 0x7F, 0x80, 8 },
        { 0x80, 0x7F, 8 }, { 0x8000000000000000, 1, 64 }, { 0xFFFF, 0, 16 }, { 3, 0xFFFFFFFF, 32 },
    };

    [Theory]
    [MemberData(nameof(ComparePairs))]
    public void AllSixteenConditionsAfterCmpForJccSetccCmov(ulong x, ulong y, int bits)
    {
        // For each cc: SETcc into a byte of scratch, CMOVcc rbx←rcx counted, Jcc adds 1<<cc to rdx when taken.
        using var s = Snip.Run(a =>
        {
            a.mov(rdi, (long)Snip.Scratch);
            for (int cc = 0; cc < 16; cc++)
            {
                var skip = a.CreateLabel();
                switch (bits)
                {
                    case 8: a.cmp(al, sil); break;
                    case 16: a.cmp(ax, si); break;
                    case 32: a.cmp(eax, esi); break;
                    default: a.cmp(rax, rsi); break;
                }
                Setcc(a, cc, __byte_ptr[rdi + cc]);
                a.mov(ebx, 0);
                Cmov(a, cc);
                Jcc(a, cc, skip);
                a.or(rdx, 1 << cc);
                a.Label(ref skip);
                a.add(__qword_ptr[rdi + 0x100 + cc * 8], rbx);
            }
            a.int3();
        }, c => { c.R(Reg.Rax) = x; c.R(Reg.Rsi) = y; c.R(Reg.Rcx) = 1; c.R(Reg.Rdx) = 0; });
        s.AssertInt3();
        for (int cc = 0; cc < 16; cc++)
        {
            bool expect = Reference(cc, x & Mask(bits), y & Mask(bits), bits);
            Assert.True((expect ? 1UL : 0UL) == s.Mem(Snip.Scratch + (ulong)cc, 1), $"setcc {cc}");
            Assert.True((expect ? 1UL : 0UL) == s.Mem64(Snip.Scratch + 0x100 + (ulong)cc * 8), $"cmovcc {cc}");
            Assert.True(expect == (((s.R(Reg.Rdx) >> cc) & 1) == 0), $"jcc {cc}");
        }
    }

    /// <summary>The same conditions when the flags come from a logic op, an inc, or a shift (materialized).</summary>
    [Theory]
    [InlineData("and")]
    [InlineData("inc")]
    [InlineData("shl")]
    [InlineData("adc")]
    public void ConditionsFromOtherFlagProducers(string producer)
    {
        // Jcc and SETcc must agree with the flags as RFLAGS reports them.
        foreach (ulong v in new ulong[] { 0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x40000000 })
        {
            using var s = Snip.Run(a =>
            {
                a.stc();
                switch (producer)
                {
                    case "and": a.and(eax, eax); break;
                    case "inc": a.inc(eax); break;
                    case "shl": a.shl(eax, 1); break;
                    default: a.adc(eax, 0x7FFFFFFF); break;
                }
                a.mov(rdi, (long)Snip.Scratch);
                for (int cc = 0; cc < 16; cc++)
                {
                    var taken = a.CreateLabel(); var next = a.CreateLabel();
                    Jcc(a, cc, taken);
                    a.jmp(next);
                    a.Label(ref taken);
                    a.mov(__byte_ptr[rdi + 0x20 + cc], 1); // MOV keeps the flags
                    a.Label(ref next);
                    Setcc(a, cc, __byte_ptr[rdi + cc]);
                }
                a.int3();
            }, c => { c.R(Reg.Rax) = v; c.R(Reg.Rdx) = 0; });
            s.AssertInt3();
            ulong f = s.Flags;
            bool cf = (f & F.CF) != 0, zf = (f & F.ZF) != 0, sf = (f & F.SF) != 0, of = (f & F.OF) != 0, pf = (f & F.PF) != 0;
            for (int cc = 0; cc < 16; cc++)
            {
                bool e = ((cc >> 1) switch { 0 => of, 1 => cf, 2 => zf, 3 => cf || zf, 4 => sf, 5 => pf, 6 => sf != of, _ => zf || sf != of }) ^ ((cc & 1) != 0);
                Assert.True((e ? 1UL : 0) == s.Mem(Snip.Scratch + 0x20 + (ulong)cc, 1), $"{producer} {v:x} jcc {cc}");
                Assert.True((e ? 1UL : 0) == s.Mem(Snip.Scratch + (ulong)cc, 1), $"{producer} {v:x} setcc {cc}");
            }
        }
    }

    private static ulong Mask(int bits) => bits == 64 ? ulong.MaxValue : (1UL << bits) - 1;

    private static void Jcc(Assembler a, int cc, Label l)
    {
        switch (cc)
        {
            case 0: a.jo(l); break; case 1: a.jno(l); break; case 2: a.jb(l); break; case 3: a.jae(l); break;
            case 4: a.je(l); break; case 5: a.jne(l); break; case 6: a.jbe(l); break; case 7: a.ja(l); break;
            case 8: a.js(l); break; case 9: a.jns(l); break; case 10: a.jp(l); break; case 11: a.jnp(l); break;
            case 12: a.jl(l); break; case 13: a.jge(l); break; case 14: a.jle(l); break; default: a.jg(l); break;
        }
    }

    private static void Setcc(Assembler a, int cc, AssemblerMemoryOperand m)
    {
        switch (cc)
        {
            case 0: a.seto(m); break; case 1: a.setno(m); break; case 2: a.setb(m); break; case 3: a.setae(m); break;
            case 4: a.sete(m); break; case 5: a.setne(m); break; case 6: a.setbe(m); break; case 7: a.seta(m); break;
            case 8: a.sets(m); break; case 9: a.setns(m); break; case 10: a.setp(m); break; case 11: a.setnp(m); break;
            case 12: a.setl(m); break; case 13: a.setge(m); break; case 14: a.setle(m); break; default: a.setg(m); break;
        }
    }

    private static void Cmov(Assembler a, int cc)
    {
        switch (cc)
        {
            case 0: a.cmovo(rbx, rcx); break; case 1: a.cmovno(rbx, rcx); break; case 2: a.cmovb(rbx, rcx); break;
            case 3: a.cmovae(rbx, rcx); break; case 4: a.cmove(rbx, rcx); break; case 5: a.cmovne(rbx, rcx); break;
            case 6: a.cmovbe(rbx, rcx); break; case 7: a.cmova(rbx, rcx); break; case 8: a.cmovs(rbx, rcx); break;
            case 9: a.cmovns(rbx, rcx); break; case 10: a.cmovp(rbx, rcx); break; case 11: a.cmovnp(rbx, rcx); break;
            case 12: a.cmovl(rbx, rcx); break; case 13: a.cmovge(rbx, rcx); break; case 14: a.cmovle(rbx, rcx); break;
            default: a.cmovg(rbx, rcx); break;
        }
    }

    [Fact]
    public void Cmov32FalseConditionStillZeroExtendsAndMemorySourceFaults()
    {
        using var s = Snip.Run(a => { a.cmp(eax, eax); a.cmovne(ebx, ecx); a.int3(); }, c => { c.R(Reg.Rbx) = 0xFFFFFFFF12345678; c.R(Reg.Rcx) = 9; });
        Assert.Equal(0x12345678UL, s.R(Reg.Rbx));
        using var t = Snip.Run(a => { a.cmp(eax, eax); a.cmovne(rbx, __qword_ptr[0]); a.int3(); });
        Assert.Equal(Vector.PF, t.Stop.Vector);
    }

    [Fact]
    public void LoopFamilyAndJrcxz()
    {
        using var s = Snip.Run(a =>
        {
            var l1 = a.CreateLabel(); var l2 = a.CreateLabel(); var z = a.CreateLabel(); var done = a.CreateLabel();
            a.mov(ecx, 10);
            a.Label(ref l1);
            a.inc(rax);
            a.loop(l1);                       // 10 iterations
            a.mov(ecx, 10);
            a.Label(ref l2);
            a.inc(rbx);
            a.cmp(rbx, 13);
            a.loopne(l2);                      // stops when rbx == 13 (3 iterations)
            a.mov(rsi, rcx);
            a.xor(ecx, ecx);
            a.jrcxz(z);
            a.mov(rdi, 1);
            a.Label(ref z);
            a.mov(rcx, 0x100000000);
            a.db(0x67, 0xE3, 10);              // jecxz +10: ECX = 0 → taken
            a.mov(rdi, 2);                     // mov r64, imm64: 10 bytes
            a.Label(ref done);
            a.int3();
        }, c => c.R(Reg.Rbx) = 10);
        Assert.True(s.StopText == "int3", $"{s.StopText} rip={s.Rip:x} cr2={s.Cpu.Cr2:x} rcx={s.R(Reg.Rcx):x} rax={s.R(Reg.Rax)}");
        Assert.Equal(10UL, s.R(Reg.Rax));
        Assert.Equal(13UL, s.R(Reg.Rbx));
        Assert.Equal(7UL, s.R(Reg.Rsi));
        Assert.Equal(0UL, s.R(Reg.Rdi));
    }

    [Fact]
    public void LoopWithAddressSizePrefixUsesEcx()
    {
        // 67 E2 xx: loop with ECX; the upper half of RCX must not matter and is zeroed by the 32-bit write.
        using var s = Snip.Run(a =>
        {
            var top = a.CreateLabel();
            a.Label(ref top);
            a.inc(rax);
            a.db(0x67, 0xE2, unchecked((byte)-5)); // loopd top (inc rax is 3 bytes)
            a.int3();
        }, c => c.R(Reg.Rcx) = 0x0000000500000003);
        s.AssertInt3();
        Assert.Equal(3UL, s.R(Reg.Rax));
        Assert.Equal(0UL, s.R(Reg.Rcx));
    }

    [Fact]
    public void IndirectJumpsAndCallsThroughRegisterAndMemory()
    {
        using var s = Snip.Run(a =>
        {
            var f = a.CreateLabel(); var g = a.CreateLabel(); var end = a.CreateLabel();
            a.lea(rbx, __[f]);
            a.call(rbx);
            a.lea(rcx, __[g]);
            a.mov(__qword_ptr[(long)Snip.Scratch], rcx);
            a.call(__qword_ptr[(long)Snip.Scratch]);
            a.lea(rdx, __[end]);
            a.jmp(rdx);
            a.Label(ref f);
            a.add(rax, 1);
            a.ret();
            a.Label(ref g);
            a.add(rax, 10);
            a.ret(8);
            a.Label(ref end);
            a.int3();
        });
        s.AssertInt3();
        Assert.Equal(11UL, s.R(Reg.Rax));
        Assert.Equal(0x100FFFF8UL + 8, s.R(Reg.Rsp)); // ret 8 released 8 extra bytes
    }

    [Fact]
    public void CallPushesReturnAddressAndFaultingCallLeavesStateUnchanged()
    {
        using var s = Snip.Run(a =>
        {
            var f = a.CreateLabel();
            a.call(f);
            a.Label(ref f);
            a.pop(rax);
            a.int3();
        });
        Assert.Equal(0x400005UL, s.R(Reg.Rax));
        // Stack pointer in unmapped memory: the push faults, RSP and RIP stay.
        using var t = Snip.Run(a => { var f = a.CreateLabel(); a.call(f); a.Label(ref f); a.int3(); }, c => c.R(Reg.Rsp) = 0x2000);
        Assert.Equal(Vector.PF, t.Stop.Vector);
        Assert.Equal(0x2000UL, t.R(Reg.Rsp));
        Assert.Equal(0x400000UL, t.Rip);
    }

    [Fact]
    public void NonCanonicalIndirectTargetRaisesGpAtTheBranch()
    {
        using var s = Snip.Run(a => { a.mov(rax, unchecked((long)0x8000000000000000)); a.jmp(rax); a.int3(); });
        Assert.Equal("#GP(0)", s.StopText);
        Assert.Equal(0x40000AUL, s.Rip);
        using var t = Snip.Run(a => { a.mov(rax, unchecked((long)0x0000800000000000)); a.push(rax); a.ret(); });
        Assert.Equal("#GP(0)", t.StopText);
        Assert.Equal(0x100FFFF8UL - 8, t.R(Reg.Rsp)); // RET did not pop
    }

    [Fact]
    public void SixteenBitRetInCompatibilityModeTruncatesIp()
    {
        // 32-bit code: 66 C3 pops 2 bytes and truncates EIP to 16 bits → 0x1234, unmapped: #PF on the fetch there.
        using var s = Snip.Run(a => { a.push(0x00401234); a.db(0x66, 0xC3); }, bitness: 32);
        Assert.Equal(Vector.PF, s.Stop.Vector);
        Assert.Equal(0x1234UL, s.Cpu.Cr2);
        Assert.Equal(0x100FFFF8UL - 4 + 2, s.R(Reg.Rsp));
    }
}
