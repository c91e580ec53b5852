using HyperLock.Emulator.Cpu.Decode;

namespace HyperLock.Emulator.Cpu;

/// <summary>
/// A TLB tagged by VMX context, so that VM entries and exits do not flush everything: the
/// root (VPID 0) and each guest context (VPID, EPTP) own a TLB array and a jump cache, swapped in
/// at entry and exit, and within them one stamp per PCID (Cpu/Tlb.cs), so every flush is O(1). A context's arrays are reused only if the paging state they were filled
/// under (CR3, paging bits of CR0/CR4/EFER, CS base and code size, EPTP) is unchanged, and its
/// write entries are dropped if code was decoded while it was switched out (so stores to new
/// code frames still reach the slow path). Without the "enable VPID" control the SDM's rule
/// applies: entries and exits invalidate VPID-0 mappings (here: both contexts are flushed).
/// INVEPT and INVVPID drop the saved guest contexts.
/// </summary>
public sealed partial class Cpu
{
    private sealed class TlbContext
    {
        public TlbEntry[]? Tlb;
        public JumpEntry[]? Jump;
        /// <summary>Per PCID: (Epoch &lt;&lt; 16) | stamp; stale unless its epoch is the current one.</summary>
        public readonly ulong[] PcidStamps = new ulong[PcidCount];
        /// <summary>Advanced to drop every PCID's stamp at once.</summary>
        public ulong Epoch = 1;
        /// <summary>Stamp of the global store; 0 until taken.</summary>
        public int GlobalStamp;
        /// <summary>Hashed large-page regions filled into this context's arrays (Cpu/Tlb.cs).</summary>
        public readonly ulong[] LargeRegions = new ulong[64];
        public PagingKey Key;
        public ulong Decodes;
        public bool Valid;
        public ushort Vpid;
        public ulong Ept;
        public ulong LastUse;
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
        var cur = _activeTlb ?? _rootTlb;
        TlbContext next = guest ? GuestContext(CurrentVpid, EptActive ? EptRoot : ulong.MaxValue) : _rootTlb;
        if (!ReferenceEquals(cur, next))
        {
            cur.Tlb = _tlb;
            cur.Jump = _jumpCache;
            cur.Decodes = Code.Decodes;
            if (next.Tlb == null)
            {
                next.Tlb = new TlbEntry[_tlb.Length];
                next.Jump = new JumpEntry[_jumpCache.Length];
                next.Valid = false;
            }
            _tlb = next.Tlb;
            _jumpCache = next.Jump!;
            next.Tlb = null;
            next.Jump = null;
            _activeTlb = next;
        }
        next.LastUse = ++_tlbUse;
        if (flush || !next.Valid || next.Key != CurrentPagingKey())
        {
            VmxTlbFlushes++;
            FlushTlb(includeGlobal: true);
        }
        else
        {
            if (next.Decodes != Code.Decodes) FlushWriteTlb();
            RefreshTlbKeys(); // another context, and perhaps another PCID
        }
        next.Valid = true;
        next.Decodes = Code.Decodes;
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
