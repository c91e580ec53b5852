using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.Runtime.Tests;

/// <summary>x87/SSE state is per guest: the trampoline saves it at every exit and restores the entering guest's.</summary>
public class FxStateTests
{
    /// <summary>Stores XMM0 as it finds it, loads <paramref name="pattern"/> into it, exits (CPUID), stores XMM0 again, finishes.</summary>
    private static GuestSpec Guest(string name, ulong pattern) => new(name, TestGuests.Assemble(GuestSpec.CodeAddress, a =>
    {
        a.movdqu(__xmmword_ptr[TestGuests.Results], xmm0);
        a.mov(rax, pattern);
        a.movq(xmm0, rax);
        a.xor(eax, eax);
        a.xor(ecx, ecx);
        a.cpuid(); // an exit: the hypervisor and the runtime run in between
        a.movdqu(__xmmword_ptr[TestGuests.Results + 16], xmm0);
        a.mov(al, 7);
        a.@out(0xF4, al);
    }));

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AGuestFindsItsOwnXmmStateAndNotThePreviousGuests(bool confined)
    {
        using var rt = new IsolationRuntime();
        var image = rt.Load(TestHypervisors.CpuidAndIo());
        var a = rt.AddGuest(Guest("a", 0xAAAA_AAAA_AAAA_AAAA), image, confined);
        var b = rt.AddGuest(Guest("b", 0xBBBB_BBBB_BBBB_BBBB), image);
        rt.Run(2_000_000);
        Assert.Equal(7, a.ExitStatus);
        Assert.Equal(7, b.ExitStatus);
        var mem = rt.Board.Memory;
        Assert.Equal(0xAAAA_AAAA_AAAA_AAAAUL, mem.Read(a.GuestBase + TestGuests.Results + 16, 8)); // kept across its exit
        Assert.Equal(0xBBBB_BBBB_BBBB_BBBBUL, mem.Read(b.GuestBase + TestGuests.Results + 16, 8));
        Assert.Equal(0UL, mem.Read(b.GuestBase + TestGuests.Results, 8)); // b starts clean, not with a's XMM0
        Assert.Equal(0UL, mem.Read(b.GuestBase + TestGuests.Results + 8, 8));
    }

    /// <summary>
    /// x87: stores FCW and FSW as it finds them, sets FCW to <paramref name="fcw"/> and pushes π,
    /// exits (CPUID), then stores FCW, FSW and the popped π.
    /// </summary>
    private static GuestSpec X87Guest(string name, ushort fcw) => new(name, TestGuests.Assemble(GuestSpec.CodeAddress, a =>
    {
        a.fnstcw(__word_ptr[TestGuests.Results]);
        a.fnstsw(__word_ptr[TestGuests.Results + 2]);
        a.mov(__word_ptr[TestGuests.Results + 0x40], fcw);
        a.fldcw(__word_ptr[TestGuests.Results + 0x40]);
        a.fldpi();
        a.xor(eax, eax);
        a.xor(ecx, ecx);
        a.cpuid();
        a.fnstcw(__word_ptr[TestGuests.Results + 16]);
        a.fnstsw(__word_ptr[TestGuests.Results + 18]);
        a.fstp(__qword_ptr[TestGuests.Results + 24]);
        a.mov(al, 7);
        a.@out(0xF4, al);
    }));

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AGuestFindsItsOwnX87ControlWordAndStackAndNotThePreviousGuests(bool confined)
    {
        using var rt = new IsolationRuntime();
        var image = rt.Load(TestHypervisors.CpuidAndIo());
        var a = rt.AddGuest(X87Guest("a", 0x27F), image, confined);
        var b = rt.AddGuest(X87Guest("b", 0x07F), image);
        rt.Run(2_000_000);
        Assert.Equal(7, a.ExitStatus);
        Assert.Equal(7, b.ExitStatus);
        var mem = rt.Board.Memory;
        ulong R(Instance i, ulong o, int size) => mem.Read(i.GuestBase + TestGuests.Results + o, size);
        Assert.Equal(0x37FUL, R(b, 0, 2));             // b starts with FNINIT's FCW, not a's 0x27F
        Assert.Equal(0UL, R(b, 2, 2) & 0x3800);         // and an empty stack (TOP = 0), not a's pushed π
        Assert.Equal(0x27FUL, R(a, 16, 2));             // a keeps its own across its exit
        Assert.Equal(0x07FUL, R(b, 16, 2));
        Assert.Equal(7UL << 11, R(a, 18, 2) & 0x3800);  // one value pushed: TOP = 7
        Assert.Equal(BitConverter.DoubleToUInt64Bits(Math.PI), R(a, 24, 8) & ~0xFFFUL | (BitConverter.DoubleToUInt64Bits(Math.PI) & 0xFFF));
        Assert.Equal(R(a, 24, 8), R(b, 24, 8));         // both popped their own π (b's FCW rounds differently only in extended precision)
    }
}
