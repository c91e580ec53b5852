using HyperLock.Runtime.Services;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.Runtime.Tests;

/// <summary>The per-guest state the runtime switches because a VM exit does not (syscall MSRs, CR2, XCR0).</summary>
public class GuestStateTests
{
    /// <summary>SYSCALL goes wherever the guest's own LSTAR says: 0x10100 reports 9, 0x10200 reports 5.</summary>
    private static GuestSpec SyscallGuest(string name) => new(name, TestGuests.Assemble(GuestSpec.CodeAddress, a =>
    {
        a.syscall();
        a.hlt();
        a.nop();
        for (int i = 0; i < 0x100 - 4; i++) a.nop();
        a.mov(al, 9);       // at 0x10100
        a.@out(0xF4, al);
        for (int i = 0; i < 0x100 - 4; i++) a.nop();
        a.mov(al, 5);       // at 0x10200
        a.@out(0xF4, al);
    }));

    [Fact]
    public void EachGuestRunsWithItsOwnSyscallMsrsAndLeavesNoneBehind()
    {
        using var rt = new IsolationRuntime();
        var image = rt.Load(TestHypervisors.CpuidAndIo());
        var a = rt.AddGuest(SyscallGuest("a"), image);
        var b = rt.AddGuest(SyscallGuest("b"), image);
        foreach (var (inst, target) in new[] { (a, 0x10100UL), (b, 0x10200UL) })
        {
            inst.CpuState.Msrs[MsrAllowList.Star] = 0x08UL << 32;
            inst.CpuState.Msrs[MsrAllowList.Lstar] = target;
        }
        rt.Run(2_000_000);
        Assert.Equal(9, a.ExitStatus);
        Assert.Equal(5, b.ExitStatus);
        Assert.True(rt.Board.Cpu.TryReadMsr(MsrAllowList.Lstar, out ulong lstar));
        Assert.Equal(0UL, lstar); // cleared at the last exit
    }
}
