using HyperLock.Abi;
using HyperLock.Demo;
using HyperLock.Emulator.Builders;
using HyperLock.Monitor;
using HyperLock.Runtime.Loading;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using F = HyperLock.Emulator.Vmx.VmcsField;

namespace HyperLock.Runtime.Tests.Monitor;

/// <summary>
/// The reference monitor (issue 12 item 1): silent over healthy confined runs (the demo, both
/// guests), and able to fire every kind of violation when one is provoked through a test-only
/// path (an extra mapping added to an instance's space, code frames overwritten after the
/// verifier accepted the image).
/// </summary>
public class ReferenceMonitorTests
{
    private const ulong ExtraPage = 0x3000_0000;

    [Fact]
    public void NothingIsRecordedOverTheConfinedDemoAndBothInstancesAreWatched()
    {
        ReferenceMonitor? monitor = null;
        var result = DemoRunner.Run(confined: true, prepared: rt => monitor = ReferenceMonitor.Attach(rt));
        using (monitor)
        {
            Assert.True(result.Succeeded, string.Join("; ", result.Guests.Select(g => $"{g.Name}: {g.State} {g.Report}")));
            Assert.Empty(monitor!.Violations);
            Assert.Equal(0, monitor.TotalViolations);
            Assert.Equal([0, 1], monitor.InstancesSeen.Order());
            Assert.True(monitor.InstructionsChecked > 10_000, $"{monitor.InstructionsChecked} confined instructions checked");
            Assert.True(monitor.AccessesChecked > monitor.InstructionsChecked);
        }
    }

    [Fact]
    public void NothingIsAttachedUnlessAskedAndDisposeDetaches()
    {
        using var rt = new IsolationRuntime();
        Assert.Null(rt.Board.Cpu.Observer);
        var monitor = ReferenceMonitor.Attach(rt);
        Assert.Same(monitor, rt.Board.Cpu.Observer);
        Assert.Throws<InvalidOperationException>(() => ReferenceMonitor.Attach(rt));
        monitor.Dispose();
        Assert.Null(rt.Board.Cpu.Observer);
    }

    [Fact]
    public void AHealthyHypervisorWithTwoInstancesRecordsNothing()
    {
        using var rt = new IsolationRuntime();
        var image = rt.Load(TestHypervisors.CpuidAndIo());
        var a = rt.AddGuest(TestGuests.CpuidAndIo("a"), image, deviceModel: new CountingDevice());
        var b = rt.AddGuest(TestGuests.CpuidAndIo("b"), image, deviceModel: new CountingDevice());
        using var monitor = ReferenceMonitor.Attach(rt);
        rt.Run(20_000_000);
        Assert.Equal(InstanceState.Finished, a.State);
        Assert.Equal(InstanceState.Finished, b.State);
        Assert.Empty(monitor.Violations);
        Assert.True(monitor.InstructionsChecked > 0);
    }

    [Fact]
    public void AReadAndAWriteThroughAnExtraMappingOfTheOtherInstancesDataAreRecorded()
    {
        using var rt = new IsolationRuntime();
        var image = rt.Load(TestHypervisors.Faulting(a =>
        {
            a.mov(rbx, ExtraPage);
            a.mov(rax, __qword_ptr[rbx]);
            a.mov(__qword_ptr[rbx + 8], rax);
            Abort(a);
        }));
        var bad = rt.AddGuest(TestGuests.CpuidAndIo("bad"), image, deviceModel: new CountingDevice());
        var other = rt.AddGuest(TestGuests.CpuidAndIo("other"), rt.Load(TestHypervisors.CpuidAndIo()), deviceModel: new CountingDevice());
        bad.Space.Map4K(ExtraPage, other.DataFrames[0], PageFlags.Writable | PageFlags.NoExecute); // the test-only extra page
        using var monitor = ReferenceMonitor.Attach(rt);
        rt.Run(20_000_000);

        Assert.Equal(InstanceState.Contained, bad.State); // it aborted after the accesses
        var v = monitor.Violations;
        var read = Assert.Single(v, x => x.Kind == MonitorViolationKind.ReadOutsideAllowed);
        var write = Assert.Single(v, x => x.Kind == MonitorViolationKind.WriteOutsideAllowed);
        Assert.Equal(2, v.Count);
        Assert.Equal(bad.Id, read.InstanceIndex);
        Assert.Equal(ExtraPage, read.Linear);
        Assert.Equal(other.DataFrames[0], read.Physical);
        Assert.Equal(ExtraPage + 8, write.Linear);
        Assert.Equal(other.DataFrames[0] + 8, write.Physical);
        Assert.InRange(read.Rip, ConfinedLayout.Code, ConfinedLayout.Code + (ulong)image.Image.Code.Length);
    }

