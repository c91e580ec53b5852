using HyperLock.Abi;
using HyperLock.Emulator.Processor;
using HyperLock.Runtime.Loading;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using F = HyperLock.Emulator.Vmx.VmcsField;

namespace HyperLock.Runtime.Tests;

/// <summary>
/// PCIDs: the host space is PCID 0, each confined space has its own (1 + id), CR4.PCIDE = 1 and
/// CR4.PGE = 0, and the host↔confined switches load CR3 without a flush — so a translation one
/// instance left in the TLB must never serve another.
/// </summary>
public class PcidTests
{
    private const int DataCounter = 0x300, Rounds = 12;

    /// <summary>At each CPUID exit: count in its own data area, yield (Halt), resume. At the I/O exit: exit with the count.</summary>
    private static HypervisorImage CountingYielder() => TestHypervisors.Build(a =>
    {
        Label notCpuid = a.CreateLabel();
        a.cmp(edi, TestHypervisors.ExitCpuid);
        a.jne(notCpuid);
        a.mov(r15, rsi);
        a.inc(__qword_ptr[r15 + DataCounter]);
        a.mov(r11d, (uint)RuntimeService.Halt);
        a.@int(ServiceRegisters.GateVector);
        a.mov(edx, F.ExitInstructionLength);
        a.vmread(rax, rdx);
        a.mov(edx, F.GuestRip);
        a.vmread(rbx, rdx);
        a.add(rbx, rax);
        a.mov(edx, F.GuestRip);
        a.vmwrite(rdx, rbx);
        a.vmresume();
        TestHypervisors.Hang(a);
        a.Label(ref notCpuid);
        a.mov(rdi, __qword_ptr[rsi + DataCounter]);
        a.mov(r11d, (uint)RuntimeService.Exit);
        a.@int(ServiceRegisters.GateVector);
        TestHypervisors.Hang(a);
    });

    /// <summary><see cref="Rounds"/> CPUID exits, then an OUT (the hypervisor exits with its count).</summary>
    private static GuestSpec Guest(string name) => new(name, TestGuests.Assemble(GuestSpec.CodeAddress, a =>
    {
        Label loop = a.CreateLabel();
        a.mov(r8d, Rounds);
        a.Label(ref loop);
        a.xor(eax, eax);
        a.cpuid();
        a.dec(r8d);
        a.jnz(loop);
        a.@out(0xF4, al);
        a.hlt();
    }));

    /// <summary>Records the PCID every hypervisor instruction runs under and every CR3 the dispatcher loads to enter a confined space.</summary>
    private sealed class PcidRecorder(Cpu cpu, ulong enterConfined) : IExecutionObserver
    {
        public readonly List<(ulong Cr3, int Pcid)> HypervisorContexts = new();
        public readonly List<ulong> ConfinedLoads = new();

        public void InstructionStarted(in InstructionObservation i)
        {
            if (i.Context.NonRoot) return; // the guest's own CR4
            if (i.Linear >= ConfinedLayout.Code && i.Linear < ConfinedLayout.Data) HypervisorContexts.Add((i.Context.Cr3, i.Context.Pcid));
            if (i.Linear == enterConfined) ConfinedLoads.Add(cpu.R(Reg.Rax));
            if ((cpu.Cr4 & Bits.Cr4Pge) != 0 || (cpu.Cr4 & Bits.Cr4Pcide) == 0) throw new InvalidOperationException($"CR4 {cpu.Cr4:X}");
        }

        public void MemoryAccessed(in AccessObservation access) { }
    }

    /// <summary>
    /// Two instances of one image take turns at every exit (Halt yields), each counting in its own
    /// data area at the same linear address. The switches keep every PCID's translations, so had
    /// the two spaces shared a PCID, an instance would have counted in the other's frame (the test
    /// fails that way when every instance is given the same PCID).
    /// </summary>
    [Fact]
    public void AStaleTranslationOfOneInstanceNeverServesAnother()
    {
        using var rt = new IsolationRuntime();
        var image = rt.Load(CountingYielder());
        var a = rt.AddGuest(Guest("a"), image);
        var b = rt.AddGuest(Guest("b"), image);
        rt.Run(5_000_000);
        Assert.Equal(Rounds, a.ExitStatus);
        Assert.Equal(Rounds, b.ExitStatus);
        Assert.True(rt.Schedule.Count > Rounds, string.Join(",", rt.Schedule)); // they did take turns
        Assert.Equal((ulong)Rounds, rt.Board.Memory.Read(a.DataFrames[0] + DataCounter, 8));
        Assert.Equal((ulong)Rounds, rt.Board.Memory.Read(b.DataFrames[0] + DataCounter, 8));
    }

    [Fact]
    public void EachSpaceRunsUnderItsOwnPcidAndTheSwitchesDoNotFlush()
    {
        using var rt = new IsolationRuntime();
        var image = rt.Load(CountingYielder());
        var a = rt.AddGuest(Guest("a"), image);
        var b = rt.AddGuest(Guest("b"), image);
        Assert.Equal(1, a.Pcid);
        Assert.Equal(2, b.Pcid);
        var recorder = new PcidRecorder(rt.Board.Cpu, ConfinedLayout.Trampoline + (ulong)rt.Trampoline.Labels["enterconfined"] + 1);
        rt.Board.Cpu.Observer = recorder;
        rt.Run(5_000_000);
        Assert.Equal(Rounds, a.ExitStatus);
        Assert.Equal(Rounds, b.ExitStatus);
        Assert.NotEmpty(recorder.HypervisorContexts);
        Assert.All(recorder.HypervisorContexts, c => Assert.True(c == (a.Cr3Value, a.Pcid) || c == (b.Cr3Value, b.Pcid), $"{c}"));
        Assert.Contains((a.Cr3Value, a.Pcid), recorder.HypervisorContexts);
        Assert.Contains((b.Cr3Value, b.Pcid), recorder.HypervisorContexts);
        // Every entry into a confined space keeps the TLB but the first of each space (which
        // flushes its PCID: nothing of an earlier user may survive).
        var flushing = recorder.ConfinedLoads.Where(v => (v & IsolationRuntime.Cr3NoFlush) == 0).ToList();
        Assert.Equal(new[] { a.Cr3Value, b.Cr3Value }, flushing);
        Assert.True(recorder.ConfinedLoads.Count > 2 * Rounds);
        Assert.All(recorder.ConfinedLoads, v => Assert.Contains(v & ~IsolationRuntime.Cr3NoFlush, new[] { a.Cr3Value, b.Cr3Value }));
    }

    [Fact]
    public void MappingAGuestPageFlushesOnlyThatInstancesPcidAtItsNextEntry()
    {
        using var rt = new IsolationRuntime();
        var inst = rt.AddGuest(TestGuests.CpuidAndIo(), rt.Load(ServiceTests.Probe())); // maps gfn 0x90 and writes through it
        var recorder = new PcidRecorder(rt.Board.Cpu, ConfinedLayout.Trampoline + (ulong)rt.Trampoline.Labels["enterconfined"] + 1);
        rt.Board.Cpu.Observer = recorder;
        rt.Run(5_000_000);
        Assert.Equal(InstanceState.Finished, inst.State);
        Assert.Equal(0x1234UL, rt.Board.Memory.Read(inst.GuestBase + 0x90100, 8));
        // The first entry, and the return from the map (the gfn one past the end maps nothing).
        Assert.Equal(2, recorder.ConfinedLoads.Count(v => (v & IsolationRuntime.Cr3NoFlush) == 0));
    }
}
