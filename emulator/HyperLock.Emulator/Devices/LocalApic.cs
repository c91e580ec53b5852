using System.Numerics;
using HyperLock.Emulator.Time;
using HyperLock.Emulator.Memory;
using HyperLock.Emulator.Processor;

namespace HyperLock.Emulator.Devices;

/// <summary>
/// The local APIC of the one processor, in xAPIC mode (MMIO page at 0xFEE00000) and x2APIC
/// mode (MSRs 0x800-0x8FF, through <see cref="LocalApicMsrs"/>). Emulated: ID, version,
/// TPR (kept in step with CR8), APR, PPR, EOI (with EOI broadcast to the I/O APIC for
/// level-triggered vectors), LDR/DFR, SVR (software enable, spurious vector), ISR/TMR/IRR,
/// ESR with the error LVT, ICR (fixed and lowest-priority IPIs to itself by shorthand or
/// destination; x2APIC SELF IPI), the LVT timer, thermal, performance, LINT0, LINT1 and
/// error entries, and the timer in one-shot, periodic and TSC-deadline modes with the divide
/// configuration. The timer counts at the virtual clock's frequency divided by the divide
/// value. LINT0 in ExtINT mode passes the 8259 output through (the <see cref="InterruptRouter"/>
/// does that); at reset LINT0 is ExtINT and LINT1 NMI, unmasked, as PC firmware leaves them.
/// Not emulated: other processors (INIT, SIPI, NMI, SMI IPIs and IPIs to other destinations
/// are counted and dropped), NMI delivery from LINT1, the thermal, performance and CMCI
/// sources, focus checking, directed EOI, relocating the MMIO page (the base field of
/// IA32_APIC_BASE is stored, the page stays at 0xFEE00000).
/// </summary>
public sealed class LocalApic : IMmioHandler
{
    /// <summary>Default physical address of the xAPIC register page.</summary>
    public const ulong DefaultBase = 0xFEE00000;
    /// <summary>Size of the register page.</summary>
    public const ulong PageSize = 0x1000;
    /// <summary>First x2APIC MSR (register offset 0 / 16).</summary>
    public const uint X2ApicMsrFirst = 0x800;
    /// <summary>Last x2APIC MSR.</summary>
    public const uint X2ApicMsrLast = 0x8FF;

    /// <summary>Register offset: local APIC ID.</summary>
    public const int RegId = 0x020;
    /// <summary>Register offset: version.</summary>
    public const int RegVersion = 0x030;
    /// <summary>Register offset: task priority.</summary>
    public const int RegTpr = 0x080;
    /// <summary>Register offset: arbitration priority (xAPIC only).</summary>
    public const int RegApr = 0x090;
    /// <summary>Register offset: processor priority.</summary>
    public const int RegPpr = 0x0A0;
    /// <summary>Register offset: end of interrupt (write only).</summary>
    public const int RegEoi = 0x0B0;
    /// <summary>Register offset: remote read (xAPIC only).</summary>
    public const int RegRrd = 0x0C0;
    /// <summary>Register offset: logical destination.</summary>
    public const int RegLdr = 0x0D0;
    /// <summary>Register offset: destination format (xAPIC only).</summary>
    public const int RegDfr = 0x0E0;
    /// <summary>Register offset: spurious interrupt vector.</summary>
    public const int RegSvr = 0x0F0;
    /// <summary>Register offset: in-service register, 8 x 32 bits.</summary>
    public const int RegIsr = 0x100;
    /// <summary>Register offset: trigger mode register, 8 x 32 bits.</summary>
    public const int RegTmr = 0x180;
    /// <summary>Register offset: interrupt request register, 8 x 32 bits.</summary>
    public const int RegIrr = 0x200;
    /// <summary>Register offset: error status.</summary>
    public const int RegEsr = 0x280;
    /// <summary>Register offset: LVT corrected machine check interrupt.</summary>
    public const int RegLvtCmci = 0x2F0;
    /// <summary>Register offset: interrupt command, low half.</summary>
    public const int RegIcrLow = 0x300;
    /// <summary>Register offset: interrupt command, high half (xAPIC only).</summary>
    public const int RegIcrHigh = 0x310;
    /// <summary>Register offset: LVT timer.</summary>
    public const int RegLvtTimer = 0x320;
    /// <summary>Register offset: LVT thermal sensor.</summary>
    public const int RegLvtThermal = 0x330;
    /// <summary>Register offset: LVT performance counter.</summary>
    public const int RegLvtPerf = 0x340;
    /// <summary>Register offset: LVT LINT0.</summary>
    public const int RegLvtLint0 = 0x350;
    /// <summary>Register offset: LVT LINT1.</summary>
    public const int RegLvtLint1 = 0x360;
    /// <summary>Register offset: LVT error.</summary>
    public const int RegLvtError = 0x370;
    /// <summary>Register offset: timer initial count.</summary>
    public const int RegTimerInitial = 0x380;
    /// <summary>Register offset: timer current count.</summary>
    public const int RegTimerCurrent = 0x390;
    /// <summary>Register offset: timer divide configuration.</summary>
    public const int RegTimerDivide = 0x3E0;
    /// <summary>Register offset: self IPI (x2APIC only, write only).</summary>
    public const int RegSelfIpi = 0x3F0;

