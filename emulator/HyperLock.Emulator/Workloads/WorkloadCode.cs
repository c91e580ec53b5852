using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.Emulator.Workloads;

/// <summary>
/// The workload bodies every test and benchmark shares, so a figure measured bare, as a VMX
/// guest, or in a test always runs the same instructions.
/// </summary>
public static class WorkloadCode
{
    /// <summary>Iterations of the benchmark's integer loop (10 instructions each).</summary>
    public const int IntegerLoopIterations = 1_000_000;

    /// <summary>Instructions the integer loop retires: 3 set-up + 10 per iteration.</summary>
    public static ulong IntegerLoopInstructions(int iterations) => 3 + 10UL * (ulong)iterations;

    /// <summary>
    /// The integer loop: ten dependent ALU instructions per iteration (the classic interpreter
    /// dispatch test). Uses RAX, RBX, RCX, RDX, RSI; leaves RCX = 0.
    /// </summary>
    public static void IntegerLoop(Assembler a, int iterations)
    {
        var top = a.CreateLabel();
        a.mov(ecx, iterations);
        a.xor(eax, eax);
        a.xor(edx, edx);
        a.Label(ref top);
        a.add(rax, rcx);
        a.xor(rdx, rax);
        a.lea(rbx, __[rax + rdx * 2]);
        a.sub(rbx, 7);
        a.and(rbx, 0xFFFF);
        a.or(rdx, rbx);
        a.shr(rdx, 1);
        a.inc(rsi);
        a.dec(rcx);
        a.jnz(top);
    }

    /// <summary>
    /// A recursive function at <paramref name="entry"/>: RAX = fib(RDI) (push/call/ret heavy).
    /// Clobbers RCX; RDI is preserved. Emit it where control does not fall into it.
    /// </summary>
    public static void FibonacciFunction(Assembler a, Label entry)
    {
        var small = a.CreateLabel();
        a.Label(ref entry);
        a.cmp(rdi, 2);
        a.jb(small);
        a.push(rdi);
        a.dec(rdi);
        a.call(entry);
        a.pop(rdi);
        a.push(rax);
        a.sub(rdi, 2);
        a.call(entry);
        a.pop(rcx);
        a.add(rax, rcx);
        a.add(rdi, 2);
        a.ret();
        a.Label(ref small);
        a.mov(rax, rdi);
        a.ret();
    }

    /// <summary>CPUID <paramref name="count"/> times in a loop (R8 counts down): one VM exit each under VMX.</summary>
    public static void CpuidLoop(Assembler a, int count)
    {
        var top = a.CreateLabel();
        a.mov(r8d, count);
        a.Label(ref top);
        a.cpuid();
        a.dec(r8);
        a.jnz(top);
    }
}
