using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using HyperLock.Emulator.Builders;
using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Memory;
using HyperLock.Emulator.Vmx;
using HyperLock.Emulator.Workloads;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using F = HyperLock.Emulator.Vmx.VmcsField;

namespace HyperLock.Benchmarks;

/// <summary>
/// VMX costs: a CPUID exit round trip (guest CPUID → VM exit → host handler → VMRESUME) in host
/// nanoseconds, and guest MIPS on the integer-loop workload under EPT versus the same code run
/// bare (VMX root, no EPT) on the same machine.
/// </summary>
[Config(typeof(Config))]
public class VmxBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddJob(Job.Default.WithWarmupCount(2).WithIterationCount(8).WithLaunchCount(1));
        }
    }

    public const int RoundTrips = 10_000;
    private VmxBenchMachine? _cpuid, _cpuidPlain, _ept, _bare;

    [GlobalSetup]
    public void Setup()
    {
        _cpuid = VmxBenchMachine.CpuidLoop(RoundTrips);
        _cpuidPlain = VmxBenchMachine.CpuidLoop(RoundTrips, eptAndVpid: false);
        _cpuidPlain.RunOnce();
        _ept = VmxBenchMachine.IntegerLoop(ept: true);
        _bare = VmxBenchMachine.IntegerLoop(ept: false);
        _cpuid.RunOnce();
        _ept.RunOnce();
        _bare.RunOnce();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _cpuid?.Dispose();
        _cpuidPlain?.Dispose();
        _ept?.Dispose();
        _bare?.Dispose();
    }

    /// <summary>One CPUID exit round trip per operation.</summary>
    [Benchmark(OperationsPerInvoke = RoundTrips)]
    public ulong CpuidExitRoundTrip() => _cpuid!.RunOnce();

    /// <summary>
    /// The same round trip from a hypervisor that uses neither VPID nor EPT: every entry and exit
    /// invalidates all VPID-0 mappings (O(1) with the stamped TLB).
    /// </summary>
    [Benchmark(OperationsPerInvoke = RoundTrips)]
    public ulong CpuidExitRoundTripWithoutVpidOrEpt() => _cpuidPlain!.RunOnce();

    /// <summary>The shared integer loop (10 M instructions) as a guest under EPT + VPID.</summary>
    [Benchmark]
    public ulong GuestIntegerLoopUnderEpt() => _ept!.RunOnce();

    /// <summary>The same integer loop run bare in VMX root.</summary>
    [Benchmark(Baseline = true)]
    public ulong BareIntegerLoop() => _bare!.RunOnce();
}

/// <summary>
/// A bare-metal VMX machine for the benchmarks, laid out like the test harness and built with
/// the emulator's builders (identity paging with 2 MiB pages, GDT/TSS, an identity EPT, a
/// standard 64-bit guest VMCS). The host code VMLAUNCHes the guest; an exit other than VMCALL is
/// skipped and resumed; VMCALL ends the run with INT3. The restart entry re-enters the guest
/// from its first instruction (VMRESUME), or jumps to it directly in bare mode.
/// </summary>
public sealed class VmxBenchMachine : IDisposable
{
    private const ulong TablesStart = 0x1000, TablesEnd = 0x5000, Gdt = 0x5000, Tss = 0x8000, Vmxon = 0x10000, Vmcs = 0x11000,
        Ept = 0x40000, EptEnd = 0x80000, HostStack = 0x80000, GuestStack = 0x90000, HostCode = 0x100000, GuestCode = 0x200000, Data = 0x300000;

    private readonly PhysicalMemory _memory;
    public Cpu Cpu { get; }
    private readonly ulong _restart;

