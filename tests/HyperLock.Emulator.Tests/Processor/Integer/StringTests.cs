using HyperLock.Emulator.Processor;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.Emulator.Tests.Processor.Integer;

public class IntegerStringTests
{
    private static void Fill(HyperLock.Emulator.Processor.Cpu c, ulong at, int n, Func<int, byte> f)
    {
        for (int k = 0; k < n; k++) c.Memory.Write(at + (ulong)k, 1, f(k));
    }

    [Fact]
    public void RepMovsbCopiesAcrossPagesAndUpdatesRegisters()
    {
        const int n = 10000;
        using var s = Snip.Run(a => { a.rep.movsb(); a.int3(); }, c =>
        {
            Fill(c, Snip.Scratch + 3, n, k => (byte)(k * 7));
            c.R(Reg.Rsi) = Snip.Scratch + 3; c.R(Reg.Rdi) = Snip.Scratch + 0x20001; c.R(Reg.Rcx) = n;
        });
        s.AssertInt3();
        for (int k = 0; k < n; k += 97) Assert.Equal((ulong)(byte)(k * 7), s.Mem(Snip.Scratch + 0x20001 + (ulong)k, 1));
        Assert.Equal((ulong)unchecked((byte)((n - 1) * 7)), s.Mem(Snip.Scratch + 0x20001 + n - 1, 1));
        Assert.Equal(0UL, s.Mem(Snip.Scratch + 0x20001 + n, 1));
        Assert.Equal(0UL, s.R(Reg.Rcx));
        Assert.Equal(Snip.Scratch + 3 + n, s.R(Reg.Rsi));
        Assert.Equal(Snip.Scratch + 0x20001 + n, s.R(Reg.Rdi));
    }

    [Fact]
    public void RepMovsbOverlappingForwardReplicatesLikeHardware()
    {
        using var s = Snip.Run(a => { a.rep.movsb(); a.int3(); }, c =>
        {
            c.Memory.Write(Snip.Scratch, 2, 0xBBAA);
            c.R(Reg.Rsi) = Snip.Scratch; c.R(Reg.Rdi) = Snip.Scratch + 2; c.R(Reg.Rcx) = 100;
        });
        s.AssertInt3();
        for (ulong k = 0; k < 102; k++) Assert.Equal(k % 2 == 0 ? 0xAAUL : 0xBBUL, s.Mem(Snip.Scratch + k, 1));
    }

    [Fact]
    public void RepStosqAndStosbFill()
    {
        using var s = Snip.Run(a =>
        {
            a.mov(rdi, (long)Snip.Scratch + 8);
            a.mov(ecx, 1000);
            a.mov(rax, 0x0102030405060708);
            a.rep.stosq();
            a.mov(al, 0xEE);
            a.mov(ecx, 5);
            a.rep.stosb();
            a.int3();
        });
        s.AssertInt3();
        Assert.Equal(0UL, s.Mem64(Snip.Scratch));
        Assert.Equal(0x0102030405060708UL, s.Mem64(Snip.Scratch + 8));
        Assert.Equal(0x0102030405060708UL, s.Mem64(Snip.Scratch + 8 * 1000));
        Assert.Equal(0xEEEEEEEEEEUL, s.Mem64(Snip.Scratch + 8 * 1001));
        Assert.Equal(Snip.Scratch + 8 * 1001 + 5, s.R(Reg.Rdi));
    }

    [Fact]
    public void RepWithZeroCountDoesNothing()
    {
        using var s = Snip.Run(a => { a.rep.movsq(); a.repe.cmpsb(); a.int3(); },
            c => { c.R(Reg.Rsi) = 0x1234; c.R(Reg.Rdi) = 0x5678; c.R(Reg.Rcx) = 0; c.SetRflags(0x202 | F.CF); });
        s.AssertInt3();
        Assert.Equal(0x1234UL, s.R(Reg.Rsi));
        Assert.Equal(0x5678UL, s.R(Reg.Rdi));
        Assert.Equal(F.CF, s.Flags); // flags untouched
    }

