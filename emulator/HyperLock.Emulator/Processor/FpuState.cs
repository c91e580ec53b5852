using System.Runtime.CompilerServices;

namespace HyperLock.Emulator.Processor;

/// <summary>
/// x87 FPU state: eight 80-bit data registers (physical order R0-R7; ST(i) is R[(TOP + i) mod 8]),
/// TOP, the tag state, control and status words, and the last instruction/data pointers and
/// opcode. The FPU keeps only "empty / not empty" per register, as hardware does; the full tag
/// word (valid/zero/special/empty) is computed from the contents when it is stored.
/// The x87 family (Instructions/X87) implements the instructions.
/// </summary>
public sealed partial class Cpu
{
    public FpuRegisterFile FpuRegs;

    /// <summary>Stack top (status word bits 13:11).</summary>
    public int FpuTop;

    /// <summary>Bit p set = physical register Rp holds a value (tag not "empty").</summary>
    public byte FpuValid;

    /// <summary>Control word: exception masks 5:0, precision control 9:8, rounding control 11:10, X 12.</summary>
    public ushort FpuControl = FpuInitControl;

    /// <summary>Status word without TOP (exception flags, SF, ES, C0-C3, B).</summary>
    internal ushort FpuSw;

    /// <summary>Last non-control instruction: offset (RIP), CS selector, and its 11-bit opcode.</summary>
    public ulong FpuIp;
    public ushort FpuCs;
    public ushort FpuOpcode;

    /// <summary>Last memory operand of a non-control instruction: offset and segment selector.</summary>
    public ulong FpuDp;
    public ushort FpuDs;

    public const ushort FpuInitControl = 0x037F;


    // Status word bits.
    public const ushort FswIe = 1 << 0, FswDe = 1 << 1, FswZe = 1 << 2, FswOe = 1 << 3, FswUe = 1 << 4, FswPe = 1 << 5,
        FswSf = 1 << 6, FswEs = 1 << 7, FswC0 = 1 << 8, FswC1 = 1 << 9, FswC2 = 1 << 10, FswC3 = 1 << 14, FswB = 1 << 15;

    /// <summary>The condition-code bits C0-C3.</summary>
    public const ushort FswCc = FswC0 | FswC1 | FswC2 | FswC3;

    /// <summary>Tag values in the full tag word.</summary>
    public const int TagValid = 0, TagZero = 1, TagSpecial = 2, TagEmpty = 3;

    /// <summary>The status word with TOP.</summary>
    public ushort FpuStatus
    {
        get => (ushort)((FpuSw & ~0x3800) | (FpuTop << 11));
        set
        {
            FpuSw = (ushort)(value & ~0x3800);
            FpuTop = (value >> 11) & 7;
        }
    }

    /// <summary>The full 16-bit tag word (2 bits per physical register), computed from the contents.</summary>
    public ushort FpuTag
    {
        get
        {
            int tw = 0;
            for (int p = 0; p < 8; p++) tw |= FpuTagOf(p) << (2 * p);
            return (ushort)tw;
        }
        set
        {
            byte valid = 0;
            for (int p = 0; p < 8; p++)
                if (((value >> (2 * p)) & 3) != TagEmpty) valid |= (byte)(1 << p);
            FpuValid = valid;
        }
    }

    /// <summary>The abridged tag byte of FXSAVE: bit p = 1 when Rp is not empty.</summary>
    public byte FpuAbridgedTag
    {
        get => FpuValid;
        set => FpuValid = value;
    }

    /// <summary>Tag of physical register <paramref name="p"/> as the full tag word encodes it.</summary>
    public int FpuTagOf(int p)
    {
        if ((FpuValid & (1 << p)) == 0) return TagEmpty;
        ref Float80 r = ref FpuRegs[p];
        int e = r.Exponent;
        if (e == 0x7FFF) return TagSpecial;
        if (e == 0) return r.Mantissa == 0 ? TagZero : TagSpecial;
        return (r.Mantissa & Float80.JBit) != 0 ? TagValid : TagSpecial;
    }

