using System.Runtime.CompilerServices;
using HyperLock.Emulator.Processor.Decode;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>One element of a string instruction; rSI/rDI are passed as offsets (already masked to the address size).</summary>
internal interface IStringOp
{
    /// <summary>CMPS and SCAS: REPE/REPNE test ZF after each element.</summary>
    static abstract bool Compares { get; }
    /// <summary>Does one element; returns false on a fault (nothing committed for that element).</summary>
    static abstract bool Step<E>(Cpu c, ref Insn i, ref ulong si, ref ulong di, ulong am, ulong delta) where E : struct, ISize;
}

internal struct StrMovs : IStringOp
{
    public static bool Compares => false;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Step<E>(Cpu c, ref Insn i, ref ulong si, ref ulong di, ulong am, ulong delta) where E : struct, ISize
    {
        ulong v = E.Load(c, c.SegLinear(i.Segment, si));
        if (c.Faulted) return false;
        E.Store(c, c.SegLinear(Seg.Es, di), v);
        if (c.Faulted) return false;
        si = (si + delta) & am;
        di = (di + delta) & am;
        return true;
    }
}

internal struct StrStos : IStringOp
{
    public static bool Compares => false;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Step<E>(Cpu c, ref Insn i, ref ulong si, ref ulong di, ulong am, ulong delta) where E : struct, ISize
    {
        E.Store(c, c.SegLinear(Seg.Es, di), E.Get(c, Reg.Rax));
        if (c.Faulted) return false;
        di = (di + delta) & am;
        return true;
    }
}

internal struct StrLods : IStringOp
{
    public static bool Compares => false;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Step<E>(Cpu c, ref Insn i, ref ulong si, ref ulong di, ulong am, ulong delta) where E : struct, ISize
    {
        ulong v = E.Load(c, c.SegLinear(i.Segment, si));
        if (c.Faulted) return false;
        E.Set(c, Reg.Rax, v);
        si = (si + delta) & am;
        return true;
    }
}

internal struct StrScas : IStringOp
{
    public static bool Compares => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Step<E>(Cpu c, ref Insn i, ref ulong si, ref ulong di, ulong am, ulong delta) where E : struct, ISize
    {
        ulong m = E.Load(c, c.SegLinear(Seg.Es, di));
        if (c.Faulted) return false;
        ulong a = E.Get(c, Reg.Rax);
        c.SetLazy(FlagOp.Sub, a, m, (a - m) & E.Mask, E.Bits);
        di = (di + delta) & am;
        return true;
    }
}

internal struct StrCmps : IStringOp
{
    public static bool Compares => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Step<E>(Cpu c, ref Insn i, ref ulong si, ref ulong di, ulong am, ulong delta) where E : struct, ISize
    {
        ulong a = E.Load(c, c.SegLinear(i.Segment, si));
        if (c.Faulted) return false;
        ulong b = E.Load(c, c.SegLinear(Seg.Es, di));
        if (c.Faulted) return false;
        c.SetLazy(FlagOp.Sub, a, b, (a - b) & E.Mask, E.Bits);
        si = (si + delta) & am;
        di = (di + delta) & am;
        return true;
    }
}

/// <summary>
/// MOVS, STOS, LODS, SCAS, CMPS with REP/REPE/REPNE, honouring DF and the address size.
/// Registered as branches: a REP form runs at most <see cref="ChunkIterations"/> elements per
/// execution and leaves RIP on the instruction until the count is exhausted (or the REPE/REPNE
/// condition ends it), so it is interruptible and a fault leaves the registers describing the
/// elements already done, as on hardware. REP MOVS/STOS with DF = 0 in 64-bit mode copy or fill
/// whole pages through host memory when the pages are plain RAM (not MMIO, not decoded code).
/// </summary>
internal static unsafe partial class StringOps
{
    /// <summary>Elements per execution of a REP instruction on the element-by-element path.</summary>
    public const int ChunkIterations = 4096;

    /// <summary>Bytes per execution on the page-at-a-time path.</summary>
    public const int ChunkBytes = 16384;