    private VmxBenchMachine(Action<Assembler> guest, bool ept, bool bare)
    {
        _memory = new PhysicalMemory(64 << 20);
        Cpu = new Cpu(_memory);
        var paging = new PageTableBuilder(_memory, new FrameAllocator(_memory, TablesStart, TablesEnd));
        paging.IdentityMap2M(1UL << 30, PageFlags.Writable);
        var gdt = new GdtBuilder(_memory, Gdt, entries: 5);
        gdt.Code64(0x08);
        gdt.Data(0x10);
        gdt.Tss64(0x18, Tss, busy: true);
        new TssBuilder(_memory, Tss);
        var state = new LongModeState { Cr3 = paging.Root, Cr4 = LongModeState.DefaultCr4 | Bits.Cr4Vmxe, GdtBase = Gdt, TssBase = Tss };
        _memory.Write(Vmxon, 4, VmxCapabilities.RevisionId);
        _memory.Write(Vmcs, 4, VmxCapabilities.RevisionId);
        _memory.Write(Data, 8, Vmxon);
        _memory.Write(Data + 8, 8, Vmcs);
        var vmcs = VmcsBuilder.Standard64BitGuest(state, HostStack, state, GuestCode, GuestStack);
        if (ept)
        {
            var eptTables = new EptBuilder(_memory, new FrameAllocator(_memory, Ept, EptEnd));
            eptTables.IdentityMap(16 << 20);
            vmcs.WithEpt(eptTables.Pointer(), vpid: 1);
        }
        Write(GuestCode, Assemble(GuestCode, guest));

        var host = Assemble(HostCode, a =>
        {
            var exit = a.CreateLabel();
            var done = a.CreateLabel();
            var restartLabel = a.CreateLabel();
            if (bare)
            {
                a.Label(ref restartLabel);
                a.mov(rsp, (long)GuestStack);
                a.jmp(GuestCode);
                return;
            }
            a.vmxon(__qword_ptr[Data]);
            a.vmclear(__qword_ptr[Data + 8]);
            a.vmptrld(__qword_ptr[Data + 8]);
            vmcs.EmitVmwrites(a);
            a.lea(rax, __[exit]); a.mov(rdx, (long)F.HostRip); a.vmwrite(rdx, rax);
            a.vmlaunch();
            a.int3();
            a.Label(ref exit);
            VmcsBuilder.EmitVmread(a, r12, F.ExitReason);
            a.cmp(r12, ExitReason.Vmcall);
            a.je(done);
            VmcsBuilder.EmitVmread(a, rax, F.ExitInstructionLength);
            VmcsBuilder.EmitVmread(a, rbx, F.GuestRip);
            a.add(rbx, rax);
            a.vmwrite(rdx, rbx);
            a.vmresume();
            a.int3();
            a.Label(ref done);
            a.int3();
            a.Label(ref restartLabel);
            VmcsBuilder.EmitVmwrite(a, F.GuestRip, GuestCode);
            VmcsBuilder.EmitVmwrite(a, F.GuestRsp, GuestStack);
            a.vmresume();
            a.int3();
        }, out var restart);
        Write(HostCode, host);
        _restart = restart;

        state.Enter(Cpu, bare ? _restart : HostCode, HostStack);
        Cpu.FeatureControl = 5;
        Cpu.InterceptExceptions = true;
        if (!bare)
        {
            var stop = Cpu.Run(100_000_000); // first launch and run to the guest's VMCALL
            if (stop.ToString() != "int3") throw new InvalidOperationException($"VMX benchmark setup stopped with {stop}");
        }
    }

    public static VmxBenchMachine CpuidLoop(int count, bool eptAndVpid = true) => new(g =>
    {
        WorkloadCode.CpuidLoop(g, count);
        g.vmcall();
    }, ept: eptAndVpid, bare: false);

    /// <summary>The shared integer loop (<see cref="WorkloadCode.IntegerLoop"/>) as a guest under EPT, or bare.</summary>
    public static VmxBenchMachine IntegerLoop(bool ept)
    {
        bool bare = !ept;
        return new VmxBenchMachine(a =>
        {
            WorkloadCode.IntegerLoop(a, WorkloadCode.IntegerLoopIterations);
            if (bare) a.int3(); else a.vmcall();
        }, ept, bare);
    }

    /// <summary>Runs the guest from its start to the final stop; returns the instructions retired.</summary>
    public ulong RunOnce()
    {
        ulong before = Cpu.Retired;
        Cpu.Rip = _restart;
        var stop = Cpu.Run(100_000_000);
        if (stop.ToString() != "int3") throw new InvalidOperationException($"VMX benchmark stopped with {stop}");
        return Cpu.Retired - before;
    }

    private void Write(ulong address, byte[] bytes) => _memory.WriteBytes(address, bytes);

    private static byte[] Assemble(ulong address, Action<Assembler> build) => Assemble(address, build, out _);

    private static byte[] Assemble(ulong address, Action<Assembler> build, out ulong restart)
    {
        var a = new Assembler(64);
        build(a);
        using var stream = new MemoryStream();
        var result = a.Assemble(new StreamCodeWriter(stream), address, BlockEncoderOptions.ReturnNewInstructionOffsets);
        restart = 0;
        // The restart entry is the last label's target: the instruction after the final INT3 of the handler,
        // or the first instruction in bare mode. Find it as the last "mov rax, imm64" block start.
        var offsets = result.Result[0].NewInstructionOffsets;
        var insns = a.Instructions;
        for (int k = insns.Count - 1; k >= 0; k--)
        {
            if (k > 0 && insns[k - 1].Code == Code.Int3 && insns[k].Code != Code.Int3) { restart = address + offsets[k]; break; }
        }
        if (restart == 0) restart = address;
        return stream.ToArray();
    }

    public void Dispose() => _memory.Dispose();
}
