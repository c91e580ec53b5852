using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Processor.Execution;
using HyperLock.Emulator.Vmx;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using F = HyperLock.Emulator.Vmx.VmcsField;
using C = HyperLock.Emulator.Vmx.VmxControls;

namespace HyperLock.Emulator.Tests.Vmx;

/// <summary>
/// Debug exceptions, NMIs and the preemption timer in VMX non-root operation (SDM Vol. 3
/// ch. 26-28): #DB exits and their qualification, pending debug exceptions, the debug-control
/// fields, NMI exiting, virtual NMIs, NMI-window exiting from HLT, "NMI unblocking due to IRET",
/// and a guest halted by HLT with the preemption timer armed.
/// </summary>
public class VmDebugAndNmiTests
{
    private const ulong Tf = 0x100, Rf = 0x10000;
    private const uint DbExit = Interruption.Valid | (3u << 8) | 1u;

    /// <summary>An external NMI source: any write to a port raises an NMI at the processor.</summary>
    private sealed class NmiButton(Cpu cpu) : IIoBus
    {
        public uint In(ushort port, int size) => 0xFF;
        public void Out(ushort port, int size, uint value) => cpu.RaiseNmi();
    }

    [Fact]
    public void GuestSingleStepExitsWithBsInTheQualificationAndLeavesDr6Alone()
    {
        var (m, _) = VmExitTests.Exit(g => { g.nop(); g.nop(); g.vmcall(); },
            t => { t.Fields[F.GuestRflags] = 2 | Tf; t.Fields[F.ExceptionBitmap] = 1 << Vector.DB; });
        using var o = m;
        Assert.Equal(0UL, m.Cpu.R(Reg.R12));
        Assert.Equal(0x4000UL, m.Cpu.R(Reg.R13));                 // BS
        Assert.Equal(DbExit, m.Vmcs(F.ExitInterruptionInfo));
        Assert.Equal(VmxMachine.GuestCode + 1, m.Vmcs(F.GuestRip)); // a trap: after the NOP
        Assert.Equal(0UL, m.Vmcs(F.GuestRflags) & Rf);
        Assert.Equal(0xFFFF0FF0UL, m.Cpu.ReadDr(6));               // a #DB exit does not write DR6
    }

    [Fact]
    public void GuestExecuteBreakpointLoadedByEntryExitsBeforeTheInstruction()
    {
        var (m, _) = VmExitTests.Exit(g => { g.nop(); g.nop(); g.vmcall(); },
            t =>
            {
                t.Set(F.EntryControls, C.EntryLoadDebug);
                t.Set(F.ExitControls, C.ExitSaveDebug);
                t.Fields[F.GuestDr7] = 0x401;                      // L0, execute
                t.Fields[F.ExceptionBitmap] = 1 << Vector.DB;
            },
            mm => mm.Cpu.Dr[0] = VmxMachine.GuestCode + 1);
        using var o = m;
        Assert.Equal(0UL, m.Cpu.R(Reg.R12));
        Assert.Equal(1UL, m.Cpu.R(Reg.R13));                      // B0
        Assert.Equal(VmxMachine.GuestCode + 1, m.Vmcs(F.GuestRip)); // a fault: at the instruction
        Assert.Equal(0x401UL, m.Vmcs(F.GuestDr7));                 // saved by "save debug controls"
        Assert.Equal(0x400UL, m.Cpu.ReadDr(7));                    // the exit loads DR7 = 0x400
    }

    [Fact]
    public void DebugControlsLoadAndSaveIa32DebugCtl()
    {
        var (m, _) = VmExitTests.Exit(g =>
            {
                g.mov(ecx, 0x1D9);
                g.rdmsr();
                g.mov(r8, rax);
                g.mov(eax, 2);
                g.xor(edx, edx);
                g.wrmsr();
                g.vmcall();
            },
            t =>
            {
                t.Set(F.EntryControls, C.EntryLoadDebug);
                t.Set(F.ExitControls, C.ExitSaveDebug);
                t.Set(F.ProcControls, C.ProcMsrBitmaps);
                t.Fields[F.MsrBitmap] = VmxMachine.MsrBitmap;      // all zero: no MSR exits
                t.Fields[F.GuestDebugCtl] = 1;
            });
        using var o = m;
        Assert.Equal((ulong)ExitReason.Vmcall, m.Cpu.R(Reg.R12));
        Assert.Equal(1UL, m.Cpu.R(Reg.R8));          // loaded at entry
        Assert.Equal(2UL, m.Vmcs(F.GuestDebugCtl));  // saved at exit
        Assert.Equal(0UL, m.Cpu.DebugCtl);           // cleared for the host
    }

