using HyperLock.DeviceModel;
using HyperLock.Hypervisor;
using HyperLock.Runtime;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.Demo.Tests;

/// <summary>Mini-KVM handlers the demo guests do not reach: MSRs, XSETBV, unknown hypercalls, unhandled HLT.</summary>
public class MiniKvmHandlerTests
{
    private const ulong Results = 0x90000;

    private static (Instance Inst, IsolationRuntime Rt) RunGuest(bool confined, Action<Assembler> code)
    {
        var a = new Assembler(64);
        code(a);
        var w = new Writer();
        a.Assemble(w, GuestSpec.CodeAddress);
        var rt = new IsolationRuntime();
        var inst = rt.AddGuest(new GuestSpec("g", w.Bytes.ToArray()), rt.Load(MiniKvm.Build()), confined, new GuestDeviceModel("g"));
        rt.Run(5_000_000);
        return (inst, rt);
    }

    private static void Exit(Assembler a, int code)
    {
        a.mov(eax, MiniKvmAbi.HypercallExit);
        a.mov(edi, code);
        a.vmcall();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AnAllowedMsrTheBitmapDoesNotPassThroughExitsAndRoundTripsThroughTheRuntime(bool confined)
    {
        var (inst, rt) = RunGuest(confined, a =>
        {
            a.mov(ecx, 0x277);               // IA32_PAT: on the allow-list, but the processor keeps the host's, so it exits
            a.mov(eax, 0x00060407);
            a.mov(edx, 0x00050401);
            a.wrmsr();
            a.xor(eax, eax);
            a.xor(edx, edx);
            a.rdmsr();
            a.mov(__dword_ptr[Results], eax);
            a.mov(__dword_ptr[Results + 4], edx);
            a.mov(ecx, 0xC0000080);          // IA32_EFER: not passed through, emulated in the VMCS
            a.rdmsr();
            a.mov(__dword_ptr[Results + 8], eax);
            Exit(a, 3);
        });
        using (rt)
        {
            Assert.True(inst.State == InstanceState.Finished, inst.Report?.ToString());
            Assert.Equal(3, inst.ExitStatus);
            Assert.Equal(0x0005_0401_0006_0407UL, rt.Board.Memory.Read(inst.GuestBase + Results, 8));
            Assert.Equal(0x0005_0401_0006_0407UL, inst.CpuState.Msrs[0x277]);
            Assert.Equal(0x500UL, rt.Board.Memory.Read(inst.GuestBase + Results + 8, 4) & 0x500); // LME | LMA
            Assert.Equal(2, inst.ExitsByReason[31]);
            Assert.Equal(1, inst.ExitsByReason[32]);
        }
    }

    /// <summary>The MSRs the runtime's bitmap passes through, and a valid value for guest <c>k</c>.</summary>
    private static readonly (uint Msr, ulong Value)[] PassedThrough =
    [
        (0xC0000081, 0x0023_0010_0000_0000), (0xC0000082, 0xFFFF_8000_0000_1000), (0xC0000083, 0x0000_7FFF_0000_2000),
        (0xC0000084, 0x4700), (0xC0000102, 0xFFFF_8880_0000_0000), (0xC0000103, 0x100), (0x174, 0x10),
        (0x175, 0xFFFF_C900_0000_0000), (0x176, 0xFFFF_FFFF_8100_0000), (0xC0000100, 0x0000_7F00_0000_0000), (0xC0000101, 0xFFFF_8881_0000_0000),
    ];

    private static ulong GuestValue(int j, int k) => PassedThrough[j].Value + (ulong)(k + 1) * 8;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void PassedThroughMsrsCauseNoExitAndEachOfTwoGuestsReadsBackItsOwnValues(bool confined)
    {
        var rt = new IsolationRuntime();
        var image = rt.Load(MiniKvm.Build());
        var insts = new Instance[2];
        for (int k = 0; k < 2; k++)
        {
            var a = new Assembler(64);
            a.xor(eax, eax);
            a.cpuid();                       // a first exit: the mini-KVM arms its preemption-timer slice there
            for (int j = 0; j < PassedThrough.Length; j++)
            {
                a.mov(ecx, PassedThrough[j].Msr);
                a.mov(rax, GuestValue(j, k));
                a.mov(rdx, rax);
                a.shr(rdx, 32);
                a.wrmsr();
            }
            var spin = a.CreateLabel();
            a.mov(ebx, 400_000);             // long enough for preemption-timer slices of the other guest in between
            a.Label(ref spin);
            a.dec(ebx);
            a.jnz(spin);
            for (int j = 0; j < PassedThrough.Length; j++)
            {
                a.mov(ecx, PassedThrough[j].Msr);
                a.rdmsr();
                a.shl(rdx, 32);
                a.or(rax, rdx);
                a.mov(__qword_ptr[Results + (ulong)j * 8], rax);
            }
            Exit(a, 7);
            var w = new Writer();
            a.Assemble(w, GuestSpec.CodeAddress);
            // One unconfined instance at most: with confined = false the second guest is confined.
            insts[k] = rt.AddGuest(new GuestSpec($"g{k}", w.Bytes.ToArray()), image, confined || k == 1, new GuestDeviceModel($"g{k}"));
        }
        using (rt)
        {
            rt.Run(100_000_000);
            Assert.True(rt.Schedule.IndexOf(1) < rt.Schedule.LastIndexOf(0), "guest 1 ran while guest 0 held its values: " + string.Join(",", rt.Schedule));
            Assert.True(rt.Schedule.IndexOf(0) < rt.Schedule.LastIndexOf(1), "guest 0 ran while guest 1 held its values");
            for (int k = 0; k < 2; k++)
            {
                var inst = insts[k];
                Assert.True(inst.State == InstanceState.Finished, inst.Report?.ToString());
                Assert.Equal(7, inst.ExitStatus);
                Assert.Equal(0, inst.ExitsByReason[31]);
                Assert.Equal(0, inst.ExitsByReason[32]);
                for (int j = 0; j < PassedThrough.Length; j++)
                    Assert.Equal($"{PassedThrough[j].Msr:x}={GuestValue(j, k):x}",
                        $"{PassedThrough[j].Msr:x}={rt.Board.Memory.Read(inst.GuestBase + Results + (ulong)j * 8, 8):x}");
            }
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void XsetbvSetsTheGuestsXcr0AndAnUnknownHypercallReturnsMinus1000(bool confined)
    {
        var (inst, rt) = RunGuest(confined, a =>
        {
            a.mov(rax, cr4);
            a.or(eax, 1 << 18);              // CR4.OSXSAVE
            a.mov(cr4, rax);
            a.xor(ecx, ecx);
            a.mov(eax, 3);                   // x87 | SSE
            a.xor(edx, edx);
            a.xsetbv();
            a.xor(ecx, ecx);
            a.xgetbv();
            a.mov(__dword_ptr[Results], eax);
            a.mov(eax, 77);
            a.vmcall();
            a.mov(__qword_ptr[Results + 8], rax);
            Exit(a, 4);
        });
        using (rt)
        {
            Assert.True(inst.State == InstanceState.Finished, inst.Report?.ToString());
            Assert.Equal(3UL, rt.Board.Memory.Read(inst.GuestBase + Results, 4));
            Assert.Equal(unchecked((ulong)-1000L), rt.Board.Memory.Read(inst.GuestBase + Results + 8, 8));
            Assert.Equal(1, inst.ExitsByReason[55]);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AGuestWriteToAHostOwnedCr4BitExitsAndTheHandlerKeepsTheGuestsValueInTheReadShadow(bool confined)
    {
        var (inst, rt) = RunGuest(confined, a =>
        {
            a.mov(rax, cr4);
            a.mov(__qword_ptr[Results], rax);            // VMXE reads as 0 (read shadow)
            a.or(eax, 1 << 13);                          // set VMXE: differs from the shadow, so it exits
            a.mov(cr4, rax);
            a.mov(rax, cr4);
            a.mov(__qword_ptr[Results + 8], rax);
            Exit(a, 5);
        });
        using (rt)
        {
            Assert.True(inst.State == InstanceState.Finished, inst.Report?.ToString());
            Assert.Equal(5, inst.ExitStatus);
            ulong before = rt.Board.Memory.Read(inst.GuestBase + Results, 8), after = rt.Board.Memory.Read(inst.GuestBase + Results + 8, 8);
            Assert.Equal(0UL, before & (1UL << 13));
            Assert.Equal(before | (1UL << 13), after);
            Assert.Equal(1, inst.ExitsByReason[28]);     // CR access
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AnMmioAccessTheDeviceModelCannotEmulateStopsTheGuestThroughTheEptViolationHandler(bool confined)
    {
        var (inst, rt) = RunGuest(confined, a =>
        {
            a.mov(rax, 0x3FE00083UL);                    // a 2 MiB page at guest-physical 0x3FE00000, far outside the guest's 2 MiB
            a.mov(__qword_ptr[GuestSpec.Pd + 0x1FF * 8], rax);
            a.mov(rax, cr3);
            a.mov(cr3, rax);
            a.mov(eax, __dword_ptr[0x3FE00030]);         // EPT violation: not the guest's RAM, so MMIO
            Exit(a, 6);
        });
        using (rt)
        {
            Assert.Equal(InstanceState.Contained, inst.State);
            Assert.Contains($"code {MiniKvm.AbortMmio}", inst.Report!.ToString());
            Assert.Equal(1, inst.ExitsByReason[48]);     // EPT violation
        }
    }

    [Fact]
    public void AGuestThatHaltsWithNoTimerIsStoppedByItsHypervisorAlone()
    {
        var (inst, rt) = RunGuest(true, a =>
        {
            a.mov(al, 0);
            a.@out(0x80, al);                // first exit: the vCPU is set up (HLT exiting)
            a.cli();
            a.hlt();
        });
        using (rt)
        {
            Assert.Equal(InstanceState.Contained, inst.State);
            Assert.Contains($"code {MiniKvm.AbortHaltedForever}", inst.Report!.ToString());
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ATimerInterruptRaisedWhileTheGuestHasIfClearWaitsForAnInterruptWindow(bool confined)
    {
        const ulong Ticks = 0x8000, Idt = 0x7000, Idtr = 0x7F00;
        var (inst, rt) = RunGuest(confined, a =>
        {
            Iced.Intel.Label isr = a.CreateLabel(), spin = a.CreateLabel();
            ulong gate = Idt + 0x20 * 16;
            a.lea(rax, __[isr]);
            a.mov(__word_ptr[gate], ax);
            a.mov(__word_ptr[gate + 2], 0x08);
            a.mov(__word_ptr[gate + 4], 0x8E00);
            a.shr(rax, 16);
            a.mov(__word_ptr[gate + 6], ax);
            a.shr(rax, 16);
            a.mov(__dword_ptr[gate + 8], eax);
            a.mov(__word_ptr[Idtr], 0xFFF);
            a.mov(__qword_ptr[Idtr + 2], (int)Idt);
            a.lidt(__[Idtr]);
            foreach (var (port, value) in new (byte, byte)[] { (0x20, 0x11), (0x21, 0x20), (0x21, 0x04), (0x21, 0x01), (0x21, 0xFE), (0x43, 0x34), (0x40, 0xA9), (0x40, 0x04) })
            {
                a.mov(al, value);
                a.@out(port, al);
            }
            a.cli();
            a.mov(ecx, 300_000);             // several preemption-timer slices with IF = 0: IRQ 0 pends
            a.Label(ref spin);
            a.dec(ecx);
            a.jnz(spin);
            a.sti();
            a.nop();
            a.nop();
            a.mov(eax, __dword_ptr[Ticks]);
            a.mov(__dword_ptr[Results], eax);
            Exit(a, 0);
            a.Label(ref isr);
            a.inc(__dword_ptr[Ticks]);
            a.push(rax);
            a.mov(al, 0x20);
            a.@out(0x20, al);
            a.pop(rax);
            a.iretq();
        });
        using (rt)
        {
            Assert.True(inst.State == InstanceState.Finished, inst.Report?.ToString());
            Assert.True(inst.ExitsByReason[52] > 1, "preemption-timer exits while IF = 0");
            Assert.True(inst.ExitsByReason[7] >= 1, "an interrupt-window exit");
            Assert.Equal(1UL, rt.Board.Memory.Read(inst.GuestBase + Results, 4)); // the latched IRQ, once, right after STI's shadow
        }
    }

    private sealed class Writer : CodeWriter
    {
        public readonly List<byte> Bytes = new();
        public override void WriteByte(byte value) => Bytes.Add(value);
    }
}
