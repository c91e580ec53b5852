using HyperLock.Emulator.Cpu;
using HyperLock.Emulator.Vmx;
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
        var top = g.CreateLabel();
        g.mov(r8d, count);
        g.Label(ref top);
        g.cpuid();
        g.dec(r8);
        g.jnz(top);
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

    /// <summary>Recursive fib(18) plus a 10-instruction integer loop, the Foundation benchmark shapes.</summary>
    internal static void Workload(Assembler a, Action<Assembler> end)
    {
        var fib = a.CreateLabel();
        var small = a.CreateLabel();
        var after = a.CreateLabel();
        var top = a.CreateLabel();
        a.mov(edi, 18);
        a.call(fib);
        a.mov(r9, rax);
        a.mov(ecx, 20000);
        a.xor(eax, eax);
        a.xor(edx, edx);
        a.Label(ref top);
        a.add(rax, rcx);
        a.xor(rdx, rax);
        a.lea(rbx, __[rax + rdx * 2]);
        a.sub(rbx, 7);
        a.and(rbx, 0xFFFF);
        a.or(rdx, rbx);
        a.mov(__qword_ptr[0x500000 + 8 * 0], rdx);
        a.inc(rsi);
        a.dec(rcx);
        a.jnz(top);
        end(a);
        a.jmp(after);
        a.Label(ref fib);
        a.cmp(rdi, 2);
        a.jb(small);
        a.push(rdi);
        a.dec(rdi);
        a.call(fib);
        a.pop(rdi);
        a.push(rax);
        a.sub(rdi, 2);
        a.call(fib);
        a.pop(rdx);
        a.add(rax, rdx);
        a.ret();
        a.Label(ref small);
        a.mov(rax, rdi);
        a.ret();
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
