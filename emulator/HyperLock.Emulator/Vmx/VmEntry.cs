using HyperLock.Emulator.Vmx;
using F = HyperLock.Emulator.Vmx.VmcsField;
using C = HyperLock.Emulator.Vmx.VmxControls;
using Cap = HyperLock.Emulator.Vmx.VmxCapabilities;

namespace HyperLock.Emulator.Processor;

/// <summary>
/// VM entry (SDM Vol. 3 ch. 27): checks on the VM-execution, exit and entry controls
/// (VMfailValid 7), on the host-state area (VMfailValid 8), on the guest-state area (entry
/// failure, exit reason 33), loading guest state, the entry MSR-load list (entry failure 34),
/// then event injection, pending debug exceptions, activity and interruptibility state.
/// </summary>
public sealed partial class Cpu
{
    /// <summary>Set by MOV SS / POP SS together with <see cref="InterruptShadowUntil"/> (VMLAUNCH then fails with error 26).</summary>
    public bool MovSsShadow;

    /// <summary>Which check failed last (diagnostics for tests and the log).</summary>
    public string? LastVmxCheckFailure { get; private set; }

    private bool Bad(string what)
    {
        LastVmxCheckFailure = what;
        return true;
    }

    private static bool AllowedControl(uint value, uint default1, uint allowed1) =>
        (value & default1) == default1 && (value & ~allowed1) == 0;

    private static bool BadPhys(ulong a, ulong align) => (a & (align - 1)) != 0 || (a >> MaxPhysAddrBits) != 0;

    /// <summary>Valid EPTP: WB or UC, 4-level walk, reserved bits 11:7 and above the physical width clear.</summary>
    internal static bool EptpValid(ulong eptp)
    {
        ulong type = eptp & 7;
        if (type != 0 && type != 6) return false;
        if (((eptp >> 3) & 7) != 3) return false;
        if ((eptp & 0xF80) != 0) return false;
        return (eptp >> MaxPhysAddrBits) == 0;
    }

    /// <summary>Checks of SDM §27.2.1; returns 0 or VMX error 7.</summary>
    internal int CheckEntryControls()
    {
        LastVmxCheckFailure = null;
        uint pin = (uint)VmRead(F.PinControls), proc = (uint)VmRead(F.ProcControls);
        uint proc2 = (proc & C.ProcSecondary) != 0 ? (uint)VmRead(F.ProcControls2) : 0;
        uint exit = (uint)VmRead(F.ExitControls), entry = (uint)VmRead(F.EntryControls);
        bool bad =
            (!AllowedControl(pin, Cap.PinDefault1, Cap.PinAllowed1) && Bad("pin-based controls"))
            || (!AllowedControl(proc, Cap.ProcTrueDefault1, Cap.ProcAllowed1) && Bad("processor-based controls"))
            || (!AllowedControl(proc2, 0, Cap.Proc2Allowed1) && Bad("secondary controls"))
            || (VmRead(F.Cr3TargetCount) > Cap.Cr3TargetCount && Bad("CR3-target count"))
            || ((proc & C.ProcIoBitmaps) != 0 && (BadPhys(VmRead(F.IoBitmapA), 4096) || BadPhys(VmRead(F.IoBitmapB), 4096)) && Bad("I/O bitmap address"))
            || ((proc & C.ProcMsrBitmaps) != 0 && BadPhys(VmRead(F.MsrBitmap), 4096) && Bad("MSR bitmap address"))
            || ((pin & C.PinNmiExiting) == 0 && (pin & C.PinVirtualNmis) != 0 && Bad("virtual NMIs without NMI exiting"))
            || ((pin & C.PinVirtualNmis) == 0 && (proc & C.ProcNmiWindow) != 0 && Bad("NMI-window exiting without virtual NMIs"))
            || ((proc2 & C.Proc2Ept) != 0 && !EptpValid(VmRead(F.EptPointer)) && Bad("EPTP"))
            || ((proc2 & C.Proc2Unrestricted) != 0 && (proc2 & C.Proc2Ept) == 0 && Bad("unrestricted guest without EPT"))
            || ((proc2 & C.Proc2Vpid) != 0 && VmRead(F.Vpid) == 0 && Bad("VPID 0"))
            || (!AllowedControl(exit, Cap.ExitTrueDefault1, Cap.ExitAllowed1) && Bad("VM-exit controls"))
            || ((pin & C.PinPreemptionTimer) == 0 && (exit & C.ExitSaveTimer) != 0 && Bad("save timer without timer"))
            || (BadMsrList(F.ExitMsrStoreAddr, F.ExitMsrStoreCount) && Bad("exit MSR-store address"))
            || (BadMsrList(F.ExitMsrLoadAddr, F.ExitMsrLoadCount) && Bad("exit MSR-load address"))
            || (!AllowedControl(entry, Cap.EntryTrueDefault1, Cap.EntryAllowed1) && Bad("VM-entry controls"))
            || (BadMsrList(F.EntryMsrLoadAddr, F.EntryMsrLoadCount) && Bad("entry MSR-load address"))
            || (!InjectionValid(proc2) && Bad("VM-entry interruption information"));
        return bad ? VmxError.EntryInvalidControls : 0;
    }