    /// <summary>Version register: version 0x14, highest LVT entry 6 (CMCI, timer, thermal, perf, LINT0, LINT1, error).</summary>
    public const uint VersionValue = 0x00060014;

    /// <summary>LVT: mask bit.</summary>
    public const uint LvtMasked = 1u << 16;
    /// <summary>LVT: delivery status (read only, always idle here).</summary>
    public const uint LvtDeliveryStatus = 1u << 12;
    /// <summary>LVT LINT: remote IRR (read only).</summary>
    public const uint LvtRemoteIrr = 1u << 14;
    /// <summary>LVT LINT: level-triggered.</summary>
    public const uint LvtLevel = 1u << 15;
    /// <summary>LVT delivery mode field shift (bits 10:8).</summary>
    public const int LvtModeShift = 8;
    /// <summary>Delivery mode: fixed.</summary>
    public const uint ModeFixed = 0;
    /// <summary>Delivery mode: lowest priority.</summary>
    public const uint ModeLowest = 1;
    /// <summary>Delivery mode: SMI.</summary>
    public const uint ModeSmi = 2;
    /// <summary>Delivery mode: NMI.</summary>
    public const uint ModeNmi = 4;
    /// <summary>Delivery mode: INIT.</summary>
    public const uint ModeInit = 5;
    /// <summary>Delivery mode: start-up.</summary>
    public const uint ModeStartup = 6;
    /// <summary>Delivery mode: external interrupt (8259 INTA cycle).</summary>
    public const uint ModeExtInt = 7;
    /// <summary>LVT timer mode field shift (bits 18:17).</summary>
    public const int TimerModeShift = 17;
    /// <summary>Timer mode: one-shot.</summary>
    public const uint TimerOneShot = 0;
    /// <summary>Timer mode: periodic.</summary>
    public const uint TimerPeriodic = 1;
    /// <summary>Timer mode: TSC deadline.</summary>
    public const uint TimerTscDeadline = 2;
    /// <summary>Writable bits of the LVT timer entry.</summary>
    public const uint LvtTimerWritable = 0x000700FF;
    /// <summary>Writable bits of the LVT LINT0/LINT1 entries.</summary>
    public const uint LvtLintWritable = 0x0001A7FF;
    /// <summary>Writable bits of the LVT error entry.</summary>
    public const uint LvtErrorWritable = 0x000100FF;
    /// <summary>Writable bits of the LVT thermal, performance and CMCI entries.</summary>
    public const uint LvtOtherWritable = 0x000107FF;
    /// <summary>SVR: APIC software enable.</summary>
    public const uint SvrEnable = 1u << 8;
    /// <summary>SVR: focus processor checking disabled.</summary>
    public const uint SvrFocusDisabled = 1u << 9;
    /// <summary>Writable bits of SVR (vector, enable, focus).</summary>
    public const uint SvrWritable = 0x3FF;
    /// <summary>ICR: destination mode logical.</summary>
    public const uint IcrLogical = 1u << 11;
    /// <summary>ICR: level assert.</summary>
    public const uint IcrAssert = 1u << 14;
    /// <summary>ICR: level-triggered.</summary>
    public const uint IcrLevel = 1u << 15;
    /// <summary>ICR destination shorthand shift (bits 19:18).</summary>
    public const int IcrShorthandShift = 18;
    /// <summary>Shorthand: none (use the destination field).</summary>
    public const uint ShorthandNone = 0;
    /// <summary>Shorthand: self.</summary>
    public const uint ShorthandSelf = 1;
    /// <summary>Shorthand: all including self.</summary>
    public const uint ShorthandAllIncludingSelf = 2;
    /// <summary>Shorthand: all excluding self.</summary>
    public const uint ShorthandAllExcludingSelf = 3;
    /// <summary>Writable bits of ICR low (delivery status is read only).</summary>
    public const uint IcrLowWritable = 0x000CCFFF;
    /// <summary>ESR: send illegal vector.</summary>
    public const uint EsrSendIllegalVector = 1u << 5;
    /// <summary>ESR: received illegal vector.</summary>
    public const uint EsrReceiveIllegalVector = 1u << 6;
    /// <summary>ESR: illegal register address.</summary>
    public const uint EsrIllegalRegister = 1u << 7;
    /// <summary>IA32_APIC_BASE: this processor is the bootstrap processor.</summary>
    public const ulong BaseBsp = 1UL << 8;
    /// <summary>IA32_APIC_BASE: x2APIC mode enable.</summary>
    public const ulong BaseExtd = 1UL << 10;
    /// <summary>IA32_APIC_BASE: APIC global enable.</summary>
    public const ulong BaseEnable = 1UL << 11;
    /// <summary>IA32_APIC_BASE: the page-frame field.</summary>
    public const ulong BaseAddressMask = ((1UL << Cpu.MaxPhysAddrBits) - 1) & ~0xFFFUL;
    /// <summary>DFR power-on value: flat model.</summary>
    public const uint DfrFlat = 0xFFFFFFFF;