    [Fact]
    public void InstructionExitAfterMovSsSavesThePendingSingleStep()
    {
        var (m, _) = VmExitTests.Exit(g => { g.mov(ss, ax); g.cpuid(); },
            t =>
            {
                t.Fields[F.GuestRflags] = 2 | Tf;
                t.BeforeLaunch = a => a.mov(eax, 0x10);
            });
        using var o = m;
        Assert.Equal((ulong)ExitReason.Cpuid, m.Cpu.R(Reg.R12));
        Assert.Equal(VmxMachine.GuestCode + 3, m.Vmcs(F.GuestRip)); // 66 8E D0, then CPUID
        Assert.Equal(0x4000UL, m.Vmcs(F.GuestPendingDebug));     // BS held by MOV SS blocking
        Assert.Equal(2UL, m.Vmcs(F.GuestInterruptibility));      // still blocked by MOV SS
    }

    [Fact]
    public void PendingDebugExceptionUnderMovSsBlockingIsDeliveredAfterOneInstruction()
    {
        var (m, _) = VmExitTests.Exit(g => { g.nop(); g.nop(); g.vmcall(); },
            t =>
            {
                t.Fields[F.GuestRflags] = 2 | Tf;
                t.Fields[F.GuestInterruptibility] = 2;
                t.Fields[F.GuestPendingDebug] = 0x4000;
                t.Fields[F.ExceptionBitmap] = 1 << Vector.DB;
            });
        using var o = m;
        Assert.Equal(0UL, m.Cpu.R(Reg.R12));
        Assert.Equal(0x4000UL, m.Cpu.R(Reg.R13));
        Assert.Equal(VmxMachine.GuestCode + 1, m.Vmcs(F.GuestRip));
        Assert.Equal(0UL, m.Vmcs(F.GuestPendingDebug));
    }

    [Fact]
    public void NmiExitingTurnsAnNmiIntoAnExitAndLeavesNmisBlocked()
    {
        var (m, _) = VmExitTests.Exit(g => { g.@out(0x80, al); g.nop(); g.vmcall(); },
            t => t.Set(F.PinControls, C.PinNmiExiting),
            mm => mm.Cpu.Io = new NmiButton(mm.Cpu));
        using var o = m;
        Assert.Equal((ulong)ExitReason.ExceptionOrNmi, m.Cpu.R(Reg.R12));
        Assert.Equal(Interruption.Valid | (2u << 8) | 2u, m.Vmcs(F.ExitInterruptionInfo));
        Assert.Equal(VmxMachine.GuestCode + 2, m.Vmcs(F.GuestRip));
        Assert.True(m.Cpu.NmiBlocked);
        Assert.False(m.Cpu.NmiPending);
    }

    [Fact]
    public void NmiWithoutExitingIsDeliveredThroughTheGuestIdtAndBlocksNmis()
    {
        var (m, _) = VmExitTests.Exit(g => { g.@out(0x80, al); g.nop(); g.ud2(); },
            machine: mm =>
            {
                mm.Cpu.Io = new NmiButton(mm.Cpu);
                VmEventTests.GuestGate(mm, Vector.NMI, VmxMachine.GuestHandler);
                mm.Load(VmxMachine.GuestHandler, a => { a.mov(r15, __qword_ptr[rsp]); a.vmcall(); });
            });
        using var o = m;
        Assert.Equal((ulong)ExitReason.Vmcall, m.Cpu.R(Reg.R12));
        Assert.Equal(VmxMachine.GuestCode + 2, m.Cpu.R(Reg.R15));
        Assert.Equal(8UL, m.Vmcs(F.GuestInterruptibility) & 8);
    }

    [Fact]
    public void NmiWindowExitsAtOnceForAHaltedGuestBeforeTheTimer()
    {
        var (m, _) = VmExitTests.Exit(g => { g.vmcall(); },
            t =>
            {
                t.Set(F.PinControls, C.PinNmiExiting | C.PinVirtualNmis | C.PinPreemptionTimer);
                t.Set(F.ProcControls, C.ProcNmiWindow);
                t.Fields[F.PreemptionTimerValue] = 1000;
                t.Fields[F.GuestActivityState] = 1;
            });
        using var o = m;
        Assert.Equal((ulong)ExitReason.NmiWindow, m.Cpu.R(Reg.R12));
        Assert.Equal(1UL, m.Vmcs(F.GuestActivityState));
        Assert.Equal(VmxMachine.GuestCode, m.Vmcs(F.GuestRip));
        Assert.Equal(0UL, m.Cpu.IdleCycles); // no waiting
    }

    [Fact]
    public void IretOfAnInjectedNmiOpensTheNmiWindow()
    {
        var (m, _) = VmExitTests.Exit(g => { g.nop(); g.vmcall(); },
            t =>
            {
                t.Set(F.PinControls, C.PinNmiExiting | C.PinVirtualNmis);
                t.Set(F.ProcControls, C.ProcNmiWindow);
                t.Fields[F.EntryInterruptionInfo] = Interruption.Make(Vector.NMI, Interruption.TypeNmi, false);
            },
            mm =>
            {
                VmEventTests.GuestGate(mm, Vector.NMI, VmxMachine.GuestHandler);
                mm.Load(VmxMachine.GuestHandler, a => { a.inc(rbx); a.iretq(); });
            });
        using var o = m;
        Assert.Equal((ulong)ExitReason.NmiWindow, m.Cpu.R(Reg.R12));
        Assert.Equal(VmxMachine.GuestCode, m.Vmcs(F.GuestRip));
        Assert.Equal(0UL, m.Vmcs(F.GuestInterruptibility) & 8);
    }

