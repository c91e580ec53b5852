using HyperLock.Abi;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.Runtime.Tests;

/// <summary>
/// NMI, #DF and #MC run on IST stacks of their own (IST2-4), so an NMI that arrives while the
/// trampoline is saving a gate's or an exception's frame on IST1, or a fault while IST1 itself
/// is unusable, does not overwrite the frame another path is using.
/// </summary>
public class IstStackTests
{
    /// <summary>Steps the machine one instruction at a time until <paramref name="where"/> holds (or gives up).</summary>
    private static bool StepUntil(IsolationRuntime rt, Func<bool> where, int limit = 200_000)
    {
        for (int k = 0; k < limit; k++)
        {
            rt.Run(1);
            if (where()) return true;
        }
        return false;
    }

    /// <summary>True in the middle of the trampoline's common save path (after its first push, before its bundle ends).</summary>
    private static bool InsideCommonSave(IsolationRuntime rt)
    {
        ulong common = ConfinedLayout.Trampoline + (ulong)rt.Trampoline.Labels["common"] + 1;
        return rt.Board.Cpu.Rip > common + 2 && rt.Board.Cpu.Rip < common + 20;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AnNmiDuringAGatesSavePathLeavesTheGateCallIntact(bool confined)
    {
        using var reference = new IsolationRuntime();
        var r = reference.AddGuest(TestGuests.CpuidAndIo(), reference.Load(TestHypervisors.CpuidAndIo()), confined, new CountingDevice());
        reference.Run(5_000_000);

        using var rt = new IsolationRuntime();
        var inst = rt.AddGuest(TestGuests.CpuidAndIo(), rt.Load(TestHypervisors.CpuidAndIo()), confined, new CountingDevice());
        Assert.True(StepUntil(rt, () => inst.GateCalls == 0 && InsideCommonSave(rt)));
        if (confined) Assert.Equal(inst.Cr3, rt.Board.Cpu.Cr3 & ~0xFFFUL); // still in the instance's space, frame half pushed
        rt.Board.Cpu.RaiseNmi();
        rt.Run(5_000_000);

        Assert.Equal(1, rt.NmisHandled);
        Assert.True(inst.State == InstanceState.Finished, inst.Report?.ToString());
        Assert.Equal(7, inst.ExitStatus);
        Assert.Equal("Hi", System.Text.Encoding.ASCII.GetString(inst.Output.ToArray()));
        var a = new byte[0x40];
        var b = new byte[0x40];
        rt.Board.Memory.ReadBytes(inst.GuestBase + TestGuests.Results, a);
        reference.Board.Memory.ReadBytes(r.GuestBase + TestGuests.Results, b);
        Assert.Equal(b, a); // the guest saw exactly what it sees without the NMI
        Assert.Equal(r.GateCalls, inst.GateCalls);
    }

    [Fact]
    public void AnNmiInHypervisorCodeReturnsThereAndTheRunIsUnchanged()
    {
        using var rt = new IsolationRuntime();
        var inst = rt.AddGuest(TestGuests.CpuidAndIo(), rt.Load(TestHypervisors.CpuidAndIo()), deviceModel: new CountingDevice());
        Assert.True(StepUntil(rt, () => rt.Board.Cpu.Rip >= ConfinedLayout.Code && rt.Board.Cpu.Rip < ConfinedLayout.Data && inst.GateCalls == 2));
        rt.Board.Cpu.RaiseNmi();
        rt.Run(5_000_000);
        Assert.Equal(1, rt.NmisHandled);
        Assert.Equal(InstanceState.Finished, inst.State);
        Assert.Equal(7, inst.ExitStatus);
    }

    [Fact]
    public void AnNmiWhileTheTrampolineSavesAnExceptionFrameLeavesTheReportIntact()
    {
        using var rt = new IsolationRuntime();
        var bad = rt.AddGuest(TestGuests.CpuidAndIo("bad"), rt.Load(TestHypervisors.Faulting(a => { a.nop(); a.ud2(); TestHypervisors.Hang(a); })),
            deviceModel: new CountingDevice());
        var good = rt.AddGuest(TestGuests.CpuidAndIo("good"), rt.Load(TestHypervisors.CpuidAndIo()), deviceModel: new CountingDevice());
        Assert.True(StepUntil(rt, () => bad.Exits == 1 && InsideCommonSave(rt)));
        rt.Board.Cpu.RaiseNmi();
        rt.Run(5_000_000);
        Assert.Equal(1, rt.NmisHandled);
        Assert.Equal(InstanceState.Contained, bad.State);
        Assert.Equal(6, bad.Report!.Vector);                 // #UD, not the NMI's vector 2
        Assert.Equal(ConfinedLayout.Code + (ulong)bad.Image.Manifest.DispatchEntry + 1, bad.Report.Rip); // the ud2 after the nop
        Assert.Equal(InstanceState.Finished, good.State);
        Assert.Equal(7, good.ExitStatus);
    }

    /// <summary>
    /// A runtime bug that leaves IST1's top page unmapped: the gate's delivery faults (#PF),
    /// the #PF's delivery on IST1 faults again, so the CPU raises #DF, which its own stack
    /// (IST3) can take: the instance is contained with vector 8 instead of the machine shutting
    /// down, and the other instance finishes.
    /// </summary>
    [Fact]
    public void ADoubleFaultRunsOnItsOwnStackAndIsContained()
    {
        using var rt = new IsolationRuntime();
        var bad = rt.AddGuest(TestGuests.CpuidAndIo("bad"), rt.Load(TestHypervisors.CpuidAndIo()), deviceModel: new CountingDevice());
        var good = rt.AddGuest(TestGuests.CpuidAndIo("good"), rt.Load(TestHypervisors.CpuidAndIo()), deviceModel: new CountingDevice());
        bad.Space.Unmap4K(ConfinedLayout.IstTop - 0x1000);
        var stop = rt.Run(5_000_000);
        Assert.Equal(InstanceState.Contained, bad.State);
        Assert.Equal(8, bad.Report!.Vector);
        Assert.Equal(0UL, bad.Report.ErrorCode);
        Assert.Equal(InstanceState.Finished, good.State);
        Assert.Equal(7, good.ExitStatus);
        Assert.NotEqual(Emulator.Processor.Execution.StopKind.Shutdown, stop.Kind);
    }
}