    [Fact]
    public void AJumpToCodeOnAnExtraExecutablePageIsAFetchAndAStartOutsideTheImage()
    {
        using var rt = new IsolationRuntime();
        var image = rt.Load(TestHypervisors.Faulting(a =>
        {
            a.mov(rax, ExtraPage);
            a.jmp(rax); // the toolchain masks it: a legal indirect jump
        }));
        var bad = rt.AddGuest(TestGuests.CpuidAndIo("bad"), image, deviceModel: new CountingDevice());
        ulong frame = rt.Pool.Allocate();
        rt.Board.Memory.WriteBytes(frame, TestGuests.Assemble(ExtraPage, Abort));
        bad.Space.Map4K(ExtraPage, frame, PageFlags.None); // read + execute: the test-only extra page
        using var monitor = ReferenceMonitor.Attach(rt);
        rt.Run(20_000_000);

        Assert.Equal(InstanceState.Contained, bad.State);
        Assert.Contains("abort", bad.Report!.Reason); // the code on the extra page ran
        var v = monitor.Violations;
        Assert.Contains(v, x => x.Kind == MonitorViolationKind.FetchOutsideAllowed && x.Linear == ExtraPage && x.Physical == frame);
        var starts = v.Where(x => x.Kind == MonitorViolationKind.StartNotValidated).ToList();
        Assert.Equal(ExtraPage, starts[0].Linear);
        Assert.Equal(3, starts.Count); // mov edi, mov r11d, int GATE: each instruction on the page
        Assert.All(starts, x => Assert.Equal(frame, x.Physical & ~0xFFFUL));
        Assert.All(v, x => Assert.True(x.Kind is MonitorViolationKind.FetchOutsideAllowed or MonitorViolationKind.StartNotValidated, x.ToString()));
    }

    [Fact]
    public void APrivilegedInstructionInCodeTheVerifierNeverSawIsForbidden()
    {
        var (rt, bad, monitor) = RunOverwritten(a =>
        {
            a.mov(rax, cr3);
            Abort(a);
        });
        using (rt)
        using (monitor)
        {
            Assert.Equal(InstanceState.Contained, bad.State);
            var f = Assert.Single(monitor.Violations);
            Assert.Equal(MonitorViolationKind.ForbiddenInstruction, f.Kind);
            Assert.Contains("cr3", f.Description);
            Assert.Equal(ConfinedLayout.Code + (ulong)bad.Image.Manifest.DispatchEntry, f.Rip);
        }
    }

    [Fact]
    public void AVmwriteOfHostRipIsForbiddenByTheVmcsPolicy()
    {
        var (rt, bad, monitor) = RunOverwritten(a =>
        {
            a.xor(eax, eax);
            a.mov(edx, F.HostRip);
            a.vmwrite(rdx, rax);
            Abort(a);
        });
        using (rt)
        using (monitor)
        {
            var f = Assert.Single(monitor.Violations);
            Assert.Equal(MonitorViolationKind.ForbiddenInstruction, f.Kind);
            Assert.Contains($"0x{F.HostRip:x4} may not be written", f.Description);
        }
    }

    [Fact]
    public void AnAllowedVmreadInTheSamePseudoInstructionShapeIsNotRecorded()
    {
        var (rt, _, monitor) = RunOverwritten(a =>
        {
            a.mov(edx, F.GuestRip);
            a.vmread(rax, rdx);
            Abort(a);
        });
        using (rt)
        using (monitor)
            Assert.Empty(monitor.Violations);
    }

