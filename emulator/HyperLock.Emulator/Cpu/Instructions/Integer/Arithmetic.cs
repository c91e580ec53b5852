using HyperLock.Emulator.Cpu.Decode;
using HyperLock.Emulator.Cpu.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Cpu.Instructions;

/// <summary>ADD, ADC, SUB, SBB, CMP, INC, DEC, NEG, MUL, IMUL, DIV, IDIV.</summary>
internal static unsafe partial class Arithmetic
{
    public static void Register()
    {
        foreach (var c in FormTable.Legacy(Mnemonic.Add)) OpTable.Set(c, &Add, &AddReg);
        foreach (var c in FormTable.Legacy(Mnemonic.Sub)) OpTable.Set(c, &Sub, &SubReg);
        foreach (var c in FormTable.Legacy(Mnemonic.Cmp)) OpTable.Set(c, &Cmp, &CmpReg);
        foreach (var c in FormTable.Legacy(Mnemonic.Adc)) OpTable.Set(c, &Adc);
        foreach (var c in FormTable.Legacy(Mnemonic.Sbb)) OpTable.Set(c, &Sbb);
        foreach (var c in FormTable.Legacy(Mnemonic.Inc)) OpTable.Set(c, &Inc, &IncReg);
        foreach (var c in FormTable.Legacy(Mnemonic.Dec)) OpTable.Set(c, &Dec, &DecReg);
        foreach (var c in FormTable.Legacy(Mnemonic.Neg)) OpTable.Set(c, &Neg);
    }

    // Register forms: both operands are registers or an immediate; no fault is possible.

    private static void AddReg(Cpu c, ref Insn i)
    {
        int size = i.OpSize, bits = size * 8;
        ulong m = Cpu.SizeMask(bits);
        ulong a = c.ReadGpr(i.R0, size);
        ulong b = i.Kind(1) == OperandKind.Register ? c.ReadGpr(i.R1, size) : i.Imm & m;
        ulong r = (a + b) & m;
        c.WriteGpr(i.R0, size, r);
        c.SetLazy(FlagOp.Add, a, b, r, bits);
    }

    private static void SubReg(Cpu c, ref Insn i)
    {
        int size = i.OpSize, bits = size * 8;
        ulong m = Cpu.SizeMask(bits);
        ulong a = c.ReadGpr(i.R0, size);
        ulong b = i.Kind(1) == OperandKind.Register ? c.ReadGpr(i.R1, size) : i.Imm & m;
        ulong r = (a - b) & m;
        c.WriteGpr(i.R0, size, r);
        c.SetLazy(FlagOp.Sub, a, b, r, bits);
    }

    private static void CmpReg(Cpu c, ref Insn i)
    {
        int size = i.OpSize, bits = size * 8;
        ulong m = Cpu.SizeMask(bits);
        ulong a = c.ReadGpr(i.R0, size);
        ulong b = i.Kind(1) == OperandKind.Register ? c.ReadGpr(i.R1, size) : i.Imm & m;
        c.SetLazy(FlagOp.Sub, a, b, (a - b) & m, bits);
    }

    private static void IncReg(Cpu c, ref Insn i)
    {
        int size = i.OpSize, bits = size * 8;
        ulong a = c.ReadGpr(i.R0, size);
        ulong r = (a + 1) & Cpu.SizeMask(bits);
        c.LazyCarry = c.CF;
        c.WriteGpr(i.R0, size, r);
        c.SetLazy(FlagOp.Inc, a, 1, r, bits);
    }

    private static void DecReg(Cpu c, ref Insn i)
    {
        int size = i.OpSize, bits = size * 8;
        ulong a = c.ReadGpr(i.R0, size);
        ulong r = (a - 1) & Cpu.SizeMask(bits);
        c.LazyCarry = c.CF;
        c.WriteGpr(i.R0, size, r);
        c.SetLazy(FlagOp.Dec, a, 1, r, bits);
    }

    // General forms: any operand may be memory.

    private static void Add(Cpu c, ref Insn i) => Binary(c, ref i, FlagOp.Add, write: true);
    private static void Sub(Cpu c, ref Insn i) => Binary(c, ref i, FlagOp.Sub, write: true);
    private static void Cmp(Cpu c, ref Insn i) => Binary(c, ref i, FlagOp.Sub, write: false);
    private static void Adc(Cpu c, ref Insn i) => Binary(c, ref i, FlagOp.Adc, write: true);
    private static void Sbb(Cpu c, ref Insn i) => Binary(c, ref i, FlagOp.Sbb, write: true);

    private static void Binary(Cpu c, ref Insn i, FlagOp op, bool write)
    {
        int size = i.OpSize, bits = size * 8;
        ulong m = Cpu.SizeMask(bits);
        ulong a = c.GetOp(ref i, 0, size);
        if (c.Faulted) return;
        ulong b = c.GetOp(ref i, 1, size);
        if (c.Faulted) return;
        bool carry = (op == FlagOp.Adc || op == FlagOp.Sbb) && c.CF;
        ulong r = op switch
        {
            FlagOp.Add => a + b,
            FlagOp.Adc => a + b + (carry ? 1UL : 0),
            FlagOp.Sbb => a - b - (carry ? 1UL : 0),
            _ => a - b,
        } & m;
        if (write)
        {
            c.SetOp(ref i, 0, size, r);
            if (c.Faulted) return;
        }
        c.LazyCarry = carry;
        c.SetLazy(op, a, b, r, bits);
    }

    private static void Inc(Cpu c, ref Insn i) => IncDec(c, ref i, FlagOp.Inc);
    private static void Dec(Cpu c, ref Insn i) => IncDec(c, ref i, FlagOp.Dec);

    private static void IncDec(Cpu c, ref Insn i, FlagOp op)
    {
        int size = i.OpSize, bits = size * 8;
        ulong a = c.GetOp(ref i, 0, size);
        if (c.Faulted) return;
        ulong r = (op == FlagOp.Inc ? a + 1 : a - 1) & Cpu.SizeMask(bits);
        bool cf = c.CF;
        c.SetOp(ref i, 0, size, r);
        if (c.Faulted) return;
        c.LazyCarry = cf;
        c.SetLazy(op, a, 1, r, bits);
    }

    private static void Neg(Cpu c, ref Insn i)
    {
        int size = i.OpSize, bits = size * 8;
        ulong b = c.GetOp(ref i, 0, size);
        if (c.Faulted) return;
        ulong r = (0 - b) & Cpu.SizeMask(bits);
        c.SetOp(ref i, 0, size, r);
        if (c.Faulted) return;
        c.SetLazy(FlagOp.Sub, 0, b, r, bits);
    }
}
