using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Vmx;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using F = HyperLock.Emulator.Vmx.VmcsField;
using C = HyperLock.Emulator.Vmx.VmxControls;

namespace HyperLock.Emulator.Tests.Vmx;

/// <summary>INIT, CR8/LMSW, RDTSCP/TSC offsetting, MOV-SS blocking at entry, and the tagged TLB.</summary>
public class VmxMoreTests
{
    [Fact]
    public void InitSignalInNonRootExitsWithReason3()
    {
        using var m = new VmxMachine();
        var t = new HvTest { Guest = g => { var l = g.CreateLabel(); g.Label(ref l); g.inc(rbx); g.jmp(l); } };
        Assert.Equal("max-steps", t.Run(m, 2000).ToString());
        Assert.True(m.Cpu.InNonRoot);
        Assert.True(m.Cpu.VmxSignalInit());
        Assert.Equal("int3", m.Run(1000).ToString());
        Assert.Equal((ulong)ExitReason.Init, m.Cpu.R(Reg.R12));
        Assert.True(m.Cpu.VmxSignalInit()); // blocked in root: consumed, no exit
        Assert.False(m.Cpu.InNonRoot);
    }

    [Fact]
    public void MovToCr8ExitsWithCr8LoadExiting()
    {
        var (m, _) = VmExitTests.Exit(g => { g.mov(r10, 5); g.mov(cr8, r10); }, t => t.Set(F.ProcControls, C.ProcCr8Load));
        using var o = m;
        Assert.Equal((ulong)ExitReason.CrAccess, m.Cpu.R(Reg.R12));
        Assert.Equal(8UL | (10UL << 8), m.Cpu.R(Reg.R13));
    }

    [Fact]
    public void LmswExitsWhenChangingAnOwnedBitAwayFromItsShadow()
    {
        var (m, _) = VmExitTests.Exit(g => { g.mov(eax, 0x0B); g.lmsw(ax); },
            t => { t.Fields[F.Cr0GuestHostMask] = Bits.Cr0Ts | Bits.Cr0Mp; t.Fields[F.Cr0ReadShadow] = Bits.Cr0Mp; });
        using var o = m;
        Assert.Equal((ulong)ExitReason.CrAccess, m.Cpu.R(Reg.R12));
        Assert.Equal((3UL << 4) | (0x0BUL << 16), m.Cpu.R(Reg.R13)); // LMSW, register AX, source data
    }

    [Fact]
    public void CrReadsReturnReadShadowsForOwnedBits()
    {
        var (m, _) = VmExitTests.Exit(g => { g.mov(rbx, cr0); g.mov(rcx, cr4); g.vmcall(); },
            t =>
            {
                t.Fields[F.Cr0GuestHostMask] = Bits.Cr0Ts; t.Fields[F.Cr0ReadShadow] = Bits.Cr0Ts;
                t.Fields[F.Cr4GuestHostMask] = Bits.Cr4Vmxe; t.Fields[F.Cr4ReadShadow] = 0;
            });
        using var o = m;
        Assert.Equal(VmxMachine.HostCr0 | Bits.Cr0Ts, m.Cpu.R(Reg.Rbx));
        Assert.Equal(VmxMachine.HostCr4 & ~Bits.Cr4Vmxe, m.Cpu.R(Reg.Rcx));
    }

    [Fact]
    public void RdtscpIsUdUnlessEnabledAndExitsWithRdtscExiting()
    {
        var (m, _) = VmExitTests.Exit(g => { g.rdtscp(); }, t => t.Fields[F.ExceptionBitmap] = 1 << Vector.UD);
        using (m) Assert.Equal(Interruption.Valid | (3u << 8) | 6u, m.Vmcs(F.ExitInterruptionInfo));
        (m, _) = VmExitTests.Exit(g => { g.rdtscp(); },
            t => { t.Set(F.ProcControls, C.ProcSecondary | C.ProcRdtsc); t.Fields[F.ProcControls2] = C.Proc2Rdtscp; });
        using (m) Assert.Equal((ulong)ExitReason.Rdtscp, m.Cpu.R(Reg.R12));
    }

    [Fact]
    public void TscOffsettingShiftsTheGuestTsc()
    {
        var (m, _) = VmExitTests.Exit(g => { g.rdtsc(); g.mov(r9, rdx); g.vmcall(); },
            t => { t.Set(F.ProcControls, C.ProcTscOffsetting); t.Fields[F.TscOffset] = 1UL << 40; });
        using var o = m;
        ulong tsc = (m.Cpu.R(Reg.R9) << 32) | (uint)m.Cpu.R(Reg.Rax); // the host handler clobbers RDX
        Assert.InRange(tsc, 1UL << 40, (1UL << 40) + m.Cpu.Tsc);
    }

    [Fact]
    public void VmlaunchInMovSsShadowFailsWithError26()
    {
        using var m = new VmxMachine();
        var t = new HvTest { Guest = g => g.vmcall(), BeforeLaunch = a => { a.mov(eax, 0x10); a.mov(ss, ax); } };
        Assert.Equal("int3", t.Run(m).ToString());
        Assert.True(m.Cpu.ZF);
        Assert.Equal(26UL, m.Vmcs(F.InstructionError));
    }

