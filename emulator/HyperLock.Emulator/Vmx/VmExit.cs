using HyperLock.Emulator.Processor.Execution;
using HyperLock.Emulator.Vmx;
using F = HyperLock.Emulator.Vmx.VmcsField;
using C = HyperLock.Emulator.Vmx.VmxControls;
using Cap = HyperLock.Emulator.Vmx.VmxCapabilities;

namespace HyperLock.Emulator.Processor;

/// <summary>
/// VM exits (SDM Vol. 3 ch. 28) and event handling in non-root operation: the exception
/// bitmap, event delivery through the guest IDT with IDT-vectoring information, triple
/// fault, external-interrupt / interrupt-window / NMI-window exiting and the VMX-preemption
/// timer; then the exit itself: exit information, guest-state save, MSR-store list, host-state
/// load, host MSR-load list (VMX abort on failure).
/// </summary>
public sealed partial class Cpu
{
    // IDT-vectoring information of the event being delivered in non-root (0 when none).
    private uint _vectoring, _vectoringErr, _vectoringLen;

    /// <summary>VMX-abort indicator of the last abort (0 = none).</summary>
    public uint LastVmxAbort { get; private set; }

    private void ResetExitInfo()
    {
        _xInstrLen = _xInstrInfo = _xIntInfo = _xIntError = 0;
        _xHasLinear = _xHasPhys = false;
    }

    // ---- run-loop hooks --------------------------------------------------------------------

    /// <summary>
    /// A fault, software interrupt or pending VM exit raised by an instruction in non-root
    /// operation. Called by the run loop instead of IDT delivery while <see cref="InNonRoot"/>.
    /// </summary>
    internal StopReason VmxHandleFault()
    {
        int vector = PendingVector;
        uint err = PendingError;
        bool hasErr = PendingHasError;
        var soft = PendingSoftware;
        bool isPf = PendingIsPageFault;
        ulong cr2 = PendingCr2;
        ClearFault();
        bool iretUnblocked = NmiUnblockedByIret;
        NmiUnblockedByIret = false;
        if (vector == VmExitPendingVector)
        {
            // An EPT violation by an IRET that had unblocked NMIs reports it (qualification bit 12).
            if (iretUnblocked && _xReason == ExitReason.EptViolation) _xQual |= Interruption.NmiUnblocking;
            DoVmExit(_xReason, _xQual);
            return default;
        }
        int type = Interruption.TypeHardwareException;
        uint len = 0;
        switch (soft)
        {
            case SoftwareEventKind.IntN: type = Interruption.TypeSoftwareInterrupt; len = 2; break;
            case SoftwareEventKind.Int3: case SoftwareEventKind.Into: type = Interruption.TypeSoftwareException; len = 1; break;
            case SoftwareEventKind.Int1: type = Interruption.TypePrivilegedSoftware; len = 1; break;
        }
        _pendingCr2 = isPf ? cr2 : Cr2;
        // The RFLAGS image of a fault has RF set, also when the fault exits instead (SDM 28.3.3).
        if (type == Interruption.TypeHardwareException && Vector.SetsResumeFlag(vector)) RflagsRest |= Bits.Rf;
        _iretUnblockedForExit = iretUnblocked;
        NonRootEvent(vector, type, hasErr, err, len, checkBitmap: true, first: vector);
        _iretUnblockedForExit = false;
        return _abortStop;
    }

    private ulong _pendingCr2;
    private StopReason _abortStop;
    private bool _iretUnblockedForExit;

