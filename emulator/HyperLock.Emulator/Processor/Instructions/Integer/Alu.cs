using System.Runtime.CompilerServices;
using HyperLock.Emulator.Processor.Decode;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>A two-operand ALU operation: the result, then (only once stored) its flags.</summary>
internal interface IAluOp
{
    /// <summary>False for CMP and TEST, which only set flags.</summary>
    static abstract bool Writes { get; }
    static abstract ulong Calc(Cpu c, ulong a, ulong b, ulong mask, out bool carryIn);
    static abstract void Flags(Cpu c, ulong a, ulong b, ulong r, bool carryIn, int bits);
}

internal struct OpAdd : IAluOp
{
    public static bool Writes => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Calc(Cpu c, ulong a, ulong b, ulong mask, out bool cy) { cy = false; return (a + b) & mask; }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Flags(Cpu c, ulong a, ulong b, ulong r, bool cy, int bits) => c.SetLazy(FlagOp.Add, a, b, r, bits);
}

internal struct OpAdc : IAluOp
{
    public static bool Writes => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Calc(Cpu c, ulong a, ulong b, ulong mask, out bool cy) { cy = c.CF; return (a + b + (cy ? 1UL : 0)) & mask; }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Flags(Cpu c, ulong a, ulong b, ulong r, bool cy, int bits) { c.LazyCarry = cy; c.SetLazy(FlagOp.Adc, a, b, r, bits); }
}

internal struct OpSub : IAluOp
{
    public static bool Writes => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Calc(Cpu c, ulong a, ulong b, ulong mask, out bool cy) { cy = false; return (a - b) & mask; }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Flags(Cpu c, ulong a, ulong b, ulong r, bool cy, int bits) => c.SetLazy(FlagOp.Sub, a, b, r, bits);
}

internal struct OpCmp : IAluOp
{
    public static bool Writes => false;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Calc(Cpu c, ulong a, ulong b, ulong mask, out bool cy) { cy = false; return (a - b) & mask; }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Flags(Cpu c, ulong a, ulong b, ulong r, bool cy, int bits) => c.SetLazy(FlagOp.Sub, a, b, r, bits);
}

internal struct OpSbb : IAluOp
{
    public static bool Writes => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Calc(Cpu c, ulong a, ulong b, ulong mask, out bool cy) { cy = c.CF; return (a - b - (cy ? 1UL : 0)) & mask; }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Flags(Cpu c, ulong a, ulong b, ulong r, bool cy, int bits) { c.LazyCarry = cy; c.SetLazy(FlagOp.Sbb, a, b, r, bits); }
}

internal struct OpAnd : IAluOp
{
    public static bool Writes => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Calc(Cpu c, ulong a, ulong b, ulong mask, out bool cy) { cy = false; return a & b; }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Flags(Cpu c, ulong a, ulong b, ulong r, bool cy, int bits) => c.SetLogic(r, bits);
}

internal struct OpTest : IAluOp
{
    public static bool Writes => false;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Calc(Cpu c, ulong a, ulong b, ulong mask, out bool cy) { cy = false; return a & b; }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Flags(Cpu c, ulong a, ulong b, ulong r, bool cy, int bits) => c.SetLogic(r, bits);
}

internal struct OpOr : IAluOp
{
    public static bool Writes => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Calc(Cpu c, ulong a, ulong b, ulong mask, out bool cy) { cy = false; return a | b; }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Flags(Cpu c, ulong a, ulong b, ulong r, bool cy, int bits) => c.SetLogic(r, bits);
}

internal struct OpXor : IAluOp
{
    public static bool Writes => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Calc(Cpu c, ulong a, ulong b, ulong mask, out bool cy) { cy = false; return a ^ b; }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Flags(Cpu c, ulong a, ulong b, ulong r, bool cy, int bits) => c.SetLogic(r, bits);
}

