using System.Numerics;
using System.Runtime.CompilerServices;

namespace HyperLock.Emulator.Processor;

/// <summary>Which operation last set the arithmetic flags (lazy evaluation).</summary>
public enum FlagOp : byte
{
    /// <summary>Arithmetic flags are held in <see cref="Cpu.MaterializedFlags"/>.</summary>
    None,
    Add, Adc, Sub, Sbb, Logic, Inc, Dec,
}

/// <summary>
/// RFLAGS with lazily computed arithmetic flags: flag-setting instructions record their
/// operands and result, and CF/PF/AF/ZF/SF/OF are derived only when something reads them.
/// </summary>
public sealed partial class Cpu
{
    internal FlagOp LazyOp;
    /// <summary>Result and operands, already truncated to <see cref="LazyBits"/>.</summary>
    internal ulong LazyRes, LazySrc1, LazySrc2;
    internal int LazyBits = 64;
    /// <summary>Carry into ADC/SBB, or the carry preserved across INC/DEC.</summary>
    internal bool LazyCarry;
    /// <summary>Arithmetic flags when <see cref="LazyOp"/> is <see cref="FlagOp.None"/>.</summary>
    internal ulong MaterializedFlags;
    /// <summary>Every RFLAGS bit other than the six arithmetic flags (IF, DF, TF, IOPL, …; bit 1 set).</summary>
    public ulong RflagsRest = Bits.Fixed1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong SizeMask(int bits) => bits == 64 ? ulong.MaxValue : (1UL << bits) - 1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetLazy(FlagOp op, ulong src1, ulong src2, ulong result, int bits)
    {
        LazyOp = op;
        LazySrc1 = src1;
        LazySrc2 = src2;
        LazyRes = result;
        LazyBits = bits;
    }

    /// <summary>Records a logic result (CF = OF = 0; AF undefined, reads as 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetLogic(ulong result, int bits)
    {
        LazyOp = FlagOp.Logic;
        LazyRes = result;
        LazyBits = bits;
    }

    /// <summary>Sets the arithmetic flags outright (shifts, multiplies, POPF).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetArithFlags(ulong flags)
    {
        LazyOp = FlagOp.None;
        MaterializedFlags = flags & Bits.Arith;
    }

    public bool CF
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            switch (LazyOp)
            {
                case FlagOp.None: return (MaterializedFlags & Bits.Cf) != 0;
                case FlagOp.Add: return LazyRes < LazySrc1;
                case FlagOp.Adc: return LazyCarry ? LazyRes <= LazySrc1 : LazyRes < LazySrc1;
                case FlagOp.Sub: return LazySrc1 < LazySrc2;
                case FlagOp.Sbb: return LazyCarry ? LazySrc1 <= LazySrc2 : LazySrc1 < LazySrc2;
                case FlagOp.Logic: return false;
                default: return LazyCarry; // INC/DEC keep CF
            }
        }
    }

    public bool ZF
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => LazyOp == FlagOp.None ? (MaterializedFlags & Bits.Zf) != 0 : LazyRes == 0;
    }

    public bool SF
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => LazyOp == FlagOp.None ? (MaterializedFlags & Bits.Sf) != 0 : ((LazyRes >> (LazyBits - 1)) & 1) != 0;
    }

    public bool OF
    {
        get
        {
            ulong sign = 1UL << (LazyBits - 1);
            switch (LazyOp)
            {
                case FlagOp.None: return (MaterializedFlags & Bits.Of) != 0;
                case FlagOp.Add:
                case FlagOp.Adc:
                case FlagOp.Inc:
                    return (((LazySrc1 ^ LazyRes) & (LazySrc2 ^ LazyRes)) & sign) != 0;
                case FlagOp.Sub:
                case FlagOp.Sbb:
                case FlagOp.Dec:
                    return (((LazySrc1 ^ LazySrc2) & (LazySrc1 ^ LazyRes)) & sign) != 0;
                default: return false;
            }
        }
    }

    public bool PF
    {
        get => LazyOp == FlagOp.None
            ? (MaterializedFlags & Bits.Pf) != 0
            : (BitOperations.PopCount(LazyRes & 0xFF) & 1) == 0;
    }

    public bool AF
    {
        get => LazyOp switch
        {
            FlagOp.None => (MaterializedFlags & Bits.Af) != 0,
            FlagOp.Logic => false,
            _ => ((LazySrc1 ^ LazySrc2 ^ LazyRes) & 0x10) != 0,
        };
    }

    /// <summary>The six arithmetic flags as RFLAGS bits.</summary>
    public ulong ArithFlags
    {
        get
        {
            if (LazyOp == FlagOp.None) return MaterializedFlags;
            ulong f = 0;
            if (CF) f |= Bits.Cf;
            if (PF) f |= Bits.Pf;
            if (AF) f |= Bits.Af;
            if (ZF) f |= Bits.Zf;
            if (SF) f |= Bits.Sf;
            if (OF) f |= Bits.Of;
            return f;
        }
    }

    /// <summary>Forces the lazy flags into <see cref="MaterializedFlags"/> (before partial flag updates).</summary>
    public void MaterializeFlags()
    {
        if (LazyOp == FlagOp.None) return;
        MaterializedFlags = ArithFlags;
        LazyOp = FlagOp.None;
    }

    public ulong GetRflags() => RflagsRest | ArithFlags;

    /// <summary>Loads all of RFLAGS; the caller has already applied privilege rules for IF/IOPL/VM.</summary>
    public void SetRflags(ulong value)
    {
        SetArithFlags(value);
        RflagsRest = (value & ~Bits.Arith & 0x3F7FD5UL) | Bits.Fixed1;
    }

    /// <summary>Sets or clears single arithmetic flags, keeping the others.</summary>
    public void UpdateArithFlags(ulong set, ulong clear)
    {
        MaterializeFlags();
        MaterializedFlags = (MaterializedFlags | set) & ~clear;
    }

    public bool IF => (RflagsRest & Bits.If) != 0;
    public bool DF => (RflagsRest & Bits.Df) != 0;

    /// <summary>Evaluates condition code <paramref name="cc"/> (the low nibble of Jcc/SETcc/CMOVcc opcodes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Condition(int cc)
    {
        bool r = (cc >> 1) switch
        {
            0 => OF,
            1 => CF,
            2 => ZF,
            3 => CF || ZF,
            4 => SF,
            5 => PF,
            6 => SF != OF,
            _ => ZF || SF != OF,
        };
        return r ^ ((cc & 1) != 0);
    }
}