    [Fact]
    public void FaultingIretReportsNmiUnblockingInTheExitInterruptionInfo()
    {
        var (m, _) = VmExitTests.Exit(g => { g.vmcall(); },
            t =>
            {
                t.Set(F.PinControls, C.PinNmiExiting | C.PinVirtualNmis);
                t.Fields[F.EntryInterruptionInfo] = Interruption.Make(Vector.NMI, Interruption.TypeNmi, false);
                t.Fields[F.ExceptionBitmap] = 1 << Vector.GP;
            },
            mm =>
            {
                VmEventTests.GuestGate(mm, Vector.NMI, VmxMachine.GuestHandler);
                // IRET through a frame with a null CS: #GP after virtual-NMI blocking was removed.
                mm.Load(VmxMachine.GuestHandler, a => { a.mov(__qword_ptr[rsp + 8], 0); a.iretq(); });
            });
        using var o = m;
        Assert.Equal((ulong)ExitReason.ExceptionOrNmi, m.Cpu.R(Reg.R12));
        Assert.Equal(Interruption.Valid | Interruption.ErrorCodeValid | Interruption.NmiUnblocking | (3u << 8) | 13u,
            m.Vmcs(F.ExitInterruptionInfo));
        Assert.Equal(0UL, m.Vmcs(F.GuestInterruptibility) & 8);
        Assert.Equal(Rf, m.Vmcs(F.GuestRflags) & Rf); // the RF a #GP frame would have had
    }

    [Fact]
    public void NmiWhoseDeliveryFaultsIsReportedAsIdtVectoringInformation()
    {
        // The NMI's gate lies beyond the guest IDT limit: #GP (bitmap) during delivery of the NMI.
        var (m, _) = VmExitTests.Exit(g => { g.@out(0x80, al); g.nop(); g.vmcall(); },
            t =>
            {
                t.Fields[F.GuestIdtrLimit] = 16 * Vector.NMI - 1;
                t.Fields[F.ExceptionBitmap] = 1 << Vector.GP;
            },
            mm => mm.Cpu.Io = new NmiButton(mm.Cpu));
        using var o = m;
        Assert.Equal((ulong)ExitReason.ExceptionOrNmi, m.Cpu.R(Reg.R12));
        Assert.Equal(Interruption.Valid | Interruption.ErrorCodeValid | (3u << 8) | 13u, m.Vmcs(F.ExitInterruptionInfo));
        Assert.Equal((ulong)(Vector.NMI * 8 + 2 + 1), m.Vmcs(F.ExitInterruptionErrorCode)); // IDT, EXT
        Assert.Equal(Interruption.Valid | (2u << 8) | 2u, m.Vmcs(F.IdtVectoringInfo));
        Assert.Equal(VmxMachine.GuestCode + 2, m.Vmcs(F.GuestRip));
    }

    [Fact]
    public void HltInstructionWaitsForThePreemptionTimerWhileDevicesTick()
    {
        var (m, _) = VmExitTests.Exit(g => { g.hlt(); g.vmcall(); },
            t =>
            {
                t.Set(F.PinControls, C.PinPreemptionTimer);
                t.Set(F.ExitControls, C.ExitSaveTimer);
                t.Fields[F.PreemptionTimerValue] = 100;
            },
            mm =>
            {
                // A device timer that fires every 50 cycles, as the PIT or APIC timer would.
                var cpu = mm.Cpu;
                cpu.EventDeadline = 50;
                cpu.DeadlineReached = () => cpu.EventDeadline = cpu.Now + 50;
            });
        using var o = m;
        Assert.Equal((ulong)ExitReason.PreemptionTimer, m.Cpu.R(Reg.R12));
        Assert.Equal(1UL, m.Vmcs(F.GuestActivityState));
        Assert.Equal(VmxMachine.GuestCode + 1, m.Vmcs(F.GuestRip));
        Assert.Equal(0UL, m.Vmcs(F.PreemptionTimerValue));
        Assert.True(m.Cpu.IdleCycles >= 98 * 32);
    }

    [Fact]
    public void SaveTimerValueStoresTheRemainingCountOnAnotherExit()
    {
        var (m, _) = VmExitTests.Exit(g => { for (int k = 0; k < 64; k++) g.nop(); g.vmcall(); },
            t =>
            {
                t.Set(F.PinControls, C.PinPreemptionTimer);
                t.Set(F.ExitControls, C.ExitSaveTimer);
                t.Fields[F.PreemptionTimerValue] = 1000;
            });
        using var o = m;
        Assert.Equal((ulong)ExitReason.Vmcall, m.Cpu.R(Reg.R12));
        // 65 guest instructions at 2^5 cycles per tick: two or three ticks elapsed.
        Assert.InRange(m.Vmcs(F.PreemptionTimerValue), 997UL, 998UL);
    }
}
