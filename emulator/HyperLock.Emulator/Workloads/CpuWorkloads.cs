using HyperLock.Emulator.Processor.Execution;
using HyperLock.Emulator.Loaders;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.Emulator.Workloads;

/// <summary>
/// Guest workloads for the emulator-speed benchmarks and the tests, assembled with Iced. Each
/// ends in INT3; their instruction counts are exact and deterministic, so MIPS = count / time.
/// The loop bodies come from <see cref="WorkloadCode"/>, which the VMX tests and benchmarks use too.
/// </summary>
public static class CpuWorkloads
{
    public const string IntegerLoop = "integer-loop";
    public const string RepMemcpy = "memcpy-rep";
    public const string SseMemcpy = "memcpy-sse";
    public const string RepMemset = "memset-rep";
    public const string Fib = "fib-recursive";
    public const string Sort = "sort-branchy";

    public static readonly string[] All = [IntegerLoop, RepMemcpy, SseMemcpy, RepMemset, Fib, Sort];

    /// <summary>
    /// Guest bytes copied or stored per run, for the memory workloads (0 otherwise). A REP string
    /// instruction retires as one instruction per chunk, so bandwidth describes them better than MIPS.
    /// </summary>
    public static ulong BytesPerRun(string name) => name switch
    {
        RepMemcpy => 64UL << 20,
        RepMemset => 64UL << 20,
        SseMemcpy => 16UL << 20,
        _ => 0,
    };

    private const ulong Scratch = SnippetEnvironment.ScratchBase;
    public const ulong ScratchSize = 4 << 20;

    public static byte[] Code(string name)
    {
        var a = new Assembler(64);
        switch (name)
        {
            case IntegerLoop:
                WorkloadCode.IntegerLoop(a, WorkloadCode.IntegerLoopIterations);
                break;
            case RepMemcpy:
            {
                var top = a.CreateLabel();
                a.mov(r8d, 64);
                a.Label(ref top);
                a.mov(rsi, Scratch);
                a.mov(rdi, Scratch + 0x100000);
                a.mov(ecx, 0x100000 / 8);
                a.rep.movsq();
                a.dec(r8);
                a.jnz(top);
                break;
            }
            case RepMemset:
            {
                var top = a.CreateLabel();
                a.mov(r8d, 64);
                a.Label(ref top);
                a.mov(rdi, Scratch);
                a.mov(ecx, 0x100000);
                a.mov(eax, 0x5A);
                a.rep.stosb();
                a.dec(r8);
                a.jnz(top);
                break;
            }
            case SseMemcpy:
            {
                var outer = a.CreateLabel();
                var inner = a.CreateLabel();
                a.mov(r8d, 16);
                a.Label(ref outer);
                a.mov(rsi, Scratch);
                a.mov(rdi, Scratch + 0x100000);
                a.mov(ecx, 0x100000 / 64);
                a.Label(ref inner);
                a.movdqu(xmm0, __xmmword_ptr[rsi]);
                a.movdqu(xmm1, __xmmword_ptr[rsi + 16]);
                a.movdqu(xmm2, __xmmword_ptr[rsi + 32]);
                a.movdqu(xmm3, __xmmword_ptr[rsi + 48]);
                a.movdqu(__xmmword_ptr[rdi], xmm0);
                a.movdqu(__xmmword_ptr[rdi + 16], xmm1);
                a.movdqu(__xmmword_ptr[rdi + 32], xmm2);
                a.movdqu(__xmmword_ptr[rdi + 48], xmm3);
                a.add(rsi, 64);
                a.add(rdi, 64);
                a.dec(rcx);
                a.jnz(inner);
                a.dec(r8);
                a.jnz(outer);
                break;
            }
            case Fib:
            {
                var fib = a.CreateLabel();
                var done = a.CreateLabel();
                a.mov(edi, 25);
                a.call(fib);
                a.jmp(done);
                WorkloadCode.FibonacciFunction(a, fib);
                a.Label(ref done);
                break;
            }
            case Sort:
            {
                // Fill 4096 qwords with an LCG, then insertion-sort them (data-dependent branches).
                var fill = a.CreateLabel();
                var outer = a.CreateLabel();
                var inner = a.CreateLabel();
                var place = a.CreateLabel();
                var next = a.CreateLabel();
                const int n = 2048;
                a.mov(rbx, Scratch);
                a.mov(eax, 12345);
                a.xor(ecx, ecx);
                a.Label(ref fill);
                a.imul(rax, rax, 1103515245);
                a.add(rax, 12345);
                a.mov(__qword_ptr[rbx + rcx * 8], rax);
                a.inc(rcx);
                a.cmp(rcx, n);
                a.jb(fill);
                a.mov(esi, 1);                          // i = 1
                a.Label(ref outer);
                a.mov(rdx, __qword_ptr[rbx + rsi * 8]); // key = a[i]
                a.mov(rdi, rsi);                        // j = i
                a.Label(ref inner);
                a.test(rdi, rdi);
                a.jz(place);
                a.mov(r8, __qword_ptr[rbx + rdi * 8 - 8]);
                a.cmp(r8, rdx);
                a.jle(place);
                a.mov(__qword_ptr[rbx + rdi * 8], r8);
                a.dec(rdi);
                a.jmp(inner);
                a.Label(ref place);
                a.mov(__qword_ptr[rbx + rdi * 8], rdx);
                a.Label(ref next);
                a.inc(rsi);
                a.cmp(rsi, n);
                a.jb(outer);
                break;
            }
            default:
                throw new ArgumentException($"unknown workload {name}", nameof(name));
        }
        a.int3();
        using var stream = new MemoryStream();
        a.Assemble(new StreamCodeWriter(stream), SnippetEnvironment.CodeBase);
        return stream.ToArray();
    }

    /// <summary>A ready environment for a workload.</summary>
    public static SnippetEnvironment Create(string name) =>
        new(Code(name), user: true, scratchSize: ScratchSize);

    /// <summary>Resets registers so the workload can run again in the same environment (warm decode cache).</summary>
    public static void Restart(SnippetEnvironment env)
    {
        var c = env.Cpu;
        for (int i = 0; i < 16; i++) c.R(i) = 0;
        c.R(4) = SnippetEnvironment.ScratchBase + ScratchSize - 8;
        c.Rip = SnippetEnvironment.CodeBase;
        c.SetRflags(0x202);
    }

    /// <summary>Runs the workload to its INT3 and returns the instructions retired.</summary>
    public static ulong RunOnce(SnippetEnvironment env)
    {
        Restart(env);
        ulong before = env.Cpu.Retired;
        var stop = env.Cpu.Run(ulong.MaxValue);
        if (stop.ToString() != "int3")
            throw new InvalidOperationException($"workload stopped with {stop} at rip 0x{env.Cpu.Rip:x}");
        return env.Cpu.Retired - before;
    }

    /// <summary>The exact instruction count of one run (deterministic).</summary>
    public static ulong InstructionCount(string name)
    {
        using var env = Create(name);
        return RunOnce(env);
    }
}