    private const int LvtCmci = 0, LvtTimer = 1, LvtThermal = 2, LvtPerf = 3, LvtLint0 = 4, LvtLint1 = 5, LvtError = 6;

    private readonly Cpu _cpu;
    private readonly VirtualClock _clock;
    private readonly ClockTimer _timer;
    private readonly ulong[] _irr = new ulong[4], _isr = new ulong[4], _tmr = new ulong[4];
    private readonly uint[] _lvt = new uint[7];
    private uint _id, _tpr, _ldr, _dfr, _svr, _esr, _esrPending, _icrLow, _icrHigh, _divide, _initialCount;
    private ulong _baseMsr, _timerStart, _tscDeadline;

    /// <summary>Called with the vector on EOI of a level-triggered interrupt (the I/O APIC clears remote IRR).</summary>
    public Action<int>? EoiBroadcast { get; set; }

    /// <summary>Called when LINT0's configuration changes (the router re-evaluates the 8259 path).</summary>
    public Action? Lint0Changed { get; set; }

    /// <summary>Accesses the model does not implement (bad offsets or sizes, IPIs to other processors, unsupported modes).</summary>
    public long UnhandledAccesses { get; private set; }

    /// <summary>Timer interrupts delivered (any mode).</summary>
    public long TimerFires { get; private set; }

    public LocalApic(Cpu cpu, VirtualClock clock, uint apicId = 0)
    {
        _cpu = cpu;
        _clock = clock;
        _timer = clock.CreateTimer("lapic-timer", OnTimer);
        _baseMsr = DefaultBase | BaseEnable | BaseBsp;
        _id = apicId;
        Reset();
    }

