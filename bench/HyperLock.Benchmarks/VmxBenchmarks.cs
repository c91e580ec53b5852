using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using HyperLock.Emulator.Cpu;
using HyperLock.Emulator.Memory;
using HyperLock.Emulator.Vmx;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using CpuCore = HyperLock.Emulator.Cpu.Cpu;
using F = HyperLock.Emulator.Vmx.VmcsField;
using C = HyperLock.Emulator.Vmx.VmxControls;

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

    /// <summary>Integer loop (10 M instructions) as a guest under EPT + VPID.</summary>
    [Benchmark]
    public ulong GuestIntegerLoopUnderEpt() => _ept!.RunOnce();

    /// <summary>The same integer loop run bare in VMX root.</summary>
    [Benchmark(Baseline = true)]
    public ulong BareIntegerLoop() => _bare!.RunOnce();
}

/// <summary>A minimal bare-metal VMX machine for the benchmarks (same layout as the test harness).</summary>
public sealed class VmxBenchMachine : IDisposable
{
    private const ulong Pml4 = 0x1000, Pdpt = 0x2000, Pd = 0x3000, Gdt = 0x5000, Tss = 0x8000, Vmxon = 0x10000, Vmcs = 0x11000,
        Ept = 0x40000, HostStack = 0x80000, GuestStack = 0x90000, HostCode = 0x100000, GuestCode = 0x200000, Data = 0x300000;
    private const ulong Cr0 = Bits.Cr0Pe | Bits.Cr0Mp | Bits.Cr0Et | Bits.Cr0Ne | Bits.Cr0Wp | Bits.Cr0Pg;
    private const ulong Cr4 = Bits.Cr4Pae | Bits.Cr4Osfxsr | Bits.Cr4Osxmmexcpt | Bits.Cr4Vmxe;

    private readonly PhysicalMemory _memory;
    public CpuCore Cpu { get; }
    private ulong _restart;
    private readonly bool _bare;

    /// <summary>Guest instructions per run (for MIPS).</summary>
    public ulong GuestInstructions { get; private set; }

