using HyperLock.Emulator.Devices;
using HyperLock.Emulator.Machine;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.Emulator.Tests.Machine;

/// <summary>Bare-metal guest programs that drive each device through IN/OUT, MMIO, MSRs and interrupts.</summary>
public class DeviceGuestTests
{
    private const ulong Data = GuestHarness.DataAddress;
    private const double CyclesPerPitTick = 1e9 / Pit8254.FrequencyHz;

    [Fact]
    public void UartOutputAndDebugExitStatus()
    {
        using var g = new GuestHarness((a, _) =>
        {
            Asm.Print(a, "Hello from the guest\n");
            Asm.Exit(a, 0x2A);
        });
        var r = g.Run();
        Assert.Equal("Hello from the guest\n", g.SerialText);
        Assert.Equal(MachineOutcome.DebugExit, r.Outcome);
        Assert.Equal(0x55, r.ExitStatus);
    }

    [Fact]
    public void UartLoopbackReceivesWhatItSends()
    {
        using var g = new GuestHarness((a, _) =>
        {
            Asm.Out(a, 0x3FC, 0x10);               // MCR: loopback
            Asm.Out(a, 0x3F8, 0x5A);
            a.mov(dx, (ushort)0x3FD);
            a.@in(al, dx);
            a.mov(bl, al);                         // LSR: data ready
            a.mov(dx, (ushort)0x3F8);
            a.@in(al, dx);                         // RBR
            a.mov(__byte_ptr[Data], al);
            a.mov(__byte_ptr[Data + 1], bl);
            Asm.Exit(a, 0);
        });
        var r = g.Run();
        Assert.Equal(MachineOutcome.DebugExit, r.Outcome);
        Assert.Equal(0x5AUL, g.Data(0) & 0xFF);
        Assert.Equal(1UL, (g.Data(0) >> 8) & 1);
        Assert.Equal("", g.SerialText);
    }

    /// <summary>PIT channel 0 in mode 2 through the 8259 (vector 0x20); the handler records the TSC.</summary>
    [Fact]
    public void PitInterruptsThroughThePicAtTheProgrammedRate()
    {
        const int count = 11932;                   // ~10 ms
        using var g = new GuestHarness((a, h) =>
        {
            var handler = a.CreateLabel();
            var wait = a.CreateLabel();
            Asm.InitPic(a, 0x20, 0x01);
            Asm.Out(a, 0x43, 0x34);
            Asm.Out(a, 0x40, count & 0xFF);
            Asm.Out(a, 0x40, count >> 8);
            a.xor(r15d, r15d);
            a.sti();
            a.Label(ref wait);
            a.hlt();
            a.cmp(r15, 5);
            a.jb(wait);
            a.cli();
            Asm.ExitWith(a, r15);

            a.Label(ref handler);
            a.rdtsc();
            a.shl(rdx, 32);
            a.or(rax, rdx);
            a.mov(rbx, Data);
            a.mov(__qword_ptr[rbx + r15 * 8], rax);
            a.inc(r15);
            Asm.Out(a, 0x20, 0x20);                 // EOI
            a.iretq();
            h[0x20] = handler;
        });
        var r = g.Run();
        Assert.Equal(MachineOutcome.DebugExit, r.Outcome);
        Assert.Equal(11, r.ExitStatus);
        for (int k = 1; k < 5; k++)
        {
            double delta = g.Data(k) - g.Data(k - 1);
            Assert.InRange(delta, count * CyclesPerPitTick - 1, count * CyclesPerPitTick + 1);
        }
        Assert.Equal(5, g.Machine.Interrupts.PicAcknowledged);
        // The first tick comes one period after programming (plus the few instructions before it).
        Assert.InRange((double)g.Data(0), count * CyclesPerPitTick, count * CyclesPerPitTick + 200);
    }

