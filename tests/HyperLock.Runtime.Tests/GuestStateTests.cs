using HyperLock.Abi;
using HyperLock.Emulator.Processor;
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

    /// <summary>Samples, before every instruction, the state a VM exit does not switch, and checks it against whose instruction it is.</summary>
    private sealed class SwitchedStateChecker(Cpu cpu, IsolationRuntime rt) : IExecutionObserver
    {
        public int GuestSamples, HypervisorSamples;
        public List<string> Wrong { get; } = new();

        public void InstructionStarted(in InstructionObservation i)
        {
            Instance? owner = null;
            if (i.Context.NonRoot)
            {
                foreach (var inst in rt.Instances)
                    if (i.Physical >= inst.GuestBase && i.Physical < inst.GuestBase + inst.GuestSize) owner = inst;
                if (owner is null) { Wrong.Add($"guest instruction at {i.Physical:X} in nobody's memory"); return; }
                GuestSamples++;
            }
            else if (i.Linear >= ConfinedLayout.Code && i.Linear < ConfinedLayout.Data) HypervisorSamples++;
            else return; // trampoline and start-up: between the CPU's switch and the runtime's
            string who = owner?.Guest.Name ?? "hypervisor";
            Check(who, "CR2", cpu.Cr2, owner?.CpuState.Cr2 ?? 0);
            Check(who, "XCR0", cpu.Xcr0, owner?.CpuState.Xcr0 ?? 1);
            foreach (uint msr in MsrAllowList.SwitchedAtEntry)
            {
                cpu.TryReadMsr(msr, out ulong v);
                Check(who, $"MSR {msr:X}", v, owner?.CpuState.Msrs.GetValueOrDefault(msr) ?? 0);
            }
        }

        private void Check(string who, string what, ulong actual, ulong expected)
        {
            if (actual != expected && Wrong.Count < 20) Wrong.Add($"{who}: {what} = {actual:X}, expected {expected:X}");
        }

        public void MemoryAccessed(in AccessObservation access) { }
    }

    /// <summary>
    /// CR2, XCR0 and every switched MSR (SYSENTER_CS/ESP/EIP, STAR, LSTAR, CSTAR, SFMASK,
    /// KERNEL_GS_BASE, TSC_AUX) hold the running guest's own values at each of its instructions
    /// and the hypervisor's clean ones at each hypervisor instruction, with two guests that
    /// take turns and have different values.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void EveryInstructionRunsWithItsOwnPartysCr2Xcr0AndSyscallMsrs(bool confined)
    {
        using var rt = new IsolationRuntime();
        var image = rt.Load(TestHypervisors.CpuidAndIo());
        var a = rt.AddGuest(TestGuests.CpuidAndIo("a"), image, confined, new CountingDevice());
        var b = rt.AddGuest(TestGuests.CpuidAndIo("b"), image, deviceModel: new CountingDevice());
        ulong n = 1;
        foreach (uint msr in MsrAllowList.SwitchedAtEntry)
        {
            a.CpuState.Msrs[msr] = 0xFFFF_8000_0000_1000 + n * 0x10;
            b.CpuState.Msrs[msr] = 0x2000 + n++ * 0x10;
        }
        a.CpuState.Msrs[MsrAllowList.SysenterCs] = 0x10;  // a selector
        a.CpuState.Msrs[MsrAllowList.Fmask] = 0x4700;
        a.CpuState.Msrs[MsrAllowList.TscAux] = 0xA;
        a.CpuState.Cr2 = 0xA2A2_0000;
        b.CpuState.Cr2 = 0xB2B2_0000;
        a.CpuState.Xcr0 = 3;                               // b keeps x87 only
        var checker = new SwitchedStateChecker(rt.Board.Cpu, rt);
        rt.Board.Cpu.Observer = checker;
        rt.Run(5_000_000);
        Assert.Equal(7, a.ExitStatus);
        Assert.Equal(7, b.ExitStatus);
        Assert.Empty(checker.Wrong);
        Assert.True(checker.GuestSamples > 50 && checker.HypervisorSamples > 50, $"{checker.GuestSamples} {checker.HypervisorSamples}");
    }
}
