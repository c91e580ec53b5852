namespace HyperLock.Emulator.Processor;

/// <summary>
/// Architectural writes of CR0, CR3, CR4, CR8 and the debug registers: the #GP checks of
/// MOV to CRn, IA-32e activation and deactivation (CR0.PG with EFER.LME), and the TLB effects.
/// Each returns false with the fault raised when the write is refused. Used by MOV, LMSW and
/// CLTS here, and available to VM entry/exit code that loads the same registers.
/// </summary>
public sealed partial class Cpu
{
    /// <summary>CR0 bits software can change; the others read as they are (ET as 1).</summary>
    public const ulong Cr0Writable = Bits.Cr0Pe | Bits.Cr0Mp | Bits.Cr0Em | Bits.Cr0Ts | Bits.Cr0Ne | Bits.Cr0Wp
        | Bits.Cr0Am | Bits.Cr0Nw | Bits.Cr0Cd | Bits.Cr0Pg;

    /// <summary>
    /// Called after a CR4 write that passed the architectural checks, before it commits;
    /// returning false refuses it (#GP(0)). The VMX model uses it for CR4.VMXE in VMX operation.
    /// </summary>
    public Func<Cpu, ulong, bool>? Cr4WriteFilter { get; set; }

    /// <summary>CR4 bits this CPU accepts: the base set plus those its CPUID profile advertises.</summary>
    public ulong Cr4Supported
    {
        get
        {
            var l1 = Cpuid.Get(1, 0);
            var l7 = Cpuid.Get(7, 0);
            ulong m = Bits.Cr4Tsd | Bits.Cr4Pce | Bits.Cr4Osfxsr | Bits.Cr4Osxmmexcpt;
            if ((l1.Edx & (1u << 1)) != 0) m |= Bits.Cr4Vme | Bits.Cr4Pvi;
            if ((l1.Edx & (1u << 2)) != 0) m |= Bits.Cr4De;
            if ((l1.Edx & (1u << 3)) != 0) m |= Bits.Cr4Pse;
            if ((l1.Edx & (1u << 6)) != 0) m |= Bits.Cr4Pae;
            if ((l1.Edx & (1u << 7)) != 0) m |= Bits.Cr4Mce;
            if ((l1.Edx & (1u << 13)) != 0) m |= Bits.Cr4Pge;
            if ((l1.Ecx & (1u << 5)) != 0) m |= Bits.Cr4Vmxe;
            if ((l1.Ecx & (1u << 17)) != 0) m |= Bits.Cr4Pcide;
            if ((l1.Ecx & (1u << 26)) != 0) m |= Bits.Cr4Osxsave;
            if ((l7.Ebx & (1u << 0)) != 0) m |= Bits.Cr4Fsgsbase;
            if ((l7.Ebx & (1u << 7)) != 0) m |= Bits.Cr4Smep;
            if ((l7.Ebx & (1u << 20)) != 0) m |= Bits.Cr4Smap;
            if ((l7.Ecx & (1u << 2)) != 0) m |= Bits.Cr4Umip;
            return m;
        }
    }

    /// <summary>MOV to CR0.</summary>
    public bool WriteCr0(ulong value)
    {
        if ((value >> 32) != 0) { RaiseGp(0); return false; }
        value = (value & Cr0Writable) | Bits.Cr0Et;
        // In VMX operation the fixed CR0 bits (IA32_VMX_CR0_FIXED0/1) cannot change.
        if (!VmxCrValueAllowed(0, value)) { RaiseGp(0); return false; }
        ulong old = Cr0;
        bool pg = (value & Bits.Cr0Pg) != 0, oldPg = (old & Bits.Cr0Pg) != 0;
        if (pg && (value & Bits.Cr0Pe) == 0) { RaiseGp(0); return false; }
        if ((value & Bits.Cr0Nw) != 0 && (value & Bits.Cr0Cd) == 0) { RaiseGp(0); return false; }
        if (pg && !oldPg && (Efer & Bits.EferLme) != 0)
        {
            // Activating IA-32e mode: PAE paging required, and not from a code segment with L set.
            if ((Cr4 & Bits.Cr4Pae) == 0 || Segs[Seg.Cs].Long) { RaiseGp(0); return false; }
        }
        if (!pg && oldPg && LongModeActive)
        {
            // Leaving IA-32e mode is only possible from compatibility mode.
            if (In64BitMode || (Cr4 & Bits.Cr4Pcide) != 0) { RaiseGp(0); return false; }
        }
        Cr0 = value;
        _pdptesFromVmcs = false; // PAE PDPTEs are reloaded from memory
        if (pg && !oldPg && (Efer & Bits.EferLme) != 0) Efer |= Bits.EferLma;
        if (!pg && oldPg) Efer &= ~Bits.EferLma;
        if (((old ^ value) & (Bits.Cr0Pg | Bits.Cr0Wp | Bits.Cr0Pe)) != 0) FlushTlb(includeGlobal: true);
        UpdateMode();
        return true;
    }