    [Fact]
    public void PicMaskHoldsTheInterruptUntilUnmasked()
    {
        using var g = new GuestHarness((a, h) =>
        {
            var handler = a.CreateLabel();
            var spin = a.CreateLabel();
            Asm.InitPic(a, 0x20, 0x00);            // everything masked
            Asm.Out(a, 0x43, 0x30);                // ch0 mode 0: one interrupt
            Asm.Out(a, 0x40, 100);
            Asm.Out(a, 0x40, 0);
            a.xor(r15d, r15d);
            a.sti();
            a.mov(ecx, 200_000);                   // long past the terminal count
            a.Label(ref spin);
            a.dec(ecx);
            a.jnz(spin);
            a.mov(__qword_ptr[Data], r15);         // nothing yet
            Asm.Out(a, 0x21, 0xFE);                // unmask IRQ0: the held request arrives
            a.nop();
            a.nop();
            a.cli();
            Asm.ExitWith(a, r15);

            a.Label(ref handler);
            a.inc(r15);
            Asm.Out(a, 0x20, 0x60);                // specific EOI for IRQ0
            a.iretq();
            h[0x20] = handler;
        });
        var r = g.Run();
        Assert.Equal(0UL, g.Data(0));
        Assert.Equal(3, r.ExitStatus);             // one interrupt: (1 << 1) | 1
    }

    [Fact]
    public void RtcReadsTheConfiguredStartDate()
    {
        using var g = new GuestHarness((a, _) =>
        {
            int i = 0;
            foreach (byte reg in new byte[] { 0x00, 0x02, 0x04, 0x07, 0x08, 0x09, 0x32, 0x0B })
            {
                Asm.Out(a, 0x70, reg);
                a.@in(al, 0x71);
                a.mov(__byte_ptr[Data + (ulong)i++], al);
            }
            Asm.Exit(a, 0);
        }, rtcStart: new DateTime(2024, 2, 29, 13, 45, 30, DateTimeKind.Utc));
        g.Run();
        Assert.Equal(new byte[] { 0x30, 0x45, 0x13, 0x29, 0x02, 0x24, 0x20, 0x02 }, BitConverter.GetBytes(g.Data(0)));
    }

    [Fact]
    public void LocalApicPeriodicTimerThroughMmio()
    {
        using var g = new GuestHarness((a, h) =>
        {
            var handler = a.CreateLabel();
            var wait = a.CreateLabel();
            a.mov(rbx, 0xFEE00000);
            a.mov(__dword_ptr[rbx + 0xF0], 0x1FF);       // SVR: enable
            a.mov(__dword_ptr[rbx + 0x3E0], 0xB);        // divide by 1
            a.mov(__dword_ptr[rbx + 0x320], 0x20040);    // periodic, vector 0x40
            a.mov(__dword_ptr[rbx + 0x380], 100_000);
            a.xor(r15d, r15d);
            a.sti();
            a.Label(ref wait);
            a.hlt();
            a.cmp(r15, 3);
            a.jb(wait);
            a.cli();
            Asm.ExitWith(a, r15);

            a.Label(ref handler);
            a.rdtsc();
            a.shl(rdx, 32);
            a.or(rax, rdx);
            a.mov(rcx, Data);
            a.mov(__qword_ptr[rcx + r15 * 8], rax);
            a.inc(r15);
            a.mov(__dword_ptr[rbx + 0xB0], 0);           // EOI
            a.iretq();
            h[0x40] = handler;
        });
        var r = g.Run();
        Assert.Equal(7, r.ExitStatus);
        Assert.Equal(100_000UL, g.Data(1) - g.Data(0));
        Assert.Equal(100_000UL, g.Data(2) - g.Data(1));
        Assert.Equal(3, g.Machine.Interrupts.ApicAcknowledged);
    }

