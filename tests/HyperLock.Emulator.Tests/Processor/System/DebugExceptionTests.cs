using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using static HyperLock.Emulator.Tests.Processor.SystemInstructions.BareMetal;

namespace HyperLock.Emulator.Tests.Processor.SystemInstructions;

/// <summary>
/// Debug exceptions in 64-bit mode, written from the SDM (Vol. 3 ch. 18): single-step traps,
/// execute/data/I-O breakpoints, DR6 status bits, general detect, RF, INT1 and IA32_DEBUGCTL.
/// A #DB handler records each pushed RIP, DR6 and the pushed RFLAGS, then returns.
/// </summary>
public class DebugExceptionTests
{
    // Result slots: #DB count, then the pushed RIPs; DR6, RFLAGS image and DR7 seen by the last #DB handler.
    private const int SCount = 0, SRip = 1, SDr6 = 20, SFlags = 21, SDr7 = 22, SOther = 30, SOtherRip = 31, SOtherFlags = 32, SMark = 40;
    private const ulong Tf = 0x100, Rf = 0x10000;
    private const ulong Data = 0x300000;

    private static ulong Slot(int n) => Results + (ulong)n * 8;

    /// <summary>
    /// The #DB handler: appends the pushed RIP, records DR6 (then clears it), the pushed RFLAGS
    /// and DR7; with <paramref name="setRf"/> it sets RF in the frame so the return does not hit
    /// the same instruction breakpoint again.
    /// </summary>
    private static void DbRecorder(BareMetal m, bool setRf = false)
    {
        ulong at = HandlerCode + 0x100;
        m.Asm(at, 64, a =>
        {
            a.mov(rax, __qword_ptr[Slot(SCount)]);
            a.mov(rcx, __qword_ptr[rsp]);
            a.mov(__qword_ptr[rax * 8 + (long)Slot(SRip)], rcx);
            a.inc(rax);
            a.mov(__qword_ptr[Slot(SCount)], rax);
            a.mov(rcx, dr6);
            a.mov(__qword_ptr[Slot(SDr6)], rcx);
            a.xor(ecx, ecx);
            a.mov(dr6, rcx);
            a.mov(rcx, __qword_ptr[rsp + 16]);
            a.mov(__qword_ptr[Slot(SFlags)], rcx);
            a.mov(rcx, dr7);
            a.mov(__qword_ptr[Slot(SDr7)], rcx);
            if (setRf) a.or(__qword_ptr[rsp + 16], (int)Rf);
            a.iretq();
        });
        m.Gate64(Vector.DB, at);
    }

    /// <summary>A handler for another vector: records the vector, pushed RIP and RFLAGS, then halts.</summary>
    private static void OtherRecorder(BareMetal m, int vector, bool hasError = false)
    {
        ulong at = HandlerCode + 0x400 + (ulong)vector * 0x80;
        m.Asm(at, 64, a =>
        {
            int o = hasError ? 8 : 0;
            a.mov(__qword_ptr[Slot(SOther)], vector);
            a.mov(rcx, __qword_ptr[rsp + o]);
            a.mov(__qword_ptr[Slot(SOtherRip)], rcx);
            a.mov(rcx, __qword_ptr[rsp + o + 16]);
            a.mov(__qword_ptr[Slot(SOtherFlags)], rcx);
            a.hlt();
        });
        m.Gate64(vector, at);
    }

    private static void SetTf(Assembler a) { a.pushfq(); a.or(__qword_ptr[rsp], (int)Tf); a.popfq(); }
    private static void ClearTf(Assembler a) { a.pushfq(); a.and(__qword_ptr[rsp], ~(int)Tf); a.popfq(); }

    private static BareMetal Machine()
    {
        var m = new BareMetal();
        m.EnterLongMode();
        m.Write(Slot(SOther), 8, 0xFF);
        return m;
    }

    private static ulong[] Rips(BareMetal m) =>
        Enumerable.Range(0, (int)m.Result(SCount)).Select(k => m.Result(SRip + k)).ToArray();