    /// <summary>
    /// Non-root events at an instruction boundary: the entry's STI/MOV-SS shadow, the
    /// preemption timer, NMI window, external interrupts (exiting or delivery) and the
    /// interrupt window. Returns true when it exited or delivered something.
    /// </summary>
    internal bool VmxCheckEvents()
    {
        if (_entryShadowPending)
        {
            _entryShadowPending = false;
            InterruptShadowUntil = Retired + 1;
            RecomputeVmxWatch();
        }
        bool shadow = Retired < InterruptShadowUntil;
        bool irq = Interrupts != null && Interrupts.HasInterrupt;
        if (!VmxEventWatch && !irq && !NmiPending) return false;
        if (_initPending)
        {
            _initPending = false;
            ResetExitInfo();
            DoVmExit(ExitReason.Init, 0);
            return true;
        }
        // A halted guest waits in the run loop's Idle, which skips virtual time to the timer's deadline.
        if (VmxTimerDeadline != ulong.MaxValue && Now >= VmxTimerDeadline)
        {
            ResetExitInfo();
            DoVmExit(ExitReason.PreemptionTimer, 0);
            return true;
        }
        if (NmiPending && !NmiBlocked && !(shadow && MovSsShadow))
        {
            NmiPending = false;
            if ((VPin & C.PinNmiExiting) != 0)
            {
                // NMI exiting: exit reason 0 with an NMI interruption type; NMIs stay blocked after the exit.
                ResetExitInfo();
                _xIntInfo = Interruption.Make(Vector.NMI, Interruption.TypeNmi, false);
                DoVmExit(ExitReason.ExceptionOrNmi, 0);
                NmiBlocked = true;
                return true;
            }
            Halted = false;
            NonRootEvent(Vector.NMI, Interruption.TypeNmi, false, 0, 0, checkBitmap: false, first: -1);
            return true;
        }
        if ((VProc & C.ProcNmiWindow) != 0 && !VirtualNmiBlocked && !(shadow && MovSsShadow))
        {
            ResetExitInfo();
            DoVmExit(ExitReason.NmiWindow, 0);
            return true;
        }
        if (irq && (VPin & C.PinExtIntExiting) != 0 && !shadow)
        {
            ResetExitInfo();
            if ((VExitCtl & C.ExitAckInterrupt) != 0)
                _xIntInfo = Interruption.Make(Interrupts!.Acknowledge(), Interruption.TypeExternal, false);
            DoVmExit(ExitReason.ExternalInterrupt, 0);
            return true;
        }
        if ((VProc & C.ProcIntWindow) != 0 && IF && !shadow)
        {
            ResetExitInfo();
            DoVmExit(ExitReason.InterruptWindow, 0);
            return true;
        }
        if (irq && IF && !shadow)
        {
            Halted = false;
            NonRootEvent(Interrupts!.Acknowledge(), Interruption.TypeExternal, false, 0, 0, checkBitmap: false, first: -1);
            return true;
        }
        return false;
    }

    // ---- event delivery in non-root ---------------------------------------------------------

    private static SoftwareEventKind SoftKind(int type) => type switch
    {
        Interruption.TypeSoftwareInterrupt => SoftwareEventKind.IntN,
        Interruption.TypeSoftwareException => SoftwareEventKind.Int3,
        Interruption.TypePrivilegedSoftware => SoftwareEventKind.Int1,
        _ => SoftwareEventKind.None,
    };

    private bool ExceptionExits(int vector, int type, uint err)
    {
        if (type == Interruption.TypeSoftwareInterrupt || type == Interruption.TypeExternal) return false;
        if (type == Interruption.TypeNmi) return (VPin & C.PinNmiExiting) != 0;
        if (vector > 31) return false;
        bool bit = (VExceptionBitmap & (1u << vector)) != 0;
        if (vector != Vector.PF) return bit;
        bool match = (err & VPfMask) == VPfMatch;
        return bit ? match : !match;
    }

    /// <summary>Event injection at VM entry (no exception-bitmap check for the injected event itself).</summary>
    private void InjectEvent(int vector, int type, bool hasErr, uint err, uint len)
    {
        _pendingCr2 = Cr2;
        if (type is Interruption.TypeSoftwareInterrupt or Interruption.TypeSoftwareException or Interruption.TypePrivilegedSoftware)
            Rip += len;
        NonRootEvent(vector, type, hasErr, err, len, checkBitmap: false, first: vector);
    }

