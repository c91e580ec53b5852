using HyperLock.Emulator.Processor;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.Emulator.Tests.Processor.Integer;

public class IntegerDataTransferTests
{
    [Fact]
    public void MovFormsIncludingMoffsAndImm64()
    {
        using var s = Snip.Run(a =>
        {
            a.mov(rax, 0x1122334455667788);
            a.mov(__qword_ptr[(long)Snip.Scratch], rax);   // moffs64 store (A3)
            a.mov(ebx, __dword_ptr[(long)Snip.Scratch + 4]); // load
            a.mov(__word_ptr[(long)Snip.Scratch + 8], 0x7FFF);
            a.mov(cl, __byte_ptr[(long)Snip.Scratch + 8]);
            a.mov(edx, -1);
            a.mov(dx, 5);
            a.int3();
        });
        s.AssertInt3();
        Assert.Equal(0x1122334455667788UL, s.Mem64(Snip.Scratch));
        Assert.Equal(0x11223344UL, s.R(Reg.Rbx));
        Assert.Equal(0xFFUL, s.R(Reg.Rcx) & 0xFF);
        Assert.Equal(0xFFFF0005UL, s.R(Reg.Rdx));
    }

    [Fact]
    public void MovzxMovsxMovsxd()
    {
        using var s = Snip.Run(a =>
        {
            a.movzx(eax, bl);
            a.movsx(rcx, bl);
            a.movsx(dx, bh);
            a.movsxd(rsi, ebx);
            a.movzx(rdi, __word_ptr[(long)Snip.Scratch]);
            a.int3();
        }, c => { c.R(Reg.Rax) = ulong.MaxValue; c.R(Reg.Rbx) = 0x80008081; c.R(Reg.Rdx) = 0x12345678; c.Memory.Write(Snip.Scratch, 2, 0xFFFE); });
        Assert.Equal(0x81UL, s.R(Reg.Rax));
        Assert.Equal(0xFFFFFFFFFFFFFF81UL, s.R(Reg.Rcx));
        Assert.Equal(0x1234FF80UL, s.R(Reg.Rdx));
        Assert.Equal(0xFFFFFFFF80008081UL, s.R(Reg.Rsi));
        Assert.Equal(0xFFFEUL, s.R(Reg.Rdi));
    }

    [Fact]
    public void XchgFormsAndXchgEaxEaxZeroExtends()
    {
        using var s = Snip.Run(a =>
        {
            a.xchg(rbx, rcx);
            a.xchg(__dword_ptr[(long)Snip.Scratch], edx);
            a.db(0x87, 0xC0); // xchg eax, eax (not the 90 NOP): clears the upper half
            a.xchg(ah, al);
            a.int3();
        }, c => { c.R(Reg.Rax) = 0xFFFFFFFF00001234; c.R(Reg.Rbx) = 1; c.R(Reg.Rcx) = 2; c.R(Reg.Rdx) = 0xAAAAAAAA00000003; c.Memory.Write(Snip.Scratch, 4, 9); });
        Assert.Equal(2UL, s.R(Reg.Rbx));
        Assert.Equal(1UL, s.R(Reg.Rcx));
        Assert.Equal(9UL, s.R(Reg.Rdx));
        Assert.Equal(3UL, s.Mem(Snip.Scratch, 4));
        Assert.Equal(0x3412UL, s.R(Reg.Rax));
    }

