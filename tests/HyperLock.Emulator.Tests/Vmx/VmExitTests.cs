using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Vmx;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using F = HyperLock.Emulator.Vmx.VmcsField;
using C = HyperLock.Emulator.Vmx.VmxControls;

namespace HyperLock.Emulator.Tests.Vmx;

/// <summary>VM exits: basic reason, qualification, instruction length/information, guest RIP, per exit reason.</summary>
public class VmExitTests
{
    internal static (VmxMachine M, HvTest T) Exit(Action<Assembler> guest, Action<HvTest>? setup = null, Action<VmxMachine>? machine = null)
    {
        var m = new VmxMachine();
        machine?.Invoke(m);
        var t = new HvTest { Guest = guest };
        setup?.Invoke(t);
        var stop = t.Run(m, 100_000);
        Assert.Equal("int3", stop.ToString());
        return (m, t);
    }

    private static void AssertExit(VmxMachine m, int reason, ulong guestRipOffset, ulong length)
    {
        Assert.Equal((ulong)reason, m.Cpu.R(Reg.R12));
        Assert.Equal((ulong)reason, m.Vmcs(F.ExitReason));
        Assert.Equal(VmxMachine.GuestCode + guestRipOffset, m.Vmcs(F.GuestRip));
        Assert.Equal(length, m.Vmcs(F.ExitInstructionLength));
        Assert.False(m.Cpu.InNonRoot);
    }

    [Fact]
    public void CpuidExitsUnconditionally()
    {
        var (m, _) = Exit(g => { g.mov(eax, 1); g.cpuid(); });
        using var o = m;
        AssertExit(m, ExitReason.Cpuid, 5, 2);
        Assert.Equal(1UL, m.Cpu.R(Reg.Rax)); // guest GPRs are not touched by the exit
    }

    [Fact]
    public void VmcallExits()
    {
        var (m, _) = Exit(g => { g.nop(); g.vmcall(); });
        using var o = m;
        AssertExit(m, ExitReason.Vmcall, 1, 3);
    }

    [Fact]
    public void HltExitsOnlyWithHltExiting()
    {
        var (m, _) = Exit(g => { g.hlt(); }, t => t.Set(F.ProcControls, C.ProcHlt));
        using var o = m;
        AssertExit(m, ExitReason.Hlt, 0, 1);
    }

    [Fact]
    public void InvdAndXsetbvAndGetsecExitUnconditionally()
    {
        var (m, _) = Exit(g => { g.invd(); });
        using (m) AssertExit(m, ExitReason.Invd, 0, 2);
        // XSETBV's #UD (CR4.OSXSAVE = 0) has priority over the exit: the guest enables OSXSAVE.
        (m, _) = Exit(g => { g.xsetbv(); }, t => t.Fields[F.GuestCr4] = VmxMachine.HostCr4 | Bits.Cr4Osxsave);
        using (m) AssertExit(m, ExitReason.Xsetbv, 0, 3);
    }

    [Theory]
    [InlineData(C.ProcRdtsc, ExitReason.Rdtsc)]
    [InlineData(C.ProcRdpmc, ExitReason.Rdpmc)]
    [InlineData(C.ProcMwait, ExitReason.Mwait)]
    [InlineData(C.ProcMonitor, ExitReason.Monitor)]
    public void ConditionalInstructionExits(uint control, int reason)
    {
        Action<Assembler> g = reason switch
        {
            ExitReason.Rdtsc => a => a.rdtsc(),
            ExitReason.Rdpmc => a => a.rdpmc(),
            ExitReason.Mwait => a => a.mwait(),
            _ => a => a.monitor(),
        };
        var (m, _) = Exit(g, t => t.Set(F.ProcControls, control));
        using var o = m;
        Assert.Equal((ulong)reason, m.Cpu.R(Reg.R12));
        Assert.Equal(VmxMachine.GuestCode, m.Vmcs(F.GuestRip));
    }

    [Fact]
    public void PauseExitsWithPauseExiting()
    {
        // Needs the one-line hook in the PAUSE handler (Integer/Misc.cs): c.VmxInterceptPause.
        var (m, _) = Exit(g => { g.pause(); g.vmcall(); }, t => t.Set(F.ProcControls, C.ProcPause));
        using var o = m;
        AssertExit(m, ExitReason.Pause, 0, 2);
    }

