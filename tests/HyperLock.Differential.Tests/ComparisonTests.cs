using HyperLock.Differential.Tests.Harness;
using HyperLock.Differential.Tests.Harness.Native;
using Iced.Intel;

namespace HyperLock.Differential.Tests;

/// <summary>The comparison must see every kind of difference, and mask only what the SDM leaves undefined.</summary>
[Trait("Category", "Differential")]
public class ComparisonTests
{
    private static DiffCase Case(Instruction ins, MachineState initial)
    {
        var w = new ByteWriter();
        Encoder.Create(64, w).Encode(ins, ScratchLayout.CodeBase);
        var d = Decoder.Create(64, new ByteArrayCodeReader(w.ToArray()), ScratchLayout.CodeBase);
        d.Decode(out var decoded);
        var (form, _) = FormCatalog.Classify(decoded.Code);
        return new DiffCase { Form = form!, Instruction = decoded, Bytes = w.ToArray(), Initial = initial, ChoiceSeed = 0 };
    }

    private static MachineState State() => new() { Rflags = 0x202, Mxcsr = 0x1F80, Rip = ScratchLayout.CodeBase };

    [Fact]
    public void EveryStateComponentIsCompared()
    {
        var c = Case(Instruction.Create(Code.Add_rm64_r64, Register.RAX, Register.RBX), State());
        var a = State();
        Assert.Empty(Comparison.Compare(c, a, a.Clone()));

        void Expect(string where, Action<MachineState> change)
        {
            var b = a.Clone();
            change(b);
            var diffs = Comparison.Compare(c, a, b);
            Assert.True(diffs.Count == 1 && diffs[0].Where.StartsWith(where, StringComparison.Ordinal), where + ": " + string.Join("; ", diffs));
        }
        Expect("rip", b => b.Rip++);
        Expect("r13", b => b.Gpr[13] = 1);
        Expect("rflags", b => b.Rflags |= 1);
        Expect("rflags", b => b.Rflags |= 0x400);
        Expect("xmm7", b => b.Xmm[15] = 1);
        Expect("mxcsr", b => b.Mxcsr |= 0x20);
        Expect("fcw", b => b.Fcw = 0x27F);
        Expect("fsw", b => b.Fsw = 0x4000);
        Expect("ftw", b => b.Ftw = 1);
        Expect("mem[0x10000ffe", b => b.Data[0xFFE] = 1);
        Expect("mem[0x1000e000", b => b.Stack[0x60] = 1);
    }

    [Fact]
    public void OnlyUndefinedFlagsAreMasked()
    {
        // MUL: SF, ZF, AF, PF undefined; CF and OF defined.
        var c = Case(Instruction.Create(Code.Mul_rm64, Register.RBX), State());
        var a = State();
        var b = a.Clone();
        b.Rflags |= 0x0D4; // SF ZF AF PF
        Assert.Empty(Comparison.Compare(c, a, b));
        b.Rflags |= 0x001; // CF
        Assert.Single(Comparison.Compare(c, a, b));

        // SHL by CL = 3: OF undefined (count != 1), CF defined.
        var s = State();
        s.Gpr[1] = 3;
        var shl = Case(Instruction.Create(Code.Shl_rm32_CL, Register.EAX, Register.CL), s);
        var n = s.Clone();
        var e = s.Clone();
        e.Rflags |= 0x800;
        Assert.Empty(Comparison.Compare(shl, n, e));
        e.Rflags |= 0x001;
        Assert.Single(Comparison.Compare(shl, n, e));
    }

    [Fact]
    public void EmptyX87RegistersAreNotCompared()
    {
        var c = Case(Instruction.Create(Code.Fnop), State());
        var a = State();
        a.Fsw = 7 << 11; // TOP = 7
        a.Ftw = 1 << 7;  // ST(0) valid, others empty
        var b = a.Clone();
        b.StMantissa[3] = 42;
        Assert.Empty(Comparison.Compare(c, a, b));
        b.StMantissa[0] = 42;
        Assert.Single(Comparison.Compare(c, a, b));
    }
}