    [Fact]
    public void TscDeadlineTimerInX2ApicMode()
    {
        using var g = new GuestHarness((a, h) =>
        {
            var handler = a.CreateLabel();
            var wait = a.CreateLabel();
            a.mov(ecx, 0x80F); a.mov(eax, 0x1FF); a.xor(edx, edx); a.wrmsr();      // SVR
            a.mov(ecx, 0x832); a.mov(eax, 0x40041); a.wrmsr();                     // LVT timer: TSC-deadline, vector 0x41
            a.rdtsc();
            a.shl(rdx, 32);
            a.or(rax, rdx);
            a.mov(__qword_ptr[Data], rax);
            a.add(rax, 250_000);
            a.mov(rdx, rax);
            a.shr(rdx, 32);
            a.mov(ecx, 0x6E0);
            a.wrmsr();
            a.xor(r15d, r15d);
            a.sti();
            a.Label(ref wait);
            a.hlt();
            a.test(r15, r15);
            a.jz(wait);
            a.cli();
            Asm.Exit(a, 1);

            a.Label(ref handler);
            a.rdtsc();
            a.shl(rdx, 32);
            a.or(rax, rdx);
            a.mov(__qword_ptr[Data + 8], rax);
            a.inc(r15);
            a.mov(ecx, 0x80B); a.xor(eax, eax); a.xor(edx, edx); a.wrmsr();        // EOI
            a.iretq();
            h[0x41] = handler;
        }, x2apic: true);
        var r = g.Run();
        Assert.Equal(MachineOutcome.DebugExit, r.Outcome);
        Assert.Equal(3, r.ExitStatus);
        ulong delta = g.Data(1) - g.Data(0);
        Assert.InRange(delta, 250_000UL, 250_020UL);
    }

    [Fact]
    public void IoApicRoutesThePitToTheLocalApic()
    {
        using var g = new GuestHarness((a, h) =>
        {
            var handler = a.CreateLabel();
            var wait = a.CreateLabel();
            Asm.InitPic(a, 0x20, 0x00);                  // 8259 fully masked
            a.mov(rbx, 0xFEE00000);
            a.mov(__dword_ptr[rbx + 0xF0], 0x1FF);
            a.mov(__dword_ptr[rbx + 0x350], 0x10700);    // LINT0 masked: no virtual wire
            a.mov(rsi, 0xFEC00000);
            a.mov(__dword_ptr[rsi], 0x14);               // redirection entry 2, low
            a.mov(__dword_ptr[rsi + 0x10], 0x51);        // vector 0x51, fixed, edge, unmasked
            a.mov(__dword_ptr[rsi], 0x15);
            a.mov(__dword_ptr[rsi + 0x10], 0);           // destination APIC 0
            Asm.Out(a, 0x43, 0x34);
            Asm.Out(a, 0x40, 0x00);
            Asm.Out(a, 0x40, 0x10);
            a.xor(r15d, r15d);
            a.sti();
            a.Label(ref wait);
            a.hlt();
            a.cmp(r15, 2);
            a.jb(wait);
            a.cli();
            Asm.ExitWith(a, r15);

            a.Label(ref handler);
            a.inc(r15);
            a.mov(__dword_ptr[rbx + 0xB0], 0);
            a.iretq();
            h[0x51] = handler;
        });
        var r = g.Run();
        Assert.Equal(5, r.ExitStatus);
        Assert.Equal(0, g.Machine.Interrupts.PicAcknowledged);
        Assert.Equal(2, g.Machine.Interrupts.ApicAcknowledged);
        Assert.Equal(2, g.Machine.IoApic.Delivered);
    }

    [Fact]
    public void I8042ResetEndsTheRun()
    {
        using var g = new GuestHarness((a, _) =>
        {
            var wait = a.CreateLabel();
            a.Label(ref wait);
            a.@in(al, 0x64);
            a.test(al, 0x02);
            a.jnz(wait);
            Asm.Out(a, 0x64, 0xFE);
            a.jmp(wait);
        });
        var r = g.Run();
        Assert.Equal(MachineOutcome.Reset, r.Outcome);
        Assert.Equal(0, r.ExitStatus);
    }

