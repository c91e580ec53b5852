using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace HyperLock.Emulator.Cpu;

/// <summary>One software-TLB entry: a linear page number and the host pointer of its frame.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct TlbEntry
{
    /// <summary>Linear page number (address >> 12); <see cref="Invalid"/> when empty.</summary>
    public ulong Tag;
    /// <summary>Host address of the frame's first byte.</summary>
    public nint Host;
    /// <summary>Physical frame number (for code-page checks and diagnostics).</summary>
    public ulong Frame;
    /// <summary>The translation came from a global page (survives CR3 loads while CR4.PGE = 1).</summary>
    public bool Global;

    public const ulong Invalid = ulong.MaxValue;
}

/// <summary>
/// The TLB: direct-mapped, separate for reads, writes and fetches, and for supervisor and
/// user privilege, so that a hit needs no permission check. Only RAM frames are cached;
/// MMIO always takes the slow path. Writes are cached only for frames holding no decoded
/// code. Invalidation follows the architecture: CR3 loads drop non-global entries, INVLPG
/// and paging-mode changes drop everything (dropping more than required is always allowed).
/// </summary>
public sealed partial class Cpu
{
    internal const int TlbBits = 8;
    internal const int TlbSize = 1 << TlbBits;
    internal const int TlbMask = TlbSize - 1;

    internal enum Access { Read = 0, Write = 1, Fetch = 2 }

    // [access][user] sets, TlbSize entries each.
    // Not readonly: VMX swaps in the TLB of the context it enters (Vmx/TlbContexts.cs).
    private TlbEntry[] _tlb = new TlbEntry[3 * 2 * TlbSize];
    private int _readSet, _writeSet, _fetchSet;

    /// <summary>Counts TLB refills, for benchmarks and tests.</summary>
    public ulong TlbMisses;

    private void InitTlb()
    {
        SelectTlbSet();
        FlushTlb(includeGlobal: true);
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

    /// <summary>Drops cached translations; global ones only when asked (CR4.PGE semantics).</summary>
    public void FlushTlb(bool includeGlobal)
    {
        for (int i = 0; i < _tlb.Length; i++)
        {
            if (includeGlobal || !_tlb[i].Global) _tlb[i] = new TlbEntry { Tag = TlbEntry.Invalid };
        }
        FlushJumpCache();
    }

    /// <summary>Drops every write entry (a frame became a code frame).</summary>
    private void FlushWriteTlb()
    {
        for (int set = 0; set < 2; set++)
        {
            int start = ((int)Access.Write * 2 + set) * TlbSize;
            for (int i = 0; i < TlbSize; i++) _tlb[start + i] = new TlbEntry { Tag = TlbEntry.Invalid };
        }
    }

    /// <summary>INVLPG: we drop the whole TLB, which the architecture permits.</summary>
    public void InvalidatePage(ulong linear)
    {
        _ = linear;
        FlushTlb(includeGlobal: true);
    }

    private void FillTlb(Access access, bool user, ulong linear, ulong frame, nint host, bool global)
    {
        int set = ((int)access * 2 + (user ? 1 : 0)) * TlbSize;
        ref TlbEntry e = ref TlbSlot(set, linear >> 12);
        e.Tag = linear >> 12;
        e.Host = host;
        e.Frame = frame;
        e.Global = global;
    }
}
