using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Processor.Execution;
using HyperLock.Emulator.Vmx;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using F = HyperLock.Emulator.Vmx.VmcsField;
using C = HyperLock.Emulator.Vmx.VmxControls;

namespace HyperLock.Emulator.Tests.Vmx;

/// <summary>Exceptions, interrupts, windows, the preemption timer, event injection and activity state.</summary>
public class VmEventTests
{
    private sealed class OneInterrupt(int vector) : IInterruptController
    {
        public bool Pending = true;
        public int Acks;
        public bool HasInterrupt => Pending;
        public int Acknowledge() { Pending = false; Acks++; return vector; }
    }

    /// <summary>A 64-bit interrupt gate in the guest IDT.</summary>
    internal static void GuestGate(VmxMachine m, int vector, ulong handler)
    {
        ulong lo = (handler & 0xFFFF) | (0x08UL << 16) | (0x8EUL << 40) | (3UL << 45) | ((handler >> 16 & 0xFFFF) << 48);
        m.Memory.Write(VmxMachine.GuestIdt + (ulong)vector * 16, 8, lo);
        m.Memory.Write(VmxMachine.GuestIdt + (ulong)vector * 16 + 8, 8, handler >> 32);
    }

    /// <summary>Guest handler: R15 = [RSP] (error code or return RIP), R14 = vector marker, then VMCALL.</summary>
    private static void InstallHandler(VmxMachine m, int vector)
    {
        GuestGate(m, vector, VmxMachine.GuestHandler);
        m.Load(VmxMachine.GuestHandler, a => { a.mov(r15, __qword_ptr[rsp]); a.mov(r14, vector); a.vmcall(); });
    }

    [Fact]
    public void ExceptionBitmapTurnsUdIntoExit()
    {
        var (m, _) = VmExitTests.Exit(g => { g.nop(); g.ud2(); }, t => t.Fields[F.ExceptionBitmap] = 1 << Vector.UD);
        using var o = m;
        Assert.Equal(0UL, m.Cpu.R(Reg.R12));
        Assert.Equal(Interruption.Valid | (3u << 8) | 6u, m.Vmcs(F.ExitInterruptionInfo));
        Assert.Equal(VmxMachine.GuestCode + 1, m.Vmcs(F.GuestRip));
        Assert.Equal(0UL, m.Vmcs(F.IdtVectoringInfo));
    }

    [Fact]
    public void ExceptionNotInBitmapIsDeliveredThroughGuestIdt()
    {
        var (m, _) = VmExitTests.Exit(g => { g.ud2(); }, machine: mm => InstallHandler(mm, Vector.UD));
        using var o = m;
        Assert.Equal((ulong)ExitReason.Vmcall, m.Cpu.R(Reg.R12));
        Assert.Equal((ulong)Vector.UD, m.Cpu.R(Reg.R14));
        Assert.Equal(VmxMachine.GuestCode, m.Cpu.R(Reg.R15)); // faulting RIP pushed
    }

    [Theory]
    [InlineData(true, 0u, 0u, true)]      // bit 14 = 1, match → exit
    [InlineData(true, 1u, 1u, false)]     // bit 14 = 1, (err & 1) = 0 != 1 → no exit
    [InlineData(false, 1u, 1u, true)]     // bit 14 = 0, mismatch → exit
    [InlineData(false, 0u, 0u, false)]    // bit 14 = 0, match → no exit
    public void PageFaultErrorCodeMaskAndMatch(bool bit, uint mask, uint match, bool exits)
    {
        var (m, _) = VmExitTests.Exit(g => { g.mov(rax, 0x40000008); g.mov(rbx, __qword_ptr[rax]); },
            t =>
            {
                t.Fields[F.ExceptionBitmap] = bit ? 1u << Vector.PF : 0;
                t.Fields[F.PfErrorMask] = mask;
                t.Fields[F.PfErrorMatch] = match;
            },
            mm => InstallHandler(mm, Vector.PF));
        using var o = m;
        if (exits)
        {
            Assert.Equal(0UL, m.Cpu.R(Reg.R12));
            Assert.Equal(0x40000008UL, m.Cpu.R(Reg.R13)); // qualification: the faulting address
            Assert.Equal(Interruption.Valid | Interruption.ErrorCodeValid | (3u << 8) | 14u, m.Vmcs(F.ExitInterruptionInfo));
            Assert.Equal(0UL, m.Vmcs(F.ExitInterruptionErrorCode));
            Assert.NotEqual(0x40000008UL, m.Cpu.Cr2); // CR2 not written by a #PF exit
        }
        else
        {
            Assert.Equal((ulong)ExitReason.Vmcall, m.Cpu.R(Reg.R12));
            Assert.Equal(0x40000008UL, m.Cpu.Cr2);
        }
    }