    /// <summary>
    /// An MSR list with entries must be 16-byte aligned and lie below the physical-address
    /// width, its last byte included (SDM §27.2.1.2, §27.2.1.3).
    /// </summary>
    private bool BadMsrList(uint addressField, uint countField)
    {
        ulong count = VmRead(countField);
        if (count == 0) return false;
        ulong address = VmRead(addressField);
        return BadPhys(address, 16) || ((address + count * 16 - 1) >> MaxPhysAddrBits) != 0;
    }

    private bool InjectionValid(uint proc2)
    {
        uint info = (uint)VmRead(F.EntryInterruptionInfo);
        if ((info & Interruption.Valid) == 0) return true;
        int vector = (int)(info & 0xFF), type = (int)((info >> 8) & 7);
        if (type == 1 || type == Interruption.TypeOther) return false;
        if (type == Interruption.TypeNmi && vector != 2) return false;
        if (type == Interruption.TypeHardwareException && vector > 31) return false;
        if ((info & 0x7FFFF000) != 0) return false;
        // Deliver-error-code must be set exactly when the guest is in protected mode (or unrestricted
        // guest is off) and the event is a hardware exception that pushes an error code (SDM §27.2.1.3).
        bool unrestrictedRealMode = (proc2 & C.Proc2Unrestricted) != 0 && (VmRead(F.GuestCr0) & Bits.Cr0Pe) == 0;
        bool errorCodeExpected = !unrestrictedRealMode && type == Interruption.TypeHardwareException
            && vector is 8 or 10 or 11 or 12 or 13 or 14 or 17 or 21;
        if (((info & Interruption.ErrorCodeValid) != 0) != errorCodeExpected) return false;
        if ((info & Interruption.ErrorCodeValid) != 0 && (VmRead(F.EntryExceptionErrorCode) & 0xFFFF8000) != 0) return false;
        if (type is Interruption.TypeSoftwareInterrupt or Interruption.TypePrivilegedSoftware or Interruption.TypeSoftwareException)
        {
            ulong len = VmRead(F.EntryInstructionLength);
            if (len < 1 || len > 15) return false;
        }
        return true;
    }

    private static bool PatValid(ulong pat)
    {
        for (int k = 0; k < 8; k++)
        {
            ulong t = (pat >> (k * 8)) & 0xFF;
            if (t is 2 or 3 or > 7) return false;
        }
        return true;
    }

    private const ulong EferReserved = ~(Bits.EferSce | Bits.EferLme | Bits.EferLma | Bits.EferNxe);

