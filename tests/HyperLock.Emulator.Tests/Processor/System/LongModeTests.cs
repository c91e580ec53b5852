using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using static HyperLock.Emulator.Tests.Processor.SystemInstructions.BareMetal;

namespace HyperLock.Emulator.Tests.Processor.SystemInstructions;

/// <summary>Exception delivery, privilege transitions, fast system calls and paging controls in 64-bit mode.</summary>
public class LongModeTests
{
    /// <summary>Result slots a recorder handler fills.</summary>
    private const int RVector = 0, RError = 1, RRip = 2, RCs = 3, RRsp = 4, RSs = 5, RCr2 = 6, REntryRsp = 7;

    private const ulong NoError = 0xDEAD;

    /// <summary>
    /// Installs a handler for <paramref name="vector"/> that records the vector, error code,
    /// the interrupt frame, CR2 and its own RSP in the result slots, then halts.
    /// </summary>
    internal static void Recorder(BareMetal m, int vector, bool hasError, int ist = 0, int dpl = 0)
    {
        ulong at = HandlerCode + (ulong)vector * 0x100;
        m.Asm(at, 64, a =>
        {
            a.mov(__qword_ptr[Results + RVector * 8], vector);
            int o = 0;
            if (hasError)
            {
                a.mov(rax, __qword_ptr[rsp]);
                o = 8;
            }
            else a.mov(rax, NoError);
            a.mov(__qword_ptr[Results + RError * 8], rax);
            a.mov(rax, __qword_ptr[rsp + o]);
            a.mov(__qword_ptr[Results + RRip * 8], rax);
            a.mov(rax, __qword_ptr[rsp + o + 8]);
            a.mov(__qword_ptr[Results + RCs * 8], rax);
            a.mov(rax, __qword_ptr[rsp + o + 24]);
            a.mov(__qword_ptr[Results + RRsp * 8], rax);
            a.mov(rax, __qword_ptr[rsp + o + 32]);
            a.mov(__qword_ptr[Results + RSs * 8], rax);
            a.mov(rax, cr2);
            a.mov(__qword_ptr[Results + RCr2 * 8], rax);
            a.mov(__qword_ptr[Results + REntryRsp * 8], rsp);
            a.hlt();
        });
        m.Gate64(vector, at, ist, dpl);
    }

    /// <summary>Builds an IRETQ frame to CPL 3 at <see cref="UserCode"/> and executes it.</summary>
    internal static void IretToUser(Assembler a, ulong rflags = 2)
    {
        a.mov(rax, (ulong)UserDs);
        a.push(rax);
        a.mov(rax, UserStack);
        a.push(rax);
        a.mov(rax, rflags);
        a.push(rax);
        a.mov(rax, (ulong)UserCs);
        a.push(rax);
        a.mov(rax, UserCode);
        a.push(rax);
        a.iretq();
    }

