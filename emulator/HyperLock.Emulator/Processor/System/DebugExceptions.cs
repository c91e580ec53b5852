namespace HyperLock.Emulator.Processor;

/// <summary>Debug-register bits (SDM Vol. 3 ch. 18).</summary>
public static class DebugBits
{
    /// <summary>DR6: breakpoint conditions B0-B3, general detect, single step, task switch.</summary>
    public const ulong Dr6B0 = 1, Dr6Bmask = 0xF, Dr6Bd = 1UL << 13, Dr6Bs = 1UL << 14, Dr6Bt = 1UL << 15;
    /// <summary>DR6 bits that always read as one (reserved, and RTM = 1 when TSX is absent).</summary>
    public const ulong Dr6Fixed1 = 0xFFFF0FF0UL;
    /// <summary>DR7: general detect enable; the reserved bit 10 that reads as one.</summary>
    public const ulong Dr7Gd = 1UL << 13, Dr7Fixed1 = 0x400;
    /// <summary>DR7 R/W field values: instruction execution, data write, I/O (CR4.DE), data read or write.</summary>
    public const int RwExecute = 0, RwWrite = 1, RwIo = 2, RwReadWrite = 3;
    /// <summary>IA32_DEBUGCTL: last-branch record (stored, not modelled), single-step on branches.</summary>
    public const ulong DebugCtlLbr = 1, DebugCtlBtf = 2;
    /// <summary>IA32_DEBUGCTL bits software may set here: LBR, BTF, FREEZE_LBRS_ON_PMI, FREEZE_PERFMON_ON_PMI, FREEZE_WHILE_SMM.</summary>
    public const ulong DebugCtlWritable = DebugCtlLbr | DebugCtlBtf | (1UL << 11) | (1UL << 12) | (1UL << 14);
}

/// <summary>
/// Debug exceptions: single-step (RFLAGS.TF, DEBUGCTL.BTF), hardware breakpoints DR0-DR3
/// (execute faults, data and I/O traps), general detect (DR7.GD), RF, and the DR6 status
/// bits. Costs nothing while no breakpoint is enabled and TF = RF = 0: the run loop tests
/// one flag per block; data breakpoints keep their pages out of the TLB so only the slow
/// memory path checks them; execute breakpoints and TF run the core one instruction at a time.
/// </summary>
public sealed partial class Cpu
{
    /// <summary>IA32_DEBUGCTL (MSR 0x1D9).</summary>
    public ulong DebugCtl;

    /// <summary>DR6 bits of debug traps raised by the current instruction (data/I-O breakpoints, single step).</summary>
    internal ulong DbTrapPending;

    /// <summary>Debug traps held over one instruction by MOV SS / POP SS blocking.</summary>
    internal ulong DbTrapHeld;

    /// <summary>DR6 bits of the #DB being raised or delivered (0 for INT1, which leaves DR6 alone).</summary>
    private ulong _dbEventBits;

    /// <summary>Enabled breakpoints by kind: bit n = DRn.</summary>
    private int _execBps, _dataBps, _ioBps;

    /// <summary>True when the run loop must execute one instruction at a time to check execute breakpoints.</summary>
    private bool _execBpArmed;

    /// <summary>IRET, or a VM entry, loaded RFLAGS.RF: it is not cleared after this instruction.</summary>
    internal bool RfLoaded;

    /// <summary>True when some data breakpoint is enabled (memory slow paths check it).</summary>
    internal bool DataBreakpointsArmed => _dataBps != 0;