    [Fact]
    public void TripleFaultInGuestExitsWithReason2()
    {
        var (m, _) = VmExitTests.Exit(g => { g.ud2(); }, t => t.Fields[F.GuestIdtrLimit] = 0);
        using var o = m;
        Assert.Equal((ulong)ExitReason.TripleFault, m.Cpu.R(Reg.R12));
    }

    [Fact]
    public void NestedFaultExitReportsIdtVectoringInformation()
    {
        // #UD delivery faults (#GP: IDT limit) and #GP is in the bitmap: the exit reports #GP, vectoring #UD.
        var (m, _) = VmExitTests.Exit(g => { g.ud2(); },
            t => { t.Fields[F.GuestIdtrLimit] = 0; t.Fields[F.ExceptionBitmap] = 1 << Vector.GP; });
        using var o = m;
        Assert.Equal(0UL, m.Cpu.R(Reg.R12));
        Assert.Equal(Interruption.Valid | Interruption.ErrorCodeValid | (3u << 8) | 13u, m.Vmcs(F.ExitInterruptionInfo));
        Assert.Equal((ulong)(Vector.UD * 8 + 2), m.Vmcs(F.ExitInterruptionErrorCode));
        Assert.Equal(Interruption.Valid | (3u << 8) | 6u, m.Vmcs(F.IdtVectoringInfo));
    }

    [Fact]
    public void ExternalInterruptExitingWithAcknowledge()
    {
        var ctl = new OneInterrupt(0x31);
        var (m, _) = VmExitTests.Exit(g => { var l = g.CreateLabel(); g.Label(ref l); g.jmp(l); },
            t => { t.Set(F.PinControls, C.PinExtIntExiting); t.Set(F.ExitControls, C.ExitAckInterrupt); },
            mm => mm.Cpu.Interrupts = ctl);
        using var o = m;
        Assert.Equal((ulong)ExitReason.ExternalInterrupt, m.Cpu.R(Reg.R12));
        Assert.Equal(Interruption.Valid | 0x31u, m.Vmcs(F.ExitInterruptionInfo));
        Assert.Equal(1, ctl.Acks);
    }

    [Fact]
    public void ExternalInterruptExitingWithoutAcknowledgeLeavesItPending()
    {
        var ctl = new OneInterrupt(0x31);
        var (m, _) = VmExitTests.Exit(g => { g.nop(); }, t => t.Set(F.PinControls, C.PinExtIntExiting), mm => mm.Cpu.Interrupts = ctl);
        using var o = m;
        Assert.Equal((ulong)ExitReason.ExternalInterrupt, m.Cpu.R(Reg.R12));
        Assert.Equal(0UL, m.Vmcs(F.ExitInterruptionInfo));
        Assert.True(ctl.Pending);
    }

    [Fact]
    public void ExternalInterruptWithoutExitingGoesToGuestIdt()
    {
        var ctl = new OneInterrupt(0x41);
        var (m, _) = VmExitTests.Exit(g => { var l = g.CreateLabel(); g.Label(ref l); g.jmp(l); },
            t => t.Fields[F.GuestRflags] = 0x202, mm => { mm.Cpu.Interrupts = ctl; InstallHandler(mm, 0x41); });
        using var o = m;
        Assert.Equal((ulong)ExitReason.Vmcall, m.Cpu.R(Reg.R12));
        Assert.Equal(0x41UL, m.Cpu.R(Reg.R14));
    }

