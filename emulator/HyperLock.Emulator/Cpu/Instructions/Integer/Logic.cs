using HyperLock.Emulator.Cpu.Decode;
using HyperLock.Emulator.Cpu.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Cpu.Instructions;

/// <summary>AND, OR, XOR, NOT, TEST.</summary>
internal static unsafe partial class Logic
{
    private enum Op { And, Or, Xor }

    public static void Register()
    {
        foreach (var c in FormTable.Legacy(Mnemonic.And)) OpTable.Set(c, &And, &AndReg);
        foreach (var c in FormTable.Legacy(Mnemonic.Or)) OpTable.Set(c, &Or, &OrReg);
        foreach (var c in FormTable.Legacy(Mnemonic.Xor)) OpTable.Set(c, &Xor, &XorReg);
        foreach (var c in FormTable.Legacy(Mnemonic.Test)) OpTable.Set(c, &Test, &TestReg);
        foreach (var c in FormTable.Legacy(Mnemonic.Not)) OpTable.Set(c, &Not);
    }

    private static ulong Src(Cpu c, ref Insn i, int size) =>
        i.Kind(1) == OperandKind.Register ? c.ReadGpr(i.R1, size) : i.Imm & Cpu.SizeMask(size * 8);

    private static void AndReg(Cpu c, ref Insn i) { int s = i.OpSize; ulong r = c.ReadGpr(i.R0, s) & Src(c, ref i, s); c.WriteGpr(i.R0, s, r); c.SetLogic(r, s * 8); }
    private static void OrReg(Cpu c, ref Insn i) { int s = i.OpSize; ulong r = c.ReadGpr(i.R0, s) | Src(c, ref i, s); c.WriteGpr(i.R0, s, r); c.SetLogic(r, s * 8); }
    private static void XorReg(Cpu c, ref Insn i) { int s = i.OpSize; ulong r = c.ReadGpr(i.R0, s) ^ Src(c, ref i, s); c.WriteGpr(i.R0, s, r); c.SetLogic(r, s * 8); }
    private static void TestReg(Cpu c, ref Insn i) { int s = i.OpSize; c.SetLogic(c.ReadGpr(i.R0, s) & Src(c, ref i, s), s * 8); }

    private static void And(Cpu c, ref Insn i) => Binary(c, ref i, Op.And, true);
    private static void Or(Cpu c, ref Insn i) => Binary(c, ref i, Op.Or, true);
    private static void Xor(Cpu c, ref Insn i) => Binary(c, ref i, Op.Xor, true);
    private static void Test(Cpu c, ref Insn i) => Binary(c, ref i, Op.And, false);

    private static void Binary(Cpu c, ref Insn i, Op op, bool write)
    {
        int size = i.OpSize;
        ulong a = c.GetOp(ref i, 0, size);
        if (c.Faulted) return;
        ulong b = c.GetOp(ref i, 1, size);
        if (c.Faulted) return;
        ulong r = op switch { Op.And => a & b, Op.Or => a | b, _ => a ^ b };
        if (write)
        {
            c.SetOp(ref i, 0, size, r);
            if (c.Faulted) return;
        }
        c.SetLogic(r, size * 8);
    }

    private static void Not(Cpu c, ref Insn i)
    {
        int size = i.OpSize;
        ulong a = c.GetOp(ref i, 0, size);
        if (c.Faulted) return;
        c.SetOp(ref i, 0, size, ~a & Cpu.SizeMask(size * 8));
    }
}