    [Fact]
    public void WbinvdExitsWithSecondaryControl()
    {
        var (m, _) = Exit(g => { g.wbinvd(); },
            t => { t.Set(F.ProcControls, C.ProcSecondary); t.Fields[F.ProcControls2] = C.Proc2Wbinvd; });
        using var o = m;
        AssertExit(m, ExitReason.Wbinvd, 0, 2);
    }

    [Fact]
    public void InvlpgExitQualificationIsTheLinearAddress()
    {
        var (m, _) = Exit(g => { g.mov(rbx, 0x12345000); g.invlpg(__[rbx + 0x10]); }, t => t.Set(F.ProcControls, C.ProcInvlpg));
        using var o = m;
        Assert.Equal((ulong)ExitReason.Invlpg, m.Cpu.R(Reg.R12));
        Assert.Equal(0x12345010UL, m.Cpu.R(Reg.R13));
    }

    [Fact]
    public void RdmsrAndWrmsrFollowTheMsrBitmap()
    {
        // Bitmap: read-low bit for MSR 0x10 set → RDMSR 0x10 exits; MSR 0x174 clear (would run, but we
        // only check the exiting one). Without MSR bitmaps every RDMSR exits.
        var (m, _) = Exit(g => { g.mov(ecx, 0x10); g.rdmsr(); },
            t => { t.Set(F.ProcControls, C.ProcMsrBitmaps); t.Fields[F.MsrBitmap] = VmxMachine.MsrBitmap; },
            m => m.Memory.Write(VmxMachine.MsrBitmap + 2, 1, 1)); // bit 0x10
        using (m)
        {
            Assert.Equal((ulong)ExitReason.Rdmsr, m.Cpu.R(Reg.R12));
            Assert.Equal(VmxMachine.GuestCode + 5, m.Vmcs(F.GuestRip));
        }
        (m, _) = Exit(g => { g.mov(ecx, 0xC0000080); g.wrmsr(); },
            t => { t.Set(F.ProcControls, C.ProcMsrBitmaps); t.Fields[F.MsrBitmap] = VmxMachine.MsrBitmap; },
            m => m.Memory.Write(VmxMachine.MsrBitmap + 2048 + 1024 + 0x10, 1, 1)); // write-high bit for 0xC0000080
        using (m) Assert.Equal((ulong)ExitReason.Wrmsr, m.Cpu.R(Reg.R12));
        (m, _) = Exit(g => { g.mov(ecx, 0x3A); g.rdmsr(); });
        using (m) Assert.Equal((ulong)ExitReason.Rdmsr, m.Cpu.R(Reg.R12));
    }

    [Fact]
    public void IoExitsUnconditionalAndByBitmapWithQualification()
    {
        var (m, _) = Exit(g => { g.mov(dx, 0x3F8); g.@out(dx, al); }, t => t.Set(F.ProcControls, C.ProcUncondIo));
        using (m)
        {
            Assert.Equal((ulong)ExitReason.Io, m.Cpu.R(Reg.R12));
            Assert.Equal((0x3F8UL << 16) | 0, m.Cpu.R(Reg.R13)); // size 1, OUT, DX
            Assert.Equal(1UL, m.Vmcs(F.ExitInstructionLength));
        }
        (m, _) = Exit(g => { g.@in(eax, 0x71); },
            t =>
            {
                t.Set(F.ProcControls, C.ProcIoBitmaps);
                t.Fields[F.IoBitmapA] = VmxMachine.IoBitmapA;
                t.Fields[F.IoBitmapB] = VmxMachine.IoBitmapB;
            },
            m => m.Memory.Write(VmxMachine.IoBitmapA + (0x73 >> 3), 1, 1 << (0x73 & 7))); // port 0x73 = last byte of a 4-byte IN at 0x71
        using (m) Assert.Equal((0x71UL << 16) | 3 | 8 | 64, m.Cpu.R(Reg.R13));
        (m, _) = Exit(g => { g.mov(dx, 0x80); g.mov(ecx, 4); g.rep.outsb(); }, t => t.Set(F.ProcControls, C.ProcUncondIo));
        using (m)
        {
            Assert.Equal((0x80UL << 16) | 16 | 32, m.Cpu.R(Reg.R13)); // string, REP
            Assert.Equal(2UL << 7 | (ulong)Seg.Ds << 15, m.Vmcs(F.ExitInstructionInfo));
        }
    }

