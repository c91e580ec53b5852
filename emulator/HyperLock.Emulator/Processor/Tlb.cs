using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace HyperLock.Emulator.Processor;

/// <summary>One software-TLB entry: a tagged linear page number and the host pointer of its frame.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct TlbEntry
{
    /// <summary>
    /// Linear page number (address >> 12, bits 51:0) with the stamp of the context that filled it
    /// in bits 63:52; <see cref="Invalid"/> when empty.
    /// </summary>
    public ulong Tag;
    /// <summary>Host address of the frame's first byte.</summary>
    public nint Host;
    /// <summary>Physical frame number (for code-page checks and diagnostics).</summary>
    public ulong Frame;

    public const ulong Invalid = ulong.MaxValue;
}

/// <summary>
/// The TLB: direct-mapped, separate for reads, writes and fetches, and for supervisor and
/// user privilege, so that a hit needs no permission check. Only RAM frames are cached;
/// MMIO always takes the slow path. Writes are cached only for frames holding no decoded
/// code.
/// <para>
/// Flushes are O(1): every entry's tag carries a 12-bit stamp, and an entry hits only if its
/// stamp is the current one. Each (VMX context, PCID) pair owns a stamp; flushing it takes a
/// fresh stamp, so the old entries simply stop matching (and entries of other PCIDs stay, which
/// is what CR3 loads with PCIDs need). When the 4,094 stamps run out every array is cleared
/// once and numbering restarts. Global translations are also kept in a second store with the
/// context's global stamp, which non-global flushes leave alone: a main-TLB miss that finds the
/// page there copies it back without a walk. INVLPG drops the page's entries in both stores
/// (the jump cache is re-stamped, also O(1)); when the address lies in a region once filled
/// from a large page, whose 4 KiB pieces sit in many slots, it drops the whole PCID instead
/// (dropping more than required is always allowed).
/// </para>
/// </summary>
public sealed partial class Cpu
{
    internal const int TlbBits = 8;
    internal const int TlbSize = 1 << TlbBits;
    internal const int TlbMask = TlbSize - 1;
    /// <summary>Entries of one TLB array (and of a global store).</summary>
    internal const int TlbMainLength = 3 * 2 * TlbSize;

    private const int StampShift = 52;
    private const ulong PageTagMask = (1UL << StampShift) - 1;
    /// <summary>Stamps run 1..MaxStamp; 0 is never used (fresh arrays are zero) nor 0xFFF (all-ones = Invalid).</summary>
    internal const int MaxStamp = 4094;
    private const int PcidCount = 4096;

    internal enum Access { Read = 0, Write = 1, Fetch = 2 }

    // [access][user] sets, TlbSize entries each: the array of the current PCID bank, and the
    // global store (same layout) of the current VMX context (Vmx/TlbContexts.cs).
    private TlbEntry[] _tlb = NewTlbArray();
    private TlbEntry[] _globalTlb = NewTlbArray();
    private TlbBank? _bank;
    private int _readSet, _writeSet, _fetchSet;

    /// <summary>Stamp of the current (context, PCID) in bits 63:52: OR-ed into the page number to form the tag.</summary>
    private ulong _tlbKey;
    /// <summary>Stamp of the current context's global store, in the same position.</summary>
    private ulong _globalKey;
    /// <summary>Jump-cache key: <see cref="_tlbKey"/> plus an epoch that INVLPG advances.</summary>
    private ulong _jumpKey;
    private ulong _jumpEpoch = 1;
    private int _nextStamp = 1;

    /// <summary>Counts TLB refills (page walks, or translations with paging off), for benchmarks and tests.</summary>
    public ulong TlbMisses;

    /// <summary>Counts wrap-arounds of the stamp counter, each of which cleared every TLB array once.</summary>
    public ulong TlbResets;

    /// <summary>Page-size mask (offset bits) of the last successful walk; set by <see cref="Walk"/>.</summary>
    private ulong _walkPageMask = 0xFFF;

    private void InitTlb()
    {
        SelectTlbSet();
        _globalTlb = _rootTlb.Global;
        ResetAllTlbs();
        RefreshTlbKeys();
    }