    [Fact]
    public void PageFaultUsesIstStackWithErrorCodeAndCr2()
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        Recorder(m, Vector.PF, hasError: true, ist: 1);
        var faulting = default(Label);
        var r = m.Asm(KernelCode, 64, a =>
        {
            faulting = a.CreateLabel();
            a.mov(rax, 0x4000_0000UL); // beyond the identity map: PDPT entry 1 is not present
            a.Label(ref faulting);
            a.mov(__qword_ptr[rax + 0x18], rbx);
            a.hlt();
        });
        var stop = m.Run();
        Assert.Equal(StopKind.Halted, stop.Kind);
        Assert.Equal((ulong)Vector.PF, m.Result(RVector));
        Assert.Equal((ulong)Cpu.PfWrite, m.Result(RError)); // write, not present, supervisor
        Assert.Equal(r.GetLabelRIP(faulting), m.Result(RRip));
        Assert.Equal(0x4000_0018UL, m.Result(RCr2));
        Assert.Equal((ulong)KernelCs, m.Result(RCs));
        Assert.Equal(KernelStack, m.Result(RRsp));
        Assert.Equal((ulong)KernelDs, m.Result(RSs));
        Assert.Equal(Ist1 - 6 * 8, m.Result(REntryRsp));
    }

    [Fact]
    public void GeneralProtectionForSelectorBeyondGdtLimitCarriesSelector()
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        Recorder(m, Vector.GP, hasError: true);
        var faulting = default(Label);
        var r = m.Asm(KernelCode, 64, a =>
        {
            faulting = a.CreateLabel();
            a.mov(eax, 0x1230);
            a.Label(ref faulting);
            a.mov(ds, ax);
            a.hlt();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal((ulong)Vector.GP, m.Result(RVector));
        Assert.Equal(0x1230UL, m.Result(RError));
        Assert.Equal(r.GetLabelRIP(faulting), m.Result(RRip));
        Assert.Equal(KernelStack - 6 * 8, m.Result(REntryRsp));
    }

    [Fact]
    public void InvalidOpcodeHasNoErrorCode()
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        Recorder(m, Vector.UD, hasError: false);
        m.Asm(KernelCode, 64, a => a.ud2());
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal((ulong)Vector.UD, m.Result(RVector));
        Assert.Equal(KernelCode, m.Result(RRip));
        Assert.Equal(KernelStack - 5 * 8, m.Result(REntryRsp));
    }

    [Fact]
    public void DivideErrorIsVectorZeroWithoutErrorCode()
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        Recorder(m, Vector.DE, hasError: false);
        var faulting = default(Label);
        var r = m.Asm(KernelCode, 64, a =>
        {
            faulting = a.CreateLabel();
            a.mov(eax, 7);
            a.xor(ecx, ecx);
            a.Label(ref faulting);
            a.div(ecx);
            a.hlt();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal((ulong)Vector.DE, m.Result(RVector));
        Assert.Equal(NoError, m.Result(RError));
        Assert.Equal(r.GetLabelRIP(faulting), m.Result(RRip));
    }

    [Theory]
    [InlineData("syscall")]
    [InlineData("swapgs")]
    public void CompatibilityModeRejectsSyscallAndSwapgs(string name)
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        m.Cpu.Efer |= Bits.EferSce;
        Recorder(m, Vector.UD, hasError: false);
        const ulong compat = 0x120000;
        m.Write(Results + 0x100, 4, compat);
        m.Write(Results + 0x104, 2, KernelCs32);
        m.Asm(compat, 32, a =>
        {
            if (name == "syscall") a.syscall(); else a.db(0x0F, 0x01, 0xF8); // swapgs encoding
        });
        m.Asm(KernelCode, 64, a => a.jmp(__fword_ptr[Results + 0x100]));
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal((ulong)Vector.UD, m.Result(RVector));
        Assert.Equal(compat, m.Result(RRip));
        Assert.Equal((ulong)KernelCs32, m.Result(RCs));
    }

    [Fact]
    public void FaultAtCpl3SwitchesToRsp0AndPushesUserStack()
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        Recorder(m, Vector.GP, hasError: true);
        m.Asm(KernelCode, 64, a => IretToUser(a));
        m.Asm(UserCode, 64, a =>
        {
            a.mov(rax, 0x1111UL); // 10 bytes
            a.hlt();              // privileged: #GP(0) at CPL 3
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal((ulong)Vector.GP, m.Result(RVector));
        Assert.Equal(0UL, m.Result(RError));
        Assert.Equal(UserCode + 10, m.Result(RRip));
        Assert.Equal((ulong)UserCs, m.Result(RCs));
        Assert.Equal(UserStack, m.Result(RRsp));
        Assert.Equal((ulong)UserDs, m.Result(RSs));
        Assert.Equal(Rsp0 - 6 * 8, m.Result(REntryRsp));
        Assert.Equal(0, m.Cpu.Cpl);
    }

    [Fact]
    public void FaultWhileDeliveringGeneralProtectionBecomesDoubleFault()
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        Recorder(m, Vector.DF, hasError: true, ist: 1);
        m.Gate64(Vector.GP, HandlerCode, present: false); // delivering #GP raises #NP: contributory twice
        var faulting = default(Label);
        var r = m.Asm(KernelCode, 64, a =>
        {
            faulting = a.CreateLabel();
            a.mov(ecx, 0x12345678); // no such MSR
            a.Label(ref faulting);
            a.rdmsr();
            a.hlt();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal((ulong)Vector.DF, m.Result(RVector));
        Assert.Equal(0UL, m.Result(RError));
        Assert.Equal(r.GetLabelRIP(faulting), m.Result(RRip));
        Assert.Equal(Ist1 - 6 * 8, m.Result(REntryRsp));
    }

    [Fact]
    public void PageFaultOnUnmappedHandlerStackBecomesDoubleFault()
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        Recorder(m, Vector.DF, hasError: true, ist: 1);
        Recorder(m, Vector.PF, hasError: true, ist: 2);
        m.Write(TssBase + 0x2C, 8, 0x4000_1000UL); // IST2 points at unmapped memory
        m.Asm(KernelCode, 64, a =>
        {
            a.mov(rax, 0x4000_0000UL);
            a.mov(rbx, __qword_ptr[rax]);
            a.hlt();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal((ulong)Vector.DF, m.Result(RVector));
        Assert.Equal(0x4000_0FD0UL, m.Cpu.Cr2); // the last #PF was on the IST2 frame
    }

    [Fact]
    public void FaultWithNoUsableIdtIsATripleFault()
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        m.Asm(KernelCode, 64, a => a.ud2());
        m.Cpu.Idtr = new TableRegister { Base = IdtBase, Limit = 0 };
        var stop = m.Run();
        Assert.Equal(StopKind.Shutdown, stop.Kind);
    }

    [Fact]
    public void SyscallAndSysretRoundTripBetweenCpl3AndCpl0()
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        Recorder(m, Vector.UD, hasError: false);
        const ulong entry = KernelCode + 0x800;
        m.Asm(KernelCode, 64, a =>
        {
            a.mov(ecx, Msr.Efer);
            a.rdmsr();
            a.or(eax, 1); // SCE
            a.wrmsr();
            a.mov(ecx, Msr.Star);
            a.xor(eax, eax);
            a.mov(edx, (0x23 << 16) | KernelCs);
            a.wrmsr();
            a.mov(ecx, Msr.Lstar);
            a.mov(eax, (uint)entry);
            a.xor(edx, edx);
            a.wrmsr();
            a.mov(ecx, Msr.Fmask);
            a.mov(eax, 0x200); // clear IF on entry
            a.wrmsr();
            IretToUser(a, rflags: 0x202);
        });
        m.Asm(entry, 64, a =>
        {
            a.mov(__word_ptr[Results + 0x40], cs);
            a.mov(__word_ptr[Results + 0x48], ss);
            a.mov(rbx, rsp);
            a.mov(__qword_ptr[Results + 0x50], rbx);
            a.pushfq();
            a.pop(rbx);
            a.mov(__qword_ptr[Results + 0x58], rbx);
            a.add(rax, 1);
            a.sysretq();
        });
        var after = default(Label);
        var r = m.Asm(UserCode, 64, a =>
        {
            after = a.CreateLabel();
            a.mov(eax, 41);
            a.syscall();
            a.Label(ref after);
            a.mov(__qword_ptr[Results + 0x60], rax);
            a.mov(__qword_ptr[Results + 0x68], rcx);
            a.mov(__qword_ptr[Results + 0x70], r11);
            a.xor(eax, eax);
            a.mov(ax, cs);
            a.mov(__qword_ptr[Results + 0x78], rax);
            a.mov(ax, ss);
            a.mov(__qword_ptr[Results + 0x80], rax);
            a.ud2();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal((ulong)KernelCs, m.Read(Results + 0x40, 2));
        Assert.Equal((ulong)KernelDs, m.Read(Results + 0x48, 2));
        Assert.Equal(UserStack, m.Read(Results + 0x50, 8)); // SYSCALL does not switch stacks
        Assert.Equal(2UL, m.Read(Results + 0x58, 8));       // IF masked by FMASK
        Assert.Equal(42UL, m.Read(Results + 0x60, 8));
        Assert.Equal(r.GetLabelRIP(after), m.Read(Results + 0x68, 8));
        Assert.Equal(0x202UL, m.Read(Results + 0x70, 8));
        Assert.Equal(0x33UL, m.Read(Results + 0x78, 8));
        Assert.Equal(0x2BUL, m.Read(Results + 0x80, 8));
        Assert.Equal((ulong)Vector.UD, m.Result(RVector)); // the final ud2 ran at CPL 3
        Assert.Equal((ulong)UserCs, m.Result(RCs));
    }

    [Fact]
    public void SyscallWithoutSceIsInvalidOpcode()
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        Recorder(m, Vector.UD, hasError: false);
        m.Asm(KernelCode, 64, a => a.syscall());
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal((ulong)Vector.UD, m.Result(RVector));
        Assert.Equal(KernelCode, m.Result(RRip));
    }

    [Fact]
    public void SysretToNonCanonicalAddressFaultsAtCpl0()
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        m.Cpu.Efer |= Bits.EferSce;
        Recorder(m, Vector.GP, hasError: true);
        m.Asm(KernelCode, 64, a =>
        {
            a.mov(rcx, 0x0000_8000_0000_0000UL);
            a.sysretq();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal((ulong)Vector.GP, m.Result(RVector));
        Assert.Equal((ulong)KernelCs, m.Result(RCs));
    }

    [Fact]
    public void SwapgsExchangesGsBaseWithKernelGsBase()
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        m.Write(0x310008, 8, 77);
        m.Asm(KernelCode, 64, a =>
        {
            a.xor(edx, edx);
            a.mov(ecx, Msr.GsBase);
            a.mov(eax, 0x300000);
            a.wrmsr();
            a.mov(ecx, Msr.KernelGsBase);
            a.mov(eax, 0x310000);
            a.wrmsr();
            a.swapgs();
            a.mov(rax, __qword_ptr.gs[8]);
            a.mov(__qword_ptr[Results + 8], rax);
            a.mov(ecx, Msr.GsBase);
            a.rdmsr();
            a.mov(__qword_ptr[Results + 16], rax);
            a.mov(ecx, Msr.KernelGsBase);
            a.rdmsr();
            a.mov(__qword_ptr[Results + 24], rax);
            a.hlt();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(77UL, m.Result(1));
        Assert.Equal(0x310000UL, m.Result(2));
        Assert.Equal(0x300000UL, m.Result(3));
    }

    [Fact]
    public void IretqReturnsToCpl3AndLaterFaultReturnsToKernel()
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        Recorder(m, Vector.BP, hasError: false, dpl: 3);
        m.Asm(KernelCode, 64, a => IretToUser(a));
        m.Asm(UserCode, 64, a =>
        {
            a.mov(__qword_ptr[Results + 0x40], rsp);
            a.int3();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(UserStack, m.Read(Results + 0x40, 8));
        Assert.Equal((ulong)Vector.BP, m.Result(RVector));
        Assert.Equal(UserCode + 9, m.Result(RRip)); // the trap pushes the address after int3
        Assert.Equal((ulong)UserCs, m.Result(RCs));
    }

    [Fact]
    public void SoftwareInterruptThroughDpl0GateFromCpl3IsGeneralProtection()
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        Recorder(m, Vector.GP, hasError: true);
        m.Gate64(0x80, HandlerCode, dpl: 0);
        m.Asm(KernelCode, 64, a => IretToUser(a));
        m.Asm(UserCode, 64, a => a.@int(0x80));
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal((ulong)Vector.GP, m.Result(RVector));
        Assert.Equal(0x80UL * 8 + 2, m.Result(RError));
        Assert.Equal(UserCode, m.Result(RRip));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Cr0WpDecidesWhetherSupervisorWritesToReadOnlyPagesFault(bool wp)
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        Recorder(m, Vector.PF, hasError: true);
        m.Map4K(0x400000, 0x400000, PteP); // read-only, supervisor
        m.Asm(KernelCode, 64, a =>
        {
            a.mov(rax, cr0);
            if (wp) a.or(eax, 0x10000); else a.and(eax, ~0x10000);
            a.mov(cr0, rax);
            a.mov(__qword_ptr[0x400008], 5);
            a.mov(__qword_ptr[Results + 0x40], 1);
            a.hlt();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        if (wp)
        {
            Assert.Equal((ulong)Vector.PF, m.Result(RVector));
            Assert.Equal((ulong)(Cpu.PfPresent | Cpu.PfWrite), m.Result(RError));
            Assert.Equal(0x400008UL, m.Result(RCr2));
            Assert.Equal(0UL, m.Read(0x400008, 8));
        }
        else
        {
            Assert.Equal(5UL, m.Read(0x400008, 8));
            Assert.Equal(1UL, m.Read(Results + 0x40, 8));
        }
    }

    /// <summary>
    /// A global page's stale translation survives a CR3 write only while CR4.PGE is set; INVLPG
    /// drops it either way. The test remaps the page behind the TLB's back to see which it used.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void GlobalPagesSurviveCr3WriteOnlyWithPge(bool pge)
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        const ulong page = 0x600000;
        m.Map4K(page, page, PteP | PteRw | PteG);
        ulong pte = m.PteAddress(page);
        m.Write(page, 8, 0xAAAA);
        m.Write(page + 0x1000, 8, 0xBBBB);
        m.Asm(KernelCode, 64, a =>
        {
            if (pge)
            {
                a.mov(rax, cr4);
                a.or(eax, 0x80);
                a.mov(cr4, rax);
            }
            a.mov(rax, __qword_ptr[page]);         // fills the TLB
            a.mov(rbx, pte);
            a.mov(__qword_ptr[rbx], (int)((page + 0x1000) | PteP | PteRw | PteG));
            a.mov(rax, __qword_ptr[page]);
            a.mov(__qword_ptr[Results + 8], rax);  // before any flush: stale
            a.mov(rax, cr3);
            a.mov(cr3, rax);
            a.mov(rax, __qword_ptr[page]);
            a.mov(__qword_ptr[Results + 16], rax); // after CR3 write
            a.invlpg(__byte_ptr[page]);
            a.mov(rax, __qword_ptr[page]);
            a.mov(__qword_ptr[Results + 24], rax); // after INVLPG
            a.hlt();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(0xAAAAUL, m.Result(1));
        Assert.Equal(pge ? 0xAAAAUL : 0xBBBBUL, m.Result(2));
        Assert.Equal(0xBBBBUL, m.Result(3));
    }

    [Fact]
    public void InvlpgDropsAStaleTranslation()
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        const ulong page = 0x700000;
        m.Map4K(page, page, PteP | PteRw);
        ulong pte = m.PteAddress(page);
        m.Write(page, 8, 1);
        m.Write(page + 0x1000, 8, 2);
        m.Asm(KernelCode, 64, a =>
        {
            a.mov(rax, __qword_ptr[page]);
            a.mov(rbx, pte);
            a.mov(__qword_ptr[rbx], (int)((page + 0x1000) | PteP | PteRw));
            a.mov(rax, __qword_ptr[page]);
            a.mov(__qword_ptr[Results + 8], rax);
            a.invlpg(__byte_ptr[page]);
            a.mov(rax, __qword_ptr[page]);
            a.mov(__qword_ptr[Results + 16], rax);
            a.hlt();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(1UL, m.Result(1));
        Assert.Equal(2UL, m.Result(2));
    }

    [Theory]
    [InlineData(0x1UL << 32)]          // CR0 bits 63:32
    [InlineData(0x80000000UL)]         // PG without PE
    public void InvalidCr0ValuesRaiseGeneralProtection(ulong value)
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        Recorder(m, Vector.GP, hasError: true);
        m.Asm(KernelCode, 64, a =>
        {
            a.mov(rax, value);
            a.mov(cr0, rax);
            a.hlt();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal((ulong)Vector.GP, m.Result(RVector));
        Assert.Equal(KernelCode + 10, m.Result(RRip));
    }

    [Fact]
    public void ClearingCr4PaeInLongModeRaisesGeneralProtection()
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        Recorder(m, Vector.GP, hasError: true);
        m.Asm(KernelCode, 64, a =>
        {
            a.mov(rax, cr4);
            a.and(eax, ~0x20);
            a.mov(cr4, rax);
            a.hlt();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal((ulong)Vector.GP, m.Result(RVector));
        Assert.NotEqual(0UL, m.Cpu.Cr4 & Bits.Cr4Pae);
    }

    [Fact]
    public void StiShadowLetsOneInstructionRunBeforeThePendingInterrupt()
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        Recorder(m, 0x20, hasError: false);
        var pic = new OneInterrupt(0x20);
        m.Cpu.Interrupts = pic;
        var second = default(Label);
        var r = m.Asm(KernelCode, 64, a =>
        {
            second = a.CreateLabel();
            a.sti();
            a.mov(__qword_ptr[Results + 0x40], 1);
            a.Label(ref second);
            a.mov(__qword_ptr[Results + 0x48], 2);
            a.hlt();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(0x20UL, m.Result(RVector));
        Assert.Equal(r.GetLabelRIP(second), m.Result(RRip));
        Assert.Equal(1UL, m.Read(Results + 0x40, 8));
        Assert.Equal(0UL, m.Read(Results + 0x48, 8));
    }

    [Fact]
    public void CliAtCpl3WithIoplZeroFaults()
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        Recorder(m, Vector.GP, hasError: true);
        m.Asm(KernelCode, 64, a => IretToUser(a));
        m.Asm(UserCode, 64, a => a.cli());
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal((ulong)Vector.GP, m.Result(RVector));
        Assert.Equal(UserCode, m.Result(RRip));
    }

    [Fact]
    public void PopfAtCpl3KeepsIfAndIopl()
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        Recorder(m, Vector.UD, hasError: false);
        m.Asm(KernelCode, 64, a => IretToUser(a, rflags: 0x202));
        m.Asm(UserCode, 64, a =>
        {
            a.mov(rax, 0x3000UL | 0x400 | 1); // IOPL 3, DF, CF; IF clear
            a.push(rax);
            a.popfq();
            a.pushfq();
            a.pop(rax);
            a.mov(__qword_ptr[Results + 0x40], rax);
            a.ud2();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(0x202UL | 0x400 | 1, m.Read(Results + 0x40, 8));
    }

    private sealed class OneInterrupt(int vector) : IInterruptController
    {
        private bool _pending = true;
        public bool HasInterrupt => _pending;
        public int Acknowledge() { _pending = false; return vector; }
    }
}