    /// <summary>Recomputes the enabled-breakpoint sets after DR0-DR7 or CR4.DE change.</summary>
    internal void UpdateDebugState()
    {
        int exec = 0, data = 0, io = 0;
        ulong dr7 = Dr[7];
        for (int n = 0; n < 4; n++)
        {
            if (((dr7 >> (2 * n)) & 3) == 0) continue;
            int rw = (int)((dr7 >> (16 + 4 * n)) & 3);
            switch (rw)
            {
                case DebugBits.RwExecute: exec |= 1 << n; break;
                case DebugBits.RwIo: if ((Cr4 & Bits.Cr4De) != 0) io |= 1 << n; break;
                default: data |= 1 << n; break;
            }
        }
        bool dataChanged = data != 0 || _dataBps != 0;
        _execBps = exec;
        _dataBps = data;
        _ioBps = io;
        _execBpArmed = exec != 0;
        // Pages holding a data breakpoint must leave the TLB so that accesses reach the check.
        if (dataChanged) FlushTlb(includeGlobal: true);
    }

    /// <summary>Bytes a breakpoint covers: LEN 00 = 1, 01 = 2, 11 = 4, 10 = 8.</summary>
    private ulong BreakpointLength(int n) => ((Dr[7] >> (18 + 4 * n)) & 3) switch { 0 => 1, 1 => 2, 3 => 4, _ => 8 };

    /// <summary>True when a data breakpoint lies on the linear page of <paramref name="lin"/> (kept out of the TLB).</summary>
    internal bool DataBreakpointOnPage(ulong lin)
    {
        for (int n = 0; n < 4; n++)
        {
            if ((_dataBps & (1 << n)) == 0) continue;
            ulong len = BreakpointLength(n);
            ulong start = Dr[n] & ~(len - 1);
            if ((start >> 12) == (lin >> 12) || ((start + len - 1) >> 12) == (lin >> 12)) return true;
        }
        return false;
    }

    /// <summary>A data access of <paramref name="size"/> bytes: records the breakpoints it hits as a trap after the instruction.</summary>
    internal void CheckDataBreakpoints(ulong lin, int size, bool write)
    {
        ulong hits = 0;
        for (int n = 0; n < 4; n++)
        {
            if ((_dataBps & (1 << n)) == 0) continue;
            int rw = (int)((Dr[7] >> (16 + 4 * n)) & 3);
            if (rw == DebugBits.RwWrite && !write) continue;
            ulong len = BreakpointLength(n);
            ulong start = Dr[n] & ~(len - 1);
            if (lin < start + len && start < lin + (ulong)size) hits |= 1UL << n;
        }
        if (hits == 0) return;
        DbTrapPending |= hits;
        ExitRequest |= ExitEvent; // end the block after this instruction: the trap is taken there
    }

    /// <summary>IN/OUT/INS/OUTS reached a port: I/O breakpoints (CR4.DE, R/W = 10b) trap after the instruction.</summary>
    public void CheckIoBreakpoints(ushort port, int size)
    {
        if (_ioBps == 0) return;
        ulong hits = 0;
        for (int n = 0; n < 4; n++)
        {
            if ((_ioBps & (1 << n)) == 0) continue;
            ulong len = BreakpointLength(n);
            ulong start = Dr[n] & 0xFFFF & ~(len - 1);
            if (port < start + len && start < (ulong)port + (ulong)size) hits |= 1UL << n;
        }
        if (hits == 0) return;
        DbTrapPending |= hits;
        ExitRequest |= ExitEvent;
    }

    /// <summary>True when the run loop must step one instruction at a time: TF, RF, or an execute breakpoint.</summary>
    internal bool DebugStepping => _execBpArmed || (RflagsRest & (Bits.Tf | Bits.Rf)) != 0;

    /// <summary>
    /// Before fetching the instruction at RIP: an enabled execute breakpoint at its linear
    /// address raises a #DB fault unless RF suppresses it. Returns true when it raised one.
    /// </summary>
    private bool CheckExecuteBreakpoints()
    {
        if (!_execBpArmed || (RflagsRest & Bits.Rf) != 0) return false;
        ulong lin = CodeLinear(Rip);
        ulong hits = 0;
        for (int n = 0; n < 4; n++)
            if ((_execBps & (1 << n)) != 0 && Dr[n] == lin) hits |= 1UL << n;
        if (hits == 0) return false;
        RaiseDebugFault(hits);
        return true;
    }

