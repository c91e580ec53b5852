using HyperLock.Emulator.Time;

namespace HyperLock.Emulator.Devices;

/// <summary>
/// The MC146818-compatible CMOS real-time clock at 0x70 (index; bit 7 masks NMI) and 0x71
/// (data), interrupting on ISA IRQ 8. The time is a start date (2024-01-01 00:00:00 unless
/// configured) plus the virtual time, so every run reads the same clock. Emulated: the time
/// and alarm registers in BCD or binary and 12- or 24-hour format, status registers A-D,
/// the update-in-progress flag (set during the last 244 us of each second), the SET bit
/// (writes to the time registers while it is set move the clock), periodic, alarm and
/// update-ended interrupts and their flags in register C (cleared by reading it), the
/// century byte at 0x32 and 128 bytes of CMOS RAM (with the PC's memory-size bytes). Not
/// emulated: daylight-saving adjustment (DSE is stored only), the divider chain reset and
/// square-wave output, the extended bank at 0x72/0x73.
/// </summary>
public sealed class CmosRtc : IPortDevice
{
    /// <summary>Index port (bits 6:0 select a register; bit 7 disables NMI).</summary>
    public const ushort IndexPort = 0x70;
    /// <summary>Data port.</summary>
    public const ushort DataPort = 0x71;
    /// <summary>ISA IRQ of the RTC.</summary>
    public const int Irq = 8;

    /// <summary>Register: seconds.</summary>
    public const int RegSeconds = 0x00;
    /// <summary>Register: seconds alarm.</summary>
    public const int RegSecondsAlarm = 0x01;
    /// <summary>Register: minutes.</summary>
    public const int RegMinutes = 0x02;
    /// <summary>Register: minutes alarm.</summary>
    public const int RegMinutesAlarm = 0x03;
    /// <summary>Register: hours (bit 7 = PM in 12-hour mode).</summary>
    public const int RegHours = 0x04;
    /// <summary>Register: hours alarm.</summary>
    public const int RegHoursAlarm = 0x05;
    /// <summary>Register: day of week (1 = Sunday).</summary>
    public const int RegDayOfWeek = 0x06;
    /// <summary>Register: day of month.</summary>
    public const int RegDayOfMonth = 0x07;
    /// <summary>Register: month.</summary>
    public const int RegMonth = 0x08;
    /// <summary>Register: year within the century.</summary>
    public const int RegYear = 0x09;
    /// <summary>Register: status A (UIP, divider, rate).</summary>
    public const int RegA = 0x0A;
    /// <summary>Register: status B (SET, interrupt enables, data mode, 24-hour).</summary>
    public const int RegB = 0x0B;
    /// <summary>Register: status C (interrupt flags; read clears).</summary>
    public const int RegC = 0x0C;
    /// <summary>Register: status D (valid RAM and time).</summary>
    public const int RegD = 0x0D;
    /// <summary>CMOS byte: base memory in KiB (low, high).</summary>
    public const int RegBaseMemory = 0x15;
    /// <summary>CMOS byte: extended memory above 1 MiB in KiB, up to 63 MiB (low, high).</summary>
    public const int RegExtendedMemory = 0x17;
    /// <summary>CMOS byte: copy of the extended memory size.</summary>
    public const int RegExtendedMemory2 = 0x30;
    /// <summary>Register: century (IBM PC convention).</summary>
    public const int RegCentury = 0x32;
    /// <summary>CMOS byte: memory above 16 MiB in 64 KiB blocks (low, high).</summary>
    public const int RegMemoryAbove16M = 0x34;