    /// <summary>Checks of SDM §27.2.2-27.2.4; returns 0 or VMX error 8.</summary>
    internal int CheckHostState()
    {
        ulong cr0 = VmRead(F.HostCr0), cr4 = VmRead(F.HostCr4);
        uint exit = (uint)VmRead(F.ExitControls), entry = (uint)VmRead(F.EntryControls);
        bool hostLong = (exit & C.ExitHostLongMode) != 0;
        ulong rip = VmRead(F.HostRip);
        bool bad =
            (((cr0 & Cap.Cr0Fixed0) != Cap.Cr0Fixed0 || (cr0 & ~Cap.Cr0Fixed1) != 0) && Bad("host CR0"))
            || (((cr4 & Cap.Cr4Fixed0) != Cap.Cr4Fixed0 || (cr4 & ~Cap.Cr4Fixed1) != 0) && Bad("host CR4"))
            || ((VmRead(F.HostCr3) >> MaxPhysAddrBits) != 0 && Bad("host CR3"))
            || ((!IsCanonical(VmRead(F.HostSysenterEsp)) || !IsCanonical(VmRead(F.HostSysenterEip))) && Bad("host SYSENTER"))
            || ((exit & C.ExitLoadPat) != 0 && !PatValid(VmRead(F.HostPat)) && Bad("host PAT"))
            || ((exit & C.ExitLoadEfer) != 0 && HostEferBad(VmRead(F.HostEfer), hostLong) && Bad("host EFER"))
            || (HostSelectorsBad(hostLong) && Bad("host selectors"))
            || ((!IsCanonical(VmRead(F.HostFsBase)) || !IsCanonical(VmRead(F.HostGsBase)) || !IsCanonical(VmRead(F.HostTrBase))
                 || !IsCanonical(VmRead(F.HostGdtrBase)) || !IsCanonical(VmRead(F.HostIdtrBase))) && Bad("host bases"))
            || ((Efer & Bits.EferLma) != 0 && !hostLong && Bad("host address-space size"))
            || ((Efer & Bits.EferLma) == 0 && (hostLong || (entry & C.EntryIa32eGuest) != 0) && Bad("host address-space size"))
            || (hostLong && ((cr4 & Bits.Cr4Pae) == 0 || !IsCanonical(rip)) && Bad("host CR4.PAE / RIP"))
            || (!hostLong && ((cr4 & Bits.Cr4Pcide) != 0 || (rip >> 32) != 0) && Bad("host RIP"));
        return bad ? VmxError.EntryInvalidHostState : 0;
    }

    private static bool HostEferBad(ulong efer, bool hostLong) =>
        (efer & EferReserved) != 0 || ((efer & Bits.EferLma) != 0) != hostLong || ((efer & Bits.EferLme) != 0) != hostLong;

    private bool HostSelectorsBad(bool hostLong)
    {
        for (uint f = F.HostEsSel; f <= F.HostTrSel; f += 2)
            if ((VmRead(f) & 7) != 0) return true;
        if (VmRead(F.HostCsSel) == 0 || VmRead(F.HostTrSel) == 0) return true;
        return !hostLong && VmRead(F.HostSsSel) == 0;
    }

    // ---- guest-state checks (§27.3.1) --------------------------------------------------------