    public static void Register()
    {
        OpTable.SetBranch(Code.Movsb_m8_m8, &MovsFast<S8>);
        OpTable.SetBranch(Code.Movsw_m16_m16, &Str<StrMovs, S16>);
        OpTable.SetBranch(Code.Movsd_m32_m32, &MovsFast<S32>);
        OpTable.SetBranch(Code.Movsq_m64_m64, &MovsFast<S64>);
        OpTable.SetBranch(Code.Stosb_m8_AL, &StosFast<S8>);
        OpTable.SetBranch(Code.Stosw_m16_AX, &StosFast<S16>);
        OpTable.SetBranch(Code.Stosd_m32_EAX, &StosFast<S32>);
        OpTable.SetBranch(Code.Stosq_m64_RAX, &StosFast<S64>);
        OpTable.SetBranch(Code.Lodsb_AL_m8, &Str<StrLods, S8>);
        OpTable.SetBranch(Code.Lodsw_AX_m16, &Str<StrLods, S16>);
        OpTable.SetBranch(Code.Lodsd_EAX_m32, &Str<StrLods, S32>);
        OpTable.SetBranch(Code.Lodsq_RAX_m64, &Str<StrLods, S64>);
        OpTable.SetBranch(Code.Scasb_AL_m8, &Str<StrScas, S8>);
        OpTable.SetBranch(Code.Scasw_AX_m16, &Str<StrScas, S16>);
        OpTable.SetBranch(Code.Scasd_EAX_m32, &Str<StrScas, S32>);
        OpTable.SetBranch(Code.Scasq_RAX_m64, &Str<StrScas, S64>);
        OpTable.SetBranch(Code.Cmpsb_m8_m8, &Str<StrCmps, S8>);
        OpTable.SetBranch(Code.Cmpsw_m16_m16, &Str<StrCmps, S16>);
        OpTable.SetBranch(Code.Cmpsd_m32_m32, &Str<StrCmps, S32>);
        OpTable.SetBranch(Code.Cmpsq_m64_m64, &Str<StrCmps, S64>);
    }

    /// <summary>The generic string handler: one element, or a chunk of a REP loop.</summary>
    private static void Str<TOp, E>(Cpu c, ref Insn i) where TOp : struct, IStringOp where E : struct, ISize
    {
        int a = i.AddrSize;
        ulong am = IntForms.AddrMask(a);
        ulong delta = c.DF ? (ulong)(-E.Bytes) : (ulong)E.Bytes;
        ulong si = c.R(Reg.Rsi) & am, di = c.R(Reg.Rdi) & am;
        if ((i.Attr & (InsnAttr.Rep | InsnAttr.RepNe)) == 0)
        {
            if (!TOp.Step<E>(c, ref i, ref si, ref di, am, delta)) return;
            IntForms.SetAddrReg(c, Reg.Rsi, a, si);
            IntForms.SetAddrReg(c, Reg.Rdi, a, di);
            c.Rip += i.Len;
            return;
        }
        ulong count = c.R(Reg.Rcx) & am;
        bool done = count == 0;
        bool repne = (i.Attr & InsnAttr.RepNe) != 0;
        // A data breakpoint hit ends the chunk after its iteration: the trap reports RIP at the REP instruction.
        for (int n = 0; n < ChunkIterations && !done && c.DbTrapPending == 0; n++)
        {
            if (!TOp.Step<E>(c, ref i, ref si, ref di, am, delta)) break;
            count--;
            done = count == 0 || (TOp.Compares && c.ZF == repne);
        }
        IntForms.SetAddrReg(c, Reg.Rsi, a, si);
        IntForms.SetAddrReg(c, Reg.Rdi, a, di);
        IntForms.SetAddrReg(c, Reg.Rcx, a, count);
        if (done && !c.Faulted) c.Rip += i.Len;
    }

