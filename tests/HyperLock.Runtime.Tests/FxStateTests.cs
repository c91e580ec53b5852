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
}
