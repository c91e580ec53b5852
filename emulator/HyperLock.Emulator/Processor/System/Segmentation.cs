using System.Runtime.CompilerServices;

namespace HyperLock.Emulator.Processor;

/// <summary>
/// Segmentation as the legacy modes and 64-bit mode use it: loading segment registers with
/// the protected-mode checks (null selectors, RPL/DPL/CPL, type, presence), the limit check
/// that every data, stack and string access makes outside 64-bit mode, and the checks a far
/// transfer makes on its target code segment.
/// </summary>
/// <remarks>
/// Limit checks see only the first byte of an access and not whether it reads or writes
/// (the address computation that calls them knows neither); writes to read-only data
/// segments and reads of execute-only code segments are therefore not faulted.
/// </remarks>
public sealed partial class Cpu
{
    /// <summary>
    /// The linear address returned for an access that failed its segment check: non-canonical
    /// and above 4 GiB, so it never hits the TLB, and the slow paths do nothing once
    /// <see cref="Faulted"/> is set.
    /// </summary>
    internal const ulong SegmentFaultLinear = 0x8000_0000_0000_0000UL;

    /// <summary>Protected mode and not virtual-8086 mode: descriptors are used.</summary>
    public bool ProtectedMode => (Cr0 & Bits.Cr0Pe) != 0 && (RflagsRest & Bits.Vm) == 0;

    /// <summary>IA-32e mode is active (EFER.LMA).</summary>
    public bool LongModeActive => (Efer & Bits.EferLma) != 0;

    /// <summary>The selector part of an error code: index and TI, RPL cleared.</summary>
    internal static uint SelectorError(ushort selector) => (uint)(selector & 0xFFFC);

