using HyperLock.Differential.Tests.Harness;
using HyperLock.Differential.Tests.Harness.Native;
using Iced.Intel;
using static HyperLock.Differential.Tests.NativeTestKit;

namespace HyperLock.Differential.Tests;

/// <summary>
/// The crash path: instructions that really fault on the host (SIGILL, SIGSEGV, SIGFPE) are
/// reported by the native executor and the process carries on; faults elsewhere still reach
/// the .NET runtime's own handlers.
/// </summary>
[Trait("Category", "Differential")]
public class HostFaultTests
{
    public static TheoryData<string, int> FaultingInstructions() => new()
    {
        { "ud2", Libc.SigIll },
        { "load from an unmapped address", Libc.SigSegv },
        { "div by zero", Libc.SigFpe },
        { "movaps from a misaligned address", Libc.SigSegv },
    };

    private static (byte[] Code, MachineState State) Case(string name)
    {
        var s = State();
        Instruction ins;
        switch (name)
        {
            case "ud2": ins = Instruction.Create(Code.Ud2); break;
            case "load from an unmapped address":
                s.Gpr[3] = 0x8; // page 0 is never mapped
                ins = Instruction.Create(Code.Mov_r64_rm64, Register.RAX, new MemoryOperand(Register.RBX));
                break;
            case "div by zero":
                s.Gpr[1] = 0;
                ins = Instruction.Create(Code.Div_rm64, Register.RCX);
                break;
            default:
                s.Gpr[6] = ScratchLayout.DataBase + 0x301;
                ins = Instruction.Create(Code.Movaps_xmm_xmmm128, Register.XMM1, new MemoryOperand(Register.RSI));
                break;
        }
        return (Encode(ins), s);
    }

    [Theory]
    [MemberData(nameof(FaultingInstructions))]
    public void ANativeFaultIsReportedAndTheProcessGoesOn(string name, int signal)
    {
        var native = Native();
        var (code, s) = Case(name);
        s.Gpr[13] = 0x1313;
        MachineState r;
        lock (NativeExecutor.Lock) r = native.Run(code, s);
        Assert.Equal(signal, r.HostSignal);
        Assert.Equal(ScratchLayout.CodeBase, r.Rip); // the faulting instruction
        Assert.Equal(0x1313UL, r.Gpr[13]);            // the state at the fault

        // The executor is still usable, and completed runs report no signal.
        var add = State();
        add.Gpr[0] = 41;
        lock (NativeExecutor.Lock) r = native.Run(Encode(Instruction.Create(Code.Add_rm64_imm8, Register.RAX, 1)), add);
        Assert.Equal(0, r.HostSignal);
        Assert.Equal(42UL, r.Gpr[0]);
    }

    [Fact]
    public void ManagedFaultsStillReachTheRuntime()
    {
        Native(); // the fault handler is installed
        object? nothing = null;
        Assert.Throws<NullReferenceException>(() => nothing!.GetHashCode());
        int zero = Environment.ProcessorCount - Environment.ProcessorCount;
        Assert.Throws<DivideByZeroException>(() => 1 / zero);
    }

    [Fact]
    public void APassListsAFaultingFormAsAHostExclusionAndGoesOn()
    {
        // UD2 is excluded from the catalogue (it faults by design); put it through the pass's
        // own check path as if it were a candidate: the fault is reported, not fatal.
        var form = new Form(Code.Ud2, [], 0, false);
        var (code, s) = Case("ud2");
        var ins = Decoder.Create(64, new ByteArrayCodeReader(code), ScratchLayout.CodeBase);
        ins.Decode(out var decoded);
        var c = new DiffCase { Form = form, Instruction = decoded, Bytes = code, Initial = s, ChoiceSeed = 0 };
        using var pass = new DifferentialPass();
        var mm = pass.Check(c);
        Assert.NotNull(mm);
        Assert.Equal("host fault", mm!.Differences[0].Where);
        Assert.StartsWith("SIGILL natively at 0x400000", mm.Differences[0].Native);

        // And the pass goes on with real forms afterwards.
        var result = pass.Run(new PassOptions { Seed = 7, CasesPerForm = 4, FormFilter = ["Add_rm64_r64"] });
        Assert.Empty(result.Mismatches);
        Assert.Equal(4, result.Covered[Code.Add_rm64_r64].Cases);
    }
}
