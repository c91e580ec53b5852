using System.Runtime.CompilerServices;
using HyperLock.Emulator.Processor.Decode;

namespace HyperLock.Emulator.Processor;

/// <summary>
/// SSE state helpers: the availability checks every SSE instruction makes first (CR0.EM,
/// CR4.OSFXSR, CR0.TS), XMM operand loads with the legacy-SSE alignment rule, and MXCSR
/// bookkeeping for the floating-point instructions (sticky flags, unmasked exceptions → #XM).
/// </summary>
public sealed partial class Cpu
{
    /// <summary>MXCSR bits.</summary>
    public const uint MxcsrIe = 1 << 0, MxcsrDe = 1 << 1, MxcsrZe = 1 << 2, MxcsrOe = 1 << 3, MxcsrUe = 1 << 4,
        MxcsrPe = 1 << 5, MxcsrDaz = 1 << 6, MxcsrMaskShift = 7, MxcsrRcShift = 13, MxcsrFtz = 1 << 15;

    /// <summary>Bits of MXCSR that may be set (MXCSR_MASK as FXSAVE reports it; DAZ supported).</summary>
    public const uint MxcsrWritable = 0xFFFF;

    /// <summary>
    /// The checks that come before anything else an SSE instruction does: CR0.EM = 1 or
    /// CR4.OSFXSR = 0 → #UD; CR0.TS = 1 → #NM. Returns false (fault raised) when the
    /// instruction must not proceed.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool SseAvailable()
    {
        if ((Cr0 & (Bits.Cr0Em | Bits.Cr0Ts)) == 0 && (Cr4 & Bits.Cr4Osfxsr) != 0) return true;
        SseUnavailable();
        return false;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void SseUnavailable()
    {
        if ((Cr0 & Bits.Cr0Em) != 0 || (Cr4 & Bits.Cr4Osfxsr) == 0) RaiseUd();
        else RaiseFault(Vector.NM);
    }

    /// <summary>
    /// Reads a 16-byte memory operand that legacy SSE requires to be aligned: #GP(0) when the
    /// linear address is not a multiple of 16 (the segment-relative rule reduces to this for
    /// the flat and 16-byte-aligned bases the machine uses).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Xmm ReadXmmAligned(ulong lin)
    {
        if ((lin & 15) != 0) { RaiseGp(0); return default; }
        return ReadMem128(lin);
    }

    /// <summary>Writes a 16-byte memory operand that must be aligned (#GP(0) otherwise).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteXmmAligned(ulong lin, Xmm v)
    {
        if ((lin & 15) != 0) { RaiseGp(0); return; }
        WriteMem128(lin, v);
    }

    /// <summary>
    /// Operand <paramref name="n"/> of an SSE instruction as a full XMM value: the register,
    /// or 16 aligned bytes of memory. Check <see cref="Faulted"/> after.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Xmm XmmSrc(ref Insn i, int n)
    {
        if (i.Kind(n) == OperandKind.Memory) return ReadXmmAligned(Ea(ref i));
        return X(n == 1 ? i.R1 : n == 2 ? i.R2 : i.R0);
    }

    /// <summary>Like <see cref="XmmSrc"/> but without the alignment rule (MOVUPS, LDDQU, PCMPxSTRx, …).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Xmm XmmSrcUnaligned(ref Insn i, int n)
    {
        if (i.Kind(n) == OperandKind.Memory) return ReadMem128(Ea(ref i));
        return X(n == 1 ? i.R1 : n == 2 ? i.R2 : i.R0);
    }

    /// <summary>
    /// Operand <paramref name="n"/> when it is an XMM register or a narrower memory operand of
    /// <paramref name="size"/> bytes (scalar forms, PMOVSX/ZX): memory is zero-extended into Lo/Hi.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Xmm XmmSrcNarrow(ref Insn i, int n, int size)
    {
        if (i.Kind(n) != OperandKind.Memory) return X(n == 1 ? i.R1 : n == 2 ? i.R2 : i.R0);
        ulong lin = Ea(ref i);
        return size == 16 ? ReadMem128(lin) : new Xmm(ReadMem(lin, size), 0);
    }

    /// <summary>
    /// Ends a floating-point instruction: ORs the exception flags it detected into MXCSR and, if
    /// any of them is unmasked, raises #XM (or #UD when CR4.OSXMMEXCPT = 0). Returns false
    /// when the result must not be written.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool SseCommitFlags(uint flags)
    {
        if (flags == 0) return true;
        Mxcsr |= flags & 0x3F;
        if ((flags & ~(Mxcsr >> (int)MxcsrMaskShift) & 0x3F) == 0) return true;
        if ((Cr4 & Bits.Cr4Osxmmexcpt) != 0) RaiseFault(Vector.XM);
        else RaiseUd();
        return false;
    }
}