    /// <summary>Returns the entry-failure qualification (0 general, 2 PDPTE, 4 link pointer) or -1 when valid.</summary>
    private int CheckGuestState()
    {
        uint proc = (uint)VmRead(F.ProcControls);
        uint proc2 = (proc & C.ProcSecondary) != 0 ? (uint)VmRead(F.ProcControls2) : 0;
        uint entry = (uint)VmRead(F.EntryControls);
        uint pin = (uint)VmRead(F.PinControls);
        bool unrestricted = (proc2 & C.Proc2Unrestricted) != 0;
        bool ia32e = (entry & C.EntryIa32eGuest) != 0;
        ulong cr0 = VmRead(F.GuestCr0), cr4 = VmRead(F.GuestCr4);
        ulong fixed0 = Cap.Cr0Fixed0 & (unrestricted ? ~(Bits.Cr0Pe | Bits.Cr0Pg) : ulong.MaxValue);
        ulong rflags = VmRead(F.GuestRflags);
        bool v86 = (rflags & Bits.Vm) != 0;
        bool pe = (cr0 & Bits.Cr0Pe) != 0;

        // Control registers, debug registers, MSRs.
        if ((cr0 & fixed0) != fixed0 || (cr0 & ~Cap.Cr0Fixed1) != 0) return Fail0("guest CR0");
        if ((cr0 & Bits.Cr0Pg) != 0 && !pe) return Fail0("guest CR0.PG without PE");
        if ((cr4 & Cap.Cr4Fixed0) != Cap.Cr4Fixed0 || (cr4 & ~Cap.Cr4Fixed1) != 0) return Fail0("guest CR4");
        if ((entry & C.EntryLoadDebug) != 0 && (VmRead(F.GuestDr7) >> 32) != 0) return Fail0("guest DR7");
        if ((entry & C.EntryLoadDebug) != 0 && (VmRead(F.GuestDebugCtl) & ~DebugBits.DebugCtlWritable) != 0) return Fail0("guest IA32_DEBUGCTL");
        if (ia32e && ((cr0 & Bits.Cr0Pg) == 0 || (cr4 & Bits.Cr4Pae) == 0)) return Fail0("IA-32e guest without paging/PAE");
        if (!ia32e && (cr4 & Bits.Cr4Pcide) != 0) return Fail0("guest CR4.PCIDE");
        if ((VmRead(F.GuestCr3) >> MaxPhysAddrBits) != 0) return Fail0("guest CR3");
        if (!IsCanonical(VmRead(F.GuestSysenterEsp)) || !IsCanonical(VmRead(F.GuestSysenterEip))) return Fail0("guest SYSENTER");
        if ((entry & C.EntryLoadPat) != 0 && !PatValid(VmRead(F.GuestPat))) return Fail0("guest PAT");
        if ((entry & C.EntryLoadEfer) != 0)
        {
            ulong efer = VmRead(F.GuestEfer);
            if ((efer & EferReserved) != 0 || ((efer & Bits.EferLma) != 0) != ia32e
                || ((cr0 & Bits.Cr0Pg) != 0 && ((efer & Bits.EferLme) != 0) != ia32e)) return Fail0("guest EFER");
        }

        // Segment registers.
        if ((VmRead(F.GuestTrSel) & 4) != 0) return Fail0("guest TR.TI");
        uint ldtrAr = (uint)VmRead(F.GuestLdtrAr);
        bool ldtrUsable = (ldtrAr & SegmentRegister.AttrUnusable) == 0;
        if (ldtrUsable && (VmRead(F.GuestLdtrSel) & 4) != 0) return Fail0("guest LDTR.TI");
        if (!v86 && !unrestricted && (VmRead(F.GuestSsSel) & 3) != (VmRead(F.GuestCsSel) & 3)) return Fail0("guest SS.RPL != CS.RPL");
        if (v86)
        {
            for (int s = 0; s < Seg.Count; s++)
            {
                ulong sel = VmRead(F.GuestSel(s));
                if (VmRead(F.GuestBase(s)) != sel << 4 || VmRead(F.GuestLimit(s)) != 0xFFFF || VmRead(F.GuestAr(s)) != 0xF3)
                    return Fail0("guest v8086 segment");
            }
        }
        if (!IsCanonical(VmRead(F.GuestTrBase)) || !IsCanonical(VmRead(F.GuestFsBase)) || !IsCanonical(VmRead(F.GuestGsBase))
            || (ldtrUsable && !IsCanonical(VmRead(F.GuestLdtrBase)))) return Fail0("guest segment base");
        if ((VmRead(F.GuestCsBase) >> 32) != 0) return Fail0("guest CS base");
        foreach (int s in SsDsEs)
            if ((VmRead(F.GuestAr(s)) & SegmentRegister.AttrUnusable) == 0 && (VmRead(F.GuestBase(s)) >> 32) != 0)
                return Fail0("guest segment base bits 63:32");
        if (!v86)
        {
            uint csAr = (uint)VmRead(F.GuestCsAr), ssAr = (uint)VmRead(F.GuestSsAr);
            int csType = (int)(csAr & 0xF), csDpl = (int)((csAr >> 5) & 3), ssDpl = (int)((ssAr >> 5) & 3);
            bool csTypeOk = csType is 9 or 11 or 13 or 15 || (unrestricted && csType == 3);
            if (!csTypeOk || (csAr & SegmentRegister.AttrS) == 0 || (csAr & SegmentRegister.AttrPresent) == 0
                || (csAr & 0xFFFE0F00) != 0) return Fail0("guest CS access rights");
            if (csType == 3 && csDpl != 0) return Fail0("guest CS.DPL (type 3)");
            if (csType is 9 or 11 && csDpl != ssDpl) return Fail0("guest CS.DPL != SS.DPL");
            if (csType is 13 or 15 && csDpl > ssDpl) return Fail0("guest CS.DPL > SS.DPL");
            if (ia32e && (csAr & SegmentRegister.AttrLong) != 0 && (csAr & SegmentRegister.AttrDefaultBig) != 0) return Fail0("guest CS.L and CS.D");
            if (!GranularityOk(VmRead(F.GuestCsLimit), csAr)) return Fail0("guest CS limit/G");
            if ((ssAr & SegmentRegister.AttrUnusable) == 0)
            {
                int ssType = (int)(ssAr & 0xF);
                if (!(ssType is 3 or 7) || (ssAr & SegmentRegister.AttrS) == 0 || (ssAr & SegmentRegister.AttrPresent) == 0
                    || (ssAr & 0xFFFE0F00) != 0 || !GranularityOk(VmRead(F.GuestSsLimit), ssAr)) return Fail0("guest SS access rights");
            }
            if (!unrestricted && ssDpl != (int)(VmRead(F.GuestSsSel) & 3)) return Fail0("guest SS.DPL != SS.RPL");
            if ((csType == 3 || !pe) && ssDpl != 0) return Fail0("guest SS.DPL (real mode / type 3)");
            foreach (int s in DataSegs)
            {
                uint ar = (uint)VmRead(F.GuestAr(s));
                if ((ar & SegmentRegister.AttrUnusable) != 0) continue;
                int type = (int)(ar & 0xF);
                if ((type & 1) == 0 || ((type & 8) != 0 && (type & 2) == 0) || (ar & SegmentRegister.AttrS) == 0
                    || (ar & SegmentRegister.AttrPresent) == 0 || (ar & 0xFFFE0F00) != 0
                    || !GranularityOk(VmRead(F.GuestLimit(s)), ar)) return Fail0("guest data segment access rights");
                if (!unrestricted && type <= 11 && ((ar >> 5) & 3) < (VmRead(F.GuestSel(s)) & 3)) return Fail0("guest data segment DPL < RPL");
            }
            uint trAr = (uint)VmRead(F.GuestTrAr);
            int trType = (int)(trAr & 0xF);
            if ((ia32e ? trType != 11 : !(trType is 3 or 11)) || (trAr & SegmentRegister.AttrS) != 0
                || (trAr & SegmentRegister.AttrPresent) == 0 || (trAr & SegmentRegister.AttrUnusable) != 0
                || (trAr & 0xFFFE0F00) != 0 || !GranularityOk(VmRead(F.GuestTrLimit), trAr)) return Fail0("guest TR access rights");
            if (ldtrUsable && ((ldtrAr & 0xF) != 2 || (ldtrAr & SegmentRegister.AttrS) != 0 || (ldtrAr & SegmentRegister.AttrPresent) == 0
                || (ldtrAr & 0xFFFE0F00) != 0 || !GranularityOk(VmRead(F.GuestLdtrLimit), ldtrAr))) return Fail0("guest LDTR access rights");
        }

        // Descriptor-table registers.
        if (!IsCanonical(VmRead(F.GuestGdtrBase)) || !IsCanonical(VmRead(F.GuestIdtrBase))
            || (VmRead(F.GuestGdtrLimit) >> 16) != 0 || (VmRead(F.GuestIdtrLimit) >> 16) != 0) return Fail0("guest GDTR/IDTR");

        // RIP and RFLAGS.
        ulong rip = VmRead(F.GuestRip);
        bool csLong = (VmRead(F.GuestCsAr) & SegmentRegister.AttrLong) != 0;
        if (!(ia32e && csLong) && (rip >> 32) != 0) return Fail0("guest RIP bits 63:32");
        if (ia32e && csLong && !IsCanonical(rip)) return Fail0("guest RIP canonical");
        if ((rflags & 0xFFFFFFFFFFC08028UL) != 0 || (rflags & Bits.Fixed1) == 0) return Fail0("guest RFLAGS reserved bits");
        if (v86 && (ia32e || !pe)) return Fail0("guest RFLAGS.VM");
        uint inj = (uint)VmRead(F.EntryInterruptionInfo);
        bool injValid = (inj & Interruption.Valid) != 0;
        int injType = (int)((inj >> 8) & 7);
        if (injValid && injType == Interruption.TypeExternal && (rflags & Bits.If) == 0) return Fail0("injection of an interrupt with IF = 0");

        // Non-register state.
        ulong activity = VmRead(F.GuestActivityState);
        if (activity > 1) return Fail0("guest activity state");
        if (activity == 1 && ((VmRead(F.GuestSsAr) >> 5) & 3) != 0) return Fail0("HLT with SS.DPL != 0");
        ulong intr = VmRead(F.GuestInterruptibility);
        if ((intr & ~0x1FUL) != 0 || (intr & 3) == 3) return Fail0("guest interruptibility reserved bits");
        if ((intr & 1) != 0 && (rflags & Bits.If) == 0) return Fail0("STI blocking with IF = 0");
        if ((intr & 4) != 0) return Fail0("SMI blocking outside SMM");
        if (injValid && injType == Interruption.TypeExternal && (intr & 3) != 0) return Fail0("interrupt injection while blocked");
        if (injValid && injType == Interruption.TypeNmi && (intr & 2) != 0) return Fail0("NMI injection while blocked by MOV SS");
        if (injValid && injType == Interruption.TypeNmi && (pin & C.PinVirtualNmis) != 0 && (intr & 8) != 0) return Fail0("virtual-NMI injection while blocked");
        if (activity == 1 && injValid && !(injType is Interruption.TypeExternal or Interruption.TypeNmi
            or Interruption.TypeHardwareException)) return Fail0("HLT with software event injection");
        ulong pdbg = VmRead(F.GuestPendingDebug);
        if ((pdbg & ~0x1500FUL) != 0) return Fail0("pending debug exceptions reserved bits");
        if ((intr & 3) != 0 || activity == 1)
        {
            bool tf = (rflags & Bits.Tf) != 0, btf = (VmRead(F.GuestDebugCtl) & 2) != 0;
            bool bs = (pdbg & (1 << 14)) != 0;
            if (tf && !btf && !bs) return Fail0("pending debug BS must be 1");
            if ((!tf || btf) && bs) return Fail0("pending debug BS must be 0");
        }

        // VMCS link pointer (no VMCS shadowing: a pointer other than all ones must still name a VMCS).
        ulong link = VmRead(F.VmcsLinkPointer);
        if (link != ulong.MaxValue)
        {
            if (BadPhys(link, 4096) || (uint)Memory.Read(link, 4) != Cap.RevisionId) { LastVmxCheckFailure = "VMCS link pointer"; return 4; }
        }

        // PDPTEs for PAE paging outside IA-32e mode.
        if ((cr0 & Bits.Cr0Pg) != 0 && (cr4 & Bits.Cr4Pae) != 0 && !ia32e)
        {
            bool ept = (proc2 & C.Proc2Ept) != 0;
            for (int k = 0; k < 4; k++)
            {
                ulong pdpte = ept ? VmRead(F.GuestPdpte0 + (uint)k * 2) : Memory.Read((VmRead(F.GuestCr3) & 0xFFFFFFE0) + (ulong)k * 8, 8);
                if ((pdpte & 1) != 0 && ((pdpte & 0x1E6) != 0 || (pdpte >> MaxPhysAddrBits) != 0)) { LastVmxCheckFailure = "guest PDPTE"; return 2; }
            }
        }
        return -1;
    }