    /// <summary>
    /// Delivers an event in non-root operation with the SDM's double-fault rules, turning it
    /// into a VM exit when the exception bitmap says so, when delivery itself causes a VM exit
    /// (EPT violation; IDT-vectoring information records the event) or on triple fault.
    /// For software events RIP is already past the instruction of length <paramref name="len"/>.
    /// </summary>
    private void NonRootEvent(int vector, int type, bool hasErr, uint err, uint len, bool checkBitmap, int first)
    {
        _vectoring = 0;
        for (int attempt = 0; ; attempt++)
        {
            if (checkBitmap && ExceptionExits(vector, type, err))
            {
                ResetExitInfo();
                _xIntInfo = Interruption.Make(vector, type, hasErr);
                if (_iretUnblockedForExit && vector != Vector.DF) _xIntInfo |= Interruption.NmiUnblocking;
                _xIntError = hasErr ? err : 0;
                // A #DB exit reports its conditions in the qualification and leaves DR6 alone.
                bool hardwareDb = vector == Vector.DB && type == Interruption.TypeHardwareException;
                ulong qual = vector == Vector.PF ? _pendingCr2 : hardwareDb ? TakeDebugEventBits() : 0;
                if (len != 0 && type != Interruption.TypeHardwareException)
                {
                    Rip -= len;
                    _xInstrLen = len;
                }
                DoVmExit(ExitReason.ExceptionOrNmi, qual);
                return;
            }
            if (vector == Vector.PF && type == Interruption.TypeHardwareException) Cr2 = _pendingCr2;
            _vectoring = Interruption.Make(vector, type, hasErr);
            _vectoringErr = hasErr ? err : 0;
            _vectoringLen = len;
            if (vector == Vector.DB && type == Interruption.TypeHardwareException) OnDebugExceptionDelivered();
            Deliver(vector, hasErr, err, SoftKind(type), external: type is Interruption.TypeExternal or Interruption.TypeNmi);
            if (!Faulted)
            {
                if (type == Interruption.TypeNmi) BlockGuestNmis();
                _vectoring = 0;
                return;
            }
            int second = PendingVector;
            uint secondErr = PendingError;
            bool secondHasErr = PendingHasError;
            if (PendingIsPageFault) _pendingCr2 = PendingCr2;
            ClearFault();
            if (second == VmExitPendingVector)
            {
                DoVmExit(_xReason, _xQual); // IDT-vectoring information describes the interrupted delivery
                return;
            }
            if (vector == Vector.DF || attempt >= 2)
            {
                _vectoring = 0;
                ResetExitInfo();
                DoVmExit(ExitReason.TripleFault, 0);
                return;
            }
            bool firstBenign = !(Vector.IsContributory(vector) || vector == Vector.PF) || type != Interruption.TypeHardwareException;
            bool escalate = !firstBenign && (Vector.IsContributory(second) || (vector == Vector.PF && second == Vector.PF));
            if (escalate) { vector = Vector.DF; err = 0; hasErr = true; }
            else { vector = second; err = secondErr; hasErr = secondHasErr; }
            type = Interruption.TypeHardwareException;
            // The nested exception's exit (if any) reports the first event as IDT-vectoring information.
            uint keepVectoring = _vectoring, keepErr = _vectoringErr, keepLen = _vectoringLen;
            checkBitmap = true;
            if (ExceptionExits(vector, type, err))
            {
                ResetExitInfo();
                _xIntInfo = Interruption.Make(vector, type, hasErr);
                _xIntError = hasErr ? err : 0;
                _vectoring = keepVectoring; _vectoringErr = keepErr; _vectoringLen = keepLen;
                DoVmExit(ExitReason.ExceptionOrNmi, vector == Vector.PF ? _pendingCr2 : 0);
                return;
            }
            len = 0;
            _ = first;
        }
    }

    // ---- the VM exit --------------------------------------------------------------------------

    /// <summary>VM-entry failure (reason 33 or 34 with bit 31): host state is loaded, guest state is not saved.</summary>
    private void EntryFailure(int reason, ulong qualification)
    {
        ResetExitInfo();
        _vectoring = 0;
        DoVmExit((uint)reason | ExitReason.EntryFailure, qualification);
    }

