using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using HyperLock.Emulator.Processor.Decode;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;
using V = System.Runtime.Intrinsics.Vector128<byte>;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>A packed operation dest ← f(dest, src, imm8) on whole 128-bit values (no MXCSR involvement).</summary>
internal interface IVecOp
{
    static abstract V Op(V d, V s, byte imm);
}

/// <summary>
/// SSE through SSE4.2 (legacy encodings), integer and floating point. The families live in
/// the other partial files: SseMove, SseInteger, SseFloat, SseConvert, SseString. The MMX
/// forms (mm operands) are in SseMmx; AES-NI, PCLMULQDQ and SHA in SseCrypto.
/// Every handler starts with <see cref="Cpu.SseAvailable"/> (#UD/#NM rules), then reads the
/// source through <see cref="Cpu.XmmSrc"/> (16-byte memory operands must be aligned) or the
/// unaligned/narrow variants, and commits only after all accesses and MXCSR checks succeeded.
/// Integer operations use System.Runtime.Intrinsics (exact by definition on this x86-64 host).
/// Floating point: every lane is computed by <see cref="SoftFp"/> (software IEEE binary32/64 with
/// all MXCSR rounding modes, DAZ/FTZ, tininess after rounding, the six sticky flags, x86 NaN
/// rules), except where the host result is provably identical and flag-free: round-to-nearest,
/// PE already set and masked, all inputs normal and the result normal and above ±min-normal.
/// Unmasked exceptions raise #XM (#UD when CR4.OSXMMEXCPT = 0) and leave the destination as is.
/// RCPxS/RSQRTxS are deterministic approximations (see <see cref="Rcp32"/>), not Intel's tables.
/// </summary>
internal static unsafe partial class Sse
{
    public static void Register()
    {
        // The handlers use the host's SSE4.2 intrinsics for integer work and as an exact fast
        // path; on a host without them (the project targets x86-64 hosts) nothing is registered,
        // so the forms raise #UD instead of throwing PlatformNotSupportedException.
        if (!System.Runtime.Intrinsics.X86.Sse42.IsSupported || !System.Runtime.Intrinsics.X86.Ssse3.IsSupported) return;
        RegisterMoves();
        RegisterInteger();
        RegisterFloat();
        RegisterConvert();
        RegisterString();
        RegisterMmx();
        RegisterCrypto();
    }

    // ---- registration helpers ----------------------------------------------------------

    /// <summary>True for a form with an XMM operand and no MMX operand.</summary>
    private static bool IsXmmForm(Code c)
    {
        var op = c.ToOpCode();
        bool xmm = false;
        for (int n = 0; n < op.OpCount; n++)
        {
            switch (op.GetOpKind(n))
            {
                case OpCodeOperandKind.mm_reg:
                case OpCodeOperandKind.mm_rm:
                case OpCodeOperandKind.mm_or_mem:
                    return false;
                case OpCodeOperandKind.xmm_reg:
                case OpCodeOperandKind.xmm_rm:
                case OpCodeOperandKind.xmm_or_mem:
                    xmm = true;
                    break;
            }
        }
        return xmm;
    }

    /// <summary>Registers every legacy XMM (non-MMX) form of a mnemonic; returns how many.</summary>
    private static int SetX(Mnemonic m, delegate*<Cpu, ref Insn, void> h)
    {
        int n = 0;
        foreach (var c in FormTable.Legacy(m))
        {
            if (!IsXmmForm(c)) continue;
            OpTable.Set(c, h);
            n++;
        }
        return n;
    }

    /// <summary>Registers the XMM forms of a mnemonic with <see cref="Vec{T}"/> and its register-only fast form.</summary>
    private static void SetV<T>(Mnemonic m) where T : struct, IVecOp
    {
        foreach (var c in FormTable.Legacy(m))
            if (IsXmmForm(c)) OpTable.Set(c, &Vec<T>, &VecReg<T>);
    }

    // ---- value helpers -----------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static V ToV(Xmm x) => Unsafe.BitCast<Xmm, V>(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Xmm ToX(V v) => Unsafe.BitCast<V, Xmm>(v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static UInt128 ToU(Xmm x) => new(x.Hi, x.Lo);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Xmm FromU(UInt128 u) => new((ulong)u, (ulong)(u >> 64));

    /// <summary>Element <paramref name="k"/> of width <paramref name="bytes"/> (1, 2, 4, 8).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong Get(Xmm x, int k, int bytes)
    {
        int bit = k * bytes * 8;
        ulong q = bit < 64 ? x.Lo : x.Hi;
        if (bytes == 8) return q;
        return (q >> (bit & 63)) & ((1UL << (bytes * 8)) - 1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Put(ref Xmm x, int k, int bytes, ulong v)
    {
        int bit = k * bytes * 8;
        ref ulong q = ref (bit < 64 ? ref x.Lo : ref x.Hi);
        if (bytes == 8) { q = v; return; }
        ulong mask = ((1UL << (bytes * 8)) - 1) << (bit & 63);
        q = (q & ~mask) | ((v << (bit & 63)) & mask);
    }

    // ---- the generic packed handler ----------------------------------------------------

    /// <summary>op xmm1, xmm2/m128 [, imm8]: dest ← T(dest, src, imm8); aligned memory.</summary>
    private static void Vec<T>(Cpu c, ref Insn i) where T : struct, IVecOp
    {
        if (!c.SseAvailable()) return;
        Xmm s = c.XmmSrc(ref i, 1);
        if (c.Faulted) return;
        ref Xmm d = ref c.X(i.R0);
        d = ToX(T.Op(ToV(d), ToV(s), (byte)i.Imm));
    }

    /// <summary>Register-only form of <see cref="Vec{T}"/> (chosen at decode time when no operand is in memory).</summary>
    private static void VecReg<T>(Cpu c, ref Insn i) where T : struct, IVecOp
    {
        if (!c.SseAvailable()) return;
        ref Xmm d = ref c.X(i.R0);
        d = ToX(T.Op(ToV(d), ToV(c.X(i.R1)), (byte)i.Imm));
    }

    /// <summary>Like <see cref="Vec{T}"/> but the memory source is <paramref name="size"/> bytes (PMOVSX/ZX), zero-extended.</summary>
    private static void VecNarrow<T, TSize>(Cpu c, ref Insn i) where T : struct, IVecOp where TSize : struct, IVecSize
    {
        if (!c.SseAvailable()) return;
        Xmm s = c.XmmSrcNarrow(ref i, 1, TSize.Bytes);
        if (c.Faulted) return;
        ref Xmm d = ref c.X(i.R0);
        d = ToX(T.Op(ToV(d), ToV(s), (byte)i.Imm));
    }
}

/// <summary>A compile-time operand size for generic handlers.</summary>
internal interface IVecSize { static abstract int Bytes { get; } }
internal struct V2 : IVecSize { public static int Bytes => 2; }
internal struct V4 : IVecSize { public static int Bytes => 4; }
internal struct V8 : IVecSize { public static int Bytes => 8; }
internal struct V16 : IVecSize { public static int Bytes => 16; }
