using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Vmx;
using static Iced.Intel.AssemblerRegisters;
using C = HyperLock.Emulator.Vmx.VmxControls;
using F = HyperLock.Emulator.Vmx.VmcsField;

namespace HyperLock.Emulator.Tests.Vmx;

/// <summary>
/// INVPCID in VMX non-root operation (SDM Vol. 3 §25.1.3, §26.3): #UD unless the "enable
/// INVPCID" secondary control is set; with it, a VM exit (reason 58) when "INVLPG exiting" is
/// set, with the displacement as qualification and the type register in the instruction
/// information; otherwise it runs in the guest.
/// </summary>
public class InvpcidExitTests
{
    private static void Guest(Iced.Intel.Assembler g)
    {
        g.mov(ecx, 2); // all contexts with globals: needs no descriptor contents
        g.mov(rbx, (long)VmxMachine.Desc);
        g.invpcid(rcx, __[rbx + 0x20]);
        g.vmcall();
    }

    [Fact]
    public void InvpcidExitsWithInvlpgExitingAndEnableInvpcid()
    {
        var (m, _) = VmExitTests.Exit(Guest, t =>
        {
            t.Set(F.ProcControls, C.ProcInvlpg | C.ProcSecondary);
            t.Fields[F.ProcControls2] = C.Proc2Invpcid;
        });
        using var o = m;
        Assert.Equal((ulong)ExitReason.Invpcid, m.Cpu.R(Reg.R12));
        Assert.Equal(0x20UL, m.Cpu.R(Reg.R13));
        Assert.Equal(1UL, (m.Vmcs(F.ExitInstructionInfo) >> 28) & 0xF); // reg2: RCX
    }

    [Fact]
    public void InvpcidRunsInTheGuestWithoutInvlpgExiting()
    {
        var (m, _) = VmExitTests.Exit(Guest, t =>
        {
            t.Set(F.ProcControls, C.ProcSecondary);
            t.Fields[F.ProcControls2] = C.Proc2Invpcid;
        });
        using var o = m;
        Assert.Equal((ulong)ExitReason.Vmcall, m.Cpu.R(Reg.R12));
    }

    [Fact]
    public void InvpcidIsUndefinedWithoutEnableInvpcid()
    {
        var (m, _) = VmExitTests.Exit(Guest, t =>
        {
            t.Set(F.ProcControls, C.ProcInvlpg);
            t.Fields[F.ExceptionBitmap] = 1 << Vector.UD;
        });
        using var o = m;
        Assert.Equal((ulong)ExitReason.ExceptionOrNmi, m.Cpu.R(Reg.R12));
        Assert.Equal((ulong)Vector.UD, m.Vmcs(F.ExitInterruptionInfo) & 0xFF);
    }
}
