using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Processor.Execution;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.Emulator.Tests.Processor.Integer;

public class IntegerMiscTests
{
    [Fact]
    public void CpuidLeaf1ReflectsOsxsaveAndApicIdZero()
    {
        using var s = Snip.Run(a => { a.mov(eax, 1); a.cpuid(); a.int3(); }, c => c.R(Reg.Rbx) = ulong.MaxValue);
        var leaf = s.Cpu.Cpuid.Get(1, 0);
        Assert.Equal((ulong)leaf.Eax, s.R(Reg.Rax));
        Assert.Equal(0UL, s.R(Reg.Rbx) >> 24);
        Assert.Equal(0UL, s.R(Reg.Rcx) & (1u << 27));
        Assert.Equal((ulong)(leaf.Ecx & ~(1u << 27)), s.R(Reg.Rcx));
        using var t = Snip.Run(a => { a.mov(eax, 1); a.cpuid(); a.int3(); }, c => c.Cr4 |= Bits.Cr4Osxsave);
        Assert.Equal(1UL << 27, t.R(Reg.Rcx) & (1u << 27));
    }

    [Fact]
    public void CpuidVendorAndSubleaves()
    {
        using var s = Snip.Run(a => { a.xor(eax, eax); a.cpuid(); a.int3(); });
        var name = global::System.Text.Encoding.ASCII.GetString(BitConverter.GetBytes((uint)s.R(Reg.Rbx)))
            + global::System.Text.Encoding.ASCII.GetString(BitConverter.GetBytes((uint)s.R(Reg.Rdx)))
            + global::System.Text.Encoding.ASCII.GetString(BitConverter.GetBytes((uint)s.R(Reg.Rcx)));
        Assert.Equal("GenuineIntel", name);
        using var t = Snip.Run(a => { a.mov(eax, 7); a.xor(ecx, ecx); a.cpuid(); a.int3(); });
        Assert.Equal((ulong)t.Cpu.Cpuid.Get(7, 0).Ebx, t.R(Reg.Rbx));
    }

    [Fact]
    public void RdtscIsVirtualTimeAndTsdFaultsAtCpl3()
    {
        using var t = Snip.Run(a => { a.rdtsc(); a.mov(rbx, rax); a.rdtsc(); a.int3(); });
        t.AssertInt3();
        Assert.True(t.R(Reg.Rax) >= t.R(Reg.Rbx));
        Assert.Equal(0UL, t.R(Reg.Rdx));
        using var u = Snip.Run(a => { a.rdtsc(); a.int3(); }, c => c.Cr4 |= Bits.Cr4Tsd);
        Assert.Equal("#GP(0)", u.StopText);
        using var k = Snip.Run(a => { a.rdtsc(); a.int3(); }, c => c.Cr4 |= Bits.Cr4Tsd, user: false);
        k.AssertInt3();
    }

    [Fact]
    public void RdtscReflectsTscOffsetAndRdtscpReturnsTscAux()
    {
        using var s = Snip.Run(a => { a.rdtscp(); a.int3(); }, c => { c.TscOffset = 0x1_0000_0000; c.TscAux = 0x42; c.R(Reg.Rcx) = ulong.MaxValue; });
        Assert.Equal(1UL, s.R(Reg.Rdx));
        Assert.Equal(0x42UL, s.R(Reg.Rcx));
    }

    [Fact]
    public void AllNopFormsDoNothing()
    {
        using var s = Snip.Run(a =>
        {
            a.nop();
            a.db(0x66, 0x90);                                     // xchg ax, ax
            a.db(0x0F, 0x1F, 0x44, 0x00, 0x00);                   // nop dword [rax+rax]
            a.db(0x66, 0x0F, 0x1F, 0x84, 0x00, 0, 0, 0, 0);       // nopw
            a.db(0x0F, 0x18, 0x00);                               // prefetchnta [rax] (unmapped: no fault)
            a.db(0x0F, 0x0D, 0x08);                               // prefetchw [rax]
            a.db(0x0F, 0x19, 0xC0);                               // reserved-NOP 0F 19
            a.db(0x0F, 0x1E, 0xC8);                               // reserved-NOP 0F 1E
            a.db(0xF3, 0x0F, 0x1E, 0xFA);                         // endbr64
            a.pause();
            a.int3();
        }, c => { c.R(Reg.Rax) = 0x12345; c.SetRflags(0x202 | 0x8D5); });
        s.AssertInt3();
        Assert.Equal(0x12345UL, s.R(Reg.Rax));
        Assert.Equal(0x8D5UL, s.Flags);
        Assert.Equal(11UL, s.Cpu.Retired);
    }