    [Fact]
    public void InterruptWindowExitsWhenIfIsSet()
    {
        var (m, _) = VmExitTests.Exit(g => { g.nop(); g.vmcall(); },
            t => { t.Set(F.ProcControls, C.ProcIntWindow); t.Fields[F.GuestRflags] = 0x202; });
        using var o = m;
        Assert.Equal((ulong)ExitReason.InterruptWindow, m.Cpu.R(Reg.R12));
        Assert.Equal(VmxMachine.GuestCode, m.Vmcs(F.GuestRip));
    }

    [Fact]
    public void InterruptWindowWaitsForStiShadowToEnd()
    {
        // Entry with STI blocking: one instruction runs before the window opens.
        var (m, _) = VmExitTests.Exit(g => { g.nop(); g.nop(); g.vmcall(); },
            t =>
            {
                t.Set(F.ProcControls, C.ProcIntWindow);
                t.Fields[F.GuestRflags] = 0x202;
                t.Fields[F.GuestInterruptibility] = 1;
            });
        using var o = m;
        Assert.Equal((ulong)ExitReason.InterruptWindow, m.Cpu.R(Reg.R12));
        Assert.Equal(VmxMachine.GuestCode + 1, m.Vmcs(F.GuestRip));
    }

    [Fact]
    public void NmiWindowExitsWithoutVirtualNmiBlocking()
    {
        var (m, _) = VmExitTests.Exit(g => { g.vmcall(); },
            t =>
            {
                t.Set(F.PinControls, C.PinNmiExiting | C.PinVirtualNmis);
                t.Set(F.ProcControls, C.ProcNmiWindow);
            });
        using var o = m;
        Assert.Equal((ulong)ExitReason.NmiWindow, m.Cpu.R(Reg.R12));
    }

    [Fact]
    public void NmiWindowStaysClosedWhileBlocked()
    {
        var (m, _) = VmExitTests.Exit(g => { g.vmcall(); },
            t =>
            {
                t.Set(F.PinControls, C.PinNmiExiting | C.PinVirtualNmis);
                t.Set(F.ProcControls, C.ProcNmiWindow);
                t.Fields[F.GuestInterruptibility] = 8;
            });
        using var o = m;
        Assert.Equal((ulong)ExitReason.Vmcall, m.Cpu.R(Reg.R12));
        Assert.Equal(8UL, m.Vmcs(F.GuestInterruptibility));
    }

    [Fact]
    public void PreemptionTimerExpiresAfterValueTimesRate()
    {
        var (m, _) = VmExitTests.Exit(g => { var l = g.CreateLabel(); g.Label(ref l); g.inc(rbx); g.jmp(l); },
            t =>
            {
                t.Set(F.PinControls, C.PinPreemptionTimer);
                t.Set(F.ExitControls, C.ExitSaveTimer);
                t.Fields[F.PreemptionTimerValue] = 10;
            });
        using var o = m;
        Assert.Equal((ulong)ExitReason.PreemptionTimer, m.Cpu.R(Reg.R12));
        Assert.Equal(0UL, m.Vmcs(F.PreemptionTimerValue));
        // 10 ticks of 2^5 cycles: between 9 and 10 periods of guest instructions ran.
        ulong guestInsns = m.Cpu.R(Reg.Rbx) * 2;
        Assert.InRange(guestInsns, 9UL * 32 - 2, 10UL * 32 + 2);
    }

    [Fact]
    public void PreemptionTimerZeroExitsBeforeFirstInstruction()
    {
        var (m, _) = VmExitTests.Exit(g => { g.vmcall(); },
            t => { t.Set(F.PinControls, C.PinPreemptionTimer); t.Fields[F.PreemptionTimerValue] = 0; });
        using var o = m;
        Assert.Equal((ulong)ExitReason.PreemptionTimer, m.Cpu.R(Reg.R12));
        Assert.Equal(VmxMachine.GuestCode, m.Vmcs(F.GuestRip));
    }