    [Fact]
    public void HltWithInterruptsDisabledEndsWithStatus0()
    {
        using var g = new GuestHarness((a, _) => { a.cli(); a.hlt(); });
        var r = g.Run();
        Assert.Equal(MachineOutcome.Halted, r.Outcome);
        Assert.Equal(0, r.ExitStatus);
        Assert.Equal(2UL, r.Instructions);
    }

    [Fact]
    public void HltWithInterruptsEnabledButNothingArmedEndsWithStatus0()
    {
        using var g = new GuestHarness((a, _) => { a.sti(); a.hlt(); a.jmp(0x100000); });
        var r = g.Run();
        Assert.Equal(MachineOutcome.Halted, r.Outcome);
        Assert.Equal("halted with nothing left to wake it", r.Description);
        Assert.Equal(0, r.ExitStatus);
    }

    [Fact]
    public void VirtualTimeLimitEndsAnIdleGuestWithStatus124()
    {
        using var g = new GuestHarness((a, _) =>
        {
            var l = a.CreateLabel();
            Asm.InitPic(a, 0x20, 0x00);
            Asm.Out(a, 0x43, 0x34);               // the PIT keeps firing, masked at the PIC
            Asm.Out(a, 0x40, 0);
            Asm.Out(a, 0x40, 0);
            a.sti();
            a.Label(ref l);
            a.hlt();
            a.jmp(l);
        }, virtualTimeLimitNs: 3_000_000_000);
        var r = g.Run();
        Assert.Equal(MachineOutcome.TimeLimit, r.Outcome);
        Assert.Equal(124, r.ExitStatus);
        Assert.Equal(3_000_000_000UL, r.VirtualNanoseconds);
    }

    [Fact]
    public void SummaryLineFormat()
    {
        var r = new MachineResult(MachineOutcome.DebugExit, 3, 1_234_567_890, 1_500_000_000, TimeSpan.FromSeconds(2.5), "debug exit, status 3");
        Assert.Equal("debug exit, status 3: 1,234,567,890 instructions, virtual 1.500 s, wall 2.500 s, 493.8 MIPS", r.Summary());
    }

    [Fact]
    public void InstructionLimitEndsWithStatus124()
    {
        using var g = new GuestHarness((a, _) =>
        {
            var l = a.CreateLabel();
            a.Label(ref l);
            a.inc(rax);
            a.jmp(l);
        }, instructionLimit: 12_345);
        var r = g.Run();
        Assert.Equal(MachineOutcome.InstructionLimit, r.Outcome);
        Assert.Equal(124, r.ExitStatus);
        Assert.Equal(12_345UL, r.Instructions);
        Assert.Equal(12_345UL, r.VirtualNanoseconds);
    }

    [Fact]
    public void TripleFaultIsReported()
    {
        using var g = new GuestHarness((a, _) => a.ud2());   // no IDT: #UD → #GP → #DF → shutdown
        var r = g.Run();
        Assert.Equal(MachineOutcome.TripleFault, r.Outcome);
        Assert.Contains("triple fault", r.Description);
    }

    [Fact]
    public void UnknownPortsReadAllOnesAndPciSaysNoDevice()
    {
        using var g = new GuestHarness((a, _) =>
        {
            a.mov(dx, (ushort)0x2E8);
            a.@in(al, dx);
            a.mov(__byte_ptr[Data], al);
            a.mov(dx, (ushort)0xCF8);
            a.mov(eax, 0x80000000);
            a.@out(dx, eax);
            a.mov(dx, (ushort)0xCFC);
            a.@in(eax, dx);
            a.mov(__dword_ptr[Data + 4], eax);
            Asm.Out(a, 0x80, 0x11);
            Asm.Exit(a, 0);
        });
        g.Run();
        Assert.Equal(0xFFFFFFFF_000000FFUL, g.Data(0));
        Assert.Contains((ushort)0x2E8, g.Machine.Io.UnknownPorts);
        Assert.DoesNotContain((ushort)0x80, g.Machine.Io.UnknownPorts);
    }
}
