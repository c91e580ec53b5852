namespace HyperLock.Emulator.Processor;

/// <summary>
/// Linear-to-physical translation: no paging, 32-bit (with PSE), PAE and 4-level IA-32e
/// paging, with U/S, R/W (CR0.WP), NX (EFER.NXE), reserved-bit checks, accessed and dirty
/// bits, #PF error codes and CR2. Successful translations of RAM frames fill the TLB.
/// </summary>
public sealed unsafe partial class Cpu
{
    /// <summary>Physical-address width the CPU reports (CPUID 0x80000008) and checks in page-table entries.</summary>
    public const int MaxPhysAddrBits = 40;
    private const ulong PhysAddrMask = ((1UL << MaxPhysAddrBits) - 1) & ~0xFFFUL;
    private const ulong PteP = 1, PteRw = 2, PteUs = 4, PteA = 1 << 5, PteD = 1 << 6, PtePs = 1 << 7, PteG = 1 << 8;
    private const ulong PteNx = 1UL << 63;

    // #PF error-code bits.
    public const uint PfPresent = 1, PfWrite = 2, PfUser = 4, PfReserved = 8, PfFetch = 16;

    /// <summary>True when linear addresses are 48-bit canonical (bits 63:47 all equal).</summary>
    public static bool IsCanonical(ulong lin) => (ulong)((long)(lin << 16) >> 16) == lin;

    private bool PagingEnabled => (Cr0 & Bits.Cr0Pg) != 0;

    /// <summary>Linear address of the walk in progress (for EPT-violation qualifications).</summary>
    private ulong _walkLinear;

    /// <summary>
    /// Reads a guest paging-structure entry. Under EPT its guest-physical address is translated
    /// first (a read, or a write when EPT A/D flags are on, as the SDM treats such accesses);
    /// on an EPT violation or misconfiguration the VM exit is raised and 0 returned (Faulted set).
    /// </summary>
    private ulong ReadPagingEntry(ulong phys, int size)
    {
        if (EptActive && !EptTranslate(phys, EptAd ? Access.Write : Access.Read, _walkLinear, true, false, out phys)) return 0;
        if (_observer != null) ReportAccess(_walkLinear, phys, size, ObservedAccessKind.PageWalkRead, false);
        return Memory.Read(phys, size);
    }

    private void WritePagingEntry(ulong phys, int size, ulong value)
    {
        if (EptActive && !EptTranslate(phys, Access.Write, _walkLinear, true, false, out phys)) return;
        if (_observer != null) ReportAccess(_walkLinear, phys, size, ObservedAccessKind.PageWalkWrite, false);
        Memory.Write(phys, size, value);
    }

    /// <summary>
    /// Translates a linear address for an access at the given privilege. Raises #GP (non-canonical)
    /// or #PF and returns false on failure; fills the TLB for RAM frames on success.
    /// </summary>
    internal bool Translate(ulong lin, Access access, bool user, out ulong phys)
    {
        if ((Efer & Bits.EferLma) != 0 && !IsCanonical(lin))
        {
            phys = 0;
            RaiseNonCanonical(lin);
            return false;
        }
        bool global = false;
        if (!PagingEnabled)
        {
            phys = (Efer & Bits.EferLma) != 0 ? lin : lin & 0xFFFFFFFF;
        }
        else if (!Walk(lin, access, user, out phys, out global))
        {
            return false;
        }
        if (EptActive && !EptTranslate(phys, access, lin, true, true, out phys)) return false;

        TlbMisses++;
        ulong frame = phys >> 12;
        byte* host = Memory.FramePointer(frame);
        if (host != null && !(access == Access.Write && Memory.IsCode(frame))
            && !(DataBreakpointsArmed && access != Access.Fetch && DataBreakpointOnPage(lin)))
            FillTlb(access, user, lin, frame, (nint)host, global);
        return true;
    }