    private void Reset()
    {
        Array.Clear(_irr);
        Array.Clear(_isr);
        Array.Clear(_tmr);
        for (int i = 0; i < _lvt.Length; i++) _lvt[i] = LvtMasked;
        _lvt[LvtLint0] = ModeExtInt << LvtModeShift;
        _lvt[LvtLint1] = ModeNmi << LvtModeShift;
        _tpr = _ldr = _esr = _esrPending = _icrLow = _icrHigh = _divide = _initialCount = 0;
        _cpu.Cr8 = 0;
        _dfr = DfrFlat;
        _svr = 0xFF;
        _tscDeadline = 0;
        _timer.Cancel();
        _cpu.ApicBaseMsr = _baseMsr;
        Lint0Changed?.Invoke();
    }

    /// <summary>IA32_APIC_BASE bit 11.</summary>
    public bool GloballyEnabled => (_baseMsr & BaseEnable) != 0;

    /// <summary>x2APIC mode (IA32_APIC_BASE bits 10 and 11).</summary>
    public bool X2ApicMode => (_baseMsr & (BaseEnable | BaseExtd)) == (BaseEnable | BaseExtd);

    /// <summary>SVR bit 8.</summary>
    public bool SoftwareEnabled => (_svr & SvrEnable) != 0;

    /// <summary>The APIC ID.</summary>
    public uint Id => _id;

    /// <summary>True when the 8259's INTR reaches the processor: the APIC is globally disabled, or LINT0 is unmasked ExtINT.</summary>
    public bool PassesExtInt =>
        !GloballyEnabled || ((_lvt[LvtLint0] & LvtMasked) == 0 && ((_lvt[LvtLint0] >> LvtModeShift) & 7) == ModeExtInt);

    /// <summary>The IA32_APIC_BASE MSR.</summary>
    public ulong BaseMsr => _baseMsr;

    /// <summary>IA32_TSC_DEADLINE as software reads it.</summary>
    public ulong TscDeadline => TimerMode == TimerTscDeadline ? _tscDeadline : 0;

    private uint TimerMode => (_lvt[LvtTimer] >> TimerModeShift) & 3;

    // ---- Interrupt acceptance and delivery -------------------------------------------------

    private static int Highest(ulong[] bits)
    {
        for (int w = 3; w >= 0; w--)
            if (bits[w] != 0) return w * 64 + 63 - BitOperations.LeadingZeroCount(bits[w]);
        return -1;
    }

    private static bool Test(ulong[] bits, int v) => (bits[v >> 6] & (1UL << (v & 63))) != 0;
    private static void SetBit(ulong[] bits, int v) => bits[v >> 6] |= 1UL << (v & 63);
    private static void ClearBit(ulong[] bits, int v) => bits[v >> 6] &= ~(1UL << (v & 63));

    private uint Tpr
    {
        get
        {
            // MOV CR8 writes TPR[7:4] and clears TPR[3:0].
            if ((_tpr >> 4) != (uint)(_cpu.Cr8 & 0xF)) _tpr = (uint)(_cpu.Cr8 & 0xF) << 4;
            return _tpr;
        }
        set
        {
            _tpr = value & 0xFF;
            _cpu.Cr8 = _tpr >> 4;
        }
    }

    private uint Ppr
    {
        get
        {
            uint tpr = Tpr;
            int isrv = Highest(_isr);
            uint isrClass = isrv < 0 ? 0u : (uint)isrv & 0xF0;
            return (tpr & 0xF0) >= isrClass ? tpr : isrClass;
        }
    }

    /// <summary>True when a fixed interrupt in the IRR outranks the processor priority.</summary>
    public bool HasDeliverable
    {
        get
        {
            if (!GloballyEnabled || !SoftwareEnabled) return false;
            int irrv = Highest(_irr);
            return irrv >= 0 && ((uint)irrv & 0xF0) > (Ppr & 0xF0);
        }
    }

    /// <summary>The INTA cycle for an APIC interrupt: IRR → ISR; the spurious vector when nothing outranks PPR.</summary>
    public int Acknowledge()
    {
        int irrv = Highest(_irr);
        if (irrv < 0 || ((uint)irrv & 0xF0) <= (Ppr & 0xF0)) return (int)(_svr & 0xFF);
        ClearBit(_irr, irrv);
        SetBit(_isr, irrv);
        return irrv;
    }

