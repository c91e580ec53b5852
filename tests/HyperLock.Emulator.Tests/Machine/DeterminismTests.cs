using HyperLock.Emulator.Machine;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.Emulator.Tests.Machine;

public class DeterminismTests
{
    /// <summary>
    /// A guest whose output depends on when interrupts arrive: it counts in a busy loop while the
    /// PIT and the local APIC timer interrupt it, and prints the loop counter and TSC at each tick.
    /// </summary>
    private static (string Serial, MachineResult Result, long Pic, long Apic) RunOnce()
    {
        using var g = new GuestHarness((a, h) =>
        {
            var pit = a.CreateLabel();
            var apic = a.CreateLabel();
            var loop = a.CreateLabel();
            var done = a.CreateLabel();
            var hex = a.CreateLabel();
            Asm.InitPic(a, 0x20, 0x01);
            Asm.Out(a, 0x43, 0x34);
            Asm.Out(a, 0x40, 0x9B);
            Asm.Out(a, 0x40, 0x04);                     // 1179 ticks (~1 ms)
            a.mov(rbx, 0xFEE00000);
            a.mov(__dword_ptr[rbx + 0xF0], 0x1FF);
            a.mov(__dword_ptr[rbx + 0x3E0], 0x1);        // divide by 4
            a.mov(__dword_ptr[rbx + 0x320], 0x20041);
            a.mov(__dword_ptr[rbx + 0x380], 77_777);
            a.xor(r12d, r12d);                           // busy counter
            a.xor(r15d, r15d);                           // tick count
            a.sti();
            a.Label(ref loop);
            a.inc(r12);
            a.cmp(r15, 16);
            a.jb(loop);
            a.cli();
            Asm.Exit(a, 0);

            // Prints r12 and the TSC in hex, one line per interrupt.
            a.Label(ref pit);
            a.call(hex);
            Asm.Out(a, 0x20, 0x20);
            a.iretq();
            a.Label(ref apic);
            a.call(hex);
            a.mov(__dword_ptr[rbx + 0xB0], 0);
            a.iretq();

            a.Label(ref hex);
            a.inc(r15);
            a.mov(r8, r12);
            a.rdtsc();
            a.shl(rdx, 32);
            a.or(rax, rdx);
            a.mov(r9, rax);
            foreach (var reg in new[] { r8, r9 })
            {
                a.mov(r10, reg);
                a.mov(ecx, 16);
                var digit = a.CreateLabel();
                var isNum = a.CreateLabel();
                a.Label(ref digit);
                a.rol(r10, 4);
                a.mov(eax, r10d);
                a.and(eax, 0xF);
                a.add(eax, '0');
                a.cmp(eax, '9');
                a.jbe(isNum);
                a.add(eax, 'a' - '9' - 1);
                a.Label(ref isNum);
                a.mov(dx, (ushort)0x3F8);
                a.@out(dx, al);
                a.dec(ecx);
                a.jnz(digit);
                Asm.Out(a, 0x3F8, (byte)' ');
            }
            Asm.Out(a, 0x3F8, (byte)'\n');
            a.ret();
            h[0x20] = pit;
            h[0x41] = apic;
        });
        var r = g.Run();
        return (g.SerialText, r, g.Machine.Interrupts.PicAcknowledged, g.Machine.Interrupts.ApicAcknowledged);
    }

    [Fact]
    public void SameRunTwiceGivesTheSameOutputInstructionsAndTime()
    {
        var (out1, r1, pic1, apic1) = RunOnce();
        var (out2, r2, pic2, apic2) = RunOnce();
        Assert.Equal(MachineOutcome.DebugExit, r1.Outcome);
        Assert.Equal(16, out1.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Equal(out1, out2);
        Assert.Equal(r1.Instructions, r2.Instructions);
        Assert.Equal(r1.VirtualNanoseconds, r2.VirtualNanoseconds);
        // Both timers took part, equally often in both runs.
        Assert.True(pic1 > 0 && apic1 > 0);
        Assert.Equal((pic1, apic1), (pic2, apic2));
    }
}
