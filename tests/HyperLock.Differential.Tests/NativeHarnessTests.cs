using HyperLock.Differential.Tests.Harness;
using HyperLock.Differential.Tests.Harness.Native;
using Iced.Intel;
using static HyperLock.Differential.Tests.NativeTestKit;

namespace HyperLock.Differential.Tests;

/// <summary>The native half of the harness checked against values computed by hand.</summary>
[Trait("Category", "Differential")]
public class NativeHarnessTests
{
    [Fact]
    public void AddSetsResultAndFlags()
    {
        var s = State();
        s.Gpr[0] = 0xFFFFFFFFFFFFFFFF;
        s.Gpr[3] = 1;
        byte[] code = Encode(Instruction.Create(Code.Add_rm64_r64, Register.RAX, Register.RBX));
        MachineState r;
        lock (NativeExecutor.Lock) r = Native().Run(code, s);
        Assert.Equal(0UL, r.Gpr[0]);
        Assert.Equal(1UL, r.Gpr[3]);
        Assert.Equal(ScratchLayout.StackTop, r.Gpr[4]);
        Assert.Equal(0x055UL, r.Rflags & Comparison.ComparedFlags); // CF PF AF ZF
        Assert.Equal(ScratchLayout.CodeBase + (ulong)code.Length, r.Rip);
    }

    [Fact]
    public void MemoryOperandAndXmmRoundTrip()
    {
        var s = State();
        s.Gpr[6] = ScratchLayout.DataBase + 0x300;
        s.WriteMemory(ScratchLayout.DataBase + 0x310, 8, 0x1122334455667788);
        s.Xmm[2 * 9] = 0xAAAA; s.Xmm[2 * 9 + 1] = 0xBBBB;
        s.Mxcsr = 0x7F80 | 0x40;
        byte[] code = Encode(Instruction.Create(Code.Movq_xmm_rm64, Register.XMM3, new MemoryOperand(Register.RSI, 0x10)));
        MachineState r;
        lock (NativeExecutor.Lock) r = Native().Run(code, s);
        Assert.Equal(0x1122334455667788UL, r.Xmm[2 * 3]);
        Assert.Equal(0UL, r.Xmm[2 * 3 + 1]);
        Assert.Equal(0xAAAAUL, r.Xmm[2 * 9]);
        Assert.Equal(0x7FC0u, r.Mxcsr);
    }

    [Fact]
    public void PushWritesTheScratchStackAndBranchesReachTheSecondExit()
    {
        var s = State();
        s.Gpr[1] = 0xDEADBEEF;
        byte[] push = Encode(Instruction.Create(Code.Push_r64, Register.RCX));
        MachineState r;
        lock (NativeExecutor.Lock) r = Native().Run(push, s);
        Assert.Equal(ScratchLayout.StackTop - 8, r.Gpr[4]);
        Assert.Equal(0xDEADBEEFUL, r.ReadMemory(ScratchLayout.StackTop - 8, 8));

        var jz = Instruction.CreateBranch(Code.Je_rel8_64, ScratchLayout.BranchTarget);
        byte[] code = Encode(jz);
        s.Rflags = 0x202 | 0x40;
        lock (NativeExecutor.Lock) r = Native().Run(code, s);
        Assert.Equal(ScratchLayout.BranchTarget, r.Rip);
        s.Rflags = 0x202;
        lock (NativeExecutor.Lock) r = Native().Run(code, s);
        Assert.Equal(ScratchLayout.CodeBase + (ulong)code.Length, r.Rip);
    }

    /// <summary>
    /// Every candidate form, implemented in the emulator or not, runs natively without faulting
    /// (the fault handler would catch it, but the pass would lose the form): when a family lands,
    /// its forms are already known to be safe on the host. Forms the vendor policy keeps off this
    /// host's vendor are not run.
    /// </summary>
    [Fact]
    public void EveryCandidateFormRunsNatively()
    {
        var native = Native();
        var policy = VendorPolicy.Host;
        int ran = 0, vendorSpecific = 0;
        var failures = new List<string>();
        foreach (var form in FormCatalog.Forms)
        {
            if (policy.VendorSpecificForm(form.Code) != null) { vendorSpecific++; continue; }
            var rnd = new FsCheck.Rnd(0x5EED ^ (ulong)form.Code);
            foreach (var r in FsCheck.Fluent.Gen.Sample(Generators.CaseFor(form), 2, rnd, 16))
            {
                if (r.Case == null) { failures.Add($"{form.Code}: {r.Failure}"); continue; }
                MachineState final;
                lock (NativeExecutor.Lock) final = native.Run(r.Case.Bytes, r.Case.Initial);
                Assert.True(final.HostSignal == 0, $"{form.Code}: {r.Case.Hex} ({r.Case.Text}) raised {final.HostSignal} natively");
                Assert.True(final.Rip == ScratchLayout.BranchTarget || final.Rip == ScratchLayout.CodeBase + (ulong)r.Case.Bytes.Length,
                    $"{form.Code}: native run ended at 0x{final.Rip:x}");
                ran++;
            }
        }
        Assert.True(failures.Count == 0, "no case could be built for:\n" + string.Join("\n", failures.Distinct()));
        Assert.True(ran >= FormCatalog.Forms.Count - vendorSpecific, $"only {ran} native runs");
    }
}
