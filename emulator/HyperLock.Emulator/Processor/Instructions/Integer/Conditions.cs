using System.Runtime.CompilerServices;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>
/// A condition code as a type, so Jcc/SETcc/CMOVcc handlers are compiled per condition. Each
/// evaluates straight from the lazy flags, with a fast path for the common case of a preceding
/// CMP/SUB (unsigned and signed compares of the recorded operands, no flag materialization).
/// </summary>
internal interface ICond
{
    static abstract bool Eval(Cpu c);
}

internal struct CondO : ICond { public static bool Eval(Cpu c) => c.OF; }
internal struct CondNo : ICond { public static bool Eval(Cpu c) => !c.OF; }

internal struct CondB : ICond
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Eval(Cpu c) => c.LazyOp == FlagOp.Sub ? c.LazySrc1 < c.LazySrc2 : c.CF;
}

internal struct CondAe : ICond
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Eval(Cpu c) => c.LazyOp == FlagOp.Sub ? c.LazySrc1 >= c.LazySrc2 : !c.CF;
}

internal struct CondE : ICond
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Eval(Cpu c) => c.LazyOp != FlagOp.None ? c.LazyRes == 0 : (c.MaterializedFlags & Bits.Zf) != 0;
}

internal struct CondNe : ICond
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Eval(Cpu c) => c.LazyOp != FlagOp.None ? c.LazyRes != 0 : (c.MaterializedFlags & Bits.Zf) == 0;
}

internal struct CondBe : ICond
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Eval(Cpu c) => c.LazyOp == FlagOp.Sub ? c.LazySrc1 <= c.LazySrc2 : c.CF || c.ZF;
}

internal struct CondA : ICond
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Eval(Cpu c) => c.LazyOp == FlagOp.Sub ? c.LazySrc1 > c.LazySrc2 : !(c.CF || c.ZF);
}

internal struct CondS : ICond { public static bool Eval(Cpu c) => c.SF; }
internal struct CondNs : ICond { public static bool Eval(Cpu c) => !c.SF; }
internal struct CondP : ICond { public static bool Eval(Cpu c) => c.PF; }
internal struct CondNp : ICond { public static bool Eval(Cpu c) => !c.PF; }

/// <summary>Signed comparisons: operands shifted to the top of a 64-bit word compare as signed values.</summary>
internal static class SignedCmp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Shift(Cpu c) => 64 - c.LazyBits;

    /// <summary>SF != OF, i.e. "less", from the lazy state.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Less(Cpu c)
    {
        switch (c.LazyOp)
        {
            case FlagOp.Sub:
                int s = Shift(c);
                return (long)(c.LazySrc1 << s) < (long)(c.LazySrc2 << s);
            case FlagOp.Logic:
                return c.SF;
            default:
                return c.SF != c.OF;
        }
    }
}

internal struct CondL : ICond
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Eval(Cpu c) => SignedCmp.Less(c);
}

internal struct CondGe : ICond
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Eval(Cpu c) => !SignedCmp.Less(c);
}

internal struct CondLe : ICond
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Eval(Cpu c)
    {
        if (c.LazyOp == FlagOp.Sub)
        {
            int s = SignedCmp.Shift(c);
            return (long)(c.LazySrc1 << s) <= (long)(c.LazySrc2 << s);
        }
        return c.ZF || SignedCmp.Less(c);
    }
}

internal struct CondG : ICond
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Eval(Cpu c) => !CondLe.Eval(c);
}
