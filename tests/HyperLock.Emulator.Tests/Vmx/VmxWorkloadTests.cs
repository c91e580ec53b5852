using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Vmx;
using HyperLock.Emulator.Workloads;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using F = HyperLock.Emulator.Vmx.VmcsField;
using C = HyperLock.Emulator.Vmx.VmxControls;

namespace HyperLock.Emulator.Tests.Vmx;

/// <summary>A hypervisor loop (exit, handle, VMRESUME) and a long guest workload under EPT compared with bare execution.</summary>
public class VmxWorkloadTests
{
    /// <summary>Host exit handler: VMCALL ends the run (INT3); any other exit skips the instruction and resumes.</summary>
    internal static void LoopHandler(Assembler a)
    {
        var done = a.CreateLabel();
        HvTest.Vmr(a, r12, F.ExitReason);
        a.inc(r11);
        a.cmp(r12, ExitReason.Vmcall);
        a.je(done);
        HvTest.SkipAndResume(a);
        a.Label(ref done);
        a.int3();
    }

    internal static void CpuidLoopGuest(Assembler g, int count)
    {
        WorkloadCode.CpuidLoop(g, count);
        g.vmcall();
    }

    [Fact]
    public void CpuidExitRoundTripsThroughVmresume()
    {
        using var m = new VmxMachine();
        var t = new HvTest { Guest = g => CpuidLoopGuest(g, 100), OnExit = LoopHandler };
        Assert.Equal("int3", t.Run(m).ToString());
        Assert.Equal(101UL, m.Cpu.R(Reg.R11));   // 100 CPUID exits + the VMCALL
        Assert.Equal(101UL, m.Cpu.VmExits);
        Assert.Equal(101UL, m.Cpu.VmEntries);    // VMLAUNCH + 100 VMRESUMEs
        Assert.Equal(0UL, m.Cpu.R(Reg.R8));
    }

    [Fact]
    public void VmExitsAreCountedByReason()
    {
        using var m = new VmxMachine();
        var t = new HvTest { Guest = g => CpuidLoopGuest(g, 100), OnExit = LoopHandler };
        Assert.Equal("int3", t.Run(m).ToString());
        Assert.Equal(100UL, m.Cpu.VmExitsByReason[ExitReason.Cpuid]);
        Assert.Equal(1UL, m.Cpu.VmExitsByReason[ExitReason.Vmcall]);
        ulong total = 0;
        foreach (ulong n in m.Cpu.VmExitsByReason) total += n;
        Assert.Equal(m.Cpu.VmExits, total);
        Assert.Equal("CPUID", ExitReason.Name(ExitReason.Cpuid));
        Assert.Equal("EPT violation", ExitReason.Name(ExitReason.EptViolation));
    }

    /// <summary>Recursive fib(18) plus the shared 10-instruction integer loop (<see cref="WorkloadCode"/>), then RDX stored to memory.</summary>
    internal static void Workload(Assembler a, Action<Assembler> end)
    {
        var fib = a.CreateLabel();
        var after = a.CreateLabel();
        a.mov(edi, 18);
        a.call(fib);
        a.mov(r9, rax);
        WorkloadCode.IntegerLoop(a, 20000);
        a.mov(__qword_ptr[0x500000], rdx);
        end(a);
        a.jmp(after);
        WorkloadCode.FibonacciFunction(a, fib);
        a.Label(ref after);
        a.int3();
    }

    [Fact]
    public void LongWorkloadUnderEptMatchesBareExecution()
    {
        // Bare: the workload runs in VMX root (no VMX at all) at the guest's address with the guest's stack.
        using var bare = new VmxMachine();
        bare.Load(VmxMachine.GuestCode, a => Workload(a, e => e.int3()));
        bare.Cpu.Rip = VmxMachine.GuestCode;
        bare.Cpu.R(Reg.Rsp) = VmxMachine.GuestStack;
        Assert.Equal("int3", bare.Run(10_000_000).ToString());
        ulong bareRetired = bare.Cpu.Retired;

        using var m = new VmxMachine();
        ulong eptp = m.BuildIdentityEpt(16 << 20);
        var t = new HvTest { Guest = g => Workload(g, e => e.vmcall()) };
        t.Set(F.ProcControls, C.ProcSecondary);
        t.Fields[F.ProcControls2] = C.Proc2Ept | C.Proc2Vpid;
        t.Fields[F.Vpid] = 1;
        t.Fields[F.EptPointer] = eptp;
        t.OnExit = a => a.int3();
        Assert.Equal("int3", t.Run(m, 10_000_000).ToString());
        Assert.Equal((ulong)ExitReason.Vmcall, m.Vmcs(F.ExitReason));
        for (int r = 0; r < 16; r++)
        {
            if (r == Reg.Rsp) continue;
            Assert.True(bare.Cpu.R(r) == m.Cpu.R(r), $"{Reg.Names64[r]}: bare 0x{bare.Cpu.R(r):x} guest 0x{m.Cpu.R(r):x}");
        }
        Assert.Equal(VmxMachine.GuestStack, m.Vmcs(F.GuestRsp));
        Assert.Equal(bare.Memory.Read(0x500000, 8), m.Memory.Read(0x500000, 8));
        Assert.Equal(2584UL, m.Cpu.R(Reg.R9)); // fib(18)
        Assert.True(bareRetired > 200_000);
    }
}
