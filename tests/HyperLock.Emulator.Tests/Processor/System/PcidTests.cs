using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using static HyperLock.Emulator.Tests.Processor.SystemInstructions.AddressSpaces;
using static HyperLock.Emulator.Tests.Processor.SystemInstructions.BareMetal;

namespace HyperLock.Emulator.Tests.Processor.SystemInstructions;

/// <summary>
/// PCIDs, INVPCID, INVLPG and TLB flushes (SDM Vol. 3 §4.10): what each invalidation must drop,
/// what it may keep, and the #GP conditions of CR4.PCIDE, MOV to CR3 and INVPCID. Where a test
/// shows a stale value, it is one the SDM lets the processor keep (a no-flush CR3 load, a global
/// page across non-global flushes) and that this TLB does keep, which is the point of PCIDs.
/// </summary>
public class PcidTests
{
    private const ulong NoFlush = 1UL << 63;
    private const ulong Descriptor = Results + 0x100;

    private static StopReason RunProgram(BareMetal m, Action<Assembler> body, bool intercept = false)
    {
        m.Cpu.InterceptExceptions = intercept;
        m.Asm(KernelCode, 64, a =>
        {
            body(a);
            a.hlt();
        });
        m.Cpu.Rip = KernelCode;
        return m.Run();
    }

    private static void Store(Assembler a, int slot, ulong lin)
    {
        a.mov(rax, lin);
        a.mov(rax, __qword_ptr[rax]);
        a.mov(__qword_ptr[Results + (ulong)slot * 8], rax);
    }

    private static void LoadCr3(Assembler a, ulong value)
    {
        a.mov(rax, value);
        a.mov(cr3, rax);
    }

    private static void Invpcid(Assembler a, ulong type, ulong pcid, ulong address, int slot = 0)
    {
        ulong d = Descriptor + (ulong)slot * 16;
        a.mov(rax, pcid);
        a.mov(__qword_ptr[d], rax);
        a.mov(rax, address);
        a.mov(__qword_ptr[d + 8], rax);
        a.mov(rcx, type);
        a.mov(rdx, d);
        a.invpcid(rcx, __[rdx]);
    }

    private static void AssertGp(StopReason stop)
    {
        Assert.Equal(StopKind.Exception, stop.Kind);
        Assert.Equal(Vector.GP, stop.Vector);
    }

    // ---- CPUID and CR4.PCIDE ------------------------------------------------------------