    [Fact]
    public void VpidKeepsTranslationsAcrossExitsAndNoVpidFlushes()
    {
        foreach (bool vpid in new[] { true, false })
        {
            using var m = new VmxMachine();
            var t = new HvTest { Guest = g => VmxWorkloadTests.CpuidLoopGuest(g, 50), OnExit = VmxWorkloadTests.LoopHandler };
            if (vpid)
            {
                t.Set(F.ProcControls, C.ProcSecondary);
                t.Fields[F.ProcControls2] = C.Proc2Vpid;
                t.Fields[F.Vpid] = 7;
            }
            Assert.Equal("int3", t.Run(m).ToString());
            Assert.Equal(51UL, m.Cpu.VmExits);
            if (vpid) Assert.True(m.Cpu.VmxTlbFlushes <= 2, $"flushes {m.Cpu.VmxTlbFlushes}");
            else Assert.True(m.Cpu.VmxTlbFlushes >= 100, $"flushes {m.Cpu.VmxTlbFlushes}");
        }
    }

    [Fact]
    public void GuestContextDoesNotSeeHostTranslationsOfTheSameLinearAddress()
    {
        // Host and guest both read linear 0x600000; the guest's CR3 maps it to another frame.
        using var m = new VmxMachine();
        const ulong guestPml4 = 0x30000, guestPdpt = 0x31000, guestPd = 0x32000;
        m.Memory.Write(guestPml4, 8, guestPdpt | 3);
        m.Memory.Write(guestPdpt, 8, guestPd | 3);
        for (ulong k = 0; k < 512; k++) m.Memory.Write(guestPd + k * 8, 8, (k << 21) | 0x83);
        m.Memory.Write(guestPd + 3 * 8, 8, (4UL << 21) | 0x83); // 0x600000 → 0x800000
        m.Memory.Write(0x600000, 8, 0x1111);
        m.Memory.Write(0x800000, 8, 0x2222);
        var t = new HvTest
        {
            Guest = g => { g.mov(rax, 0x600000); g.mov(rbx, __qword_ptr[rax]); g.vmcall(); },
            BeforeLaunch = a => { a.mov(rax, 0x600000); a.mov(rcx, __qword_ptr[rax]); },
        };
        t.Set(F.ProcControls, C.ProcSecondary);
        t.Fields[F.ProcControls2] = C.Proc2Vpid;
        t.Fields[F.Vpid] = 3;
        t.Fields[F.GuestCr3] = guestPml4;
        t.OnExit = a => { a.mov(rax, 0x600000); a.mov(rdx, __qword_ptr[rax]); a.int3(); };
        Assert.Equal("int3", t.Run(m).ToString());
        Assert.Equal(0x1111UL, m.Cpu.R(Reg.Rcx));
        Assert.Equal(0x2222UL, m.Cpu.R(Reg.Rbx));
        Assert.Equal(0x1111UL, m.Cpu.R(Reg.Rdx));
    }
}

/// <summary>Delivery-time EPT violations, PDPTE checks, INVEPT success, malformed lists.</summary>
public class VmxEdgeTests
{
    [Fact]
    public void EptViolationWhileDeliveringAnInjectedEventReportsIdtVectoring()
    {
        using var m = new VmxMachine();
        ulong eptp = m.BuildIdentityEpt(16 << 20);
        m.MapEpt(eptp & ~0xFFFUL, VmxMachine.GuestIdt, VmxMachine.GuestIdt, 0); // guest IDT not readable
        var t = new HvTest { Guest = g => g.vmcall() };
        t.Set(F.ProcControls, C.ProcSecondary);
        t.Fields[F.ProcControls2] = C.Proc2Ept;
        t.Fields[F.EptPointer] = eptp;
        t.Fields[F.EntryInterruptionInfo] = Interruption.Make(13, Interruption.TypeHardwareException, true);
        t.Fields[F.EntryExceptionErrorCode] = 0x18;
        Assert.Equal("int3", t.Run(m).ToString());
        Assert.Equal((ulong)ExitReason.EptViolation, m.Cpu.R(Reg.R12));
        Assert.Equal(Interruption.Make(13, Interruption.TypeHardwareException, true), m.Vmcs(F.IdtVectoringInfo));
        Assert.Equal(0x18UL, m.Vmcs(F.IdtVectoringErrorCode));
        Assert.Equal(VmxMachine.GuestIdt + 13 * 16, m.Vmcs(F.GuestPhysicalAddress));
        Assert.Equal(VmxMachine.GuestCode, m.Vmcs(F.GuestRip));
    }

    [Fact]
    public void PaeGuestWithBadPdpteFailsEntryWithQualification2()
    {
        using var m = new VmxMachine();
        const ulong pdpt = 0x33000;
        m.Memory.Write(pdpt, 8, 0x34000 | 1 | (1 << 5)); // present with reserved bit 5
        var t = new HvTest { Guest = g => g.vmcall() };
        t.Fields[F.EntryControls] = VmxCapabilities.EntryTrueDefault1;
        t.Fields[F.GuestCr3] = pdpt;
        t.Fields[F.GuestCsAr] = 0xC09B;
        t.Fields[F.GuestEfer] = 0;
        Assert.Equal("int3", t.Run(m).ToString());
        Assert.Equal(ExitReason.EntryFailure | ExitReason.InvalidGuestState, m.Cpu.R(Reg.R12));
        Assert.Equal(2UL, m.Cpu.R(Reg.R13));
    }