    [Fact]
    public void DirectionFlagSetCopiesBackwards()
    {
        using var s = Snip.Run(a => { a.std(); a.rep.movsd(); a.cld(); a.int3(); }, c =>
        {
            for (ulong k = 0; k < 4; k++) c.Memory.Write(Snip.Scratch + 4 * k, 4, 0x100 + k);
            c.R(Reg.Rsi) = Snip.Scratch + 12; c.R(Reg.Rdi) = Snip.Scratch + 0x100 + 12; c.R(Reg.Rcx) = 4;
        });
        s.AssertInt3();
        for (ulong k = 0; k < 4; k++) Assert.Equal(0x100 + k, s.Mem(Snip.Scratch + 0x100 + 4 * k, 4));
        Assert.Equal(Snip.Scratch - 4, s.R(Reg.Rsi));
        Assert.Equal(Snip.Scratch + 0x100 - 4, s.R(Reg.Rdi));
    }

    [Fact]
    public void RepeCmpsbStopsAtFirstDifference()
    {
        using var s = Snip.Run(a => { a.repe.cmpsb(); a.int3(); }, c =>
        {
            Fill(c, Snip.Scratch, 20, k => (byte)k);
            Fill(c, Snip.Scratch + 0x100, 20, k => (byte)(k == 13 ? 99 : k));
            c.R(Reg.Rsi) = Snip.Scratch; c.R(Reg.Rdi) = Snip.Scratch + 0x100; c.R(Reg.Rcx) = 20;
        });
        s.AssertInt3();
        Assert.Equal(20UL - 14, s.R(Reg.Rcx));
        Assert.Equal(Snip.Scratch + 14, s.R(Reg.Rsi));
        Assert.Equal(F.CF | F.SF, s.Flags & (F.CF | F.SF | F.ZF | F.AF)); // 13 - 99 = 0xAA: borrow, negative, no AF
    }

    [Fact]
    public void RepneScasbFindsTerminator()
    {
        using var s = Snip.Run(a => { a.xor(eax, eax); a.mov(rcx, -1); a.repne.scasb(); a.not(rcx); a.dec(rcx); a.int3(); }, c =>
        {
            Fill(c, Snip.Scratch, 5000, k => (byte)(k < 4321 ? 'x' : 0));
            c.R(Reg.Rdi) = Snip.Scratch;
        });
        s.AssertInt3();
        Assert.Equal(4321UL, s.R(Reg.Rcx)); // strlen idiom
        Assert.Equal(Snip.Scratch + 4322, s.R(Reg.Rdi));
    }

    [Fact]
    public void LodsAndScasWithoutRep()
    {
        using var s = Snip.Run(a => { a.lodsw(); a.scasd(); a.int3(); }, c =>
        {
            c.Memory.Write(Snip.Scratch, 2, 0xBEEF);
            c.Memory.Write(Snip.Scratch + 0x10, 4, 0xBEEF);
            c.R(Reg.Rsi) = Snip.Scratch; c.R(Reg.Rdi) = Snip.Scratch + 0x10; c.R(Reg.Rax) = 0x1111111111110000;
        });
        Assert.Equal(0x111111111111BEEFUL, s.R(Reg.Rax));
        Assert.Equal(Snip.Scratch + 2, s.R(Reg.Rsi));
        Assert.Equal(Snip.Scratch + 0x14, s.R(Reg.Rdi));
        Assert.Equal(F.PF, s.Flags); // scasd: EAX 0x1111BEEF - 0x0000BEEF = 0x11110000
    }