    [Theory]
    [InlineData(new byte[] { 0x0F, 0x0B })]             // ud2
    [InlineData(new byte[] { 0x0F, 0xB9, 0x00 })]       // ud1 eax, [rax]
    [InlineData(new byte[] { 0x0F, 0xFF, 0xC0 })]       // ud0 eax, eax
    public void UdFormsRaiseUd(byte[] bytes)
    {
        using var s = Snip.Run(a => { a.db(bytes); a.int3(); });
        Assert.Equal("#UD", s.StopText);
        Assert.Equal(0x400000UL, s.Rip);
    }

    [Fact]
    public void FlagInstructions()
    {
        using var s = Snip.Run(a => { a.stc(); a.cmc(); a.cmc(); a.std(); a.int3(); });
        Assert.Equal(F.CF, s.Flags & F.CF);
        Assert.True(s.Cpu.DF);
        using var t = Snip.Run(a => { a.stc(); a.clc(); a.std(); a.cld(); a.int3(); });
        Assert.Equal(0UL, t.Flags & F.CF);
        Assert.False(t.Cpu.DF);
    }

    /// <summary>CRC-32C values checked against the bytewise reflected-polynomial definition.</summary>
    [Fact]
    public void Crc32MatchesCastagnoliDefinition()
    {
        using var s = Snip.Run(a =>
        {
            a.mov(eax, -1);
            a.crc32(eax, bl);
            a.mov(ecx, -1);
            a.crc32(rcx, rdx);
            a.mov(esi, 0);
            a.crc32(esi, __word_ptr[(long)Snip.Scratch]);
            a.int3();
        }, c => { c.R(Reg.Rbx) = 0x61; c.R(Reg.Rdx) = 0x0807060504030201; c.Memory.Write(Snip.Scratch, 2, 0xBEEF); });
        Assert.Equal(Ref(0xFFFFFFFF, 0x61, 1), s.R(Reg.Rax));
        Assert.Equal(Ref(0xFFFFFFFF, 0x0807060504030201, 8), s.R(Reg.Rcx));
        Assert.Equal(Ref(0, 0xBEEF, 2), s.R(Reg.Rsi));
    }

    private static ulong Ref(uint crc, ulong data, int bytes)
    {
        for (int b = 0; b < bytes; b++)
        {
            crc ^= (byte)(data >> (8 * b));
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
        }
        return crc;
    }

    [Fact]
    public void AdcxAdoxGatedByCpuid()
    {
        using var s = Snip.Run(a => { a.adcx(rax, rbx); a.int3(); });
        bool has = (s.Cpu.Cpuid.Get(7, 0).Ebx & (1u << 19)) != 0;
        Assert.Equal(has ? "int3" : "#UD", s.StopText);
        using var t = Snip.Run(a => { a.stc(); a.adcx(rax, rbx); a.adox(ecx, edx); a.int3(); }, c =>
        {
            var v = c.Cpuid.Get(7, 0);
            c.Cpuid.Set(7, 0, v with { Ebx = v.Ebx | (1u << 19) }, indexedBySubleaf: true);
            c.R(Reg.Rax) = ulong.MaxValue; c.R(Reg.Rbx) = 0; c.R(Reg.Rcx) = 0xFFFFFFFF; c.R(Reg.Rdx) = 1;
        });
        t.AssertInt3();
        Assert.Equal(0UL, t.R(Reg.Rax));
        Assert.Equal(0UL, t.R(Reg.Rcx));
        Assert.Equal(F.CF | F.OF, t.Flags & (F.CF | F.OF));
    }

    [Fact]
    public void Int3StopsWithRipAfterIt()
    {
        using var s = Snip.Run(a => { a.nop(); a.int3(); });
        Assert.Equal(StopKind.Exception, s.Stop.Kind);
        Assert.Equal(0x400002UL, s.Rip);
    }
}