    [Fact]
    public void ExecutionStartingInsideAValidatedInstructionIsRecorded()
    {
        // A verified image whose mov rax, imm64 hides "mov r11d, Abort; int GATE" in its immediate.
        byte[] hidden = [0x41, 0xBB, (byte)RuntimeService.Abort, 0, 0, 0, 0xCD, ServiceRegisters.GateVector];
        var imageSource = TestHypervisors.Faulting(a =>
        {
            for (int k = 0; k < 8; k++) a.nop();
            a.mov(rax, BitConverter.ToUInt64(hidden));
            Abort(a);
        });
        int imm = IndexOf(imageSource.Code, hidden);
        Assert.True(imm > 0);
        using var rt = new IsolationRuntime();
        var image = rt.Load(imageSource);
        Assert.False(image.Verification.ValidatedStarts.Contains(imm)); // the verifier sees the mov, not what hides in it
        var bad = rt.AddGuest(TestGuests.CpuidAndIo("bad"), image, deviceModel: new CountingDevice());
        // The test hook: the entry's bytes become a jump into the immediate, after the verifier accepted the image.
        int entry = (int)image.Manifest.DispatchEntry;
        Assert.True(imm - entry >= 5 + 2); // room for the jump before the mov's opcode
        var jump = TestGuests.Assemble(ConfinedLayout.Code + (ulong)entry, a => a.jmp(ConfinedLayout.Code + (ulong)imm));
        rt.Board.Memory.WriteBytes(image.CodeFrames[0] + (ulong)entry, jump);
        using var monitor = ReferenceMonitor.Attach(rt);
        rt.Run(20_000_000);

        Assert.Equal(InstanceState.Contained, bad.State); // the hidden abort ran
        var s = Assert.Single(monitor.Violations);
        Assert.Equal(MonitorViolationKind.StartNotValidated, s.Kind);
        Assert.Equal(ConfinedLayout.Code + (ulong)imm, s.Linear);
        Assert.Equal(image.CodeFrames[0] + (ulong)imm, s.Physical);
    }

    [Fact]
    public void AnUnmaskedJumpIntoTheMiddleOfATrampolineBundleIsForbiddenAndNotAnEntry()
    {
        // The trampoline's last bundle (INT3, HLT, jump back to the HLT): just past its INT3 is not a
        // vector entry. (A jump into the common save path instead reaches the runtime with a frame
        // off every IST stack, which the runtime treats as impossible: only unverified code gets there.)
        using var probe = new IsolationRuntime();
        int last = probe.Trampoline.Bytes.Length - 32;
        Assert.Equal([0xCC, 0xF4], probe.Trampoline.Bytes[last..(last + 2)]);
        ulong target = ConfinedLayout.Trampoline + (ulong)last + 1;
        var (rt, bad, monitor) = RunOverwritten(a =>
        {
            a.mov(rax, target);
            a.jmp(rax);
        });
        using (rt)
        using (monitor)
        {
            Assert.Equal(InstanceState.Contained, bad.State);
            var v = monitor.Violations;
            Assert.Contains(v, x => x.Kind == MonitorViolationKind.ForbiddenInstruction && x.Description.Contains("and rX, -32"));
            var s = Assert.Single(v, x => x.Kind == MonitorViolationKind.StartNotValidated);
            Assert.Equal(target, s.Linear);
            Assert.Contains("not at a bundle start or a vector entry", s.Description);
        }
    }