    /// <summary>
    /// MOV to CR3: reserved-bit check in IA-32e mode, then a flush of the non-global translations
    /// of the PCID loaded (PCID 0 without CR4.PCIDE). With CR4.PCIDE, bit 63 set asks for no flush
    /// and is not stored; without it bit 63 is reserved like the other bits above MAXPHYADDR.
    /// </summary>
    public bool WriteCr3(ulong value)
    {
        bool noFlush = false;
        if (LongModeActive)
        {
            if ((Cr4 & Bits.Cr4Pcide) != 0)
            {
                noFlush = (value >> 63) != 0;
                value &= ~(1UL << 63);
            }
            if ((value >> MaxPhysAddrBits) != 0) { RaiseGp(0); return false; }
        }
        else
        {
            value &= 0xFFFFFFFF;
        }
        Cr3 = value;
        _pdptesFromVmcs = false; // PAE PDPTEs are reloaded from memory
        if (noFlush) RefreshTlbKeys(); // switch to the PCID's entries, keeping them
        else FlushPcid(CurrentPcid);
        return true;
    }

    /// <summary>MOV to CR4.</summary>
    public bool WriteCr4(ulong value)
    {
        if ((value & ~Cr4Supported) != 0) { RaiseGp(0); return false; }
        // In VMX operation CR4.VMXE and the other fixed CR4 bits cannot change.
        if (!VmxCrValueAllowed(4, value)) { RaiseGp(0); return false; }
        ulong old = Cr4;
        if (LongModeActive && (value & Bits.Cr4Pae) == 0) { RaiseGp(0); return false; }
        if ((value & Bits.Cr4Pcide) != 0 && (old & Bits.Cr4Pcide) == 0 && (!LongModeActive || (Cr3 & 0xFFF) != 0))
        {
            RaiseGp(0);
            return false;
        }
        if (Cr4WriteFilter != null && !Cr4WriteFilter(this, value)) { RaiseGp(0); return false; }
        Cr4 = value;
        _pdptesFromVmcs = false; // PAE PDPTEs are reloaded from memory
        if (((old ^ value) & Bits.Cr4De) != 0) UpdateDebugState(); // I/O breakpoints need CR4.DE
        const ulong pagingBits = Bits.Cr4Pge | Bits.Cr4Pae | Bits.Cr4Pse | Bits.Cr4Pcide | Bits.Cr4Smep | Bits.Cr4Smap;
        if (((old ^ value) & pagingBits) != 0) FlushTlb(includeGlobal: true);
        UpdateMode();
        return true;
    }

    /// <summary>MOV to CR8 (the task-priority register; 64-bit mode only).</summary>
    public bool WriteCr8(ulong value)
    {
        if ((value & ~0xFUL) != 0) { RaiseGp(0); return false; }
        Cr8 = value;
        return true;
    }

    /// <summary>The value MOV from DRn reads (DR4/DR5 already mapped to DR6/DR7 by the caller).</summary>
    public ulong ReadDr(int n) => n switch
    {
        6 => (Dr[6] & 0x0001E00F) | 0xFFFF0FF0UL,
        7 => (Dr[7] & 0xFFFF2BFFUL) | 0x400,
        _ => Dr[n],
    };

    /// <summary>MOV to DRn (DR4/DR5 already mapped); 64-bit values with upper bits set fault for DR6/DR7.</summary>
    public bool WriteDr(int n, ulong value)
    {
        if (n >= 6 && (value >> 32) != 0) { RaiseGp(0); return false; }
        Dr[n] = value;
        if (n != 6) UpdateDebugState();
        return true;
    }
}