    /// <summary>Ends the current decoded block after this instruction so a new interrupt is seen at once.</summary>
    internal void RequestInterruptCheck() => _cpu.ExitRequest |= Cpu.ExitEvent;

    /// <summary>Accepts a fixed interrupt (from the I/O APIC, an LVT entry or an IPI).</summary>
    public void AcceptInterrupt(int vector, bool level)
    {
        if (!GloballyEnabled) return;
        if (vector < 16)
        {
            RecordError(EsrReceiveIllegalVector);
            return;
        }
        SetBit(_irr, vector);
        if (level) SetBit(_tmr, vector); else ClearBit(_tmr, vector);
    }

    /// <summary>Whether a message for <paramref name="dest"/> reaches this APIC.</summary>
    public bool MatchesDestination(uint dest, bool logical)
    {
        if (X2ApicMode)
        {
            if (dest == 0xFFFFFFFF) return true;
            if (!logical) return dest == _id;
            uint ldr = LogicalId;
            return (dest >> 16) == (ldr >> 16) && (dest & ldr & 0xFFFF) != 0;
        }
        dest &= 0xFF;
        if (dest == 0xFF) return true;
        if (!logical) return dest == (_id & 0xFF);
        uint ldr8 = _ldr >> 24;
        if ((_dfr >> 28) == 0xF) return (dest & ldr8) != 0; // flat
        return (dest >> 4) == (ldr8 >> 4) && (dest & ldr8 & 0xF) != 0; // cluster
    }

    private uint LogicalId => X2ApicMode ? ((_id >> 4) << 16) | (1u << (int)(_id & 0xF)) : _ldr;

    private void LocalInterrupt(int lvt)
    {
        uint e = _lvt[lvt];
        if ((e & LvtMasked) != 0) return;
        uint mode = lvt == LvtTimer || lvt == LvtError ? ModeFixed : (e >> LvtModeShift) & 7;
        if (mode == ModeFixed) AcceptInterrupt((int)(e & 0xFF), level: false);
        else if (mode == ModeNmi) _cpu.RaiseNmi(); // the vector field is ignored: NMIs use vector 2
        else UnhandledAccesses++; // SMI, INIT, ExtINT from a local source: not modelled
    }

    /// <summary>
    /// The LINT1 pin is asserted (an external NMI source, such as a board's NMI button): delivered
    /// as LVT LINT1 says (NMI at reset); with the APIC globally disabled the pin is the processor's NMI input.
    /// </summary>
    public void SignalLint1()
    {
        if (!GloballyEnabled) { _cpu.RaiseNmi(); return; }
        LocalInterrupt(LvtLint1);
    }

    private void RecordError(uint bit)
    {
        bool fresh = (_esrPending & bit) == 0;
        _esrPending |= bit;
        if (fresh) LocalInterrupt(LvtError);
    }

    private void Eoi()
    {
        int isrv = Highest(_isr);
        if (isrv < 0) return;
        ClearBit(_isr, isrv);
        if (Test(_tmr, isrv)) EoiBroadcast?.Invoke(isrv);
    }

    private void SendIpi(uint low, uint dest)
    {
        uint mode = (low >> LvtModeShift) & 7;
        uint shorthand = (low >> IcrShorthandShift) & 3;
        int vector = (int)(low & 0xFF);
        bool toSelf = shorthand switch
        {
            ShorthandSelf or ShorthandAllIncludingSelf => true,
            ShorthandAllExcludingSelf => false,
            _ => MatchesDestination(dest, (low & IcrLogical) != 0),
        };
        bool toOthers = shorthand is ShorthandAllIncludingSelf or ShorthandAllExcludingSelf
            || (shorthand == ShorthandNone && !toSelf);
        if (toOthers) UnhandledAccesses++; // no other processors
        if (!toSelf) return;
        if (mode is ModeFixed or ModeLowest)
        {
            if (vector < 16) { RecordError(EsrSendIllegalVector); return; }
            AcceptInterrupt(vector, level: false); // IPIs are edge-triggered
        }
        else if (mode == ModeNmi) _cpu.RaiseNmi();
        else UnhandledAccesses++;
    }

