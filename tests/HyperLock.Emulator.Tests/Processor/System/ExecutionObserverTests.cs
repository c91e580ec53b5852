using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using static HyperLock.Emulator.Tests.Processor.SystemInstructions.BareMetal;

namespace HyperLock.Emulator.Tests.Processor.SystemInstructions;

/// <summary>
/// The execution observer: attached, it is told of every instruction start and every memory
/// access (data, instruction fetch, page-walk reads and A/D writes, exception delivery), with
/// the CPL, CR3/PCID and VMX side; detached, it hears nothing.
/// </summary>
public class ExecutionObserverTests
{
    private sealed class Recorder : IExecutionObserver
    {
        public readonly List<string> Log = new();
        public readonly List<InstructionObservation> Instructions = new();
        public readonly List<AccessObservation> Accesses = new();

        public void InstructionStarted(in InstructionObservation i)
        {
            Instructions.Add(i);
            Log.Add($"insn {i.Linear:x} {i.Physical:x}");
        }

        public void MemoryAccessed(in AccessObservation a)
        {
            Accesses.Add(a);
            Log.Add($"{a.Kind} {a.Linear:x} {a.Physical:x} {a.Size}");
        }
    }

    private static List<int> Lengths(byte[] code)
    {
        var decoder = Decoder.Create(64, new ByteArrayCodeReader(code));
        var lengths = new List<int>();
        while (decoder.IP < (ulong)code.Length)
        {
            decoder.Decode(out var insn);
            lengths.Add(insn.Length);
        }
        return lengths;
    }

    /// <summary>The page-walk accesses of one 4-level walk to a 2 MiB page of the identity map.</summary>
    private static IEnumerable<string> Walk(ulong lin) =>
    [
        $"PageWalkRead {lin:x} {Pml4:x} 8",
        $"PageWalkRead {lin:x} {Pdpt:x} 8",
        $"PageWalkRead {lin:x} {Pd + (lin >> 21) * 8:x} 8",
    ];

    [Fact]
    public void ObserverSeesExactlyTheAccessesOfASmallProgram()
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        m.Cpu.InterceptExceptions = true;
        var code = AssembledCode.Bytes(64, KernelCode, a =>
        {
            a.mov(rax, __qword_ptr[Results]);
            a.mov(__dword_ptr[Results + 0x10], eax);
            a.push(rax);
            a.pop(rbx);
            a.hlt();
        }, out _);
        m.Memory.WriteBytes(KernelCode, code);
        var recorder = new Recorder();
        m.Cpu.Observer = recorder;
        Assert.Equal(StopKind.Halted, m.Run().Kind);

        var len = Lengths(code);
        ulong[] at = new ulong[len.Count];
        for (int k = 1; k < len.Count; k++) at[k] = at[k - 1] + (ulong)len[k - 1];
        ulong Insn(int k) => KernelCode + at[k];
        var expected = new List<string>();
        // Block lookup: the fetch translation walks and sets the accessed flags of all three levels.
        expected.AddRange(Walk(KernelCode));
        expected.Add($"PageWalkWrite {KernelCode:x} {Pml4:x} 8");
        expected.Add($"PageWalkWrite {KernelCode:x} {Pdpt:x} 8");
        expected.Add($"PageWalkWrite {KernelCode:x} {Pd:x} 8");
        void Start(int k)
        {
            expected.Add($"insn {Insn(k):x} {Insn(k):x}");
            expected.Add($"Fetch {Insn(k):x} {Insn(k):x} {len[k]}");
        }
        Start(0);
        expected.AddRange(Walk(Results));
        expected.Add($"Read {Results:x} {Results:x} 8");
        Start(1);
        expected.AddRange(Walk(Results + 0x10));
        expected.Add($"PageWalkWrite {Results + 0x10:x} {Pd:x} 8"); // the dirty flag of the 2 MiB page
        expected.Add($"Write {Results + 0x10:x} {Results + 0x10:x} 4");
        Start(2);
        expected.AddRange(Walk(KernelStack - 8));
        expected.Add($"Write {KernelStack - 8:x} {KernelStack - 8:x} 8");
        Start(3);
        expected.AddRange(Walk(KernelStack - 8));
        expected.Add($"Read {KernelStack - 8:x} {KernelStack - 8:x} 8");
        Start(4);
        Assert.Equal(expected, recorder.Log);