    /// <summary>Walks the page tables for the current paging mode.</summary>
    private bool Walk(ulong lin, Access access, bool user, out ulong phys, out bool global)
    {
        phys = 0;
        global = false;
        bool write = access == Access.Write;
        bool fetch = access == Access.Fetch;
        bool nxe = (Efer & Bits.EferNxe) != 0;
        // I/D is reported for fetches when SMEP is on, or when NX exists (PAE or 4-level paging with EFER.NXE).
        bool paeLike = (Efer & Bits.EferLma) != 0 || (Cr4 & Bits.Cr4Pae) != 0;
        bool reportFetch = fetch && ((Cr4 & Bits.Cr4Smep) != 0 || (nxe && paeLike));
        uint err = (write ? PfWrite : 0) | (user ? PfUser : 0) | (reportFetch ? PfFetch : 0);
        _walkLinear = lin;
        if (Faulted) return false;

        Span<ulong> entryAddrs = stackalloc ulong[4];
        Span<ulong> entryValues = stackalloc ulong[4]; // as read by the walk: the A/D pass needs no second read
        int levels;
        ulong entry;
        bool writable = true, userOk = true, noExec = false;
        ulong pageBase;
        ulong pageMaskLow; // offset bits within the final page

        if ((Efer & Bits.EferLma) != 0 || (Cr4 & Bits.Cr4Pae) != 0)
        {
            // 4-level paging starts at the PML4 (bits 47:39); PAE paging starts at one of the four
            // PDPTEs (bits 31:30; read each walk, where real CPUs cache them at CR3 load; a PAE guest
            // under EPT uses the ones VM entry loaded from the VMCS, Vmx/GuestPdptes.cs) and then
            // walks the same 8-byte-entry levels from the page directory (bits 29:21).
            ulong table;
            int shift;
            if ((Efer & Bits.EferLma) != 0)
            {
                table = Cr3 & PhysAddrMask;
                shift = 39;
            }
            else
            {
                ulong pdpteAddr = (Cr3 & 0xFFFFFFE0) + (((lin >> 30) & 3) << 3);
                ulong pdpte = _pdptesFromVmcs ? _vmcsPdptes[(lin >> 30) & 3] : ReadPagingEntry(pdpteAddr, 8);
                if (Faulted) return false;
                if ((pdpte & PteP) == 0) return PageFault(lin, err);
                if ((pdpte & 0x1E6) != 0 || (pdpte & ~PhysAddrMask & 0x000FFFFFFFFFF000UL) != 0 || (pdpte & PteNx) != 0)
                    return PageFault(lin, err | PfPresent | PfReserved);
                table = pdpte & PhysAddrMask;
                shift = 21;
            }
            levels = 0;
            for (; ; )
            {
                ulong addr = table + (((lin >> shift) & 0x1FF) << 3);
                entry = ReadPagingEntry(addr, 8);
                if (Faulted) return false;
                entryValues[levels] = entry;
                entryAddrs[levels++] = addr;
                if ((entry & PteP) == 0) return PageFault(lin, err);
                ulong rsvd = entry & ~PhysAddrMask & 0x000FFFFFFFFFF000UL;
                if (!nxe && (entry & PteNx) != 0) rsvd |= 1;
                // At the last level bit 7 is PAT, not a page size.
                bool large = shift > 12 && (entry & PtePs) != 0;
                if (shift == 39 && large) rsvd |= 1;
                if (shift == 30 && large && !Cpuid.Has1GPages) rsvd |= 1;
                if (large) rsvd |= entry & ((1UL << shift) - 1) & ~0x1FFFUL; // bits shift-1 .. 13 must be 0
                if (rsvd != 0) return PageFault(lin, err | PfPresent | PfReserved);
                writable &= (entry & PteRw) != 0;
                userOk &= (entry & PteUs) != 0;
                noExec |= nxe && (entry & PteNx) != 0;
                if (shift == 12 || large)
                {
                    pageMaskLow = (1UL << shift) - 1;
                    pageBase = entry & PhysAddrMask & ~pageMaskLow;
                    global = (entry & PteG) != 0 && (Cr4 & Bits.Cr4Pge) != 0;
                    break;
                }
                table = entry & PhysAddrMask;
                shift -= 9;
            }
        }
        else
        {
            // 32-bit paging, optional 4 MiB pages with CR4.PSE.
            levels = 0;
            ulong table = Cr3 & 0xFFFFF000;
            int shift = 22;
            for (; ; )
            {
                ulong addr = table + (((lin >> shift) & 0x3FF) << 2);
                entry = ReadPagingEntry(addr, 4);
                if (Faulted) return false;
                entryValues[levels] = entry;
                entryAddrs[levels++] = addr;
                if ((entry & PteP) == 0) return PageFault(lin, err);
                writable &= (entry & PteRw) != 0;
                userOk &= (entry & PteUs) != 0;
                bool large = shift == 22 && (entry & PtePs) != 0 && (Cr4 & Bits.Cr4Pse) != 0;
                if (shift == 12 || large)
                {
                    if (large)
                    {
                        pageMaskLow = (1UL << 22) - 1;
                        // PSE-36: bits 20:13 supply physical address bits 39:32.
                        pageBase = (entry & 0xFFC00000UL) | (((entry >> 13) & 0xFF) << 32);
                    }
                    else
                    {
                        pageMaskLow = 0xFFF;
                        pageBase = entry & 0xFFFFF000UL;
                    }
                    global = (entry & PteG) != 0 && (Cr4 & Bits.Cr4Pge) != 0;
                    break;
                }
                table = entry & 0xFFFFF000UL;
                shift = 12;
            }
        }

        // Permission checks on the combined rights of every level.
        if (user && !userOk) return PageFault(lin, err | PfPresent);
        if (write && !writable && (user || (Cr0 & Bits.Cr0Wp) != 0)) return PageFault(lin, err | PfPresent);
        if (fetch && noExec) return PageFault(lin, err | PfPresent);
        if (fetch && !user && userOk && (Cr4 & Bits.Cr4Smep) != 0) return PageFault(lin, err | PfPresent | PfFetch);

        // Accessed on every level, dirty on the leaf for writes.
        int entrySize = (Efer & Bits.EferLma) != 0 || (Cr4 & Bits.Cr4Pae) != 0 ? 8 : 4;
        for (int i = 0; i < levels; i++)
        {
            ulong e = entryValues[i];
            ulong want = e | PteA;
            if (i == levels - 1 && write) want |= PteD;
            if (want != e) WritePagingEntry(entryAddrs[i], entrySize, want);
            if (Faulted) return false;
        }
        _walkPageMask = pageMaskLow; // the TLB notes large pages for INVLPG (Cpu/Tlb.cs)
        phys = pageBase | (lin & pageMaskLow);
        return true;
    }

    private bool PageFault(ulong lin, uint err)
    {
        RaisePageFault(lin, err);
        return false;
    }

    /// <summary>Translates without side effects on fault state; for debuggers, loaders and tests.</summary>
    public bool TryTranslate(ulong lin, bool write, bool user, out ulong phys)
    {
        var saved = SaveFaultState();
        bool ok = Translate(lin, write ? Access.Write : Access.Read, user, out phys);
        RestoreFaultState(saved);
        return ok;
    }
}