    private static readonly int[] SsDsEs = [Seg.Ss, Seg.Ds, Seg.Es];
    private static readonly int[] DataSegs = [Seg.Ds, Seg.Es, Seg.Fs, Seg.Gs];

    private int Fail0(string what)
    {
        LastVmxCheckFailure = what;
        return 0;
    }

    private static bool GranularityOk(ulong limit, uint ar)
    {
        bool g = (ar & SegmentRegister.AttrGranularity) != 0;
        if ((limit & 0xFFF) != 0xFFF && g) return false;
        if ((limit & 0xFFF00000) != 0 && !g) return false;
        return true;
    }

    // ---- the entry itself ----------------------------------------------------------------

    /// <summary>
    /// Completes VMLAUNCH/VMRESUME after the control and host-state checks passed. RIP is past
    /// the instruction. Ends in non-root operation, or in root after an entry-failure VM exit.
    /// </summary>
    internal void VmEntry(bool launch)
    {
        int qual = CheckGuestState();
        if (qual >= 0)
        {
            EntryFailure(ExitReason.InvalidGuestState, (ulong)qual);
            return;
        }
        LeaveTlbContext();
        LoadGuestState();
        LoadGuestPdptes();
        int failing = LoadMsrList(VmRead(F.EntryMsrLoadAddr), (uint)VmRead(F.EntryMsrLoadCount));
        if (failing != 0)
        {
            EntryFailure(ExitReason.MsrLoading, (ulong)failing);
            return;
        }
        if (launch) VmcsLaunched = true;
        VmEntries++;
        InNonRoot = true;
        CacheControls();
        EnterTlbContext(guest: true, flush: CurrentVpid == 0);
        if (CurrentVpid == 0) _rootTlb.Valid = false; // VPID-0 mappings are invalidated by the entry

        ulong intr = VmRead(F.GuestInterruptibility);
        // Blocking by NMI: virtual with "virtual NMIs", otherwise the processor's own blocking.
        if ((VPin & C.PinVirtualNmis) != 0) VirtualNmiBlocked = (intr & 8) != 0;
        else NmiBlocked = (intr & 8) != 0;
        _entryShadowPending = (intr & 3) != 0;
        MovSsShadow = (intr & 2) != 0;
        Halted = VmRead(F.GuestActivityState) == 1;
        if ((VPin & C.PinPreemptionTimer) != 0)
        {
            ulong v = VmRead(F.PreemptionTimerValue) & 0xFFFFFFFF;
            VmxTimerDeadline = (((Now >> Cap.TimerRateShift) + v) << Cap.TimerRateShift);
            if (v == 0) VmxTimerDeadline = Now;
        }
        else VmxTimerDeadline = ulong.MaxValue;
        RecomputeVmxWatch();

        // Event injection (§27.6): delivered through the guest IDT as if by the guest, without exception-bitmap checks.
        uint inj = (uint)VmRead(F.EntryInterruptionInfo);
        VmWrite(F.EntryInterruptionInfo, inj & ~Interruption.Valid);
        if ((inj & Interruption.Valid) != 0)
        {
            Halted = false;
            int vector = (int)(inj & 0xFF), type = (int)((inj >> 8) & 7);
            bool hasErr = (inj & Interruption.ErrorCodeValid) != 0;
            uint err = (uint)VmRead(F.EntryExceptionErrorCode);
            uint len = (uint)VmRead(F.EntryInstructionLength);
            if (type == Interruption.TypeNmi) BlockGuestNmis();
            InjectEvent(vector, type, hasErr, err, len);
            return;
        }
        // Pending debug exceptions: a #DB is pending before the first guest instruction, or after
        // it when the entry loads blocking by MOV SS (the run loop holds it over one instruction).
        ulong pdbg = VmRead(F.GuestPendingDebug);
        if ((pdbg & 0x400F) != 0 && (pdbg & ((1 << 14) | (1 << 12))) != 0)
        {
            if ((intr & 2) != 0)
            {
                DbTrapHeld = pdbg & 0x400F;
                return;
            }
            Halted = false;
            _dbEventBits = pdbg & 0x400F;
            NonRootEvent(Vector.DB, Interruption.TypeHardwareException, false, 0, 0, checkBitmap: true, first: Vector.DB);
        }
    }