    [Fact]
    public void AnUnmaskedJumpIntoTheTrampolinesSavePathIsRecordedAndTheInstanceContained()
    {
        using var probe = new IsolationRuntime();
        ulong target = ConfinedLayout.Trampoline + (ulong)probe.Trampoline.Labels["common"] + 1; // past INT3, no vector pushed, no IST frame
        var (rt, bad, monitor) = RunOverwritten(a =>
        {
            a.mov(rax, target);
            a.jmp(rax);
        });
        using (rt)
        using (monitor)
        {
            Assert.Equal(InstanceState.Contained, bad.State);
            var s = Assert.Single(monitor.Violations, x => x.Kind == MonitorViolationKind.StartNotValidated);
            Assert.Equal(target, s.Linear);
            Assert.Contains(monitor.Violations, x => x.Kind == MonitorViolationKind.ForbiddenInstruction);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AMaskedJumpPastTheEndOfTheImageMeetsTheLoadersInt3OrIsRecorded(bool tailOverwritten)
    {
        static HypervisorImage Build(ulong target) => TestHypervisors.Faulting(a =>
        {
            a.mov(rax, target);
            a.jmp(rax);
        });
        int size = Build(0).Code.Length;
        Assert.NotEqual(0, size % 0x1000); // the last frame has a tail the verifier never saw
        var source = Build(ConfinedLayout.Code + (ulong)size);
        Assert.Equal(size, source.Code.Length);
        using var rt = new IsolationRuntime();
        var image = rt.Load(source);
        ulong tail = image.CodeFrames[^1] + (ulong)(size % 0x1000);
        var pad = new byte[0x1000 - size % 0x1000];
        rt.Board.Memory.ReadBytes(tail, pad);
        Assert.All(pad, b => Assert.Equal(ImageLoader.TailPadding, b));
        if (tailOverwritten) rt.Board.Memory.WriteBytes(tail, new byte[pad.Length]); // the test-only path: zeros, as before the padding
        var bad = rt.AddGuest(TestGuests.CpuidAndIo("bad"), image, deviceModel: new CountingDevice());
        using var monitor = ReferenceMonitor.Attach(rt);
        rt.Run(20_000_000);

        Assert.Equal(InstanceState.Contained, bad.State);
        if (!tailOverwritten)
        {
            Assert.Equal(3, bad.Report!.Vector); // #BP from the padding
            Assert.Empty(monitor.Violations);
            return;
        }
        Assert.Equal(14, bad.Report!.Vector); // add [rax], al: a write to the read-only code page
        var s = Assert.Single(monitor.Violations);
        Assert.Equal(MonitorViolationKind.StartNotValidated, s.Kind);
        Assert.Equal(ConfinedLayout.Code + (ulong)size, s.Linear);
        Assert.Contains("past the end of the verified image", s.Description);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AMaskedJumpPastTheEndOfTheTrampolineMeetsInt3OrIsRecorded(bool tailOverwritten)
    {
        using var rt = new IsolationRuntime();
        int length = rt.Trampoline.Bytes.Length;
        ulong target = ConfinedLayout.Trampoline + (ulong)((length + 31) & ~31);
        Assert.True(target < ConfinedLayout.Trampoline + (ulong)rt.TrampolineFrames.Count * 0x1000, "the trampoline's last frame has a tail");
        var bad = rt.AddGuest(TestGuests.CpuidAndIo("bad"), rt.Load(TestHypervisors.Faulting(a =>
        {
            a.mov(rax, target);
            a.jmp(rax); // masked by the toolchain: target is bundle-aligned, so it stays
        })), deviceModel: new CountingDevice());
        ulong tail = rt.TrampolineFrames[^1] + (ulong)(length % 0x1000);
        if (tailOverwritten) rt.Board.Memory.WriteBytes(tail, new byte[0x1000 - length % 0x1000]); // zeros, as before the padding
        using var monitor = ReferenceMonitor.Attach(rt);
        rt.Run(20_000_000);

        Assert.Equal(InstanceState.Contained, bad.State);
        if (!tailOverwritten)
        {
            Assert.Equal(3, bad.Report!.Vector); // #BP from the padding
            Assert.Empty(monitor.Violations);
            return;
        }
        var s = monitor.Violations.First();
        Assert.Equal(MonitorViolationKind.StartNotValidated, s.Kind);
        Assert.Equal(target, s.Linear);
    }

    /// <summary>Loads a verified hypervisor, then (the test-only path) overwrites its entry with <paramref name="code"/>, which the verifier never saw.</summary>
    private static (IsolationRuntime Rt, Instance Bad, ReferenceMonitor Monitor) RunOverwritten(Action<Assembler> code)
    {
        var rt = new IsolationRuntime();
        var image = rt.Load(TestHypervisors.Faulting(a =>
        {
            for (int k = 0; k < 8; k++) a.nop();
            Abort(a);
        }));
        var bad = rt.AddGuest(TestGuests.CpuidAndIo("bad"), image, deviceModel: new CountingDevice());
        int entry = (int)image.Manifest.DispatchEntry;
        var bytes = TestGuests.Assemble(ConfinedLayout.Code + (ulong)entry, code);
        Assert.True(entry % 32 + bytes.Length <= 32, "the overwritten code stays in the entry bundle");
        rt.Board.Memory.WriteBytes(image.CodeFrames[0] + (ulong)entry, bytes);
        var monitor = ReferenceMonitor.Attach(rt);
        rt.Run(20_000_000);
        return (rt, bad, monitor);
    }

    private static void Abort(Assembler a)
    {
        a.mov(edi, 0x77);
        a.mov(r11d, (uint)RuntimeService.Abort);
        a.@int(ServiceRegisters.GateVector);
        TestHypervisors.Hang(a);
    }

    private static int IndexOf(byte[] haystack, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= haystack.Length; i++)
            if (haystack.AsSpan(i, needle.Length).SequenceEqual(needle)) return i;
        return -1;
    }
}