    [Fact]
    public void PreemptionTimerWakesHaltedGuest()
    {
        var (m, _) = VmExitTests.Exit(g => { g.vmcall(); },
            t =>
            {
                t.Set(F.PinControls, C.PinPreemptionTimer);
                t.Fields[F.PreemptionTimerValue] = 100;
                t.Fields[F.GuestActivityState] = 1;
            });
        using var o = m;
        Assert.Equal((ulong)ExitReason.PreemptionTimer, m.Cpu.R(Reg.R12));
        Assert.Equal(1UL, m.Vmcs(F.GuestActivityState)); // exit from the HLT state
        Assert.True(m.Cpu.IdleCycles >= 99 * 32);
    }

    [Theory]
    [InlineData(0x40, Interruption.TypeExternal, false, 0u, 0u)]
    [InlineData(2, Interruption.TypeNmi, false, 0u, 0u)]
    [InlineData(13, Interruption.TypeHardwareException, true, 0x1234u, 0u)]
    [InlineData(0x80, Interruption.TypeSoftwareInterrupt, false, 0u, 2u)]
    [InlineData(3, Interruption.TypeSoftwareException, false, 0u, 1u)]
    [InlineData(1, Interruption.TypePrivilegedSoftware, false, 0u, 1u)]
    public void EventInjectionOfEachType(int vector, int type, bool errorCode, uint error, uint length)
    {
        var (m, _) = VmExitTests.Exit(g => { g.hlt(); },
            t =>
            {
                t.Fields[F.GuestRflags] = 0x202;
                t.Fields[F.EntryInterruptionInfo] = Interruption.Make(vector, type, errorCode);
                t.Fields[F.EntryExceptionErrorCode] = error;
                t.Fields[F.EntryInstructionLength] = length;
                t.Set(F.PinControls, C.PinNmiExiting | C.PinVirtualNmis);
            },
            mm => InstallHandler(mm, vector));
        using var o = m;
        Assert.Equal((ulong)ExitReason.Vmcall, m.Cpu.R(Reg.R12));
        Assert.Equal((ulong)vector, m.Cpu.R(Reg.R14));
        Assert.Equal(errorCode ? error : VmxMachine.GuestCode + length, m.Cpu.R(Reg.R15));
        Assert.Equal(0UL, m.Vmcs(F.EntryInterruptionInfo) & Interruption.Valid); // cleared by the exit
        if (type == Interruption.TypeNmi) Assert.Equal(8UL, m.Vmcs(F.GuestInterruptibility) & 8);
    }

    [Fact]
    public void InjectionIntoHaltedGuestWakesIt()
    {
        var (m, _) = VmExitTests.Exit(g => { g.vmcall(); },
            t =>
            {
                t.Fields[F.GuestActivityState] = 1;
                t.Fields[F.EntryInterruptionInfo] = Interruption.Make(13, Interruption.TypeHardwareException, true);
            },
            mm => InstallHandler(mm, 13));
        using var o = m;
        Assert.Equal(13UL, m.Cpu.R(Reg.R14));
        Assert.Equal(0UL, m.Vmcs(F.GuestActivityState));
    }

    [Fact]
    public void HaltedGuestWithoutWakeSourceStopsTheRun()
    {
        using var m = new VmxMachine();
        var t = new HvTest { Guest = g => g.vmcall() };
        t.Fields[F.GuestActivityState] = 1;
        Assert.Equal("hlt", t.Run(m).ToString());
        Assert.True(m.Cpu.InNonRoot);
    }

    [Fact]
    public void PendingDebugExceptionDeliversDbAfterEntry()
    {
        var (m, _) = VmExitTests.Exit(g => { g.vmcall(); },
            t => { t.Fields[F.GuestPendingDebug] = 0x4000; t.Fields[F.GuestRflags] = 0x302; t.Fields[F.ExceptionBitmap] = 1 << Vector.DB; });
        using var o = m;
        Assert.Equal(0UL, m.Cpu.R(Reg.R12));
        Assert.Equal(Interruption.Valid | (3u << 8) | 1u, m.Vmcs(F.ExitInterruptionInfo));
        Assert.Equal(0x4000UL, m.Cpu.R(Reg.R13) & 0x4000);
    }
}