    // ---- Timer -------------------------------------------------------------------------------

    private ulong Divisor
    {
        get
        {
            uint v = (_divide & 3) | ((_divide >> 1) & 4);
            return v == 7 ? 1UL : 2UL << (int)v;
        }
    }

    private uint CurrentCount()
    {
        if (_initialCount == 0 || TimerMode == TimerTscDeadline) return 0;
        ulong ticks = (_clock.Now - _timerStart) / Divisor;
        if (TimerMode == TimerPeriodic) return (uint)(_initialCount - ticks % _initialCount);
        return ticks >= _initialCount ? 0u : (uint)(_initialCount - ticks);
    }

    private void ArmCountTimer()
    {
        if (_initialCount == 0 || TimerMode == TimerTscDeadline) { _timer.Cancel(); return; }
        ulong period = (ulong)_initialCount * Divisor;
        ulong elapsed = _clock.Now - _timerStart;
        if (TimerMode == TimerPeriodic) _timer.Arm(_timerStart + (elapsed / period + 1) * period);
        else if (elapsed < period) _timer.Arm(_timerStart + period);
        else _timer.Cancel();
    }

    private void ArmDeadline()
    {
        if (TimerMode != TimerTscDeadline || _tscDeadline == 0) { _timer.Cancel(); return; }
        // TSC = Now + TscOffset; the deadline in virtual cycles, at once when already past.
        long target = (long)_tscDeadline - _cpu.TscOffset;
        ulong now = _clock.Now;
        _timer.Arm(target <= (long)now ? now : (ulong)target);
    }

    private void OnTimer()
    {
        TimerFires++;
        switch (TimerMode)
        {
            case TimerTscDeadline:
                _tscDeadline = 0;
                LocalInterrupt(LvtTimer);
                break;
            case TimerPeriodic:
                LocalInterrupt(LvtTimer);
                ArmCountTimer();
                break;
            default:
                LocalInterrupt(LvtTimer);
                break;
        }
    }

    // ---- Register file -------------------------------------------------------------------------

    /// <summary>Reads a 32-bit register by offset (xAPIC layout); false when the offset is not a register.</summary>
    private bool TryReadRegister(int offset, out uint value)
    {
        value = 0;
        switch (offset)
        {
            case RegId: value = X2ApicMode ? _id : _id << 24; return true;
            case RegVersion: value = VersionValue; return true;
            case RegTpr: value = Tpr; return true;
            case RegApr: value = Tpr; return !X2ApicMode;
            case RegPpr: value = Ppr; return true;
            case RegLdr: value = LogicalId; return true;
            case RegDfr: value = _dfr; return !X2ApicMode;
            case RegSvr: value = _svr; return true;
            case RegEsr: value = _esr; return true;
            case RegIcrLow: value = _icrLow; return true;
            case RegIcrHigh: value = _icrHigh; return !X2ApicMode;
            case RegLvtCmci: value = _lvt[LvtCmci]; return true;
            case RegLvtTimer: value = _lvt[LvtTimer]; return true;
            case RegLvtThermal: value = _lvt[LvtThermal]; return true;
            case RegLvtPerf: value = _lvt[LvtPerf]; return true;
            case RegLvtLint0: value = _lvt[LvtLint0]; return true;
            case RegLvtLint1: value = _lvt[LvtLint1]; return true;
            case RegLvtError: value = _lvt[LvtError]; return true;
            case RegTimerInitial: value = _initialCount; return true;
            case RegTimerCurrent: value = CurrentCount(); return true;
            case RegTimerDivide: value = _divide; return true;
        }
        if (offset >= RegIsr && offset < RegIrr + 0x80)
        {
            int block = offset >> 7; // 2: ISR, 3: TMR, 4: IRR
            int index = (offset >> 4) & 7;
            ulong[] bits = block == 2 ? _isr : block == 3 ? _tmr : _irr;
            value = (uint)(bits[index >> 1] >> (32 * (index & 1)));
            return true;
        }
        return false;
    }