    private void CacheControls()
    {
        VPin = (uint)VmRead(F.PinControls);
        VProc = (uint)VmRead(F.ProcControls);
        VProc2 = (VProc & C.ProcSecondary) != 0 ? (uint)VmRead(F.ProcControls2) : 0;
        VExitCtl = (uint)VmRead(F.ExitControls);
        VEntryCtl = (uint)VmRead(F.EntryControls);
        VExceptionBitmap = (uint)VmRead(F.ExceptionBitmap);
        VPfMask = (uint)VmRead(F.PfErrorMask);
        VPfMatch = (uint)VmRead(F.PfErrorMatch);
        VCr0Mask = VmRead(F.Cr0GuestHostMask);
        VCr4Mask = VmRead(F.Cr4GuestHostMask);
        VCr0Shadow = VmRead(F.Cr0ReadShadow);
        VCr4Shadow = VmRead(F.Cr4ReadShadow);
        EptActive = (VProc2 & C.Proc2Ept) != 0;
        ulong eptp = VmRead(F.EptPointer);
        EptRoot = eptp & 0xFFFFFFFFFF000UL & ((1UL << MaxPhysAddrBits) - 1);
        EptAd = (eptp & (1 << 6)) != 0;
        CurrentVpid = (VProc2 & C.Proc2Vpid) != 0 ? (ushort)VmRead(F.Vpid) : (ushort)0;
    }

