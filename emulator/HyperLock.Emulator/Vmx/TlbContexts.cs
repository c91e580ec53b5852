using HyperLock.Emulator.Processor.Decode;

namespace HyperLock.Emulator.Processor;

/// <summary>
/// A TLB tagged by VMX context, so that VM entries and exits do not flush everything: the
/// root (VPID 0) and each guest context (VPID, EPTP) own a global store and up to
/// <see cref="BanksPerContext"/> PCID banks (a TLB array and a jump cache each, so that
/// address spaces do not evict each other's entries), and one stamp per PCID (Cpu/Tlb.cs), so
/// every flush is O(1). A context is reused only if the paging state it was left in (CR3,
/// paging bits of CR0/CR4/EFER, CS base and code size, EPTP) is unchanged; a bank's or store's
/// write entries are dropped if code was decoded while it was switched out (so stores to new
/// code frames still reach the slow path). Without the "enable VPID" control the SDM's rule
/// applies: entries and exits invalidate VPID-0 mappings of all PCIDs (here: both contexts are
/// flushed, in O(1)). INVEPT and INVVPID drop the saved guest contexts.
/// </summary>
public sealed partial class Cpu
{
    /// <summary>PCIDs of one VMX context that keep their entries apart at once (Linux uses up to 12 with PTI).</summary>
    internal const int BanksPerContext = 8;

    /// <summary>The TLB array and jump cache one PCID of a context fills.</summary>
    private sealed class TlbBank
    {
        public readonly TlbEntry[] Tlb = NewTlbArray();
        public readonly JumpEntry[] Jump = new JumpEntry[2 * JumpCacheSize];
        public int Pcid = -1;
        public ulong LastUse;
        /// <summary><see cref="CodeCache.Decodes"/> when the bank was switched out.</summary>
        public ulong Decodes;
    }

    private sealed class TlbContext
    {
        public readonly TlbBank?[] Banks = new TlbBank?[BanksPerContext];
        public TlbBank? Bank;
        public readonly TlbEntry[] Global = NewTlbArray();
        /// <summary>Per PCID: (Epoch &lt;&lt; 16) | stamp; stale unless its epoch is the current one.</summary>
        public readonly ulong[] PcidStamps = new ulong[PcidCount];
        /// <summary>Advanced to drop every PCID's stamp at once.</summary>
        public ulong Epoch = 1;
        /// <summary>Stamp of the global store; 0 until taken.</summary>
        public int GlobalStamp;
        /// <summary>Hashed large-page regions filled into this context's arrays (Cpu/Tlb.cs).</summary>
        public readonly ulong[] LargeRegions = new ulong[64];
        public PagingKey Key;
        /// <summary><see cref="CodeCache.Decodes"/> when the context was left (for its global store).</summary>
        public ulong Decodes;
        public bool Valid;
        public ushort Vpid;
        public ulong Ept;
        public ulong LastUse;
    }

    private static TlbEntry[] NewTlbArray()
    {
        var a = new TlbEntry[TlbMainLength];
        Array.Fill(a, new TlbEntry { Tag = TlbEntry.Invalid });
        return a;
    }

    private readonly record struct PagingKey(ulong Cr3, ulong Cr0, ulong Cr4, ulong Efer, ulong CsBase, int Bitness, ulong Ept);

    private const int GuestContextCount = 4;
    private readonly TlbContext _rootTlb = new();
    private readonly TlbContext[] _guestTlbs = new TlbContext[GuestContextCount];
    private TlbContext? _activeTlb;
    private ulong _tlbUse;

    /// <summary>Counts full flushes done by VMX context switches (tests, benchmarks).</summary>
    public ulong VmxTlbFlushes;