    [Fact]
    public void CmpxchgSuccessAndFailure()
    {
        using var s = Snip.Run(a => { a.@lock.cmpxchg(__qword_ptr[(long)Snip.Scratch], rcx); a.int3(); },
            c => { c.R(Reg.Rax) = 5; c.R(Reg.Rcx) = 7; c.Memory.Write(Snip.Scratch, 8, 5); });
        Assert.Equal(7UL, s.Mem64(Snip.Scratch));
        Assert.Equal(F.ZF, s.Flags & F.ZF);
        using var f = Snip.Run(a => { a.cmpxchg(edx, ecx); a.int3(); },
            c => { c.R(Reg.Rax) = 0x1111111122222222; c.R(Reg.Rdx) = 0xAAAAAAAA33333333; c.R(Reg.Rcx) = 5; });
        Assert.Equal(0x33333333UL, f.R(Reg.Rax));               // accumulator loaded, zero-extended
        Assert.Equal(0xAAAAAAAA33333333UL, f.R(Reg.Rdx));       // register destination untouched (Intel)
        Assert.Equal(0UL, f.Flags & F.ZF);
        using var o = Snip.Run(a => { a.cmpxchg(edx, ecx); a.int3(); },
            c => { c.R(Reg.Rax) = 0x1111111133333333; c.R(Reg.Rdx) = 0xAAAAAAAA33333333; c.R(Reg.Rcx) = 0xBBBBBBBB00000005; });
        Assert.Equal(0x1111111133333333UL, o.R(Reg.Rax));
        Assert.Equal(5UL, o.R(Reg.Rdx));
    }

    [Fact]
    public void Cmpxchg8bAnd16b()
    {
        using var s = Snip.Run(a => { a.cmpxchg8b(__qword_ptr[(long)Snip.Scratch]); a.setz(sil); a.cmpxchg8b(__qword_ptr[(long)Snip.Scratch]); a.int3(); },
            c =>
            {
                c.Memory.Write(Snip.Scratch, 8, 0x0000000200000001);
                c.R(Reg.Rdx) = 2; c.R(Reg.Rax) = 1; c.R(Reg.Rcx) = 0xCC; c.R(Reg.Rbx) = 0xBB;
            });
        Assert.Equal(1UL, s.R(Reg.Rsi) & 0xFF);
        Assert.Equal(0x000000CC000000BBUL, s.Mem64(Snip.Scratch));
        // the second compares 2:1 against CC:BB → fails and loads EDX:EAX
        Assert.Equal(0xBBUL, s.R(Reg.Rax));
        Assert.Equal(0xCCUL, s.R(Reg.Rdx));
        Assert.Equal(0UL, s.Flags & F.ZF);

        using var t = Snip.Run(a => { a.@lock.cmpxchg16b(__xmmword_ptr[(long)Snip.Scratch + 16]); a.int3(); }, c =>
        {
            c.Memory.Write(Snip.Scratch + 16, 8, 10); c.Memory.Write(Snip.Scratch + 24, 8, 20);
            c.R(Reg.Rax) = 10; c.R(Reg.Rdx) = 20; c.R(Reg.Rbx) = 30; c.R(Reg.Rcx) = 40;
        });
        t.AssertInt3();
        Assert.Equal(30UL, t.Mem64(Snip.Scratch + 16));
        Assert.Equal(40UL, t.Mem64(Snip.Scratch + 24));
        Assert.Equal(F.ZF, t.Flags & F.ZF);
    }

    [Fact]
    public void Cmpxchg16bMisalignedRaisesGp()
    {
        using var s = Snip.Run(a => { a.cmpxchg16b(__xmmword_ptr[(long)Snip.Scratch + 8]); a.int3(); }, c => c.R(Reg.Rax) = 77);
        Assert.Equal("#GP(0)", s.StopText);
        Assert.Equal(77UL, s.R(Reg.Rax));
    }

    [Fact]
    public void XaddSameRegisterAndMemory()
    {
        using var s = Snip.Run(a => { a.xadd(rax, rax); a.@lock.xadd(__dword_ptr[(long)Snip.Scratch], ecx); a.int3(); },
            c => { c.R(Reg.Rax) = 3; c.R(Reg.Rcx) = 0xFFFFFFFF; c.Memory.Write(Snip.Scratch, 4, 1); });
        Assert.Equal(6UL, s.R(Reg.Rax));
        Assert.Equal(1UL, s.R(Reg.Rcx));
        Assert.Equal(0UL, s.Mem(Snip.Scratch, 4));
        Assert.Equal(F.CF | F.ZF | F.PF | F.AF, s.Flags);
    }