/// <summary>
/// The handler shapes of the two-operand ALU instructions, generic over operation and size.
/// "rm, r" / "r, rm" / "rm, imm" forms each get a register-only fast handler and a memory handler.
/// </summary>
internal static unsafe class Alu
{
    /// <summary>Registers every legacy form of <paramref name="m"/> with the handlers of <typeparamref name="TOp"/>.</summary>
    public static void Register<TOp>(Mnemonic m) where TOp : struct, IAluOp
    {
        foreach (var code in FormTable.Legacy(m))
        {
            var op = code.ToOpCode();
            if (op.OpCount != 2) continue;
            int size = IntForms.SizeOf(op.GetOpKind(0));
            var k0 = op.GetOpKind(0);
            var k1 = op.GetOpKind(1);
            int shape = IntForms.IsImm(k1) ? 2 : IntForms.IsRm(k1) ? 1 : 0; // 0: rm,r  1: r,rm  2: rm,imm
            _ = k0;
            switch (size)
            {
                case 1: Set<TOp, S8>(code, shape); break;
                case 2: Set<TOp, S16>(code, shape); break;
                case 4: Set<TOp, S32>(code, shape); break;
                case 8: Set<TOp, S64>(code, shape); break;
            }
        }
    }

    private static void Set<TOp, S>(Code code, int shape) where TOp : struct, IAluOp where S : struct, ISize
    {
        switch (shape)
        {
            case 0: OpTable.Set(code, &MemReg<TOp, S>, &RegReg<TOp, S>); break;
            case 1: OpTable.Set(code, &RegMem<TOp, S>, &RegReg<TOp, S>); break;
            default: OpTable.Set(code, &MemImm<TOp, S>, &RegImm<TOp, S>); break;
        }
    }

    public static void RegReg<TOp, S>(Cpu c, ref Insn i) where TOp : struct, IAluOp where S : struct, ISize
    {
        ulong a = S.Get(c, i.R0), b = S.Get(c, i.R1);
        ulong r = TOp.Calc(c, a, b, S.Mask, out bool cy);
        if (TOp.Writes) S.Set(c, i.R0, r);
        TOp.Flags(c, a, b, r, cy, S.Bits);
    }

    public static void RegImm<TOp, S>(Cpu c, ref Insn i) where TOp : struct, IAluOp where S : struct, ISize
    {
        ulong a = S.Get(c, i.R0), b = i.Imm & S.Mask;
        ulong r = TOp.Calc(c, a, b, S.Mask, out bool cy);
        if (TOp.Writes) S.Set(c, i.R0, r);
        TOp.Flags(c, a, b, r, cy, S.Bits);
    }

    public static void RegMem<TOp, S>(Cpu c, ref Insn i) where TOp : struct, IAluOp where S : struct, ISize
    {
        ulong b = S.Load(c, c.Ea(ref i));
        if (c.Faulted) return;
        ulong a = S.Get(c, i.R0);
        ulong r = TOp.Calc(c, a, b, S.Mask, out bool cy);
        if (TOp.Writes) S.Set(c, i.R0, r);
        TOp.Flags(c, a, b, r, cy, S.Bits);
    }

    public static void MemReg<TOp, S>(Cpu c, ref Insn i) where TOp : struct, IAluOp where S : struct, ISize
    {
        ulong lin = c.Ea(ref i);
        ulong a = S.Load(c, lin);
        if (c.Faulted) return;
        ulong b = S.Get(c, i.R1);
        ulong r = TOp.Calc(c, a, b, S.Mask, out bool cy);
        if (TOp.Writes)
        {
            S.Store(c, lin, r);
            if (c.Faulted) return;
        }
        TOp.Flags(c, a, b, r, cy, S.Bits);
    }

    public static void MemImm<TOp, S>(Cpu c, ref Insn i) where TOp : struct, IAluOp where S : struct, ISize
    {
        ulong lin = c.Ea(ref i);
        ulong a = S.Load(c, lin);
        if (c.Faulted) return;
        ulong b = i.Imm & S.Mask;
        ulong r = TOp.Calc(c, a, b, S.Mask, out bool cy);
        if (TOp.Writes)
        {
            S.Store(c, lin, r);
            if (c.Faulted) return;
        }
        TOp.Flags(c, a, b, r, cy, S.Bits);
    }

    /// <summary>Registers the one-operand r/m forms of a mnemonic with a size-generic register and memory handler.</summary>
    public static void RegisterUnary(Mnemonic m, Func<int, (nint Mem, nint Reg)> handlers)
    {
        foreach (var code in FormTable.Legacy(m))
        {
            var op = code.ToOpCode();
            if (op.OpCount != 1) continue;
            int size = IntForms.SizeOf(op.GetOpKind(0));
            if (size == 0) continue;
            var (mem, reg) = handlers(size);
            OpTable.Set(code, (delegate*<Cpu, ref Insn, void>)mem, (delegate*<Cpu, ref Insn, void>)reg);
        }
    }
}