    /// <summary>Performs a VM exit with the exit-information fields gathered so far.</summary>
    internal void DoVmExit(uint reason, ulong qualification)
    {
        VmExits++;
        uint basic = reason & 0xFFFF;
        if (basic < (uint)VmExitsByReason.Length) VmExitsByReason[basic]++;
        bool entryFailure = (reason & ExitReason.EntryFailure) != 0;
        if (_vectoring != 0 && ((_vectoring >> 8) & 7) is (uint)Interruption.TypeSoftwareInterrupt
                or (uint)Interruption.TypeSoftwareException or (uint)Interruption.TypePrivilegedSoftware)
        {
            Rip -= _vectoringLen;
            _xInstrLen = _vectoringLen;
        }
        VmWrite(F.ExitReason, reason);
        VmWrite(F.ExitQualification, qualification);
        VmWrite(F.ExitInstructionLength, _xInstrLen);
        VmWrite(F.ExitInstructionInfo, _xInstrInfo);
        VmWrite(F.ExitInterruptionInfo, _xIntInfo);
        VmWrite(F.ExitInterruptionErrorCode, _xIntError);
        VmWrite(F.IdtVectoringInfo, _vectoring);
        VmWrite(F.IdtVectoringErrorCode, _vectoringErr);
        VmWrite(F.GuestLinearAddress, _xHasLinear ? _xGuestLinear : 0);
        if (_xHasPhys) VmWrite(F.GuestPhysicalAddress, _xGuestPhys);
        VmcsRef(F.EntryInterruptionInfo) &= ~(ulong)Interruption.Valid;
        _vectoring = 0;

        _abortStop = default;
        if (!entryFailure)
        {
            SaveGuestState();
            if (!StoreMsrList(VmRead(F.ExitMsrStoreAddr), (uint)VmRead(F.ExitMsrStoreCount))) { VmxAbort(1); return; }
        }
        if (InNonRoot) LeaveTlbContext();
        bool noVpid = CurrentVpid == 0;
        InNonRoot = false;
        EptActive = false;
        _pdptesFromVmcs = false;
        VmxTimerDeadline = ulong.MaxValue;
        VmxEventWatch = false;
        _entryShadowPending = false;
        _initPending = false;
        Halted = false;
        InterruptShadowUntil = 0;
        MovSsShadow = false;
        DbTrapPending = DbTrapHeld = 0;
        VirtualNmiBlocked = false;
        LoadHostState();
        EnterTlbContext(guest: false, flush: noVpid && !entryFailure);
        if (LoadMsrList(VmRead(F.ExitMsrLoadAddr), (uint)VmRead(F.ExitMsrLoadCount)) != 0) { VmxAbort(4); return; }
        ExitRequest |= ExitEvent;
    }

    /// <summary>VMX abort (§28.7): records the indicator in the VMCS region and shuts the processor down.</summary>
    private void VmxAbort(uint indicator)
    {
        LastVmxAbort = indicator;
        InNonRoot = false;
        if (CurrentVmcsPointer != ulong.MaxValue) Memory.Write(CurrentVmcsPointer + (ulong)Vmx.Vmcs.AbortOffset, 4, indicator);
        Log?.Invoke($"VMX abort {indicator}");
        _abortStop = new StopReason(StopKind.Shutdown);
        RequestStop(_abortStop);
    }

    private void SaveGuestState()
    {
        VmWrite(F.GuestCr0, Cr0);
        VmWrite(F.GuestCr3, Cr3);
        VmWrite(F.GuestCr4, Cr4);
        if ((VExitCtl & C.ExitSaveDebug) != 0)
        {
            VmWrite(F.GuestDr7, Dr[7]);
            VmWrite(F.GuestDebugCtl, DebugCtl);
        }
        VmWrite(F.GuestRsp, R(Reg.Rsp));
        VmWrite(F.GuestRip, Rip);
        VmWrite(F.GuestRflags, GetRflags());
        for (int s = 0; s < Seg.Count; s++)
        {
            ref SegmentRegister sr = ref Segs[s];
            VmWrite(F.GuestSel(s), sr.Selector);
            VmWrite(F.GuestBase(s), sr.Base);
            VmWrite(F.GuestLimit(s), sr.Limit);
            VmWrite(F.GuestAr(s), sr.Attributes & 0x1F0FF);
        }
        VmWrite(F.GuestLdtrSel, Ldtr.Selector); VmWrite(F.GuestLdtrBase, Ldtr.Base);
        VmWrite(F.GuestLdtrLimit, Ldtr.Limit); VmWrite(F.GuestLdtrAr, Ldtr.Attributes & 0x1F0FF);
        VmWrite(F.GuestTrSel, Tr.Selector); VmWrite(F.GuestTrBase, Tr.Base);
        VmWrite(F.GuestTrLimit, Tr.Limit); VmWrite(F.GuestTrAr, Tr.Attributes & 0x1F0FF);
        VmWrite(F.GuestGdtrBase, Gdtr.Base); VmWrite(F.GuestGdtrLimit, Gdtr.Limit);
        VmWrite(F.GuestIdtrBase, Idtr.Base); VmWrite(F.GuestIdtrLimit, Idtr.Limit);
        VmWrite(F.GuestSysenterCs, SysenterCs);
        VmWrite(F.GuestSysenterEsp, SysenterEsp);
        VmWrite(F.GuestSysenterEip, SysenterEip);
        if ((VExitCtl & C.ExitSavePat) != 0) VmWrite(F.GuestPat, Pat);
        if ((VExitCtl & C.ExitSaveEfer) != 0) VmWrite(F.GuestEfer, Efer);
        StoreGuestPdptes();
        ref ulong entryCtl = ref VmcsRef(F.EntryControls);
        entryCtl = (Efer & Bits.EferLma) != 0 ? entryCtl | C.EntryIa32eGuest : entryCtl & ~(ulong)C.EntryIa32eGuest;
        ulong intr = 0;
        if (Retired < InterruptShadowUntil) intr |= MovSsShadow ? 2UL : (IF ? 1UL : 0);
        if (_entryShadowPending) intr |= VmRead(F.GuestInterruptibility) & 3;
        if (GuestNmiBlocked) intr |= 8;
        VmWrite(F.GuestInterruptibility, intr);
        VmWrite(F.GuestActivityState, Halted ? 1UL : 0UL);
        // Debug traps not yet delivered (held by MOV SS blocking): B0-B3 and BS, bit 12 when a breakpoint matched.
        ulong pendingDebug = DbTrapHeld & 0x400F;
        if ((pendingDebug & 0xF) != 0) pendingDebug |= 1 << 12;
        VmWrite(F.GuestPendingDebug, pendingDebug);
        if ((VExitCtl & C.ExitSaveTimer) != 0)
        {
            ulong left = VmxTimerDeadline == ulong.MaxValue || VmxTimerDeadline <= Now ? 0
                : (VmxTimerDeadline >> Cap.TimerRateShift) - (Now >> Cap.TimerRateShift);
            VmWrite(F.PreemptionTimerValue, left);
        }
    }