    /// <summary>
    /// Host pointer for <paramref name="bytes"/> bytes at a linear address within one page, or null
    /// when the frame is not plain RAM (or is code). A translation fault is raised as the element's fault.
    /// </summary>
    private static byte* HostSpan(Cpu c, ulong lin, bool write)
    {
        if (!c.Translate(lin, write ? Cpu.Access.Write : Cpu.Access.Read, c.Cpl == 3, out ulong phys)) return null;
        ulong frame = phys >> 12;
        if (write && c.Memory.IsCode(frame)) return null;
        byte* p = c.Memory.FramePointer(frame);
        return p == null ? null : p + (phys & 0xFFF);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool FastEligible(Cpu c, ref Insn i) =>
        (i.Attr & (InsnAttr.Rep | InsnAttr.RepNe)) != 0 && c.Bitness == 64 && i.AddrSize == 8 && !c.DF
        && !c.DataBreakpointsArmed // element by element, so that data breakpoints see every access
        && !c.Observed; // observed runs report every element through the slow path

    /// <summary>REP MOVS, forward, 64-bit: page-sized memmove where source and destination do not overlap forwards.</summary>
    private static void MovsFast<E>(Cpu c, ref Insn i) where E : struct, ISize
    {
        if (!FastEligible(c, ref i) || i.Segment >= Seg.Fs) { Str<StrMovs, E>(c, ref i); return; }
        ulong count = c.R(Reg.Rcx);
        ulong si = c.R(Reg.Rsi), di = c.R(Reg.Rdi);
        int budget = ChunkBytes;
        while (count != 0 && budget > 0)
        {
            ulong room = Math.Min(0x1000 - (si & 0xFFF), 0x1000 - (di & 0xFFF));
            ulong n = Math.Min(count, room / (ulong)E.Bytes);
            if (n == 0) break; // an element crosses a page: let the generic path do it
            byte* src = HostSpan(c, si, write: false);
            if (c.Faulted) break;
            byte* dst = src == null ? null : HostSpan(c, di, write: true);
            if (c.Faulted) break;
            ulong bytes = n * (ulong)E.Bytes;
            if (dst == null || (dst > src && dst < src + bytes)) break;
            Buffer.MemoryCopy(src, dst, (long)bytes, (long)bytes);
            si += bytes;
            di += bytes;
            count -= n;
            budget -= (int)bytes;
        }
        c.R(Reg.Rsi) = si;
        c.R(Reg.Rdi) = di;
        c.R(Reg.Rcx) = count;
        if (c.Faulted) return;
        if (count == 0) { c.Rip += i.Len; return; }
        if (budget == ChunkBytes) Str<StrMovs, E>(c, ref i); // no progress on the fast path: do a generic chunk
    }

    /// <summary>REP STOS, forward, 64-bit: page-sized fills.</summary>
    private static void StosFast<E>(Cpu c, ref Insn i) where E : struct, ISize
    {
        if (!FastEligible(c, ref i)) { Str<StrStos, E>(c, ref i); return; }
        ulong count = c.R(Reg.Rcx);
        ulong di = c.R(Reg.Rdi);
        ulong v = E.Get(c, Reg.Rax);
        int budget = ChunkBytes;
        while (count != 0 && budget > 0)
        {
            ulong n = Math.Min(count, (0x1000 - (di & 0xFFF)) / (ulong)E.Bytes);
            if (n == 0) break;
            byte* dst = HostSpan(c, di, write: true);
            if (c.Faulted || dst == null) break;
            switch (E.Bytes)
            {
                case 1: new Span<byte>(dst, (int)n).Fill((byte)v); break;
                case 2: new Span<ushort>(dst, (int)n).Fill((ushort)v); break;
                case 4: new Span<uint>(dst, (int)n).Fill((uint)v); break;
                default: new Span<ulong>(dst, (int)n).Fill(v); break;
            }
            ulong bytes = n * (ulong)E.Bytes;
            di += bytes;
            count -= n;
            budget -= (int)bytes;
        }
        c.R(Reg.Rdi) = di;
        c.R(Reg.Rcx) = count;
        if (c.Faulted) return;
        if (count == 0) { c.Rip += i.Len; return; }
        if (budget == ChunkBytes) Str<StrStos, E>(c, ref i);
    }
}