    private VmxBenchMachine(Action<Assembler> guest, bool ept, bool bare)
    {
        _bare = bare;
        _memory = new PhysicalMemory(64 << 20);
        Cpu = new CpuCore(_memory);
        _memory.Write(Pml4, 8, Pdpt | 3);
        _memory.Write(Pdpt, 8, Pd | 3);
        for (ulong k = 0; k < 512; k++) _memory.Write(Pd + k * 8, 8, (k << 21) | 0x83);
        _memory.Write(Gdt + 8, 8, 0x00AF9B000000FFFFUL);
        _memory.Write(Gdt + 16, 8, 0x00CF93000000FFFFUL);
        _memory.Write(Gdt + 24, 8, 0x67 | ((Tss & 0xFFFFFF) << 16) | (0x8BUL << 40));
        _memory.Write(Vmxon, 4, VmxCapabilities.RevisionId);
        _memory.Write(Vmcs, 4, VmxCapabilities.RevisionId);
        _memory.Write(Data, 8, Vmxon);
        _memory.Write(Data + 8, 8, Vmcs);
        ulong eptp = 0;
        if (ept)
        {
            ulong next = Ept + 0x1000;
            for (ulong gpa = 0; gpa < (16 << 20); gpa += 0x1000)
            {
                ulong table = Ept;
                for (int shift = 39; shift > 12; shift -= 9)
                {
                    ulong ea = table + (((gpa >> shift) & 0x1FF) << 3);
                    ulong e = _memory.Read(ea, 8);
                    if ((e & 7) == 0) { e = next | 7; next += 0x1000; _memory.Write(ea, 8, e); }
                    table = e & 0xFFFFFFFFFF000UL;
                }
                _memory.Write(table + (((gpa >> 12) & 0x1FF) << 3), 8, gpa | 7 | (6 << 3));
            }
            eptp = Ept | 6 | (3 << 3);
        }
        Write(GuestCode, Assemble(GuestCode, guest));

        var fields = new List<(uint, ulong)>
        {
            (F.PinControls, VmxCapabilities.PinDefault1),
            (F.ProcControls, VmxCapabilities.ProcTrueDefault1 | (ept ? C.ProcSecondary : 0)),
            (F.ProcControls2, ept ? C.Proc2Ept | C.Proc2Vpid : 0), (F.Vpid, 1), (F.EptPointer, eptp),
            (F.ExitControls, VmxCapabilities.ExitTrueDefault1 | C.ExitHostLongMode),
            (F.EntryControls, VmxCapabilities.EntryTrueDefault1 | C.EntryIa32eGuest),
            (F.HostCr0, Cr0), (F.HostCr3, Pml4), (F.HostCr4, Cr4), (F.HostCsSel, 8), (F.HostSsSel, 0x10), (F.HostDsSel, 0x10),
            (F.HostEsSel, 0x10), (F.HostFsSel, 0x10), (F.HostGsSel, 0x10), (F.HostTrSel, 0x18), (F.HostTrBase, Tss),
            (F.HostGdtrBase, Gdt), (F.HostRsp, HostStack),
            (F.GuestCr0, Cr0), (F.GuestCr3, Pml4), (F.GuestCr4, Cr4), (F.GuestDr7, 0x400), (F.GuestRflags, 2),
            (F.GuestCsSel, 8), (F.GuestCsLimit, 0xFFFFFFFF), (F.GuestCsAr, 0xA09B), (F.GuestTrSel, 0x18), (F.GuestTrBase, Tss),
            (F.GuestTrLimit, 0x67), (F.GuestTrAr, 0x8B), (F.GuestLdtrAr, 0x10000), (F.GuestGdtrBase, Gdt), (F.GuestGdtrLimit, 0x27),
            (F.VmcsLinkPointer, ulong.MaxValue),
        };
        foreach (int s in new[] { Seg.Es, Seg.Ss, Seg.Ds, Seg.Fs, Seg.Gs })
        {
            fields.Add((F.GuestSel(s), 0x10));
            fields.Add((F.GuestLimit(s), 0xFFFFFFFF));
            fields.Add((F.GuestAr(s), 0xC093));
        }
        ulong restart = 0;
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
            foreach (var (f, v) in fields) { a.mov(rax, (long)v); a.mov(rdx, (long)f); a.vmwrite(rdx, rax); }
            a.lea(rax, __[exit]); a.mov(rdx, (long)F.HostRip); a.vmwrite(rdx, rax);
            a.mov(rax, (long)GuestCode); a.mov(rdx, (long)F.GuestRip); a.vmwrite(rdx, rax);
            a.mov(rax, (long)GuestStack); a.mov(rdx, (long)F.GuestRsp); a.vmwrite(rdx, rax);
            a.vmlaunch();
            a.int3();
            a.Label(ref exit);
            a.mov(rdx, (long)F.ExitReason); a.vmread(r12, rdx);
            a.cmp(r12, ExitReason.Vmcall);
            a.je(done);
            a.mov(rdx, (long)F.ExitInstructionLength); a.vmread(rax, rdx);
            a.mov(rdx, (long)F.GuestRip); a.vmread(rbx, rdx);
            a.add(rbx, rax);
            a.vmwrite(rdx, rbx);
            a.vmresume();
            a.int3();
            a.Label(ref done);
            a.int3();
            a.Label(ref restartLabel);
            a.mov(rax, (long)GuestCode); a.mov(rdx, (long)F.GuestRip); a.vmwrite(rdx, rax);
            a.mov(rax, (long)GuestStack); a.mov(rdx, (long)F.GuestRsp); a.vmwrite(rdx, rax);
            a.vmresume();
            a.int3();
        }, out restart);
        Write(HostCode, host);
        _restart = restart;

        var c = Cpu;
        c.Cr3 = Pml4; c.Cr4 = Cr4; c.Efer = Bits.EferLme | Bits.EferLma | Bits.EferNxe | Bits.EferSce; c.Cr0 = Cr0;
        for (int s = 0; s < Seg.Count; s++) c.Segs[s] = SegmentRegister.FlatData(0x10, 0);
        c.Segs[Seg.Cs] = SegmentRegister.FlatCode64(0x08, 0);
        c.Gdtr = new TableRegister { Base = Gdt, Limit = 0x27 };
        c.Tr = new SegmentRegister { Selector = 0x18, Base = Tss, Limit = 0x67, Attributes = 0x8B };
        c.ForceCpl(0);
        c.UpdateMode();
        c.FlushTlb(includeGlobal: true);
        c.FeatureControl = 5;
        c.InterceptExceptions = true;
        c.R(Reg.Rsp) = HostStack;
        c.Rip = bare ? _restart : HostCode;
        c.SetRflags(2);
        if (!bare)
        {
            var stop = c.Run(100_000_000); // first launch and run to the guest's VMCALL
            if (stop.ToString() != "int3") throw new InvalidOperationException($"VMX benchmark setup stopped with {stop}");
        }
    }

    public static VmxBenchMachine CpuidLoop(int count, bool eptAndVpid = true) => new(g =>
    {
        var top = g.CreateLabel();
        g.mov(r8d, count);
        g.Label(ref top);
        g.cpuid();
        g.dec(r8);
        g.jnz(top);
        g.vmcall();
    }, ept: eptAndVpid, bare: false);

    public static VmxBenchMachine IntegerLoop(bool ept)
    {
        bool bare = !ept;
        return new VmxBenchMachine(a =>
        {
            var top = a.CreateLabel();
            a.mov(ecx, 1_000_000);
            a.xor(eax, eax);
            a.xor(edx, edx);
            a.Label(ref top);
            a.add(rax, rcx);
            a.xor(rdx, rax);
            a.lea(rbx, __[rax + rdx * 2]);
            a.sub(rbx, 7);
            a.and(rbx, 0xFFFF);
            a.or(rdx, rbx);
            a.sub(rdx, rsi);
            a.inc(rsi);
            a.dec(rcx);
            a.jnz(top);
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