    internal void RecomputeVmxWatch()
    {
        VmxEventWatch = InNonRoot && (_entryShadowPending || _initPending || VmxTimerDeadline != ulong.MaxValue
            || (VProc & (C.ProcIntWindow | C.ProcNmiWindow)) != 0 || (VPin & C.PinExtIntExiting) != 0);
    }

    private static SegmentRegister MakeSeg(ulong sel, ulong bas, ulong limit, ulong ar) => new()
    {
        Selector = (ushort)sel, Base = bas, Limit = (uint)limit, Attributes = (uint)ar & 0x1F0FF,
    };

    private void LoadGuestState()
    {
        uint entry = (uint)VmRead(F.EntryControls);
        bool ia32e = (entry & C.EntryIa32eGuest) != 0;
        Cr0 = VmRead(F.GuestCr0) | Bits.Cr0Et;
        Cr3 = VmRead(F.GuestCr3);
        Cr4 = VmRead(F.GuestCr4);
        if ((entry & C.EntryLoadDebug) != 0)
        {
            Dr[7] = VmRead(F.GuestDr7);
            DebugCtl = VmRead(F.GuestDebugCtl);
        }
        SysenterCs = VmRead(F.GuestSysenterCs);
        SysenterEsp = VmRead(F.GuestSysenterEsp);
        SysenterEip = VmRead(F.GuestSysenterEip);
        if ((entry & C.EntryLoadPat) != 0) Pat = VmRead(F.GuestPat);
        if ((entry & C.EntryLoadEfer) != 0) Efer = VmRead(F.GuestEfer);
        else
        {
            Efer = ia32e ? Efer | Bits.EferLma : Efer & ~Bits.EferLma;
            if ((Cr0 & Bits.Cr0Pg) != 0) Efer = ia32e ? Efer | Bits.EferLme : Efer & ~Bits.EferLme;
        }
        for (int s = 0; s < Seg.Count; s++)
            Segs[s] = MakeSeg(VmRead(F.GuestSel(s)), VmRead(F.GuestBase(s)), VmRead(F.GuestLimit(s)), VmRead(F.GuestAr(s)));
        Ldtr = MakeSeg(VmRead(F.GuestLdtrSel), VmRead(F.GuestLdtrBase), VmRead(F.GuestLdtrLimit), VmRead(F.GuestLdtrAr));
        Tr = MakeSeg(VmRead(F.GuestTrSel), VmRead(F.GuestTrBase), VmRead(F.GuestTrLimit), VmRead(F.GuestTrAr));
        Gdtr = new TableRegister { Base = VmRead(F.GuestGdtrBase), Limit = (ushort)VmRead(F.GuestGdtrLimit) };
        Idtr = new TableRegister { Base = VmRead(F.GuestIdtrBase), Limit = (ushort)VmRead(F.GuestIdtrLimit) };
        R(Reg.Rsp) = VmRead(F.GuestRsp);
        Rip = VmRead(F.GuestRip);
        SetRflags(VmRead(F.GuestRflags));
        RfLoaded = true; // RF from the guest field suppresses an instruction breakpoint on the first guest instruction
        UpdateMode();
        UpdateDebugState();
        DbTrapPending = DbTrapHeld = 0;
    }

