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
    public void WrmsrThenRdmsrOfAnAllowedMsrRoundTripsThroughTheRuntime(bool confined)
    {
        var (inst, rt) = RunGuest(confined, a =>
        {
            a.mov(ecx, 0xC0000102);          // IA32_KERNEL_GS_BASE (on the allow-list)
            a.mov(eax, 0x89ABCDEF);
            a.mov(edx, 0x00001234);
            a.wrmsr();
            a.xor(eax, eax);
            a.xor(edx, edx);
            a.rdmsr();
            a.mov(__dword_ptr[Results], eax);
            a.mov(__dword_ptr[Results + 4], edx);
            Exit(a, 3);
        });
        using (rt)
        {
            Assert.True(inst.State == InstanceState.Finished, inst.Report?.ToString());
            Assert.Equal(3, inst.ExitStatus);
            Assert.Equal(0x0000_1234_89AB_CDEFUL, rt.Board.Memory.Read(inst.GuestBase + Results, 8));
            Assert.Equal(1, inst.ExitsByReason[31]);
            Assert.Equal(1, inst.ExitsByReason[32]);
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