    [Fact]
    public void BswapCbwFamilyLea()
    {
        using var s = Snip.Run(a =>
        {
            a.bswap(rax);
            a.bswap(ebx);
            a.db(0x66, 0x0F, 0xC9); // bswap cx: undefined, Intel clears the low word
            a.int3();
        }, c => { c.R(Reg.Rax) = 0x0102030405060708; c.R(Reg.Rbx) = 0xFFFFFFFF11223344; c.R(Reg.Rcx) = 0x1111111112345678; });
        Assert.Equal(0x0807060504030201UL, s.R(Reg.Rax));
        Assert.Equal(0x44332211UL, s.R(Reg.Rbx));
        Assert.Equal(0x1111111112340000UL, s.R(Reg.Rcx));

        using var t = Snip.Run(a => { a.cbw(); a.mov(rbx, rax); a.cwde(); a.mov(rcx, rax); a.cdqe(); a.cqo(); a.int3(); },
            c => c.R(Reg.Rax) = 0xAAAA_AAAA_AAAA_AA80);
        Assert.Equal(0xAAAAAAAAAAAAFF80UL, t.R(Reg.Rbx));
        Assert.Equal(0xFFFFFF80UL, t.R(Reg.Rcx));
        Assert.Equal(0xFFFFFFFFFFFFFF80UL, t.R(Reg.Rax));
        Assert.Equal(ulong.MaxValue, t.R(Reg.Rdx));

        using var u = Snip.Run(a => { a.cwd(); a.mov(rbx, rdx); a.cdq(); a.int3(); }, c => { c.R(Reg.Rax) = 0x7FFF8000; c.R(Reg.Rdx) = 0x5555555555555555; });
        Assert.Equal(0x555555555555FFFFUL, u.R(Reg.Rbx));
        Assert.Equal(0UL, u.R(Reg.Rdx));

        using var l = Snip.Run(a => { a.lea(eax, __[rbx + rcx * 8 + 16]); a.lea(si, __[rbx - 1]); a.int3(); },
            c => { c.R(Reg.Rbx) = 0x1_0000_0000; c.R(Reg.Rcx) = 2; c.R(Reg.Rsi) = 0xAAAA_0000; });
        Assert.Equal(32UL, l.R(Reg.Rax));
        Assert.Equal(0xAAAAFFFFUL, l.R(Reg.Rsi));
    }

    [Fact]
    public void XlatAndLahfSahf()
    {
        using var s = Snip.Run(a =>
        {
            a.xlatb();
            a.mov(r8, rax);
            a.stc();
            a.lahf();
            a.mov(r9, rax);
            a.mov(ah, 0xD5);
            a.sahf();
            a.int3();
        }, c => { c.R(Reg.Rbx) = Snip.Scratch; c.R(Reg.Rax) = 0x1103; c.Memory.Write(Snip.Scratch + 3, 1, 0x77); });
        Assert.Equal(0x1177UL, s.R(8));
        Assert.Equal(0x03UL, (s.R(9) >> 8) & 0xFF); // CF | bit 1
        Assert.Equal(0xD5UL, s.Flags);
    }