    [Fact]
    public void CpuidAdvertisesPcidAndInvpcid()
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        RunProgram(m, a =>
        {
            a.mov(eax, 1); a.xor(ecx, ecx); a.cpuid(); a.mov(__qword_ptr[Results], rcx);
            a.mov(eax, 7); a.xor(ecx, ecx); a.cpuid(); a.mov(__qword_ptr[Results + 8], rbx);
        });
        Assert.NotEqual(0UL, m.Result(0) & (1UL << 17)); // CPUID.1:ECX.PCID
        Assert.NotEqual(0UL, m.Result(1) & (1UL << 10)); // CPUID.(7,0):EBX.INVPCID
    }

    [Fact]
    public void SettingPcideWithANonzeroPcidInCr3RaisesGp()
    {
        using var m = new BareMetal();
        _ = new AddressSpaces(m);
        var stop = RunProgram(m, a =>
        {
            LoadCr3(a, SpaceA | 5);
            a.mov(rax, cr4); a.or(rax, (int)Bits.Cr4Pcide); a.mov(cr4, rax);
        }, intercept: true);
        AssertGp(stop);
        Assert.Equal(0UL, m.Cpu.Cr4 & Bits.Cr4Pcide);
    }

    [Fact]
    public void SettingPcideOutsideIa32eModeRaisesGp()
    {
        using var m = new BareMetal();
        m.EnterProtectedMode32();
        m.Cpu.InterceptExceptions = true;
        m.Asm(KernelCode, 32, a =>
        {
            a.mov(eax, cr4); a.or(eax, (int)Bits.Cr4Pcide); a.mov(cr4, eax);
            a.hlt();
        });
        AssertGp(m.Run());
    }

    [Fact]
    public void Cr3Bit63IsReservedWithoutPcide()
    {
        using var m = new BareMetal();
        _ = new AddressSpaces(m);
        AssertGp(RunProgram(m, a => LoadCr3(a, SpaceB | NoFlush), intercept: true));
        Assert.Equal(SpaceA, m.Cpu.Cr3);
    }

    [Fact]
    public void ClearingPcideDropsEveryTranslationIncludingGlobals()
    {
        using var m = new BareMetal();
        var s = new AddressSpaces(m);
        s.EnablePcid(pge: true);
        RunProgram(m, a =>
        {
            Store(a, 0, Small(GlobalPage));
            Store(a, 1, Small(0));
            a.mov(rax, Pte(SpaceA, GlobalPage)); a.mov(rbx, (PoolA + 0xE000) | PteP | PteRw | PteG); a.mov(__qword_ptr[rax], rbx);
            a.mov(rax, Pte(SpaceA, 0)); a.mov(rbx, (PoolA + 0xD000) | PteP | PteRw); a.mov(__qword_ptr[rax], rbx);
            a.mov(rax, cr4); a.and(rax, ~(int)Bits.Cr4Pcide); a.mov(cr4, rax);
            Store(a, 2, Small(GlobalPage));
            Store(a, 3, Small(0));
        });
        Assert.Equal(PoolA + 0xF000, m.Result(0));
        Assert.Equal(PoolA, m.Result(1));
        Assert.Equal(PoolA + 0xE000, m.Result(2));
        Assert.Equal(PoolA + 0xD000, m.Result(3));
    }

    // ---- MOV to CR3 with PCIDs ------------------------------------------------------------

    [Fact]
    public void NoFlushCr3LoadKeepsThePcidsTranslationsAndBit63IsNotStored()
    {
        using var m = new BareMetal();
        var s = new AddressSpaces(m);
        s.EnablePcid();
        RunProgram(m, a =>
        {
            LoadCr3(a, SpaceA | 1);
            Store(a, 0, Small(0));
            a.mov(rax, Pte(SpaceA, 0)); a.mov(rbx, (PoolA + 0x5000) | PteP | PteRw); a.mov(__qword_ptr[rax], rbx);
            LoadCr3(a, SpaceA | 1 | NoFlush);
            Store(a, 1, Small(0));
            a.mov(rax, cr3); a.mov(__qword_ptr[Results + 16], rax);
            LoadCr3(a, SpaceA | 1);
            Store(a, 3, Small(0));
        });
        Assert.Equal(PoolA, m.Result(0));
        Assert.Equal(PoolA, m.Result(1)); // kept: no-flush load (stale values are the software's concern)
        Assert.Equal(SpaceA | 1, m.Result(2));
        Assert.Equal(PoolA + 0x5000, m.Result(3)); // a flushing load of the same PCID drops it
    }

    [Fact]
    public void EachPcidKeepsItsOwnTranslations()
    {
        using var m = new BareMetal();
        var s = new AddressSpaces(m);
        s.EnablePcid();
        RunProgram(m, a =>
        {
            LoadCr3(a, SpaceA | 1);
            Store(a, 0, Small(3));
            LoadCr3(a, SpaceB | 2 | NoFlush);
            Store(a, 1, Small(3));
            LoadCr3(a, SpaceA | 1 | NoFlush);
            Store(a, 2, Small(3));
            LoadCr3(a, SpaceB | 2 | NoFlush);
            Store(a, 3, Small(3));
        });
        Assert.Equal(PoolA + 0x3000, m.Result(0));
        Assert.Equal(PoolB + 0x3000, m.Result(1));
        Assert.Equal(PoolA + 0x3000, m.Result(2));
        Assert.Equal(PoolB + 0x3000, m.Result(3));
    }

    [Fact]
    public void SwitchingBackToAPcidWithNoFlushWalksNothing()
    {
        using var m = new BareMetal();
        var s = new AddressSpaces(m);
        s.EnablePcid();
        var c = m.Cpu;
        Assert.True(c.WriteCr3(SpaceA | 1));
        for (int k = 0; k < 4; k++) c.ReadMem64(Small(k));
        Assert.True(c.WriteCr3(SpaceB | 2 | NoFlush));
        for (int k = 0; k < 4; k++) c.ReadMem64(Small(k));
        ulong misses = c.TlbMisses;
        for (int round = 0; round < 3; round++)
        {
            Assert.True(c.WriteCr3(SpaceA | 1 | NoFlush));
            for (int k = 0; k < 4; k++) Assert.Equal(PoolA + (ulong)k * 0x1000, c.ReadMem64(Small(k)));
            Assert.True(c.WriteCr3(SpaceB | 2 | NoFlush));
            for (int k = 0; k < 4; k++) Assert.Equal(PoolB + (ulong)k * 0x1000, c.ReadMem64(Small(k)));
        }
        Assert.Equal(misses, c.TlbMisses);
        Assert.False(c.Faulted);
    }

    // ---- flushes are O(1) and precise -------------------------------------------------------

    [Fact]
    public void AFlushWalksOnlyThePagesTouchedAfterIt()
    {
        using var m = new BareMetal();
        _ = new AddressSpaces(m);
        var c = m.Cpu;
        for (int k = 0; k < 16; k++) c.ReadMem64(Small(k));
        ulong before = c.TlbMisses;
        Assert.True(c.WriteCr3(SpaceA));
        Assert.Equal(PoolA + 0x2000, c.ReadMem64(Small(2)));
        Assert.Equal(PoolA + 0x7000, c.ReadMem64(Small(7)));
        Assert.Equal(PoolA + 0x7000, c.ReadMem64(Small(7)));
        Assert.Equal(before + 2, c.TlbMisses);
    }

    [Fact]
    public void InvlpgDropsOnlyThatPage()
    {
        using var m = new BareMetal();
        var s = new AddressSpaces(m);
        var c = m.Cpu;
        c.ReadMem64(Small(0));
        c.ReadMem64(Small(1));
        s.Remap(SpaceA, 0, PoolA + 0xA000);
        s.Remap(SpaceA, 1, PoolA + 0xB000);
        ulong before = c.TlbMisses;
        c.InvalidatePage(Small(0));
        Assert.Equal(PoolA + 0xA000, c.ReadMem64(Small(0)));
        Assert.Equal(PoolA + 0x1000, c.ReadMem64(Small(1))); // still cached: INVLPG dropped one page
        Assert.Equal(before + 1, c.TlbMisses);
    }

    [Fact]
    public void InvlpgOfOnePieceOfALargePageDropsAllOfIt()
    {
        using var m = new BareMetal();
        _ = new AddressSpaces(m);
        RunProgram(m, a =>
        {
            Store(a, 0, Large(0));
            Store(a, 1, Large(5));
            a.mov(rax, LargePde(SpaceA)); a.mov(rbx, OtherLargeFrame | PteP | PteRw | PtePs); a.mov(__qword_ptr[rax], rbx);
            a.mov(rax, Large(0));
            a.invlpg(__byte_ptr[rax]);
            Store(a, 2, Large(5));
        });
        Assert.Equal(LargeFrame, m.Result(0));
        Assert.Equal(LargeFrame + 0x5000, m.Result(1));
        Assert.Equal(OtherLargeFrame + 0x5000, m.Result(2));
    }

    [Fact]
    public void InvlpgDropsAGlobalPageWhateverThePcid()
    {
        using var m = new BareMetal();
        var s = new AddressSpaces(m);
        s.EnablePcid(pge: true);
        RunProgram(m, a =>
        {
            LoadCr3(a, SpaceB | 2);
            Store(a, 0, Small(GlobalPage)); // a global translation, filled under PCID 2
            LoadCr3(a, SpaceA | 1);
            a.mov(rax, Pte(SpaceA, GlobalPage)); a.mov(rbx, (PoolA + 0xE000) | PteP | PteRw | PteG); a.mov(__qword_ptr[rax], rbx);
            a.mov(rax, Small(GlobalPage));
            a.invlpg(__byte_ptr[rax]);
            Store(a, 1, Small(GlobalPage));
        });
        Assert.Equal(PoolA + 0xF000, m.Result(0));
        Assert.Equal(PoolA + 0xE000, m.Result(1));
    }

    [Fact]
    public void TranslationsStayRightAcrossStampWrapArounds()
    {
        using var m = new BareMetal();
        var s = new AddressSpaces(m);
        var c = m.Cpu;
        ulong resets = c.TlbResets;
        for (int i = 0; i < 3 * HyperLock.Emulator.Processor.Cpu.MaxStamp; i++)
        {
            int k = i % 16;
            s.Remap(SpaceA, k, PoolA + (ulong)((i / 16 + k) % 16) * 0x1000);
            Assert.True(c.WriteCr3(SpaceA));
            Assert.Equal(s.ReferenceRead(SpaceA, Small(k)), c.ReadMem64(Small(k)));
            Assert.Equal(s.ReferenceRead(SpaceA, Small(15 - k)), c.ReadMem64(Small(15 - k)));
        }
        Assert.True(c.TlbResets >= resets + 2);
    }

    // ---- global pages ------------------------------------------------------------------

    [Fact]
    public void GlobalPagesSurviveEveryNonGlobalFlushAndGoWithInvpcidType2()
    {
        using var m = new BareMetal();
        var s = new AddressSpaces(m);
        s.EnablePcid(pge: true);
        RunProgram(m, a =>
        {
            LoadCr3(a, SpaceA | 1);
            Store(a, 0, Small(GlobalPage));
            a.mov(rbx, (PoolA + 0xE000) | PteP | PteRw | PteG);
            a.mov(rax, Pte(SpaceA, GlobalPage)); a.mov(__qword_ptr[rax], rbx);
            a.mov(rax, Pte(SpaceB, GlobalPage)); a.mov(__qword_ptr[rax], rbx);
            LoadCr3(a, SpaceA | 1);          // flushing load of PCID 1
            Store(a, 1, Small(GlobalPage));
            LoadCr3(a, SpaceB | 2);          // flushing load of another PCID
            Store(a, 2, Small(GlobalPage));
            Invpcid(a, 1, 2, 0);             // single context
            Store(a, 3, Small(GlobalPage));
            Invpcid(a, 3, 0, 0);             // all contexts but globals
            Store(a, 4, Small(GlobalPage));
            Invpcid(a, 0, 2, Small(GlobalPage)); // individual address, except globals
            Store(a, 5, Small(GlobalPage));
            Invpcid(a, 2, 0, 0);             // all contexts with globals
            Store(a, 6, Small(GlobalPage));
        });
        for (int slot = 0; slot <= 5; slot++) Assert.Equal(PoolA + 0xF000, m.Result(slot));
        Assert.Equal(PoolA + 0xE000, m.Result(6));
    }

    // ---- INVPCID -----------------------------------------------------------------------

    [Fact]
    public void InvpcidType0DropsOneAddressOfAnotherPcid()
    {
        using var m = new BareMetal();
        var s = new AddressSpaces(m);
        s.EnablePcid();
        RunProgram(m, a =>
        {
            LoadCr3(a, SpaceB | 2);
            Store(a, 0, Small(4));
            LoadCr3(a, SpaceA | 1);
            a.mov(rax, Pte(SpaceB, 4)); a.mov(rbx, (PoolB + 0x9000) | PteP | PteRw); a.mov(__qword_ptr[rax], rbx);
            Invpcid(a, 0, 2, Small(4));
            LoadCr3(a, SpaceB | 2 | NoFlush);
            Store(a, 1, Small(4));
        });
        Assert.Equal(PoolB + 0x4000, m.Result(0));
        Assert.Equal(PoolB + 0x9000, m.Result(1));
    }

    [Fact]
    public void InvpcidType1DropsOnePcidAndKeepsTheOthers()
    {
        using var m = new BareMetal();
        var s = new AddressSpaces(m);
        s.EnablePcid();
        var c = m.Cpu;
        RunProgram(m, a =>
        {
            LoadCr3(a, SpaceB | 2);
            Store(a, 0, Small(1));
            Store(a, 1, Small(2));
            LoadCr3(a, SpaceA | 1);
            Store(a, 2, Small(1));
            a.mov(rbx, (PoolB + 0xC000) | PteP | PteRw);
            a.mov(rax, Pte(SpaceB, 1)); a.mov(__qword_ptr[rax], rbx);
            a.mov(rax, Pte(SpaceB, 2)); a.mov(__qword_ptr[rax], rbx);
            a.mov(rbx, (PoolA + 0xC000) | PteP | PteRw);
            a.mov(rax, Pte(SpaceA, 1)); a.mov(__qword_ptr[rax], rbx);
            Invpcid(a, 1, 2, 0);
            Store(a, 3, Small(1));           // PCID 1: kept
            LoadCr3(a, SpaceB | 2 | NoFlush);
            Store(a, 4, Small(1));           // PCID 2: dropped
            Store(a, 5, Small(2));
        });
        Assert.Equal(PoolA + 0x1000, m.Result(3));
        Assert.Equal(PoolB + 0xC000, m.Result(4));
        Assert.Equal(PoolB + 0xC000, m.Result(5));
        Assert.False(c.Faulted);
    }

    [Fact]
    public void InvpcidType3DropsEveryPcid()
    {
        using var m = new BareMetal();
        var s = new AddressSpaces(m);
        s.EnablePcid();
        RunProgram(m, a =>
        {
            LoadCr3(a, SpaceB | 2);
            Store(a, 0, Small(6));
            LoadCr3(a, SpaceA | 1);
            Store(a, 1, Small(6));
            a.mov(rax, Pte(SpaceA, 6)); a.mov(rbx, (PoolA + 0x1000) | PteP | PteRw); a.mov(__qword_ptr[rax], rbx);
            a.mov(rax, Pte(SpaceB, 6)); a.mov(rbx, (PoolB + 0x1000) | PteP | PteRw); a.mov(__qword_ptr[rax], rbx);
            Invpcid(a, 3, 0, 0);
            Store(a, 2, Small(6));
            LoadCr3(a, SpaceB | 2 | NoFlush);
            Store(a, 3, Small(6));
        });
        Assert.Equal(PoolA + 0x1000, m.Result(2));
        Assert.Equal(PoolB + 0x1000, m.Result(3));
    }

    [Theory]
    [InlineData(4UL, 0UL, 0UL, true)]                         // type above 3
    [InlineData(0xFFFFFFFFUL, 0UL, 0UL, true)]
    [InlineData(1UL, 0x1000UL, 0UL, true)]                    // descriptor bits 63:12
    [InlineData(0UL, 1UL, 0x0000800000000000UL, true)]        // type 0, non-canonical address
    [InlineData(0UL, 1UL, 0UL, false)]                        // type 0, PCID 1 without CR4.PCIDE
    [InlineData(1UL, 1UL, 0UL, false)]                        // type 1, PCID 1 without CR4.PCIDE
    public void InvpcidRaisesGp(ulong type, ulong pcid, ulong address, bool pcide)
    {
        using var m = new BareMetal();
        var s = new AddressSpaces(m);
        if (pcide) s.EnablePcid();
        AssertGp(RunProgram(m, a => Invpcid(a, type, pcid, address), intercept: true));
    }

    [Theory]
    [InlineData(0UL, 0UL, false)]
    [InlineData(1UL, 0UL, false)]
    [InlineData(2UL, 0x123UL, false)] // types 2 and 3 ignore the descriptor's PCID
    [InlineData(3UL, 0x123UL, false)]
    [InlineData(0UL, 0xFFFUL, true)]
    [InlineData(1UL, 0xFFFUL, true)]
    public void InvpcidAcceptsValidOperands(ulong type, ulong pcid, bool pcide)
    {
        using var m = new BareMetal();
        var s = new AddressSpaces(m);
        if (pcide) s.EnablePcid();
        var stop = RunProgram(m, a => Invpcid(a, type, pcid, Small(0)), intercept: true);
        Assert.Equal(StopKind.Halted, stop.Kind);
    }

    [Fact]
    public void InvpcidAtCpl3RaisesGp()
    {
        using var m = new BareMetal();
        _ = new AddressSpaces(m);
        var c = m.Cpu;
        c.InterceptExceptions = true;
        m.Write(Descriptor, 8, 0);
        m.Write(Descriptor + 8, 8, 0);
        m.Asm(UserCode, 64, a =>
        {
            a.mov(ecx, 2);
            a.mov(rdx, Descriptor);
            a.invpcid(rcx, __[rdx]);
            a.hlt();
        });
        // The small pages and the user code are supervisor-only here: run from the identity map with U/S set.
        c.Cr3 = Pml4;
        c.FlushTlb(includeGlobal: true);
        c.LoadCs(HyperLock.Emulator.Processor.Cpu.DecodeDescriptor(UserCs, m.Read(GdtBase + (UserCs & ~7), 8)), 3);
        c.Rip = UserCode;
        Assert.Equal(3, c.Cpl);
        var stop = m.Run();
        Assert.True(stop.Kind == StopKind.Exception, $"{stop} rip {c.Rip:x} cpl {c.Cpl}");
        AssertGp(stop);
        Assert.InRange(c.Rip, UserCode + 5, UserCode + 16); // at the INVPCID, not past it
    }
}
