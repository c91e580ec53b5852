using HyperLock.Abi;
using HyperLock.Runtime.Containment;
using HyperLock.Runtime.Loading;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.Runtime.Tests;

/// <summary>
/// Containment (issue 10 item 6): an exception raised by confined code, or a hypervisor that
/// overruns its budget, stops that instance and its guest with a report; the other instance
/// (same image loaded separately, healthy) runs its guest to the end.
/// </summary>
public class ContainmentTests
{
    private static (IsolationRuntime Rt, Instance Bad, Instance Good) Run(HypervisorImage badImage, bool badFirst = true, long budget = 200_000)
    {
        var rt = new IsolationRuntime { BudgetPerExit = budget };
        var bad = rt.Load(badImage);
        var good = rt.Load(TestHypervisors.CpuidAndIo());
        Instance b, g;
        if (badFirst)
        {
            b = rt.AddGuest(TestGuests.CpuidAndIo("bad"), bad, deviceModel: new CountingDevice());
            g = rt.AddGuest(TestGuests.CpuidAndIo("good"), good, deviceModel: new CountingDevice());
        }
        else
        {
            g = rt.AddGuest(TestGuests.CpuidAndIo("good"), good, deviceModel: new CountingDevice());
            b = rt.AddGuest(TestGuests.CpuidAndIo("bad"), bad, deviceModel: new CountingDevice());
        }
        rt.Run(20_000_000);
        return (rt, b, g);
    }

    private static void AssertOtherCarriesOn(Instance good)
    {
        Assert.Equal(InstanceState.Finished, good.State);
        Assert.Equal(7, good.ExitStatus);
        Assert.Equal("Hi", System.Text.Encoding.ASCII.GetString(good.Output.ToArray()));
    }

    private static ulong EntryRip(Instance inst) => ConfinedLayout.Code + (ulong)inst.Image.Manifest.DispatchEntry;

    [Fact]
    public void APageFaultOnAnUnmappedAddressIsContainedWithCr2AndErrorCode()
    {
        var (rt, bad, good) = Run(TestHypervisors.Faulting(a => { a.mov(rax, __qword_ptr[0x1234_5000]); TestHypervisors.Hang(a); }));
        using (rt)
        {
            Assert.Equal(InstanceState.Contained, bad.State);
            var r = bad.Report!;
            Assert.Equal(14, r.Vector);
            Assert.Equal(0x1234_5000UL, r.Cr2);
            Assert.Equal(0UL, r.ErrorCode); // supervisor read of a not-present page
            Assert.Equal(EntryRip(bad), r.Rip);
            AssertOtherCarriesOn(good);
        }
    }

    [Fact]
    public void AWriteToTheSharedCodeIsAProtectionFault()
    {
        var (rt, bad, good) = Run(TestHypervisors.Faulting(a => { a.mov(__qword_ptr[ConfinedLayout.Code], rax); TestHypervisors.Hang(a); }));
        using (rt)
        {
            var r = bad.Report!;
            Assert.Equal(14, r.Vector);
            Assert.Equal(ConfinedLayout.Code, r.Cr2);
            Assert.Equal(3UL, r.ErrorCode); // present | write
            // The shared code is unchanged, and the good instance ran the same bytes.
            var first = new byte[16];
            rt.Board.Memory.ReadBytes(bad.Image.CodeFrames[0], first);
            Assert.Equal(bad.Image.Image.Code.AsSpan(0, 16).ToArray(), first);
            AssertOtherCarriesOn(good);
        }
    }

    [Fact]
    public void ReachingForTheHostOrTheOtherInstanceFaults()
    {
        // The host stack's physical address and the next instance's guest window are simply not there.
        var (rt, bad, good) = Run(TestHypervisors.Faulting(a => { a.mov(rax, __qword_ptr[HostLayout.HostStackTop - 8]); TestHypervisors.Hang(a); }));
        using (rt)
        {
            Assert.Equal(14, bad.Report!.Vector);
            Assert.Equal(HostLayout.HostStackTop - 8, bad.Report.Cr2);
            AssertOtherCarriesOn(good);
        }
    }