    private void LoadHostState()
    {
        uint exitCtl = (uint)VmRead(F.ExitControls);
        bool hostLong = (exitCtl & C.ExitHostLongMode) != 0;
        Cr0 = VmRead(F.HostCr0) | Bits.Cr0Et;
        Cr3 = VmRead(F.HostCr3);
        Cr4 = VmRead(F.HostCr4);
        Dr[7] = DebugBits.Dr7Fixed1;
        DebugCtl = 0;
        SysenterCs = VmRead(F.HostSysenterCs);
        SysenterEsp = VmRead(F.HostSysenterEsp);
        SysenterEip = VmRead(F.HostSysenterEip);
        if ((exitCtl & C.ExitLoadPat) != 0) Pat = VmRead(F.HostPat);
        if ((exitCtl & C.ExitLoadEfer) != 0) Efer = VmRead(F.HostEfer);
        else Efer = hostLong ? Efer | Bits.EferLma | Bits.EferLme : Efer & ~(Bits.EferLma | Bits.EferLme);

        const uint dataAr = 0x3 | SegmentRegister.AttrS | SegmentRegister.AttrPresent | SegmentRegister.AttrDefaultBig
            | SegmentRegister.AttrGranularity;
        for (int s = 0; s < Seg.Count; s++)
        {
            ushort sel = (ushort)VmRead(F.HostEsSel + (uint)s * 2);
            ulong bas = s == Seg.Fs ? VmRead(F.HostFsBase) : s == Seg.Gs ? VmRead(F.HostGsBase) : 0;
            uint ar = sel == 0 ? SegmentRegister.AttrUnusable | dataAr : dataAr;
            Segs[s] = new SegmentRegister { Selector = sel, Base = bas, Limit = 0xFFFFFFFF, Attributes = ar };
        }
        Segs[Seg.Cs].Attributes = 0xB | SegmentRegister.AttrS | SegmentRegister.AttrPresent | SegmentRegister.AttrGranularity
            | (hostLong ? SegmentRegister.AttrLong : SegmentRegister.AttrDefaultBig);
        if (Segs[Seg.Ss].Selector == 0) Segs[Seg.Ss].Attributes = SegmentRegister.AttrUnusable | dataAr;
        Tr = new SegmentRegister
        {
            Selector = (ushort)VmRead(F.HostTrSel), Base = VmRead(F.HostTrBase), Limit = 0x67,
            Attributes = 0xB | SegmentRegister.AttrPresent,
        };
        Ldtr = new SegmentRegister { Attributes = SegmentRegister.AttrUnusable };
        Gdtr = new TableRegister { Base = VmRead(F.HostGdtrBase), Limit = 0xFFFF };
        Idtr = new TableRegister { Base = VmRead(F.HostIdtrBase), Limit = 0xFFFF };
        R(Reg.Rsp) = VmRead(F.HostRsp);
        Rip = VmRead(F.HostRip);
        SetRflags(Bits.Fixed1);
        ForceCpl(0);
        UpdateMode();
        UpdateDebugState();
    }
}