    /// <summary>ST(i).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref Float80 St(int i) => ref FpuRegs[(FpuTop + i) & 7];

    /// <summary>True when ST(i) is empty.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool StEmpty(int i) => (FpuValid & (1 << ((FpuTop + i) & 7))) == 0;

    /// <summary>Marks ST(i) as holding a value.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void StSetValid(int i) => FpuValid |= (byte)(1 << ((FpuTop + i) & 7));

    /// <summary>Marks ST(i) empty.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void StSetEmpty(int i) => FpuValid &= (byte)~(1 << ((FpuTop + i) & 7));

    /// <summary>Pops: ST(0) becomes empty, TOP increments.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void FpuPop()
    {
        FpuValid &= (byte)~(1 << FpuTop);
        FpuTop = (FpuTop + 1) & 7;
    }

    /// <summary>Pushes a value (the caller has checked that the new ST(0) was empty).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void FpuPush(Float80 v)
    {
        FpuTop = (FpuTop - 1) & 7;
        FpuRegs[FpuTop] = v;
        FpuValid |= (byte)(1 << FpuTop);
    }

    /// <summary>FNINIT: control 037F, status 0, all registers empty, pointers and opcode cleared (register contents kept).</summary>
    public void FpuInit()
    {
        FpuControl = FpuInitControl;
        FpuSw = 0;
        FpuTop = 0;
        FpuValid = 0;
        FpuIp = FpuDp = 0;
        FpuCs = FpuDs = FpuOpcode = 0;
    }

    /// <summary>True when the x87 state is in its initial configuration (XINUSE[0] = 0 for XSAVE).</summary>
    public bool FpuIsInitState =>
        FpuControl == FpuInitControl && FpuSw == 0 && FpuTop == 0 && FpuValid == 0 && FpuIp == 0 && FpuDp == 0
        && FpuCs == 0 && FpuDs == 0 && FpuOpcode == 0;

    /// <summary>
    /// Records exception flags (FSW bits 6:0) and sets ES and B when any recorded exception is
    /// unmasked; the next waiting x87 instruction then raises #MF (CR0.NE = 1).
    /// </summary>
    public void FpuRecordExceptions(int flags)
    {
        FpuSw |= (ushort)(flags & 0x7F);
        FpuUpdateSummary();
    }

    /// <summary>Recomputes ES and B from the flags and the masks (after FLDCW, FLDENV, FRSTOR, FXRSTOR).</summary>
    public void FpuUpdateSummary()
    {
        if ((FpuSw & ~FpuControl & 0x3F) != 0) FpuSw |= FswEs | FswB;
        else FpuSw &= unchecked((ushort)~(FswEs | FswB));
    }

    /// <summary>Sets or clears C1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void FpuSetC1(bool on) => FpuSw = on ? (ushort)(FpuSw | FswC1) : (ushort)(FpuSw & ~FswC1);

    // ---- MMX aliasing (for the MMX/SSE family) ----------------------------------------------

    /// <summary>MMi is the significand of physical register Ri.</summary>
    public ref ulong Mmx(int i) => ref FpuRegs[i & 7].Mantissa;

    /// <summary>The state change of every MMX instruction: TOP = 0, all tags valid.</summary>
    public void MmxEnter()
    {
        FpuTop = 0;
        FpuValid = 0xFF;
    }

    /// <summary>An MMX register write also sets the register's exponent field to all ones.</summary>
    public void MmxWrite(int i, ulong value)
    {
        ref Float80 r = ref FpuRegs[i & 7];
        r.Mantissa = value;
        r.SignExp = 0xFFFF;
    }

    /// <summary>EMMS: all registers empty.</summary>
    public void MmxEmms() => FpuValid = 0;

    private void ResetFpu()
    {
        // The machine's reset state is the FNINIT state (as after firmware initialization),
        // with all data registers +0.0. The SDM's power-up control word is 0040H; see the x87 docs.
        FpuInit();
        for (int p = 0; p < 8; p++) FpuRegs[p] = default;
    }
}

[InlineArray(8)]
public struct FpuRegisterFile
{
    private Float80 _element;
}