    /// <summary>Processes an MSR-load list; returns 0 or the 1-based index of the failing entry.</summary>
    private int LoadMsrList(ulong address, uint count)
    {
        for (uint k = 0; k < count; k++)
        {
            ulong e = address + (ulong)k * 16;
            ulong lo = Memory.Read(e, 8);
            ulong data = Memory.Read(e + 8, 8);
            uint index = (uint)lo;
            if ((lo >> 32) != 0 || index is Msr.FsBase or Msr.GsBase or 0x9B or 0x9E || (index >> 8) == 0x8
                || k >= Cap.MsrListMax || !TryWriteMsr(index, data)) return (int)k + 1;
        }
        return 0;
    }

    /// <summary>Stores MSR values into an MSR-store list; returns false on failure (VMX abort).</summary>
    private bool StoreMsrList(ulong address, uint count)
    {
        if (count > Cap.MsrListMax) return false;
        for (uint k = 0; k < count; k++)
        {
            ulong e = address + (ulong)k * 16;
            ulong lo = Memory.Read(e, 8);
            uint index = (uint)lo;
            if ((lo >> 32) != 0 || (index >> 8) == 0x8 || !TryReadMsr(index, out ulong v)) return false;
            Memory.Write(e + 8, 8, v);
        }
        return true;
    }
}
