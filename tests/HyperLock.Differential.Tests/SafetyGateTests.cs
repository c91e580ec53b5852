using HyperLock.Differential.Tests.Harness;
using HyperLock.Differential.Tests.Harness.Native;
using Iced.Intel;

namespace HyperLock.Differential.Tests;

/// <summary>The gate must refuse every case that would fault natively.</summary>
[Trait("Category", "Differential")]
public class SafetyGateTests
{
    private static (Form, Instruction) Make(Instruction ins)
    {
        var w = new ByteWriter();
        Encoder.Create(64, w).Encode(ins, ScratchLayout.CodeBase);
        var d = Decoder.Create(64, new ByteArrayCodeReader(w.ToArray()), ScratchLayout.CodeBase);
        d.Decode(out var decoded);
        var (form, exclusion) = FormCatalog.Classify(decoded.Code);
        Assert.True(form != null, exclusion?.Reason);
        return (form!, decoded);
    }

    private static MachineState State()
    {
        var s = new MachineState { Rflags = 0x202, Mxcsr = 0x1F80, Rip = ScratchLayout.CodeBase };
        s.Gpr[4] = ScratchLayout.StackTop;
        return s;
    }

    [Fact]
    public void DivisionByZeroAndQuotientOverflowAreRefused()
    {
        var (f, ins) = Make(Instruction.Create(Code.Div_rm64, Register.RCX));
        var s = State();
        s.Gpr[1] = 0;
        Assert.Contains("#DE", SafetyGate.Check(f, ins, s));
        s.Gpr[1] = 3; s.Gpr[2] = 3; // rdx:rax / 3 with rdx >= divisor overflows
        Assert.Contains("#DE", SafetyGate.Check(f, ins, s));
        s.Gpr[2] = 2;
        Assert.Null(SafetyGate.Check(f, ins, s));

        var (fi, idiv) = Make(Instruction.Create(Code.Idiv_rm32, Register.EBX));
        s = State();
        s.Gpr[0] = 0x80000000; s.Gpr[2] = 0xFFFFFFFF; s.Gpr[3] = 0xFFFFFFFF; // INT_MIN / -1
        Assert.Contains("#DE", SafetyGate.Check(fi, idiv, s));
    }

    [Fact]
    public void AccessesOutsideScratchAndMisalignedSseAreRefused()
    {
        var (f, ins) = Make(Instruction.Create(Code.Mov_r64_rm64, Register.RAX, new MemoryOperand(Register.RBX, 8)));
        var s = State();
        s.Gpr[3] = 0x1000;
        Assert.Contains("outside", SafetyGate.Check(f, ins, s));
        s.Gpr[3] = ScratchLayout.DataBase + 0x400;
        Assert.Null(SafetyGate.Check(f, ins, s));
        s.Gpr[3] = unchecked((ulong)-0x58); // EA near 2^64: must not wrap into range
        Assert.Contains("outside", SafetyGate.Check(f, ins, s));
        s.Gpr[3] = ScratchLayout.ScratchBase + ScratchLayout.ScratchSize - 0x100 - 8 - 8 + 1; // last qword one byte past the limit
        Assert.Contains("outside", SafetyGate.Check(f, ins, s));
        s.Gpr[3] = ScratchLayout.DataBase + 0x400;

        var (fa, movaps) = Make(Instruction.Create(Code.Movaps_xmm_xmmm128, Register.XMM1, new MemoryOperand(Register.RBX, 8)));
        Assert.Contains("misaligned", SafetyGate.Check(fa, movaps, s));
    }

    [Fact]
    public void SystemFlagsBadMxcsrAndStrayBranchesAreRefused()
    {
        var (fp, popf) = Make(Instruction.Create(Code.Popfq));
        var s = State();
        s.WriteMemory(ScratchLayout.StackTop, 8, 0x302); // TF
        Assert.NotNull(SafetyGate.Check(fp, popf, s));
        s.WriteMemory(ScratchLayout.StackTop, 8, 0x8D7);
        Assert.Null(SafetyGate.Check(fp, popf, s));

        var (fn, nop) = Make(Instruction.Create(Code.Nopd));
        s.Mxcsr = 0x1F00; // invalid-operation exceptions unmasked
        Assert.NotNull(SafetyGate.Check(fn, nop, s));

        var (fj, jmp) = Make(Instruction.Create(Code.Jmp_rm64, Register.RAX));
        s = State();
        s.Gpr[0] = 0x401000;
        Assert.Contains("indirect", SafetyGate.Check(fj, jmp, s));
        s.Gpr[0] = ScratchLayout.BranchTarget;
        Assert.Null(SafetyGate.Check(fj, jmp, s));

        var (fr, ret) = Make(Instruction.Create(Code.Retnq));
        s.WriteMemory(ScratchLayout.StackTop, 8, 0x12345678);
        Assert.NotNull(SafetyGate.Check(fr, ret, s));
    }

    [Fact]
    public void RepeatedStringOperationsMustStayInScratch()
    {
        var (f, ins) = Make(Instruction.CreateStosq(64, RepPrefixKind.Repe));
        var s = State();
        s.Gpr[7] = ScratchLayout.DataBase + 0x400;
        s.Gpr[1] = 8;
        Assert.Null(SafetyGate.Check(f, ins, s));
        s.Gpr[1] = 0x10000;
        Assert.NotNull(SafetyGate.Check(f, ins, s));
        s.Gpr[1] = 8;
        s.Rflags |= 0x400; // DF: downwards from RDI
        s.Gpr[7] = ScratchLayout.DataBase + 0x20;
        Assert.NotNull(SafetyGate.Check(f, ins, s));
    }

    [Fact]
    public void LeaveAndEnterNeedRbpInTheStackWindow()
    {
        var (fl, leave) = Make(Instruction.Create(Code.Leaveq));
        var s = State();
        s.Gpr[5] = 0;
        Assert.NotNull(SafetyGate.Check(fl, leave, s));
        s.Gpr[5] = ScratchLayout.StackTop - 16;
        Assert.Null(SafetyGate.Check(fl, leave, s));

        var (fe, enter) = Make(Instruction.Create(Code.Enterq_imm16_imm8, 16, 3));
        s.Gpr[5] = 0x1234;
        Assert.NotNull(SafetyGate.Check(fe, enter, s));
        s.Gpr[5] = ScratchLayout.StackTop;
        Assert.Null(SafetyGate.Check(fe, enter, s));
    }

    [Fact]
    public void ExplicitRspWritesAreRefused()
    {
        var (f, ins) = Make(Instruction.Create(Code.Add_rm64_r64, Register.RSP, Register.RAX));
        Assert.Contains("RSP", SafetyGate.Check(f, ins, State()));
    }
}