    /// <summary>A: update in progress.</summary>
    public const byte AUip = 0x80;
    /// <summary>A: divider and rate bits (writable).</summary>
    public const byte AWritable = 0x7F;
    /// <summary>A: power-on value (32.768 kHz time base, 1024 Hz periodic rate).</summary>
    public const byte ADefault = 0x26;
    /// <summary>B: SET (stop updates to set the clock).</summary>
    public const byte BSet = 0x80;
    /// <summary>B: periodic interrupt enable.</summary>
    public const byte BPie = 0x40;
    /// <summary>B: alarm interrupt enable.</summary>
    public const byte BAie = 0x20;
    /// <summary>B: update-ended interrupt enable.</summary>
    public const byte BUie = 0x10;
    /// <summary>B: square-wave enable (stored only).</summary>
    public const byte BSqwe = 0x08;
    /// <summary>B: binary (set) or BCD (clear) data mode.</summary>
    public const byte BBinary = 0x04;
    /// <summary>B: 24-hour (set) or 12-hour (clear) mode.</summary>
    public const byte B24Hour = 0x02;
    /// <summary>B: daylight saving enable (stored only).</summary>
    public const byte BDse = 0x01;
    /// <summary>C: interrupt request flag.</summary>
    public const byte CIrqf = 0x80;
    /// <summary>C: periodic interrupt flag.</summary>
    public const byte CPf = 0x40;
    /// <summary>C: alarm flag.</summary>
    public const byte CAf = 0x20;
    /// <summary>C: update-ended flag.</summary>
    public const byte CUf = 0x10;
    /// <summary>D: valid RAM and time.</summary>
    public const byte DVrt = 0x80;
    /// <summary>Index port bit 7: NMI disable.</summary>
    public const byte IndexNmiDisable = 0x80;
    /// <summary>Alarm "don't care" marker (bits 7:6 set).</summary>
    public const byte AlarmDontCare = 0xC0;
    /// <summary>Length of the update-in-progress window before each second, in nanoseconds.</summary>
    public const ulong UipWindowNs = 244_000;
    /// <summary>The default start of the clock.</summary>
    public static readonly DateTime DefaultStart = new(2024, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    private readonly VirtualClock _clock;
    private readonly Action<bool>? _irq;
    private readonly byte[] _ram = new byte[128];
    private readonly ClockTimer _periodicTimer, _secondTimer;
    private readonly DateTime _start;
    private long _offsetSeconds;
    private DateTime _frozen;
    private byte _index;
    private bool _irqLevel;
    private ulong _lastSecondSeen;

    /// <summary>Accesses the model does not implement (writes to read-only registers).</summary>
    public long UnhandledAccesses { get; private set; }

    /// <summary>True while NMIs are masked through the index port.</summary>
    public bool NmiDisabled { get; private set; }

    public CmosRtc(VirtualClock clock, Action<bool>? irq, DateTime? start = null, ulong memoryBytes = 0)
    {
        _clock = clock;
        _irq = irq;
        _start = start ?? DefaultStart;
        _ram[RegA] = ADefault;
        _ram[RegB] = B24Hour;
        _ram[RegD] = DVrt;
        _periodicTimer = clock.CreateTimer("rtc-periodic", OnPeriodic);
        _secondTimer = clock.CreateTimer("rtc-second", OnSecond);
        if (memoryBytes != 0) SetMemorySize(memoryBytes);
    }

    /// <summary>Fills the BIOS memory-size bytes (base, extended, above 16 MiB), as PC firmware does.</summary>
    public void SetMemorySize(ulong bytes)
    {
        SetWord(RegBaseMemory, 640);
        ulong ext = bytes > 0x100000 ? (bytes - 0x100000) / 1024 : 0;
        if (ext > 0xFC00) ext = 0xFC00;
        SetWord(RegExtendedMemory, (ushort)ext);
        SetWord(RegExtendedMemory2, (ushort)ext);
        ulong above = bytes > 0x1000000 ? (bytes - 0x1000000) / 65536 : 0;
        if (above > 0xFFFF) above = 0xFFFF;
        SetWord(RegMemoryAbove16M, (ushort)above);
    }

    private void SetWord(int reg, ushort v)
    {
        _ram[reg] = (byte)v;
        _ram[reg + 1] = (byte)(v >> 8);
    }

    /// <summary>The clock's current date and time.</summary>
    public DateTime Now => (_ram[RegB] & BSet) != 0 ? _frozen : Running;

    private DateTime Running => _start.AddSeconds(_offsetSeconds + (long)(_clock.Nanoseconds / 1_000_000_000));

    private bool Binary => (_ram[RegB] & BBinary) != 0;

    private byte Encode(int v) => Binary ? (byte)v : (byte)(((v / 10) << 4) | (v % 10));

    private int Decode(byte v) => Binary ? v : ((v >> 4) & 0xF) * 10 + (v & 0xF);

    private byte EncodeHours(int h)
    {
        if ((_ram[RegB] & B24Hour) != 0) return Encode(h);
        int h12 = h % 12 == 0 ? 12 : h % 12;
        return (byte)(Encode(h12) | (h >= 12 ? 0x80 : 0));
    }

    private int DecodeHours(byte v)
    {
        if ((_ram[RegB] & B24Hour) != 0) return Decode(v);
        int h = Decode((byte)(v & 0x7F)) % 12;
        return (v & 0x80) != 0 ? h + 12 : h;
    }

    public uint Read(ushort port, int size)
    {
        if (port == IndexPort) return 0xFF; // the index register is write-only
        int reg = _index;
        DateTime t = Now;
        switch (reg)
        {
            case RegSeconds: return Encode(t.Second);
            case RegMinutes: return Encode(t.Minute);
            case RegHours: return EncodeHours(t.Hour);
            case RegDayOfWeek: return Encode((int)t.DayOfWeek + 1);
            case RegDayOfMonth: return Encode(t.Day);
            case RegMonth: return Encode(t.Month);
            case RegYear: return Encode(t.Year % 100);
            case RegCentury: return Encode(t.Year / 100);
            case RegA:
            {
                bool uip = (_ram[RegB] & BSet) == 0 && _clock.Nanoseconds % 1_000_000_000 >= 1_000_000_000 - UipWindowNs;
                return (byte)((_ram[RegA] & AWritable) | (uip ? AUip : 0));
            }
            case RegC:
            {
                // Update-ended is observable by polling even with its interrupt disabled.
                ulong second = _clock.Nanoseconds / 1_000_000_000;
                if (second != _lastSecondSeen && (_ram[RegB] & BSet) == 0) _ram[RegC] |= CUf;
                _lastSecondSeen = second;
                byte c = _ram[RegC];
                _ram[RegC] = 0;
                UpdateIrq();
                return c;
            }
            default: return _ram[reg];
        }
    }

    public void Write(ushort port, int size, uint value)
    {
        byte v = (byte)value;
        if (port == IndexPort)
        {
            _index = (byte)(v & 0x7F);
            NmiDisabled = (v & IndexNmiDisable) != 0;
            return;
        }
        int reg = _index;
        switch (reg)
        {
            case RegSeconds:
            case RegMinutes:
            case RegHours:
            case RegDayOfMonth:
            case RegMonth:
            case RegYear:
            case RegCentury:
                SetTimeField(reg, v);
                return;
            case RegDayOfWeek:
                return; // derived from the date
            case RegA:
                _ram[RegA] = (byte)(v & AWritable);
                ReschedulePeriodic();
                return;
            case RegB:
            {
                bool wasSet = (_ram[RegB] & BSet) != 0;
                if (!wasSet && (v & BSet) != 0) _frozen = Running;
                byte b = v;
                if ((b & BSet) != 0) b &= unchecked((byte)~BUie); // SET clears UIE
                _ram[RegB] = b;
                if (wasSet && (b & BSet) == 0)
                    _offsetSeconds += (long)(_frozen - Running).TotalSeconds;
                ReschedulePeriodic();
                RescheduleSecond();
                return;
            }
            case RegC:
            case RegD:
                UnhandledAccesses++; // read-only
                return;
            default:
                _ram[reg] = v;
                if (reg is RegSecondsAlarm or RegMinutesAlarm or RegHoursAlarm) RescheduleSecond();
                return;
        }
    }

    private void SetTimeField(int reg, byte v)
    {
        DateTime t = Now;
        int year = t.Year, month = t.Month, day = t.Day, hour = t.Hour, minute = t.Minute, second = t.Second;
        switch (reg)
        {
            case RegSeconds: second = Decode(v); break;
            case RegMinutes: minute = Decode(v); break;
            case RegHours: hour = DecodeHours(v); break;
            case RegDayOfMonth: day = Decode(v); break;
            case RegMonth: month = Decode(v); break;
            case RegYear: year = year / 100 * 100 + Decode(v); break;
            case RegCentury: year = Decode(v) * 100 + year % 100; break;
        }
        // Out-of-range values (the chip would count oddly) are clamped to a valid date.
        month = Math.Clamp(month, 1, 12);
        year = Math.Clamp(year, 1, 9999);
        day = Math.Clamp(day, 1, DateTime.DaysInMonth(year, month));
        var nt = new DateTime(year, month, day, Math.Clamp(hour, 0, 23), Math.Clamp(minute, 0, 59), Math.Clamp(second, 0, 59), DateTimeKind.Utc);
        if ((_ram[RegB] & BSet) != 0) _frozen = nt;
        else _offsetSeconds += (long)(nt - Running).TotalSeconds;
        RescheduleSecond();
    }

    /// <summary>Periodic rate in Hz from register A's rate bits (0: off).</summary>
    private ulong PeriodicHz()
    {
        int rate = _ram[RegA] & 0x0F;
        if (rate == 0) return 0;
        return rate <= 2 ? 65536u >> (rate + 7) : 65536u >> rate;
    }

    private void ReschedulePeriodic()
    {
        ulong hz = PeriodicHz();
        if ((_ram[RegB] & BPie) == 0 || hz == 0) { _periodicTimer.Cancel(); return; }
        ulong ticks = _clock.TicksAt(_clock.Now, hz) + 1;
        _periodicTimer.Arm(_clock.CycleOfTick(ticks, hz));
    }

    private void RescheduleSecond()
    {
        if ((_ram[RegB] & (BUie | BAie)) == 0 || (_ram[RegB] & BSet) != 0) { _secondTimer.Cancel(); return; }
        ulong next = _clock.Nanoseconds / 1_000_000_000 + 1;
        _secondTimer.Arm(_clock.NanosecondsToCycles(next * 1_000_000_000));
    }

    private void OnPeriodic()
    {
        _ram[RegC] |= CPf;
        UpdateIrq();
        ReschedulePeriodic();
    }

    private void OnSecond()
    {
        _ram[RegC] |= CUf;
        _lastSecondSeen = _clock.Nanoseconds / 1_000_000_000;
        DateTime t = Now;
        if (AlarmMatches(RegSecondsAlarm, t.Second) && AlarmMatches(RegMinutesAlarm, t.Minute) && AlarmHoursMatch(t.Hour))
            _ram[RegC] |= CAf;
        UpdateIrq();
        RescheduleSecond();
    }

    private bool AlarmMatches(int reg, int value) =>
        (_ram[reg] & AlarmDontCare) == AlarmDontCare || Decode(_ram[reg]) == value;

    private bool AlarmHoursMatch(int hour) =>
        (_ram[RegHoursAlarm] & AlarmDontCare) == AlarmDontCare || DecodeHours(_ram[RegHoursAlarm]) == hour;

    private void UpdateIrq()
    {
        byte b = _ram[RegB], c = _ram[RegC];
        bool req = ((c & CPf) != 0 && (b & BPie) != 0) || ((c & CAf) != 0 && (b & BAie) != 0) || ((c & CUf) != 0 && (b & BUie) != 0);
        if (req) _ram[RegC] |= CIrqf;
        if (req == _irqLevel) return;
        _irqLevel = req;
        _irq?.Invoke(req);
    }
}