    [Fact]
    public void InveptSingleContextWithValidEptpSucceeds()
    {
        using var m = new VmxMachine();
        m.Load(VmxMachine.HostCode, a =>
        {
            a.vmxon(__qword_ptr[VmxMachine.PtrVmxon]);
            a.vmclear(__qword_ptr[VmxMachine.PtrVmcs]);
            a.vmptrld(__qword_ptr[VmxMachine.PtrVmcs]);
            a.mov(rax, (long)(VmxMachine.EptBase | 6 | (3 << 3)));
            a.mov(__qword_ptr[VmxMachine.Desc], rax);
            a.mov(__qword_ptr[VmxMachine.Desc + 8], 0);
            a.mov(rax, 1);
            a.invept(rax, __[VmxMachine.Desc]);
            a.int3();
        });
        Assert.Equal("int3", m.Run(100).ToString());
        Assert.False(m.Cpu.CF);
        Assert.False(m.Cpu.ZF);
    }

    [Fact]
    public void OversizedExitMsrStoreListIsAVmxAbort()
    {
        using var m = new VmxMachine();
        var t = new HvTest { Guest = g => g.vmcall() };
        t.Fields[F.ExitMsrStoreAddr] = VmxMachine.MsrArea;
        t.Fields[F.ExitMsrStoreCount] = 100_000;
        Assert.Equal("shutdown", t.Run(m).ToString());
        Assert.Equal(1u, m.Cpu.LastVmxAbort);
        Assert.Equal(1UL, m.Memory.Read(VmxMachine.VmcsRegion + 4, 4));
    }
}

/// <summary>A halted guest with IF = 0 is woken by an external interrupt that exits.</summary>
public class VmxHaltWakeTests
{
    private sealed class TimedInterrupt : HyperLock.Emulator.Processor.Execution.IInterruptController
    {
        public bool Raised;
        public bool HasInterrupt => Raised;
        public int Acknowledge() { Raised = false; return 0x20; }
    }

    [Fact]
    public void HaltedGuestWithIfClearExitsOnExternalInterruptAtTheNextDeviceEvent()
    {
        using var m = new VmxMachine();
        var pic = new TimedInterrupt();
        m.Cpu.Interrupts = pic;
        var t = new HvTest { Guest = g => g.vmcall() };
        t.Fields[F.GuestActivityState] = 1;
        t.Set(F.PinControls, C.PinExtIntExiting);
        t.Set(F.ExitControls, C.ExitAckInterrupt);
        t.BeforeLaunch = _ => { };
        m.Cpu.EventDeadline = 50_000;
        m.Cpu.DeadlineReached = () => pic.Raised = true;
        Assert.Equal("int3", t.Run(m).ToString());
        Assert.Equal((ulong)ExitReason.ExternalInterrupt, m.Cpu.R(Reg.R12));
        Assert.Equal(Interruption.Valid | 0x20u, m.Vmcs(F.ExitInterruptionInfo));
        Assert.Equal(1UL, m.Vmcs(F.GuestActivityState));
        Assert.True(m.Cpu.Now >= 50_000);
    }
}

/// <summary>CR0/CR4 fixed bits in VMX operation (needs the WriteCr0/WriteCr4 hook in the system family).</summary>
public class VmxFixedBitsTests
{
    [Fact]
    public void VmxCrValueAllowedEnforcesFixedBits()
    {
        using var m = new VmxMachine();
        var c = m.Cpu;
        Assert.True(c.VmxCrValueAllowed(4, 0)); // outside VMX operation anything goes
        m.Load(VmxMachine.HostCode, a => { a.vmxon(__qword_ptr[VmxMachine.PtrVmxon]); a.int3(); });
        Assert.Equal("int3", m.Run(10).ToString());
        Assert.False(c.VmxCrValueAllowed(4, VmxMachine.HostCr4 & ~Bits.Cr4Vmxe));
        Assert.False(c.VmxCrValueAllowed(0, VmxMachine.HostCr0 & ~Bits.Cr0Ne));
        Assert.True(c.VmxCrValueAllowed(0, VmxMachine.HostCr0));
        Assert.True(c.VmxCrValueAllowed(4, VmxMachine.HostCr4));
    }

    [Fact]
    public void ClearingCr4VmxeInVmxOperationIsGp()
    {
        using var m = new VmxMachine();
        m.Load(VmxMachine.HostCode, a =>
        {
            a.vmxon(__qword_ptr[VmxMachine.PtrVmxon]);
            a.mov(rax, (long)(VmxMachine.HostCr4 & ~Bits.Cr4Vmxe));
            a.mov(cr4, rax);
            a.int3();
        });
        Assert.Equal("#GP(0)", m.Run(10).ToString());
    }
}