    [Fact]
    public void DebugRegistersReadTheirFixedBitsAfterReset()
    {
        using var m = Machine();
        m.Asm(KernelCode, 64, a =>
        {
            a.mov(rax, dr6); a.mov(__qword_ptr[Slot(0)], rax);
            a.mov(rax, dr7); a.mov(__qword_ptr[Slot(1)], rax);
            a.hlt();
        });
        m.Cpu.Reset();
        m.EnterLongMode();
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(0xFFFF0FF0UL, m.Result(0));
        Assert.Equal(0x400UL, m.Result(1));
    }

    [Fact]
    public void SingleStepTrapsAfterEachInstructionStartingAfterThePopfThatSetsTf()
    {
        using var m = Machine();
        DbRecorder(m);
        Label l2 = default, l3 = default, l4 = default, l5 = default, l6 = default;
        var r = m.Asm(KernelCode, 64, a =>
        {
            l2 = a.CreateLabel(); l3 = a.CreateLabel(); l4 = a.CreateLabel(); l5 = a.CreateLabel(); l6 = a.CreateLabel();
            SetTf(a);
            a.nop();
            a.Label(ref l2); a.inc(rbx);
            a.Label(ref l3); a.pushfq();
            a.Label(ref l4); a.and(__qword_ptr[rsp], ~(int)Tf);
            a.Label(ref l5); a.popfq(); // TF was set when it began: traps after it
            a.Label(ref l6); a.hlt();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(new[] { r.GetLabelRIP(l2), r.GetLabelRIP(l3), r.GetLabelRIP(l4), r.GetLabelRIP(l5), r.GetLabelRIP(l6) }, Rips(m));
        Assert.Equal(0xFFFF4FF0UL, m.Result(SDr6)); // BS only
        Assert.Equal(0UL, m.Result(SFlags) & (Tf | Rf)); // the last trap: after the POPF that cleared TF; RF clear
        Assert.Equal(1UL, m.Cpu.R(Reg.Rbx));
    }

    [Fact]
    public void SingleStepOfAFaultingInstructionDeliversTheFaultOnly()
    {
        using var m = Machine();
        DbRecorder(m);
        OtherRecorder(m, Vector.UD);
        Label bad = default;
        var r = m.Asm(KernelCode, 64, a =>
        {
            bad = a.CreateLabel();
            SetTf(a);
            a.Label(ref bad);
            a.ud2();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(0UL, m.Result(SCount));
        Assert.Equal((ulong)Vector.UD, m.Result(SOther));
        Assert.Equal(r.GetLabelRIP(bad), m.Result(SOtherRip));
    }

    [Fact]
    public void FaultFramesHaveRfSetAndTrapFramesDoNot()
    {
        using var m = Machine();
        OtherRecorder(m, Vector.GP, hasError: true);
        m.Asm(KernelCode, 64, a => { a.mov(eax, 0x1230); a.mov(ds, ax); });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal((ulong)Vector.GP, m.Result(SOther));
        Assert.Equal(Rf, m.Result(SOtherFlags) & Rf);

        using var t = Machine();
        OtherRecorder(t, Vector.BP);
        t.Asm(KernelCode, 64, a => a.int3());
        Assert.Equal(StopKind.Halted, t.Run().Kind);
        Assert.Equal((ulong)Vector.BP, t.Result(SOther));
        Assert.Equal(0UL, t.Result(SOtherFlags) & Rf);
    }

    [Fact]
    public void MovSsDelaysTheSingleStepTrapByOneInstructionButStiDoesNot()
    {
        using var m = Machine();
        DbRecorder(m);
        Label afterNop = default, afterSti = default;
        var r = m.Asm(KernelCode, 64, a =>
        {
            afterNop = a.CreateLabel(); afterSti = a.CreateLabel();
            a.mov(eax, (int)KernelDs);
            SetTf(a);
            a.mov(ss, ax);      // blocks the trap over the next instruction
            a.nop();
            a.Label(ref afterNop);
            a.sti();
            a.Label(ref afterSti);
            a.cli();
            ClearTf(a);
            a.hlt();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        ulong[] rips = Rips(m);
        Assert.Equal(r.GetLabelRIP(afterNop), rips[0]); // one trap for MOV SS and the NOP
        Assert.Equal(r.GetLabelRIP(afterSti), rips[1]); // STI does not hold it back
    }

    [Fact]
    public void IntNClearsTfWithoutASingleStepTrapAndStepsAgainAfterIret()
    {
        using var m = Machine();
        DbRecorder(m);
        m.Asm(HandlerCode + 0x800, 64, a => { a.inc(rsi); a.iretq(); });
        m.Gate64(0x40, HandlerCode + 0x800);
        Label afterInt = default, afterNop = default;
        var r = m.Asm(KernelCode, 64, a =>
        {
            afterInt = a.CreateLabel(); afterNop = a.CreateLabel();
            SetTf(a);
            a.@int(0x40);
            a.Label(ref afterInt);
            a.nop();
            a.Label(ref afterNop);
            a.cli();
            ClearTf(a);
            a.hlt();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(1UL, m.Cpu.R(Reg.Rsi));
        Assert.Equal(r.GetLabelRIP(afterNop), Rips(m)[0]);
    }

    [Fact]
    public void SingleStepOfSyscallTrapsAtTheEntryPoint()
    {
        using var m = Machine();
        DbRecorder(m);
        const ulong entry = KernelCode + 0x800;
        m.Asm(entry, 64, a => a.hlt());
        m.Cpu.Efer |= Bits.EferSce;
        m.Cpu.Star = (ulong)KernelCs << 32;
        m.Cpu.Lstar = entry;
        m.Cpu.Fmask = Tf | 0x200;
        m.Asm(KernelCode, 64, a => { SetTf(a); a.syscall(); });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(new[] { entry }, Rips(m));
    }

    [Fact]
    public void ExecuteBreakpointFaultsBeforeTheInstructionAndRfLetsItRunOnce()
    {
        using var m = Machine();
        DbRecorder(m, setRf: true);
        m.Asm(KernelCode, 64, a =>
        {
            var loop = a.CreateLabel();
            a.mov(rax, KernelCode + 0x100);
            a.mov(dr0, rax);
            a.mov(eax, 0x1);           // L0, R/W 00 (execute), LEN 00
            a.mov(dr7, rax);
            a.mov(esi, 2);             // the #DB handler uses RAX and RCX
            a.jmp(loop);
            a.nop(); // padding
            a.Label(ref loop);
            a.call(KernelCode + 0x100); // reaches the breakpoint twice
            a.dec(esi);
            a.jnz(loop);
            a.hlt();
        });
        m.Asm(KernelCode + 0x100, 64, a => { a.inc(rbx); a.ret(); });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(new[] { KernelCode + 0x100, KernelCode + 0x100 }, Rips(m));
        Assert.Equal(2UL, m.Cpu.R(Reg.Rbx));
        Assert.Equal(0xFFFF0FF1UL, m.Result(SDr6));   // B0
        Assert.Equal(0UL, m.Result(SFlags) & Rf);       // an instruction-breakpoint frame has RF clear
        Assert.Equal(0UL, m.Cpu.GetRflags() & Rf);      // RF cleared after the instruction it suppressed
    }

    [Fact]
    public void DataWriteBreakpointTrapsAfterAnOverlappingWriteOnly()
    {
        using var m = Machine();
        DbRecorder(m);
        Label afterWrite = default;
        var r = m.Asm(KernelCode, 64, a =>
        {
            afterWrite = a.CreateLabel();
            a.mov(rax, Data + 4);
            a.mov(dr1, rax);
            a.mov(eax, (1 << 2) | (0b01 << 20) | (0b11 << 22)); // L1, write, 4 bytes
            a.mov(dr7, rax);
            a.mov(rsi, Data);
            a.mov(eax, __dword_ptr[rsi + 4]);  // a read: no trap
            a.mov(__dword_ptr[rsi], eax);      // bytes 0-3: no overlap
            a.mov(__word_ptr[rsi + 6], ax);    // overlaps bytes 4-7
            a.Label(ref afterWrite);
            a.mov(__byte_ptr[rsi + 8], al);    // just past it
            a.hlt();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(new[] { r.GetLabelRIP(afterWrite) }, Rips(m));
        Assert.Equal(0xFFFF0FF2UL, m.Result(SDr6)); // B1
    }

    [Fact]
    public void DataReadWriteBreakpointCatchesReadsOfItsEightBytes()
    {
        using var m = Machine();
        DbRecorder(m);
        Label afterRead = default, afterStack = default;
        var r = m.Asm(KernelCode, 64, a =>
        {
            afterRead = a.CreateLabel(); afterStack = a.CreateLabel();
            a.mov(rax, Data + 0x13);   // LEN 8 aligns it down to Data + 0x10
            a.mov(dr3, rax);
            a.mov(eax, (1 << 7) | (0b11 << 28) | (0b10 << 30)); // G3, read/write, 8 bytes
            a.mov(dr7, rax);
            a.mov(rsi, Data);
            a.mov(al, __byte_ptr[rsi + 0x17]);
            a.Label(ref afterRead);
            a.mov(al, __byte_ptr[rsi + 0x18]);
            a.mov(rsp, Data + 0x18);
            a.push(rax);                      // writes Data + 0x10..0x17
            a.Label(ref afterStack);
            a.hlt();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(new[] { r.GetLabelRIP(afterRead), r.GetLabelRIP(afterStack) }, Rips(m));
        Assert.Equal(0xFFFF0FF8UL, m.Result(SDr6)); // B3
    }

    [Fact]
    public void DataBreakpointInARepStringTrapsAfterTheIterationThatHitIt()
    {
        using var m = Machine();
        // Handler: record the pushed RIP and the remaining count, then halt.
        m.Asm(HandlerCode + 0x100, 64, a =>
        {
            a.mov(__qword_ptr[Slot(SMark)], rcx);
            a.mov(rax, __qword_ptr[rsp]);
            a.mov(__qword_ptr[Slot(SRip)], rax);
            a.hlt();
        });
        m.Gate64(Vector.DB, HandlerCode + 0x100);
        Label rep = default;
        var r = m.Asm(KernelCode, 64, a =>
        {
            rep = a.CreateLabel();
            a.mov(rax, Data + 5);
            a.mov(dr0, rax);
            a.mov(eax, 1 | (0b01 << 16));   // L0, write, 1 byte
            a.mov(dr7, rax);
            a.mov(rdi, Data);
            a.mov(ecx, 16);
            a.mov(al, 0x5A);
            a.Label(ref rep);
            a.rep.stosb();
            a.hlt();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(r.GetLabelRIP(rep), m.Result(SRip)); // the REP instruction, to resume it
        Assert.Equal(10UL, m.Result(SMark));              // six bytes stored: Data+0..Data+5
        Assert.Equal(0x5AUL, m.Read(Data + 5, 1));
        Assert.Equal(0UL, m.Read(Data + 6, 1));
    }

    [Fact]
    public void IoBreakpointNeedsCr4DeAndTrapsAfterTheAccess()
    {
        using var m = Machine();
        DbRecorder(m);
        Label afterOut = default;
        var r = m.Asm(KernelCode, 64, a =>
        {
            afterOut = a.CreateLabel();
            a.mov(eax, 0x80);
            a.mov(dr2, rax);
            a.mov(eax, (1 << 4) | (0b10 << 24)); // L2, I/O, 1 byte
            a.mov(dr7, rax);
            a.@out(0x80, al);                     // CR4.DE = 0: no I/O breakpoints
            a.mov(rax, cr4);
            a.or(eax, (int)Bits.Cr4De);
            a.mov(cr4, rax);
            a.@in(al, 0x81);                     // another port
            a.@out(0x80, al);
            a.Label(ref afterOut);
            a.hlt();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(new[] { r.GetLabelRIP(afterOut) }, Rips(m));
        Assert.Equal(0xFFFF0FF4UL, m.Result(SDr6)); // B2
    }

    [Fact]
    public void GeneralDetectFaultsOnMovDrAndIsClearedForTheHandler()
    {
        using var m = Machine();
        // Handler: record pushed RIP, DR6 and DR7 (readable now: GD was cleared), then halt.
        m.Asm(HandlerCode + 0x100, 64, a =>
        {
            a.mov(rcx, __qword_ptr[rsp]); a.mov(__qword_ptr[Slot(SRip)], rcx);
            a.mov(rcx, dr6); a.mov(__qword_ptr[Slot(SDr6)], rcx);
            a.mov(rcx, dr7); a.mov(__qword_ptr[Slot(SDr7)], rcx);
            a.mov(rcx, __qword_ptr[rsp + 16]); a.mov(__qword_ptr[Slot(SFlags)], rcx);
            a.hlt();
        });
        m.Gate64(Vector.DB, HandlerCode + 0x100);
        Label access = default;
        var r = m.Asm(KernelCode, 64, a =>
        {
            access = a.CreateLabel();
            a.mov(eax, 0x2000 | 0x400);
            a.mov(dr7, rax);
            a.Label(ref access);
            a.mov(rbx, dr0);
            a.mov(__qword_ptr[Slot(SMark)], 1); // not reached
            a.hlt();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(r.GetLabelRIP(access), m.Result(SRip));
        Assert.Equal(0xFFFF2FF0UL, m.Result(SDr6)); // BD
        Assert.Equal(0x400UL, m.Result(SDr7));      // GD cleared on entry
        Assert.Equal(0UL, m.Result(SMark));
    }

    [Fact]
    public void Int1IsAPrivilegedSoftwareExceptionWithoutDplCheckThatLeavesDr6Alone()
    {
        using var m = Machine();
        DbRecorder(m); // gate DPL 0: INT1 from CPL 3 still reaches it
        Label after = default;
        var r = m.Asm(UserCode, 64, a =>
        {
            after = a.CreateLabel();
            a.int1();
            a.Label(ref after);
            a.hlt(); // #GP at CPL 3 ends the test
        });
        OtherRecorder(m, Vector.GP, hasError: true);
        m.Asm(KernelCode, 64, a => LongModeTests.IretToUser(a));
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(new[] { r.GetLabelRIP(after) }, Rips(m));
        Assert.Equal(0xFFFF0FF0UL, m.Result(SDr6));
        Assert.Equal((ulong)Vector.GP, m.Result(SOther)); // then HLT at CPL 3
    }

    [Fact]
    public void DebugCtlReadsBackWritableBitsAndRejectsReservedOnes()
    {
        using var m = Machine();
        OtherRecorder(m, Vector.GP, hasError: true);
        Label bad = default;
        var r = m.Asm(KernelCode, 64, a =>
        {
            bad = a.CreateLabel();
            a.mov(ecx, 0x1D9);
            a.rdmsr();
            a.mov(__qword_ptr[Slot(0)], rax);
            a.mov(eax, 3);                 // LBR | BTF
            a.xor(edx, edx);
            a.wrmsr();
            a.rdmsr();
            a.mov(__qword_ptr[Slot(1)], rax);
            a.mov(eax, 1 << 3);            // reserved
            a.Label(ref bad);
            a.wrmsr();
            a.hlt();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(0UL, m.Result(0));
        Assert.Equal(3UL, m.Result(1));
        Assert.Equal((ulong)Vector.GP, m.Result(SOther));
        Assert.Equal(r.GetLabelRIP(bad), m.Result(SOtherRip));
    }

    [Fact]
    public void BtfSingleStepsOnTakenBranchesOnly()
    {
        using var m = Machine();
        DbRecorder(m);
        Label target = default;
        var r = m.Asm(KernelCode, 64, a =>
        {
            target = a.CreateLabel();
            var notTaken = a.CreateLabel();
            a.mov(ecx, 0x1D9);
            a.mov(eax, 2);
            a.xor(edx, edx);
            a.wrmsr();
            a.xor(eax, eax);
            SetTf(a);
            a.nop();
            a.test(eax, eax);
            a.jnz(notTaken);      // not taken: no trap
            a.jmp(target);        // taken: trap at the target
            a.Label(ref notTaken);
            a.nop();
            a.Label(ref target);
            a.nop();
            a.cli();
            ClearTf(a);
            a.hlt();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(new[] { r.GetLabelRIP(target) }, Rips(m));
    }
}