    /// <summary>Raises a #DB fault (execute breakpoint, general detect) with the DR6 bits it reports.</summary>
    public void RaiseDebugFault(ulong dr6Bits)
    {
        if (Faulted) return;
        _dbEventBits = dr6Bits;
        RaiseFault(Vector.DB);
    }

    // State at the start of a stepped instruction.
    private bool _stepTf, _stepNonRoot;
    private ulong _stepRip;

    /// <summary>Before one stepped instruction: remembers TF, RIP and the VMX mode it starts with.</summary>
    private void BeginDebugStep()
    {
        _stepTf = (RflagsRest & Bits.Tf) != 0;
        _stepNonRoot = InNonRoot;
        _stepRip = Rip;
        RfLoaded = false;
    }

    /// <summary>
    /// After one stepped instruction of <paramref name="len"/> bytes: a single-step trap if TF was
    /// set when it began (with DEBUGCTL.BTF only after a taken branch), and RF cleared unless the
    /// instruction loaded it.
    /// </summary>
    private void AfterDebugStep(int len)
    {
        if (Faulted) return;
        if (!RfLoaded) RflagsRest &= ~Bits.Rf;
        if (!_stepTf || _stepNonRoot != InNonRoot) return; // VM entry/exit: the guest/host starts fresh
        if ((DebugCtl & DebugBits.DebugCtlBtf) != 0 && Rip == _stepRip + (ulong)len) return;
        DbTrapPending |= DebugBits.Dr6Bs;
    }

    /// <summary>
    /// At the end of an instruction with debug traps pending: a fault discards them (the fault
    /// is delivered instead); MOV SS blocking holds them over the next instruction; otherwise
    /// the #DB trap is raised, to be delivered before any interrupt.
    /// </summary>
    private void ResolveDebugTraps()
    {
        if (Faulted)
        {
            // A VM exit caused by the instruction keeps the traps held from before it (pending debug exceptions).
            if (PendingVector != VmExitPendingVector) DbTrapHeld = 0;
            DbTrapPending = 0;
            return;
        }
        ulong bits = DbTrapPending | DbTrapHeld;
        DbTrapPending = 0;
        // MOV SS blocking: from the instruction just executed, or loaded by a VM entry (resolved at the next boundary).
        if (MovSsShadow && (InterruptShadowUntil > Retired || _entryShadowPending))
        {
            DbTrapHeld = bits;
            return;
        }
        DbTrapHeld = 0;
        _dbEventBits = bits;
        RaiseFault(Vector.DB);
    }

    /// <summary>
    /// Delivery of a #DB exception (not INT1) through the IDT: DR6 reports the conditions
    /// (B0-B3 replaced, BD/BS/BT accumulated) and DR7.GD is cleared so the handler may use the
    /// debug registers.
    /// </summary>
    private void OnDebugExceptionDelivered()
    {
        ulong bits = TakeDebugEventBits();
        Dr[6] = (Dr[6] & ~DebugBits.Dr6Bmask) | bits | DebugBits.Dr6Fixed1;
        Dr[7] &= ~DebugBits.Dr7Gd;
    }

    /// <summary>The DR6 bits of the #DB being delivered, consumed.</summary>
    private ulong TakeDebugEventBits()
    {
        ulong bits = _dbEventBits;
        _dbEventBits = 0;
        return bits;
    }

    /// <summary>General detect: any MOV DR while DR7.GD = 1 raises a #DB fault with DR6.BD. Returns true when it did.</summary>
    public bool CheckGeneralDetect()
    {
        if ((Dr[7] & DebugBits.Dr7Gd) == 0) return false;
        RaiseDebugFault(DebugBits.Dr6Bd);
        return true;
    }

    /// <summary>IA32_DEBUGCTL write: reserved bits raise #GP.</summary>
    public bool WriteDebugCtl(ulong value)
    {
        if ((value & ~DebugBits.DebugCtlWritable) != 0) return false;
        DebugCtl = value;
        return true;
    }
}