    /// <summary>Writes a register; false when the offset is not writable (x2APIC: #GP).</summary>
    private bool TryWriteRegister(int offset, ulong value)
    {
        uint v = (uint)value;
        switch (offset)
        {
            case RegId:
                if (X2ApicMode) return false;
                _id = v >> 24;
                return true;
            case RegTpr: Tpr = v & 0xFF; return true;
            case RegEoi: Eoi(); return true;
            case RegLdr:
                if (X2ApicMode) return false;
                _ldr = v & 0xFF000000;
                return true;
            case RegDfr:
                if (X2ApicMode) return false;
                _dfr = v | 0x0FFFFFFF;
                return true;
            case RegSvr:
                _svr = v & SvrWritable;
                if (!SoftwareEnabled)
                {
                    for (int i = 0; i < _lvt.Length; i++) _lvt[i] |= LvtMasked;
                    Lint0Changed?.Invoke();
                }
                return true;
            case RegEsr:
                _esr = _esrPending;
                _esrPending = 0;
                return true;
            case RegIcrLow:
                _icrLow = v & IcrLowWritable;
                if (X2ApicMode)
                {
                    _icrHigh = (uint)(value >> 32);
                    SendIpi(_icrLow, _icrHigh);
                }
                else SendIpi(_icrLow, _icrHigh >> 24);
                return true;
            case RegIcrHigh:
                if (X2ApicMode) return false;
                _icrHigh = v & 0xFF000000;
                return true;
            case RegLvtCmci: WriteLvt(LvtCmci, v, LvtOtherWritable); return true;
            case RegLvtTimer:
            {
                uint oldMode = TimerMode;
                WriteLvt(LvtTimer, v, LvtTimerWritable);
                uint newMode = TimerMode;
                if (newMode == 3) UnhandledAccesses++; // reserved mode: behaves as one-shot here
                if (oldMode != newMode)
                {
                    // Changing between count and deadline modes disarms the timer.
                    _tscDeadline = 0;
                    _initialCount = 0;
                    _timer.Cancel();
                }
                return true;
            }
            case RegLvtThermal: WriteLvt(LvtThermal, v, LvtOtherWritable); return true;
            case RegLvtPerf: WriteLvt(LvtPerf, v, LvtOtherWritable); return true;
            case RegLvtLint0: WriteLvt(LvtLint0, v, LvtLintWritable); Lint0Changed?.Invoke(); return true;
            case RegLvtLint1: WriteLvt(LvtLint1, v, LvtLintWritable); return true;
            case RegLvtError: WriteLvt(LvtError, v, LvtErrorWritable); return true;
            case RegTimerInitial:
                if (TimerMode == TimerTscDeadline) return true; // ignored in deadline mode
                _initialCount = v;
                _timerStart = _clock.Now;
                ArmCountTimer();
                return true;
            case RegTimerDivide:
            {
                uint current = CurrentCount();
                ulong oldDivisor = Divisor;
                _divide = v & 0xB;
                if (_initialCount != 0 && oldDivisor != Divisor && TimerMode != TimerTscDeadline)
                {
                    // Keep the current count: pretend the count started where it now stands.
                    ulong done = TimerMode == TimerPeriodic ? (_initialCount - current) % _initialCount : _initialCount - current;
                    ulong now = _clock.Now;
                    ulong back = done * Divisor;
                    _timerStart = back > now ? 0 : now - back;
                    ArmCountTimer();
                }
                return true;
            }
            case RegSelfIpi:
                if (!X2ApicMode) return false;
                AcceptInterrupt((int)(v & 0xFF), level: false);
                return true;
        }
        return false;
    }

    private void WriteLvt(int index, uint v, uint writable)
    {
        if (!SoftwareEnabled) v |= LvtMasked; // masks cannot be cleared while software-disabled
        _lvt[index] = (_lvt[index] & ~writable) | (v & writable);
    }

    // ---- xAPIC MMIO --------------------------------------------------------------------------