    /// <summary>
    /// Segment base plus offset outside 64-bit mode, after the limit check (expand-up and
    /// expand-down). A violation raises #SS(0) for SS and #GP(0) otherwise.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ulong SegmentCheck(int segment, ulong offset)
    {
        ref SegmentRegister s = ref Segs[segment];
        // Usable, not expand-down data: only the upper limit matters.
        uint a = s.Attributes;
        if ((a & SegmentRegister.AttrUnusable) == 0 && (a & 0x1C) != 0x14 && offset <= s.Limit)
            return (s.Base + offset) & 0xFFFFFFFF;
        return SegmentCheckSlow(segment, offset);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private ulong SegmentCheckSlow(int segment, ulong offset)
    {
        ref SegmentRegister s = ref Segs[segment];
        bool ok;
        if ((s.Attributes & SegmentRegister.AttrUnusable) != 0)
            ok = (Cr0 & Bits.Cr0Pe) == 0; // real mode ignores the cache's validity
        else if ((s.Attributes & 0x1C) == 0x14)
            ok = offset > s.Limit && offset <= (s.DefaultBig ? 0xFFFFFFFFUL : 0xFFFFUL);
        else
            ok = offset <= s.Limit;
        if (ok) return (s.Base + offset) & 0xFFFFFFFF;
        RaiseFault(segment == Seg.Ss ? Vector.SS : Vector.GP, 0);
        return SegmentFaultLinear;
    }

    /// <summary>Reads a descriptor, raising <paramref name="vector"/>(selector) when it lies outside its table.</summary>
    internal bool FetchDescriptor(ushort selector, int vector, out ulong descriptor, out ulong address)
    {
        if (TryReadDescriptor(selector, out descriptor, out address)) return true;
        if (!Faulted) RaiseFault(vector, SelectorError(selector));
        return false;
    }

    /// <summary>Sets the accessed bit of a code or data descriptor in memory (a locked write on hardware).</summary>
    internal void SetAccessedBit(ulong address, ulong descriptor)
    {
        if ((descriptor & (1UL << 40)) != 0) return;
        WriteLinear(address + 5, 1, ((descriptor >> 40) & 0xFF) | 1, user: false);
    }

    internal static int DescDpl(ulong d) => (int)((d >> 45) & 3);
    internal static bool DescPresent(ulong d) => ((d >> 47) & 1) != 0;
    internal static bool DescIsSegment(ulong d) => ((d >> 44) & 1) != 0; // S: code/data, not system
    internal static int DescType(ulong d) => (int)((d >> 40) & 0xF);
    internal static bool DescIsCode(ulong d) => DescIsSegment(d) && (DescType(d) & 8) != 0;

    /// <summary>Real-mode and virtual-8086 segment load: base = selector × 16.</summary>
    private void LoadRealSegment(int seg, ushort selector)
    {
        ref SegmentRegister s = ref Segs[seg];
        if ((RflagsRest & Bits.Vm) != 0)
        {
            s = SegmentRegister.RealMode(selector, seg == Seg.Cs);
            s.Attributes |= 3 << 5;
            return;
        }
        // Real mode keeps the cached limit and attributes (so "unreal mode" works) but makes the register usable.
        s.Selector = selector;
        s.Base = (ulong)selector << 4;
        s.Attributes = (s.Attributes & ~SegmentRegister.AttrUnusable) | SegmentRegister.AttrPresent | SegmentRegister.AttrS;
    }

    /// <summary>
    /// MOV/POP/LxS to DS, ES, FS, GS or SS with every protected-mode check. Returns false,
    /// with the fault raised, when the load is refused; the register is then unchanged.
    /// </summary>
    public bool LoadSegment(int seg, ushort selector)
    {
        if (!ProtectedMode)
        {
            LoadRealSegment(seg, selector);
            return true;
        }
        int rpl = selector & 3;
        if ((selector & 0xFFFC) == 0)
        {
            if (seg == Seg.Ss)
            {
                // A null SS is legal only in 64-bit mode below CPL 3, with RPL = CPL.
                if (!In64BitMode || Cpl == 3 || rpl != Cpl) { RaiseGp(0); return false; }
                Segs[Seg.Ss] = new SegmentRegister { Selector = selector, Attributes = SegmentRegister.AttrUnusable | ((uint)Cpl << 5) };
                return true;
            }
            Segs[seg] = NullSegment(selector);
            return true;
        }
        if (!FetchDescriptor(selector, Vector.GP, out ulong d, out ulong addr)) return false;
        int dpl = DescDpl(d), type = DescType(d);
        bool code = (type & 8) != 0;
        if (seg == Seg.Ss)
        {
            bool writableData = DescIsSegment(d) && !code && (type & 2) != 0;
            if (rpl != Cpl || !writableData || dpl != Cpl) { RaiseGp(SelectorError(selector)); return false; }
            if (!DescPresent(d)) { RaiseFault(Vector.SS, SelectorError(selector)); return false; }
        }
        else
        {
            if (!DescIsSegment(d) || (code && (type & 2) == 0)) { RaiseGp(SelectorError(selector)); return false; }
            bool conformingCode = code && (type & 4) != 0;
            if (!conformingCode && (rpl > dpl || Cpl > dpl)) { RaiseGp(SelectorError(selector)); return false; }
            if (!DescPresent(d)) { RaiseFault(Vector.NP, SelectorError(selector)); return false; }
        }
        SetAccessedBit(addr, d);
        if (Faulted) return false;
        var s = DecodeDescriptor(selector, d);
        s.Attributes |= SegmentRegister.AttrAccessed;
        Segs[seg] = s;
        return true;
    }

    /// <summary>
    /// Checks a far JMP/CALL target code segment (no gates) and returns its decoded cache, or
    /// false with #GP/#NP raised. <paramref name="offset"/> is checked against the limit (outside
    /// 64-bit targets) or for canonical form (64-bit targets).
    /// </summary>
    internal bool CheckFarTarget(ushort selector, ulong d, ulong addr, ulong offset, out SegmentRegister cs)
    {
        cs = default;
        int rpl = selector & 3, dpl = DescDpl(d), type = DescType(d);
        if (!DescIsCode(d)) { RaiseGp(SelectorError(selector)); return false; }
        bool conforming = (type & 4) != 0;
        if (conforming ? dpl > Cpl : (rpl > Cpl || dpl != Cpl)) { RaiseGp(SelectorError(selector)); return false; }
        if (!DescPresent(d)) { RaiseFault(Vector.NP, SelectorError(selector)); return false; }
        cs = DecodeDescriptor(selector, d);
        if (LongModeActive && cs.Long && cs.DefaultBig) { RaiseGp(SelectorError(selector)); return false; }
        if (!CheckCodeOffset(cs, offset)) return false;
        SetAccessedBit(addr, d);
        if (Faulted) return false;
        cs.Attributes |= SegmentRegister.AttrAccessed;
        return true;
    }

    /// <summary>#GP(0) unless the offset fits the code segment (limit, or canonical form in 64-bit code).</summary>
    internal bool CheckCodeOffset(in SegmentRegister cs, ulong offset)
    {
        bool ok = LongModeActive && cs.Long ? IsCanonical(offset) : offset <= cs.Limit;
        if (!ok) RaiseGp(0);
        return ok;
    }

    /// <summary>
    /// After a return to an outer privilege level: DS, ES, FS and GS holding data or
    /// non-conforming code segments more privileged than the new CPL become null.
    /// </summary>
    internal void NullifyInaccessibleSegments()
    {
        for (int s = 0; s < Seg.Count; s++)
        {
            if (s == Seg.Cs || s == Seg.Ss) continue;
            ref SegmentRegister r = ref Segs[s];
            if ((r.Attributes & SegmentRegister.AttrUnusable) != 0) continue;
            bool conformingCode = (r.Type & 0xC) == 0xC;
            if (!conformingCode && r.Dpl < Cpl) r = NullSegment(0);
        }
    }

    /// <summary>Validates a stack segment selector for a privilege change to <paramref name="cpl"/> (IRET, RETF, gates).</summary>
    internal bool CheckStackSegment(ushort selector, int cpl, int faultVector, bool allowNull, out SegmentRegister ss)
    {
        ss = default;
        if ((selector & 0xFFFC) == 0)
        {
            // IA-32e mode lets a null SS be loaded for CPL 0-2 when returning to 64-bit code.
            if (allowNull && LongModeActive && cpl != 3 && (selector & 3) == cpl)
            {
                ss = new SegmentRegister { Selector = selector, Attributes = SegmentRegister.AttrUnusable | ((uint)cpl << 5) };
                return true;
            }
            RaiseFault(faultVector, 0);
            return false;
        }
        if (!FetchDescriptor(selector, faultVector, out ulong d, out ulong addr)) return false;
        int type = DescType(d);
        bool writableData = DescIsSegment(d) && (type & 8) == 0 && (type & 2) != 0;
        if ((selector & 3) != cpl || !writableData || DescDpl(d) != cpl) { RaiseFault(faultVector, SelectorError(selector)); return false; }
        if (!DescPresent(d)) { RaiseFault(Vector.SS, SelectorError(selector)); return false; }
        SetAccessedBit(addr, d);
        if (Faulted) return false;
        ss = DecodeDescriptor(selector, d);
        ss.Attributes |= SegmentRegister.AttrAccessed;
        return true;
    }
}