    private PagingKey CurrentPagingKey() => new(Cr3, Cr0 & (Bits.Cr0Pg | Bits.Cr0Wp | Bits.Cr0Pe),
        Cr4 & (Bits.Cr4Pae | Bits.Cr4Pse | Bits.Cr4Pge | Bits.Cr4Smep | Bits.Cr4Smap | Bits.Cr4Pcide),
        Efer & (Bits.EferNxe | Bits.EferLma), Segs[Seg.Cs].Base, Bitness, EptActive ? EptRoot | (EptAd ? 1UL : 0) : ulong.MaxValue);

    /// <summary>Records the paging state of the context being left (call before its registers change).</summary>
    private void LeaveTlbContext()
    {
        var cur = _activeTlb ?? _rootTlb;
        cur.Key = CurrentPagingKey();
        cur.Valid = true;
    }

    /// <summary>Installs the root context (VM exit) or the guest context for the cached VPID/EPTP (VM entry).</summary>
    private void EnterTlbContext(bool guest, bool flush)
    {
        var cur = ActiveTlbContext;
        TlbContext next = guest ? GuestContext(CurrentVpid, EptActive ? EptRoot : ulong.MaxValue) : _rootTlb;
        if (!ReferenceEquals(cur, next))
        {
            cur.Decodes = Code.Decodes;
            _activeTlb = next;
            _globalTlb = next.Global;
            if (next.Decodes != Code.Decodes) FlushWriteEntries(next.Global);
        }
        next.LastUse = ++_tlbUse;
        if (flush || !next.Valid || next.Key != CurrentPagingKey())
        {
            VmxTlbFlushes++;
            FlushTlb(includeGlobal: true);
        }
        else
        {
            RefreshTlbKeys(); // another context, and perhaps another PCID
        }
        next.Valid = true;
    }

    /// <summary>Makes the bank of <paramref name="pcid"/> in the active context current, taking the least recently used one if it has none.</summary>
    private void SelectTlbBank(TlbContext ctx, int pcid)
    {
        if (_bank != null && ReferenceEquals(ctx.Bank, _bank) && _bank.Pcid == pcid) return;
        TlbBank? bank = null;
        int free = -1;
        for (int k = 0; k < ctx.Banks.Length; k++)
        {
            var b = ctx.Banks[k];
            if (b == null) { if (free < 0) free = k; continue; }
            if (b.Pcid == pcid) { bank = b; break; }
        }
        if (bank == null)
        {
            if (free >= 0) bank = ctx.Banks[free] = new TlbBank { Decodes = Code.Decodes };
            else
            {
                foreach (var b in ctx.Banks)
                    if (bank == null || b!.LastUse < bank.LastUse) bank = b;
            }
            // The victim's entries carry other PCIDs' stamps: they can no longer hit.
            bank!.Pcid = pcid;
        }
        ctx.Bank = bank;
        bank.LastUse = ++_tlbUse;
        if (ReferenceEquals(bank, _bank)) return;
        if (_bank != null) _bank.Decodes = Code.Decodes;
        _bank = bank;
        _tlb = bank.Tlb;
        _jumpCache = bank.Jump;
        if (bank.Decodes != Code.Decodes) FlushWriteEntries(bank.Tlb);
    }

    private TlbContext GuestContext(ushort vpid, ulong ept)
    {
        TlbContext? victim = null;
        foreach (var c in _guestTlbs)
        {
            if (c != null && c.Vpid == vpid && c.Ept == ept) return c;
        }
        for (int k = 0; k < _guestTlbs.Length; k++)
        {
            if (_guestTlbs[k] == null) { victim = _guestTlbs[k] = new TlbContext(); break; }
            if (victim == null || _guestTlbs[k].LastUse < victim.LastUse) victim = _guestTlbs[k];
        }
        victim!.Vpid = vpid;
        victim.Ept = ept;
        victim.Valid = false;
        return victim;
    }

    /// <summary>Invalidates saved guest contexts (INVEPT, INVVPID, VMXOFF).</summary>
    private void InvalidateGuestTlbs()
    {
        foreach (var c in _guestTlbs)
            if (c != null) c.Valid = false;
    }
}