    public ulong Read(ulong offset, int size)
    {
        if (X2ApicMode || !GloballyEnabled) { UnhandledAccesses++; return size == 8 ? ulong.MaxValue : (1UL << (size * 8)) - 1; }
        int reg = (int)(offset & 0xFF0);
        if (!TryReadRegister(reg, out uint v))
        {
            if (reg != RegEoi && reg != RegRrd) UnhandledAccesses++;
            v = 0;
        }
        int shift = (int)(offset & 0xF) * 8;
        if (size == 4 && (offset & 3) == 0 && (offset & 0xF) == 0) return v;
        UnhandledAccesses++; // sub-dword or misaligned access: the byte lanes of the dword
        return shift >= 32 ? 0 : (v >> shift) & (size >= 4 ? uint.MaxValue : (1u << (size * 8)) - 1);
    }

    public void Write(ulong offset, int size, ulong value)
    {
        // EOI, TPR, SVR and IPI writes can make an interrupt deliverable: like hardware, take it
        // after this instruction rather than at the end of the decoded block.
        _cpu.ExitRequest |= Cpu.ExitEvent;
        if (X2ApicMode || !GloballyEnabled) { UnhandledAccesses++; return; }
        if ((offset & 0xF) != 0 || size < 4) { UnhandledAccesses++; return; }
        int reg = (int)(offset & 0xFF0);
        if (reg == RegSelfIpi || !TryWriteRegister(reg, (uint)value))
        {
            UnhandledAccesses++;
            RecordError(EsrIllegalRegister);
        }
    }

    // ---- MSRs (x2APIC, APIC base, TSC deadline) --------------------------------------------------

    /// <summary>RDMSR of an x2APIC register; false → #GP.</summary>
    internal bool ReadX2ApicMsr(uint msr, out ulong value)
    {
        value = 0;
        if (!X2ApicMode) return false;
        int reg = (int)(msr - X2ApicMsrFirst) << 4;
        if (reg == RegEoi || reg == RegSelfIpi) return false; // write only
        if (reg == RegIcrLow) { value = ((ulong)_icrHigh << 32) | _icrLow; return true; }
        if (!TryReadRegister(reg, out uint v)) return false;
        value = v;
        return true;
    }

    /// <summary>WRMSR of an x2APIC register; false → #GP.</summary>
    internal bool WriteX2ApicMsr(uint msr, ulong value)
    {
        if (!X2ApicMode) return false;
        int reg = (int)(msr - X2ApicMsrFirst) << 4;
        if (reg == RegEoi && value != 0) return false;
        if (reg == RegSelfIpi && (value >> 8) != 0) return false; // only the vector (bits 7:0) is defined
        if (reg != RegIcrLow && (value >> 32) != 0) return false;
        return TryWriteRegister(reg, value);
    }

    /// <summary>WRMSR IA32_APIC_BASE with the SDM's transition rules; false → #GP.</summary>
    internal bool WriteBaseMsr(ulong value)
    {
        const ulong reserved = ~(BaseAddressMask | BaseEnable | BaseExtd | BaseBsp);
        if ((value & reserved) != 0) return false;
        bool en = (value & BaseEnable) != 0, extd = (value & BaseExtd) != 0;
        if (extd && !en) return false;                                  // invalid state
        if (X2ApicMode && en && !extd) return false;                    // x2APIC → xAPIC directly
        if (!GloballyEnabled && en && extd) return false;               // disabled → x2APIC directly
        if (extd && (_cpu.Cpuid.Get(1, 0).Ecx & (1u << 21)) == 0) return false;
        if ((value & BaseAddressMask) != (_baseMsr & BaseAddressMask)) UnhandledAccesses++; // relocation not modelled
        bool wasEnabled = GloballyEnabled;
        _baseMsr = (value & ~BaseBsp) | (_baseMsr & BaseBsp);
        _cpu.ApicBaseMsr = _baseMsr;
        if (wasEnabled && !en) Reset();
        Lint0Changed?.Invoke();
        return true;
    }

    /// <summary>WRMSR IA32_TSC_DEADLINE: arms the timer in TSC-deadline mode, ignored otherwise.</summary>
    internal void WriteTscDeadline(ulong value)
    {
        if (TimerMode != TimerTscDeadline) return;
        _tscDeadline = value;
        ArmDeadline();
    }
}