        Assert.All(recorder.Instructions, i => Assert.Equal(new ObservedContext(0, Pml4, 0, false), i.Context));
        Assert.All(recorder.Accesses, a => Assert.Equal(new ObservedContext(0, Pml4, 0, false), a.Context));
        Assert.All(recorder.Accesses.Where(a => a.Kind is ObservedAccessKind.Read or ObservedAccessKind.Write), a => Assert.False(a.User));
    }

    [Fact]
    public void ExceptionDeliveryAccessesAreReported()
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        const ulong handler = HandlerCode + 0x600;
        m.Gate64(Vector.UD, handler);
        m.Asm(handler, 64, a => a.hlt());
        m.Asm(KernelCode, 64, a => a.ud2());
        var recorder = new Recorder();
        m.Cpu.Observer = recorder;
        Assert.Equal(StopKind.Halted, m.Run().Kind);

        Assert.Equal([KernelCode, handler], recorder.Instructions.Select(i => i.Linear));
        var reads = recorder.Accesses.Where(a => a.Kind == ObservedAccessKind.Read).ToList();
        var writes = recorder.Accesses.Where(a => a.Kind == ObservedAccessKind.Write).ToList();
        ulong gate = IdtBase + Vector.UD * 16;
        Assert.Equal(16, reads.Where(r => r.Linear >= gate && r.Linear < gate + 16).Sum(r => r.Size));
        // The interrupt frame: SS, RSP, RFLAGS, CS, RIP below the 16-byte-aligned stack top.
        Assert.Equal(40, writes.Sum(w => w.Size));
        Assert.All(writes, w => Assert.InRange(w.Linear, KernelStack - 40, KernelStack - (ulong)w.Size));
        Assert.All(writes, w => Assert.False(w.User));
        // Each delivery access was translated by a walk the observer also saw.
        Assert.All(reads.Concat(writes), d => Assert.Contains(recorder.Accesses,
            w => w.Kind == ObservedAccessKind.PageWalkRead && w.Linear == d.Linear));
    }

    [Fact]
    public void ObservationsCarryTheCr3AndPcid()
    {
        using var m = new BareMetal();
        var s = new AddressSpaces(m);
        s.EnablePcid();
        Assert.True(m.Cpu.WriteCr3(AddressSpaces.SpaceB | 7));
        m.Cpu.InterceptExceptions = true;
        m.Asm(KernelCode, 64, a =>
        {
            a.mov(rax, AddressSpaces.Small(3));
            a.mov(rax, __qword_ptr[rax]);
            a.hlt();
        });
        var recorder = new Recorder();
        m.Cpu.Observer = recorder;
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        var read = Assert.Single(recorder.Accesses, a => a.Kind == ObservedAccessKind.Read);
        Assert.Equal(AddressSpaces.Small(3), read.Linear);
        Assert.Equal(AddressSpaces.PoolB + 0x3000, read.Physical);
        Assert.Equal(new ObservedContext(0, AddressSpaces.SpaceB | 7, 7, false), read.Context);
        Assert.Equal(AddressSpaces.PoolB + 0x3000, m.Cpu.R(Reg.Rax));
    }

    [Fact]
    public void ADetachedObserverHearsNothingAndTheTlbIsUsedAgain()
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        m.Cpu.InterceptExceptions = true;
        m.Asm(KernelCode, 64, a =>
        {
            var top = a.CreateLabel();
            a.mov(ecx, 100);
            a.Label(ref top);
            a.mov(rax, __qword_ptr[Results]);
            a.dec(ecx);
            a.jnz(top);
            a.hlt();
        });
        var recorder = new Recorder();
        m.Cpu.Observer = recorder;
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        int heard = recorder.Log.Count;
        Assert.Equal(100, recorder.Accesses.Count(a => a.Kind == ObservedAccessKind.Read));
        ulong observedMisses = m.Cpu.TlbMisses;
        Assert.True(observedMisses >= 100); // every access translated again

        m.Cpu.Observer = null;
        m.Cpu.Halted = false;
        m.Cpu.Rip = KernelCode;
        ulong before = m.Cpu.TlbMisses;
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(heard, recorder.Log.Count);
        Assert.True(m.Cpu.TlbMisses - before <= 2); // one fetch and one data translation, then hits
    }
}