    [Fact]
    public void AGeneralProtectionFaultIsContained()
    {
        var (rt, bad, good) = Run(TestHypervisors.Faulting(a =>
        {
            a.mov(rbx, 0x8000_0000_0000_0000UL);
            a.mov(rax, __qword_ptr[rbx]);
            TestHypervisors.Hang(a);
        }));
        using (rt)
        {
            Assert.Equal(13, bad.Report!.Vector);
            Assert.Equal(0UL, bad.Report.ErrorCode);
            Assert.InRange(bad.Report.Rip, EntryRip(bad), EntryRip(bad) + 32);
            AssertOtherCarriesOn(good);
        }
    }

    [Fact]
    public void AnInvalidOpcodeIsContained()
    {
        var (rt, bad, good) = Run(TestHypervisors.Faulting(a => { a.ud2(); TestHypervisors.Hang(a); }));
        using (rt)
        {
            Assert.Equal(6, bad.Report!.Vector);
            Assert.Equal(EntryRip(bad), bad.Report.Rip);
            AssertOtherCarriesOn(good);
        }
    }

    [Fact]
    public void ADivideErrorIsContained()
    {
        var (rt, bad, good) = Run(TestHypervisors.Faulting(a => { a.xor(ecx, ecx); a.div(ecx); TestHypervisors.Hang(a); }), badFirst: false);
        using (rt)
        {
            Assert.Equal(0, bad.Report!.Vector);
            Assert.InRange(bad.Report.Rip, EntryRip(bad), EntryRip(bad) + 32);
            AssertOtherCarriesOn(good);
        }
    }

    [Fact]
    public void AHypervisorThatNeverReturnsIsStoppedByTheBudgetTimer()
    {
        var (rt, bad, good) = Run(TestHypervisors.Faulting(TestHypervisors.Hang), budget: 10_000);
        using (rt)
        {
            Assert.Equal(InstanceState.Contained, bad.State);
            Assert.Equal(BudgetTimer.Vector, bad.Report!.Vector);
            Assert.Equal("budget exceeded", bad.Report.Reason);
            Assert.Equal(EntryRip(bad), bad.Report.Rip); // the jump to itself
            AssertOtherCarriesOn(good);
        }
    }

    [Fact]
    public void GateCallsDoNotRefillTheBudget()
    {
        // Forever: ~1,000 instructions of work, then a Print. The budget is per exit, not per gate call.
        var (rt, bad, good) = Run(TestHypervisors.Faulting(a =>
        {
            var top = a.CreateLabel();
            var spin = a.CreateLabel();
            a.Label(ref top);
            a.mov(ecx, 500);
            a.Label(ref spin);
            a.dec(ecx);
            a.jnz(spin);
            a.mov(edi, (uint)'.');
            a.mov(r11d, (uint)RuntimeService.Print);
            a.@int(ServiceRegisters.GateVector);
            a.jmp(top);
        }), budget: 20_000);
        using (rt)
        {
            Assert.Equal("budget exceeded", bad.Report!.Reason);
            Assert.InRange(bad.Output.Count, 5, 25); // about budget / 1,000 gate calls, then stopped
            AssertOtherCarriesOn(good);
        }
    }

    [Fact]
    public void AHypervisorThatAbortsIsContainedWithItsCode()
    {
        var (rt, bad, good) = Run(TestHypervisors.Faulting(a =>
        {
            a.mov(edi, 42);
            a.mov(r11d, (uint)RuntimeService.Abort);
            a.@int(ServiceRegisters.GateVector);
            TestHypervisors.Hang(a);
        }));
        using (rt)
        {
            Assert.Contains("code 42", bad.Report!.Reason);
            AssertOtherCarriesOn(good);
        }
    }
}
