using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Processor.Execution;
using HyperLock.Emulator.Devices;
using HyperLock.Emulator.Machine;
using HyperLock.Emulator.Time;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using static HyperLock.Emulator.Tests.Processor.SystemInstructions.BareMetal;

namespace HyperLock.Emulator.Tests.Processor.SystemInstructions;

/// <summary>
/// NMIs from the local APIC (ICR self-NMI, LINT1), written from the SDM: vector 2, no IF
/// masking, blocking from delivery until the next IRET (which unblocks even when it faults).
/// </summary>
public class NmiTests
{
    /// <summary>The APIC page is mapped at this linear address (the machine maps only 16 MiB).</summary>
    private const ulong ApicLinear = 0xE00000;
    private const int SCount = 0, SRip = 1, SSeenInHandler = 10, SAfterGp = 11, SGp = 12;

    private static ulong Slot(int n) => Results + (ulong)n * 8;

    private static (BareMetal, LocalApic) Machine()
    {
        var m = new BareMetal();
        m.EnterLongMode();
        var apic = new LocalApic(m.Cpu, new VirtualClock(m.Cpu));
        m.Memory.AddMmio(LocalApic.DefaultBase, LocalApic.PageSize, apic);
        m.Map4K(ApicLinear, LocalApic.DefaultBase, PteP | PteRw);
        m.Cpu.FlushTlb(includeGlobal: true);
        return (m, apic);
    }

    /// <summary>ICR: delivery mode NMI (100b), shorthand self.</summary>
    private static void SelfNmi(Assembler a)
    {
        a.mov(__dword_ptr[ApicLinear + LocalApic.RegIcrLow], (int)((LocalApic.ModeNmi << 8) | (1u << 18)));
    }

    /// <summary>NMI handler: counts, records the pushed RIP; the first one sends itself another NMI (blocked until IRET).</summary>
    private static void NmiHandler(BareMetal m, Action<Assembler>? firstOnly = null)
    {
        m.Asm(HandlerCode, 64, a =>
        {
            var done = a.CreateLabel();
            a.mov(rax, __qword_ptr[Slot(SCount)]);
            a.mov(rcx, __qword_ptr[rsp]);
            a.mov(__qword_ptr[rax * 8 + (long)Slot(SRip)], rcx);
            a.inc(rax);
            a.mov(__qword_ptr[Slot(SCount)], rax);
            a.cmp(rax, 1);
            a.jne(done);
            firstOnly?.Invoke(a);
            a.Label(ref done);
            a.iretq();
        });
        m.Gate64(Vector.NMI, HandlerCode);
    }

    [Fact]
    public void SelfNmiIsDeliveredWithIfClearAndBlockedUntilIret()
    {
        var (m, _) = Machine();
        using var o = m;
        NmiHandler(m, a =>
        {
            SelfNmi(a);                                  // latched: NMIs are blocked in the handler
            a.nop();
            a.mov(rdx, __qword_ptr[Slot(SCount)]);
            a.mov(__qword_ptr[Slot(SSeenInHandler)], rdx);
        });
        Label after = default;
        var r = m.Asm(KernelCode, 64, a =>
        {
            after = a.CreateLabel();
            a.cli();
            SelfNmi(a);
            a.Label(ref after);
            a.nop();
            a.hlt();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(2UL, m.Result(SCount));
        Assert.Equal(1UL, m.Result(SSeenInHandler));      // the second NMI waited for IRET
        Assert.Equal(r.GetLabelRIP(after), m.Result(SRip)); // taken right after the ICR write
        Assert.Equal(r.GetLabelRIP(after), m.Result(SRip + 1)); // ...and again after the IRET
    }

    [Fact]
    public void Lint1NmiWakesAHaltedProcessorAndMaskedLint1DoesNot()
    {
        var (m, apic) = Machine();
        using var o = m;
        NmiHandler(m);
        Label afterHlt = default;
        var r = m.Asm(KernelCode, 64, a =>
        {
            afterHlt = a.CreateLabel();
            a.cli();
            a.hlt();
            a.Label(ref afterHlt);
            a.hlt();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        apic.Write(LocalApic.RegSvr, 4, LocalApic.SvrEnable | 0xFF);
        apic.Write(LocalApic.RegLvtLint1, 4, LocalApic.LvtMasked | (LocalApic.ModeNmi << 8));
        apic.SignalLint1();
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(0UL, m.Result(SCount));
        apic.Write(LocalApic.RegLvtLint1, 4, LocalApic.ModeNmi << 8);
        apic.SignalLint1();
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(1UL, m.Result(SCount));
        Assert.Equal(r.GetLabelRIP(afterHlt), m.Result(SRip));
    }

    [Fact]
    public void IretThatFaultsStillUnblocksNmis()
    {
        var (m, _) = Machine();
        using var o = m;
        // First NMI: IRET through a frame with a null CS, which faults (#GP) after unblocking NMIs.
        NmiHandler(m, a =>
        {
            a.mov(__qword_ptr[rsp + 8], 0);
            a.iretq();
        });
        m.Asm(HandlerCode + 0x200, 64, a =>
        {
            a.mov(__qword_ptr[Slot(SGp)], 1);
            SelfNmi(a);
            a.nop();
            a.mov(rdx, __qword_ptr[Slot(SCount)]);
            a.mov(__qword_ptr[Slot(SAfterGp)], rdx);
            a.hlt();
        });
        m.Gate64(Vector.GP, HandlerCode + 0x200);
        m.Asm(KernelCode, 64, a => { a.cli(); SelfNmi(a); a.nop(); a.hlt(); });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(1UL, m.Result(SGp));
        Assert.Equal(2UL, m.Result(SAfterGp)); // the NMI sent from the #GP handler was taken at once
    }
}
