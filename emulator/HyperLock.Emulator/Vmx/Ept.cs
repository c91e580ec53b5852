using HyperLock.Emulator.Vmx;

namespace HyperLock.Emulator.Processor;

/// <summary>
/// Extended page tables (SDM Vol. 3 §29.3): the 4-level guest-physical → host-physical walk
/// with read/write/execute permissions, execute-only pages, 2 MiB and 1 GiB pages, memory-type
/// and reserved-bit misconfigurations, accessed/dirty flags (EPTP bit 6), and the EPT
/// violation qualification. Translations are cached in the ordinary TLB as linear → host
/// frame; the TLB is flushed on VM entry and exit, INVEPT and INVVPID.
/// </summary>
public sealed partial class Cpu
{
    private const ulong EptR = 1, EptW = 2, EptX = 4, EptLarge = 1 << 7, EptA = 1 << 8, EptD = 1 << 9;
    private const ulong EptAddrMask = ((1UL << MaxPhysAddrBits) - 1) & ~0xFFFUL;

    /// <summary>Counts EPT walks (tests, benchmarks).</summary>
    public ulong EptWalks;

    /// <summary>
    /// Translates a guest-physical address. On failure raises the EPT-violation or
    /// misconfiguration VM exit (deferred, like a fault) and returns false.
    /// </summary>
    /// <param name="linearValid">The access has a guest-linear address (<paramref name="linear"/>).</param>
    /// <param name="finalAccess">The access is to the translated linear address (not to a guest paging-structure entry).</param>
    internal bool EptTranslate(ulong gpa, Access access, ulong linear, bool linearValid, bool finalAccess, out ulong hpa)
    {
        EptWalks++;
        hpa = 0;
        ulong table = EptRoot;
        bool write = access == Access.Write;
        ulong perms = EptR | EptW | EptX;
        Span<ulong> addrs = stackalloc ulong[4];
        int levels = 0;
        if ((gpa >> MaxPhysAddrBits) != 0) return EptViolation(gpa, access, 0, linear, linearValid, finalAccess);
        for (int shift = 39; ; shift -= 9)
        {
            ulong addr = table + (((gpa >> shift) & 0x1FF) << 3);
            ulong e = Memory.Read(addr, 8);
            addrs[levels++] = addr;
            if ((e & 7) == 0) return EptViolation(gpa, access, 0, linear, linearValid, finalAccess);
            if ((e & 3) == EptW) return EptMisconfig(gpa);
            if ((e & ~EptAddrMask & 0x000FFFFFFFFFF000UL) != 0) return EptMisconfig(gpa);
            bool large = (e & EptLarge) != 0;
            bool leaf = shift == 12 || large;
            if (shift == 39 && (e & 0xF8) != 0) return EptMisconfig(gpa);
            if (!leaf && (e & 0x78) != 0) return EptMisconfig(gpa);
            if (leaf)
            {
                ulong mt = (e >> 3) & 7;
                if (mt is 2 or 3 or 7) return EptMisconfig(gpa);
                if (large && (e & (((1UL << shift) - 1) & ~0xFFFUL)) != 0) return EptMisconfig(gpa);
            }
            perms &= e & 7;
            if (leaf)
            {
                bool ok = access switch
                {
                    Access.Write => (perms & EptW) != 0,
                    Access.Fetch => (perms & EptX) != 0,
                    _ => (perms & EptR) != 0,
                };
                if (!ok) return EptViolation(gpa, access, perms, linear, linearValid, finalAccess);
                if (EptAd)
                {
                    for (int k = 0; k < levels; k++)
                    {
                        ulong v = Memory.Read(addrs[k], 8);
                        ulong want = v | EptA;
                        if (k == levels - 1 && write) want |= EptD;
                        if (want != v) Memory.Write(addrs[k], 8, want);
                    }
                }
                ulong low = (1UL << shift) - 1;
                hpa = (e & EptAddrMask & ~low) | (gpa & low);
                return true;
            }
            table = e & EptAddrMask;
        }
    }

    private bool EptViolation(ulong gpa, Access access, ulong perms, ulong linear, bool linearValid, bool finalAccess)
    {
        ulong qual = access switch { Access.Write => 2UL, Access.Fetch => 4UL, _ => 1UL };
        // A guest paging-structure access reads the entry; one that writes it (setting accessed or
        // dirty flags, or any access while EPT A/D flags are on) reports both read and write (SDM §28.2.1).
        if (linearValid && !finalAccess && access == Access.Write) qual = 3;
        qual |= (perms & 7) << 3;
        if (linearValid)
        {
            qual |= 1UL << 7;
            if (finalAccess) qual |= 1UL << 8;
        }
        bool fresh = !Faulted;
        RaiseVmExitRaw(ExitReason.EptViolation, qual, 0, 0);
        if (fresh)
        {
            _xGuestPhys = gpa;
            _xHasPhys = true;
            _xGuestLinear = linear;
            _xHasLinear = linearValid;
        }
        return false;
    }

    /// <summary>
    /// Translates a guest-physical address without side effects (no A/D flags, no VM exit):
    /// false when the EPT does not map it readable. For state the processor saves (guest PDPTEs at VM exit).
    /// </summary>
    internal bool EptPeek(ulong gpa, out ulong hpa)
    {
        hpa = 0;
        if ((gpa >> MaxPhysAddrBits) != 0) return false;
        ulong table = EptRoot;
        for (int shift = 39; ; shift -= 9)
        {
            ulong e = Memory.Read(table + (((gpa >> shift) & 0x1FF) << 3), 8);
            if ((e & EptR) == 0) return false;
            if (shift == 12 || (shift < 39 && (e & EptLarge) != 0))
            {
                ulong low = (1UL << shift) - 1;
                hpa = (e & EptAddrMask & ~low) | (gpa & low);
                return true;
            }
            table = e & EptAddrMask;
        }
    }

    private bool EptMisconfig(ulong gpa)
    {
        bool fresh = !Faulted;
        RaiseVmExitRaw(ExitReason.EptMisconfig, 0, 0, 0);
        if (fresh)
        {
            _xGuestPhys = gpa;
            _xHasPhys = true;
        }
        return false;
    }

    /// <summary>INVEPT: drops EPT-derived translations (<paramref name="eptRoot"/> = all ones: every context).</summary>
    internal void InvalidateEpt(ulong eptRoot)
    {
        _ = eptRoot;
        InvalidateGuestTlbs();
        if (InNonRoot) FlushTlb(includeGlobal: true);
    }

    /// <summary>INVVPID: drops translations tagged with a VPID (-1: all) or one address of it.</summary>
    internal void InvalidateVpid(int vpid, ulong address)
    {
        _ = vpid;
        _ = address;
        InvalidateGuestTlbs();
        if (InNonRoot) FlushTlb(includeGlobal: true);
    }
}