    private void SelectTlbSet()
    {
        int user = Cpl == 3 ? 1 : 0;
        _readSet = ((int)Access.Read * 2 + user) * TlbSize;
        _writeSet = ((int)Access.Write * 2 + user) * TlbSize;
        _fetchSet = ((int)Access.Fetch * 2 + user) * TlbSize;
        _jumpBase = user * JumpCacheSize;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref TlbEntry TlbSlot(int set, ulong page) =>
        ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_tlb), set + (int)(page & TlbMask));

    /// <summary>The tag a TLB entry for <paramref name="lin"/> has in the current context.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong TlbTag(ulong lin) => (lin >> 12) | _tlbKey;

    /// <summary>The PCID translations are tagged with now: CR3[11:0] with CR4.PCIDE, else 0.</summary>
    public int CurrentPcid => (Cr4 & Bits.Cr4Pcide) != 0 ? (int)(Cr3 & 0xFFF) : 0;

    private TlbContext ActiveTlbContext => _activeTlb ?? _rootTlb;

    /// <summary>
    /// Drops cached translations of the current VMX context: with <paramref name="includeGlobal"/>
    /// every PCID's and the global ones (paging-mode changes, CR4.PGE, INVPCID type 2), otherwise
    /// only the current PCID's non-global ones (MOV to CR3).
    /// </summary>
    public void FlushTlb(bool includeGlobal)
    {
        if (includeGlobal) FlushAllPcids(includeGlobal: true);
        else FlushPcid(CurrentPcid);
    }

    /// <summary>Drops the non-global translations of one PCID (INVPCID type 1, MOV to CR3 without no-flush). O(1).</summary>
    public void FlushPcid(int pcid)
    {
        ActiveTlbContext.PcidStamps[pcid & 0xFFF] = 0;
        RefreshTlbKeys();
    }

    /// <summary>Drops the translations of every PCID, and the global ones when asked (INVPCID types 2 and 3). O(1).</summary>
    public void FlushAllPcids(bool includeGlobal)
    {
        var ctx = ActiveTlbContext;
        ctx.Epoch++;
        if (includeGlobal)
        {
            ctx.GlobalStamp = 0;
            Array.Clear(ctx.LargeRegions); // nothing of this context is left
        }
        RefreshTlbKeys();
    }

    /// <summary>INVLPG: drops the page's translations for the current PCID and its global ones.</summary>
    public void InvalidatePage(ulong linear) => InvalidateAddress(linear, CurrentPcid, includeGlobal: true);

    /// <summary>
    /// Drops the translations of one page (INVLPG, INVPCID type 0). Entries for the page in other
    /// PCIDs share its slots and go too (allowed). The jump cache is re-stamped.
    /// </summary>
    public void InvalidateAddress(ulong linear, int pcid, bool includeGlobal)
    {
        var ctx = ActiveTlbContext;
        if (InLargeRegion(ctx, linear))
        {
            ctx.PcidStamps[pcid & 0xFFF] = 0;
            if (includeGlobal) ctx.GlobalStamp = 0;
        }
        else
        {
            ulong page = (linear >> 12) & PageTagMask;
            foreach (var bank in ctx.Banks)
                if (bank != null) InvalidateSlots(bank.Tlb, page);
            if (includeGlobal) InvalidateSlots(ctx.Global, page);
        }
        _jumpEpoch++;
        RefreshTlbKeys();
    }

    private static void InvalidateSlots(TlbEntry[] tlb, ulong page)
    {
        int index = (int)(page & TlbMask);
        for (int set = 0; set < TlbMainLength; set += TlbSize)
        {
            ref TlbEntry e = ref tlb[set + index];
            if ((e.Tag & PageTagMask) == page) e.Tag = TlbEntry.Invalid;
        }
    }

    /// <summary>Drops every write entry of the current bank and global store (a frame became a code frame).</summary>
    private void FlushWriteTlb()
    {
        FlushWriteEntries(_tlb);
        FlushWriteEntries(_globalTlb);
    }

    private static void FlushWriteEntries(TlbEntry[] tlb) =>
        Array.Fill(tlb, new TlbEntry { Tag = TlbEntry.Invalid }, (int)Access.Write * 2 * TlbSize, 2 * TlbSize);

    private void FillTlb(Access access, bool user, ulong lin, ulong frame, nint host, bool global)
    {
        if (_observer != null) return; // observed runs take the slow path for every access
        if (global && _globalKey == 0) TakeGlobalStamp(); // may renumber stamps: before any tag is written
        int set = ((int)access * 2 + (user ? 1 : 0)) * TlbSize;
        ulong page = lin >> 12;
        ref TlbEntry e = ref TlbSlot(set, page);
        e.Tag = page | _tlbKey;
        e.Host = host;
        e.Frame = frame;
        if (global && _globalKey != 0)
        {
            ref TlbEntry g = ref _globalTlb[set + (int)(page & TlbMask)];
            g.Tag = page | _globalKey;
            g.Host = host;
            g.Frame = frame;
        }
        if (_walkPageMask != 0xFFF && PagingEnabled) MarkLargeRegion(ActiveTlbContext, lin, _walkPageMask);
    }

    /// <summary>
    /// A main-TLB miss: looks in the global store, which survives non-global flushes, and copies
    /// a hit back into the main TLB. Saves the walk for kernel pages after a CR3 load.
    /// </summary>
    private bool GlobalTlbHit(ulong lin, Access access, bool user, out ulong phys)
    {
        int set = ((int)access * 2 + (user ? 1 : 0)) * TlbSize;
        ulong page = lin >> 12;
        ref TlbEntry g = ref _globalTlb[set + (int)(page & TlbMask)];
        if (g.Tag != (page | _globalKey))
        {
            phys = 0;
            return false;
        }
        ref TlbEntry e = ref TlbSlot(set, page);
        e.Tag = page | _tlbKey;
        e.Host = g.Host;
        e.Frame = g.Frame;
        phys = (g.Frame << 12) | (lin & 0xFFF);
        return true;
    }

    // ---- stamps ------------------------------------------------------------------------

    /// <summary>Recomputes the keys of the current context and PCID, taking fresh stamps where flushed.</summary>
    private void RefreshTlbKeys()
    {
        var ctx = ActiveTlbContext;
        int pcid = CurrentPcid;
        SelectTlbBank(ctx, pcid);
        int stamp = StampOf(ctx, pcid);
        _tlbKey = (ulong)stamp << StampShift;
        // 0 until the context fills a global entry: no tag in a store has stamp 0, so nothing hits.
        _globalKey = (ulong)ctx.GlobalStamp << StampShift;
        _jumpKey = _tlbKey | _jumpEpoch;
    }

    /// <summary>Gives the active context a global stamp, taken on its first global fill.</summary>
    private void TakeGlobalStamp()
    {
        int stamp = NewStamp(); // may clear everything (and the context's stamps) first
        ActiveTlbContext.GlobalStamp = stamp;
        RefreshTlbKeys();
    }

    private int StampOf(TlbContext ctx, int pcid)
    {
        ulong v = ctx.PcidStamps[pcid];
        if (v != 0 && (v >> 16) == ctx.Epoch) return (int)(v & 0xFFFF);
        int stamp = NewStamp();
        ctx.PcidStamps[pcid] = (ctx.Epoch << 16) | (uint)stamp;
        return stamp;
    }

    private int NewStamp()
    {
        if (_nextStamp > MaxStamp) ResetAllTlbs();
        return _nextStamp++;
    }

    /// <summary>
    /// Clears every TLB array (active and saved) and restarts stamp numbering. Jump caches need
    /// no clearing: their keys include <see cref="_jumpEpoch"/>, advanced here, which never repeats.
    /// </summary>
    private void ResetAllTlbs()
    {
        TlbResets++;
        _nextStamp = 1;
        _jumpEpoch++;
        ClearContext(_rootTlb);
        foreach (var c in _guestTlbs)
            if (c != null) ClearContext(c);
    }

    private static void ClearContext(TlbContext ctx)
    {
        Array.Clear(ctx.PcidStamps);
        Array.Clear(ctx.LargeRegions);
        ctx.Epoch = 1;
        ctx.GlobalStamp = 0;
        Array.Fill(ctx.Global, new TlbEntry { Tag = TlbEntry.Invalid });
        foreach (var bank in ctx.Banks)
        {
            if (bank == null) continue;
            Array.Fill(bank.Tlb, new TlbEntry { Tag = TlbEntry.Invalid });
        }
    }

    // ---- large pages -------------------------------------------------------------------

    // A large page's 4 KiB pieces spread over every slot, so INVLPG cannot find them by index.
    // A bitmap of hashed large-page regions tells INVLPG when it must drop the PCID instead.
    private static int RegionBit(ulong region, int sizeClass) =>
        (int)(((region * 4 + (ulong)sizeClass) * 0x9E3779B97F4A7C15UL) >> 52);

    private static void MarkLargeRegion(TlbContext ctx, ulong lin, ulong pageMask)
    {
        int shift = pageMask == (1UL << 30) - 1 ? 30 : pageMask == (1UL << 22) - 1 ? 22 : 21;
        int bit = RegionBit(lin >> shift, shift);
        ctx.LargeRegions[bit >> 6] |= 1UL << (bit & 63);
    }

    private static bool InLargeRegion(TlbContext ctx, ulong lin)
    {
        return RegionMarked(ctx, lin, 21) || RegionMarked(ctx, lin, 22) || RegionMarked(ctx, lin, 30);
    }

    private static bool RegionMarked(TlbContext ctx, ulong lin, int shift)
    {
        int bit = RegionBit(lin >> shift, shift);
        return (ctx.LargeRegions[bit >> 6] & (1UL << (bit & 63))) != 0;
    }
}