    [Fact]
    public void RepMovsFaultMidwayLeavesProgressInRegisters()
    {
        // Copy 0x300 bytes ending 0x100 bytes past the end of the scratch area: the first 0x200 are done.
        ulong end = Snip.Scratch + (1 << 20);
        using var s = Snip.Run(a => { a.rep.movsb(); a.int3(); }, c =>
        {
            c.R(Reg.Rsi) = Snip.Scratch; c.R(Reg.Rdi) = end - 0x200; c.R(Reg.Rcx) = 0x300;
            Fill(c, Snip.Scratch, 0x300, k => (byte)(k + 1));
        });
        Assert.Equal(Vector.PF, s.Stop.Vector);
        Assert.Equal(end, s.Cpu.Cr2);
        Assert.Equal(0x100UL, s.R(Reg.Rcx));
        Assert.Equal(end, s.R(Reg.Rdi));
        Assert.Equal(Snip.Scratch + 0x200, s.R(Reg.Rsi));
        Assert.Equal(0x400000UL, s.Rip);
        Assert.Equal(0x200UL & 0xFF, s.Mem(end - 1, 1)); // byte k = 0x1FF holds 0x200 & 0xFF
    }

    [Fact]
    public void LongRepIsChunkedButCompletes()
    {
        using var s = Snip.Run(a => { a.mov(ecx, 20000); a.mov(rsi, (long)Snip.Scratch); a.mov(rdi, (long)Snip.Scratch + 0x40000); a.std(); a.cld(); a.rep.movsw(); a.int3(); });
        s.AssertInt3();
        Assert.Equal(0UL, s.R(Reg.Rcx));
        Assert.True(s.Cpu.Retired > 6, "the REP instruction retires once per chunk");
    }

    [Fact]
    public void AddressSizePrefixUsesEsiEdiEcx()
    {
        // 67 F3 A4: rep movsb with 32-bit addresses; RSI/RDI/RCX upper halves are ignored and zeroed.
        using var s = Snip.Run(a => { a.db(0x67, 0xF3, 0xA4); a.int3(); }, c =>
        {
            c.Memory.Write(Snip.Scratch, 4, 0x44332211);
            c.R(Reg.Rsi) = 0xFFFF000000000000 | Snip.Scratch; c.R(Reg.Rdi) = 0xFFFF000000000000 | (Snip.Scratch + 0x80);
            c.R(Reg.Rcx) = 0x1234567800000004;
        });
        s.AssertInt3();
        Assert.Equal(0x44332211UL, s.Mem(Snip.Scratch + 0x80, 4));
        Assert.Equal(Snip.Scratch + 4, s.R(Reg.Rsi));
        Assert.Equal(0UL, s.R(Reg.Rcx));
    }

    [Fact]
    public void SourceSegmentOverrideWithFsBase()
    {
        using var s = Snip.Run(a => { a.db(0x64, 0xAC); a.int3(); }, c => // fs lodsb
        {
            c.Segs[Seg.Fs].Base = Snip.Scratch;
            c.Memory.Write(Snip.Scratch + 5, 1, 0x5A);
            c.R(Reg.Rsi) = 5;
        });
        Assert.Equal(0x5AUL, s.R(Reg.Rax) & 0xFF);
        Assert.Equal(6UL, s.R(Reg.Rsi));
    }

    [Fact]
    public void RepStosbIntoTheRunningCodeIsSeen()
    {
        // rep stosb overwrites the imm32 of the following mov (self-modifying code through a string op).
        var code = SnippetRunner.Assemble(a =>
        {
            a.mov(rdi, 0x400000 + 10 + 2 + 5 + 2 + 1); // mov rdi,imm64 (10) + mov al (2) + mov ecx (5) + rep stosb (2), then B8's imm
            a.mov(al, 0x11);
            a.mov(ecx, 4);
            a.rep.stosb();
            a.mov(ebx, 0x22222222);
            a.int3();
        });
        using var env = new HyperLock.Emulator.Loaders.SnippetEnvironment(code, user: false, writableCode: true);
        var stop = env.Cpu.Run(100);
        Assert.Equal("int3", stop.ToString());
        Assert.Equal(0x11111111UL, env.Cpu.R(Reg.Rbx));
    }
}