    [Fact]
    public void MovToCr3ExitsUnlessTargetValue()
    {
        var (m, _) = Exit(g => { g.mov(rbx, 0x5000); g.mov(cr3, rbx); }, t => t.Set(F.ProcControls, C.ProcCr3Load));
        using (m)
        {
            Assert.Equal((ulong)ExitReason.CrAccess, m.Cpu.R(Reg.R12));
            Assert.Equal(3UL | (3UL << 8), m.Cpu.R(Reg.R13)); // CR3, MOV to CR, RBX
        }
        (m, _) = Exit(g => { g.mov(rcx, cr3); }, t => t.Set(F.ProcControls, C.ProcCr3Store));
        using (m) Assert.Equal(3UL | (1UL << 4) | (1UL << 8), m.Cpu.R(Reg.R13));
        (m, _) = Exit(g => { g.mov(r9, cr8); }, t => t.Set(F.ProcControls, C.ProcCr8Store));
        using (m) Assert.Equal(8UL | (1UL << 4) | (9UL << 8), m.Cpu.R(Reg.R13));
    }

    [Fact]
    public void MovToCr0ExitsWhenHostOwnedBitDiffersFromShadow()
    {
        var (m, _) = Exit(g => { g.mov(rax, (long)VmxMachine.HostCr0); g.mov(cr0, rax); },
            t => { t.Fields[F.Cr0GuestHostMask] = Bits.Cr0Ts; t.Fields[F.Cr0ReadShadow] = Bits.Cr0Ts; });
        using var o = m;
        Assert.Equal((ulong)ExitReason.CrAccess, m.Cpu.R(Reg.R12));
        Assert.Equal(0UL, m.Cpu.R(Reg.R13)); // CR0, MOV to CR, RAX
    }

    [Fact]
    public void CltsExitsWhenTsOwnedAndShadowSet()
    {
        var (m, _) = Exit(g => { g.clts(); },
            t => { t.Fields[F.Cr0GuestHostMask] = Bits.Cr0Ts; t.Fields[F.Cr0ReadShadow] = Bits.Cr0Ts; });
        using var o = m;
        Assert.Equal(2UL << 4, m.Cpu.R(Reg.R13));
    }

    [Fact]
    public void MovDrExits()
    {
        var (m, _) = Exit(g => { g.mov(rbx, dr7); }, t => t.Set(F.ProcControls, C.ProcMovDr));
        using var o = m;
        Assert.Equal((ulong)ExitReason.MovDr, m.Cpu.R(Reg.R12));
        Assert.Equal(7UL | (1UL << 4) | (3UL << 8), m.Cpu.R(Reg.R13));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void VmxInstructionsInNonRootExitWithInstructionInformation(int which)
    {
        Action<Assembler> g = which switch
        {
            0 => a => { a.mov(rcx, 0x4402); a.vmread(rbx, rcx); },
            1 => a => { a.mov(rsi, 0x300000); a.vmptrld(__qword_ptr[rsi + 8]); },
            _ => a => a.vmlaunch(),
        };
        var (m, _) = Exit(g);
        using var o = m;
        int reason = which switch { 0 => ExitReason.Vmread, 1 => ExitReason.Vmptrld, _ => ExitReason.Vmlaunch };
        Assert.Equal((ulong)reason, m.Cpu.R(Reg.R12));
        if (which == 0) Assert.Equal((1UL << 10) | (3UL << 3) | (1UL << 28), m.Vmcs(F.ExitInstructionInfo));
        if (which == 1)
        {
            Assert.Equal(8UL, m.Cpu.R(Reg.R13)); // displacement
            Assert.Equal((2UL << 7) | ((ulong)Seg.Ds << 15) | (1UL << 22) | (6UL << 23), m.Vmcs(F.ExitInstructionInfo));
        }
    }
}