    [Fact]
    public void PushPopForms()
    {
        using var s = Snip.Run(a =>
        {
            a.push(rbx);
            a.push(__qword_ptr[(long)Snip.Scratch]);
            a.push(-2);                                 // push imm8 sign-extended to 64
            a.db(0x66, 0x6A, 0x7F);                       // push word 0x7F
            a.db(0x66, 0x58);                             // pop ax
            a.pop(rcx);
            a.pop(__qword_ptr[(long)Snip.Scratch + 8]);
            a.pop(rdx);
            a.int3();
        }, c => { c.R(Reg.Rbx) = 0xB0B; c.R(Reg.Rax) = 0xFFFF_0000; c.Memory.Write(Snip.Scratch, 8, 0xC0FFEE); });
        s.AssertInt3();
        Assert.Equal(0xFFFF007FUL, s.R(Reg.Rax));
        Assert.Equal(ulong.MaxValue - 1, s.R(Reg.Rcx));
        Assert.Equal(0xC0FFEEUL, s.Mem64(Snip.Scratch + 8));
        Assert.Equal(0xB0BUL, s.R(Reg.Rdx));
        Assert.Equal(0x100FFFF8UL, s.R(Reg.Rsp));
    }

    [Fact]
    public void PushRspPushesOldValuePopRspLoadsValueAndPopMemRspRelativeUsesIncrementedRsp()
    {
        using var s = Snip.Run(a =>
        {
            a.push(rsp);
            a.pop(rax);
            a.push(0x1234);
            a.push(0x5678);
            a.pop(__qword_ptr[rsp]); // writes 0x5678 over 0x1234 (address uses the incremented RSP)
            a.pop(rbx);
            a.push((int)Snip.Scratch + 0x800);
            a.pop(rsp);
            a.int3();
        });
        Assert.Equal(0x100FFFF8UL, s.R(Reg.Rax));
        Assert.Equal(0x5678UL, s.R(Reg.Rbx));
        Assert.Equal(Snip.Scratch + 0x800, s.R(Reg.Rsp));
    }

    [Fact]
    public void EnterLeaveWithNesting()
    {
        using var s = Snip.Run(a =>
        {
            a.enter(16, 0);
            a.mov(r8, rbp);
            a.mov(r9, rsp);
            a.leave();
            a.mov(r10, rsp);
            a.enter(8, 2);
            a.mov(r11, rbp);
            a.mov(r12, rsp);
            a.int3();
        }, c => { c.R(Reg.Rbp) = 0x100FFF00; c.Memory.Write(0x100FFF00 - 8, 8, 0xF00D); });
        ulong sp0 = 0x100FFFF8;
        Assert.Equal(sp0 - 8, s.R(8));
        Assert.Equal(sp0 - 8 - 16, s.R(9));
        Assert.Equal(sp0, s.R(10));
        Assert.Equal(0x100FFF00UL, s.Mem64(sp0 - 8));                     // saved RBP
        Assert.Equal(sp0 - 8, s.R(11));                                   // frame pointer
        Assert.Equal(0xF00DUL, s.Mem64(sp0 - 16));                         // one outer frame pointer copied from [rbp-8]
        Assert.Equal(sp0 - 8, s.Mem64(sp0 - 24));                          // then the new frame pointer
        Assert.Equal(sp0 - 24 - 8, s.R(12));
    }

    [Fact]
    public void MovbeRaisesUdWhenCpuidLacksIt()
    {
        using var s = Snip.Run(a => { a.movbe(eax, __dword_ptr[(long)Snip.Scratch]); a.int3(); });
        bool has = (s.Cpu.Cpuid.Get(1, 0).Ecx & (1u << 22)) != 0;
        Assert.Equal(has ? "int3" : "#UD", s.StopText);
        using var t = Snip.Run(a => { a.movbe(eax, __dword_ptr[(long)Snip.Scratch]); a.movbe(__word_ptr[(long)Snip.Scratch + 8], cx); a.int3(); }, c =>
        {
            var v = c.Cpuid.Get(1, 0);
            c.Cpuid.Set(1, 0, v with { Ecx = v.Ecx | (1u << 22) });
            c.Memory.Write(Snip.Scratch, 4, 0x11223344);
            c.R(Reg.Rcx) = 0xAABB;
        });
        t.AssertInt3();
        Assert.Equal(0x44332211UL, t.R(Reg.Rax));
        Assert.Equal(0xBBAAUL, t.Mem(Snip.Scratch + 8, 2));
    }
}
