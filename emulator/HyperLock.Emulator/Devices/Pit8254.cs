using HyperLock.Emulator.Time;

namespace HyperLock.Emulator.Devices;

/// <summary>
/// The 8254 programmable interval timer at 0x40-0x43, clocked at 1.193182 MHz derived from
/// the virtual clock, plus port 0x61 (system control port B: channel 2 gate, speaker enable,
/// refresh toggle, OUT2 status). Channel 0 drives ISA IRQ 0. Emulated: all six counter modes
/// as far as software can observe them (counting, reload, OUT level, gate on channel 2),
/// binary and BCD counting, LSB/MSB/LSB-then-MSB access, the counter-latch and read-back
/// commands with status bytes. Simplifications: a new count in modes 2 and 3 takes effect
/// immediately rather than at the end of the current period; IRQ 0 is a pulse at each rising
/// edge of OUT0 (one per period in modes 2 and 3); channel 1 (DRAM refresh) counts but
/// drives nothing; the speaker makes no sound.
/// </summary>
public sealed class Pit8254 : IPortDevice
{
    /// <summary>Input clock of every channel, in Hz.</summary>
    public const ulong FrequencyHz = 1_193_182;
    /// <summary>Channel 0 counter port (system timer, IRQ 0).</summary>
    public const ushort Channel0Port = 0x40;
    /// <summary>Channel 1 counter port (DRAM refresh).</summary>
    public const ushort Channel1Port = 0x41;
    /// <summary>Channel 2 counter port (speaker, gated by port 0x61 bit 0).</summary>
    public const ushort Channel2Port = 0x42;
    /// <summary>Mode/command register (write only).</summary>
    public const ushort CommandPort = 0x43;
    /// <summary>System control port B.</summary>
    public const ushort SystemControlPort = 0x61;

    /// <summary>Command bits 7:6 value 3: read-back command.</summary>
    public const int SelectReadBack = 3;
    /// <summary>Command access mode 0: counter latch command.</summary>
    public const int AccessLatch = 0;
    /// <summary>Command access mode 1: low byte only.</summary>
    public const int AccessLow = 1;
    /// <summary>Command access mode 2: high byte only.</summary>
    public const int AccessHigh = 2;
    /// <summary>Command access mode 3: low byte then high byte.</summary>
    public const int AccessLowHigh = 3;
    /// <summary>Command bit 0: BCD counting.</summary>
    public const byte CommandBcd = 0x01;
    /// <summary>Read-back bit 5 clear: latch the counts of the selected channels.</summary>
    public const byte ReadBackNoCount = 0x20;
    /// <summary>Read-back bit 4 clear: latch the status of the selected channels.</summary>
    public const byte ReadBackNoStatus = 0x10;
    /// <summary>Status byte bit 7: OUT pin level.</summary>
    public const byte StatusOut = 0x80;
    /// <summary>Status byte bit 6: null count (a count was written but not yet loaded).</summary>
    public const byte StatusNullCount = 0x40;
    /// <summary>Port 0x61 bit 0: channel 2 gate.</summary>
    public const byte PortBGate2 = 0x01;
    /// <summary>Port 0x61 bit 1: speaker data enable.</summary>
    public const byte PortBSpeaker = 0x02;
    /// <summary>Port 0x61 bits 3:2: parity/IOCHK check disables (stored, no effect).</summary>
    public const byte PortBCheckDisables = 0x0C;
    /// <summary>Port 0x61 bit 4: refresh request toggle (flips every 15.085 us).</summary>
    public const byte PortBRefresh = 0x10;
    /// <summary>Port 0x61 bit 5: OUT2 level.</summary>
    public const byte PortBOut2 = 0x20;
    /// <summary>Refresh toggle half-period in nanoseconds.</summary>
    public const ulong RefreshPeriodNs = 15_085;

    private sealed class Channel
    {
        public int Mode, Access;
        public bool Bcd, Gate, Counting, NullCount;
        public uint Reload;          // as written (0 means the maximum)
        public ulong LoadTime;       // cycle at which counting (re)started
        public bool CountLatched, StatusLatched, LatchHighNext, ReadHighNext, WriteHighNext;
        public ushort LatchedCount;
        public byte LatchedStatus, WriteLow;
    }

    private readonly VirtualClock _clock;
    private readonly Channel[] _ch = [new(), new(), new()];
    private readonly ClockTimer _timer;
    private readonly Action<bool>? _irq0;
    private byte _portB;
    private bool _out0;

    /// <summary>Accesses the model does not implement (writes to the read-only parts, reads of 0x43).</summary>
    public long UnhandledAccesses { get; private set; }

    /// <summary>Rising edges of OUT0 delivered to IRQ 0.</summary>
    public long Irq0Pulses { get; private set; }

    public Pit8254(VirtualClock clock, Action<bool>? irq0)
    {
        _clock = clock;
        _irq0 = irq0;
        _timer = clock.CreateTimer("pit0", OnTimer);
        _ch[0].Gate = _ch[1].Gate = true;
        for (int i = 0; i < 3; i++) _ch[i].Access = AccessLowHigh;
    }

    private ulong Elapsed(Channel c) => _clock.TicksAt(_clock.Now - c.LoadTime, FrequencyHz);

    private static ulong Period(Channel c)
    {
        if (c.Bcd) { uint b = FromBcd(c.Reload); return b == 0 ? 10000u : b; }
        return c.Reload == 0 ? 0x10000u : c.Reload;
    }

    private static ulong Modulus(Channel c) => c.Bcd ? 10000u : 0x10000u;

    private static uint FromBcd(uint v) => (v & 0xF) + ((v >> 4) & 0xF) * 10 + ((v >> 8) & 0xF) * 100 + ((v >> 12) & 0xF) * 1000;
    private static uint ToBcd(uint v) => (v % 10) | ((v / 10 % 10) << 4) | ((v / 100 % 10) << 8) | ((v / 1000 % 10) << 12);

    /// <summary>The counting element's current value.</summary>
    private ushort Count(Channel c)
    {
        if (!c.Counting) return (ushort)c.Reload;
        ulong n = Period(c), d = Elapsed(c);
        ulong v = c.Mode switch
        {
            2 => n - d % n,
            3 => n - (2 * d) % n,
            // Modes 0, 1, 4, 5 keep counting down (wrapping) after terminal count.
            _ => (n + Modulus(c) - d % Modulus(c)) % Modulus(c),
        };
        if (c.Bcd) return (ushort)ToBcd((uint)(v % 10000));
        return (ushort)v;
    }

    /// <summary>The OUT pin.</summary>
    private bool Out(Channel c)
    {
        if (!c.Counting) return c.Mode != 0;
        ulong n = Period(c), d = Elapsed(c);
        return c.Mode switch
        {
            0 => d >= n,
            1 => d >= n,
            2 => d % n != n - 1,
            3 => d % n < (n + 1) / 2,
            _ => d != n, // 4, 5: low for one clock at terminal count
        };
    }

    private void Load(Channel c)
    {
        c.LoadTime = _clock.Now;
        c.NullCount = false;
        // Modes 1 and 5 wait for a rising gate on channel 2; on channels 0 and 1 the gate is
        // tied high and they start at once.
        c.Counting = c.Mode is 1 or 5 ? c != _ch[2] : c.Gate;
        if (c == _ch[0]) Reschedule();
    }

    private void Reschedule()
    {
        var c = _ch[0];
        bool out0 = Out(c);
        if (out0 != _out0)
        {
            _out0 = out0;
            if (c.Mode == 0) _irq0?.Invoke(out0);
        }
        if (!c.Counting) { _timer.Cancel(); return; }
        ulong n = Period(c), d = Elapsed(c);
        ulong nextTick;
        switch (c.Mode)
        {
            case 0:
            case 1:
                if (d >= n) { _timer.Cancel(); return; }
                nextTick = n;
                break;
            case 2:
            case 3:
                nextTick = (d / n + 1) * n;
                break;
            default:
                if (d >= n) { _timer.Cancel(); return; }
                nextTick = n;
                break;
        }
        _timer.Arm(c.LoadTime + _clock.CycleOfTick(nextTick, FrequencyHz));
    }

    private void OnTimer()
    {
        var c = _ch[0];
        if (c.Mode == 0 || c.Mode == 1)
        {
            _out0 = true;
            Irq0Pulses++;
            _irq0?.Invoke(true);
        }
        else
        {
            Irq0Pulses++;
            _irq0?.Invoke(true);
            _irq0?.Invoke(false);
        }
        Reschedule();
    }

    public uint Read(ushort port, int size)
    {
        if (port == SystemControlPort)
        {
            bool refresh = (_clock.Nanoseconds / RefreshPeriodNs & 1) != 0;
            return (uint)(_portB & (PortBGate2 | PortBSpeaker | PortBCheckDisables))
                | (refresh ? PortBRefresh : 0u) | (Out(_ch[2]) ? PortBOut2 : 0u);
        }
        if (port == CommandPort) { UnhandledAccesses++; return 0xFF; }
        var c = _ch[port - Channel0Port];
        if (c.StatusLatched)
        {
            c.StatusLatched = false;
            return c.LatchedStatus;
        }
        if (c.CountLatched)
        {
            byte b;
            switch (c.Access)
            {
                case AccessLow: b = (byte)c.LatchedCount; c.CountLatched = false; break;
                case AccessHigh: b = (byte)(c.LatchedCount >> 8); c.CountLatched = false; break;
                default:
                    b = c.LatchHighNext ? (byte)(c.LatchedCount >> 8) : (byte)c.LatchedCount;
                    if (c.LatchHighNext) c.CountLatched = false;
                    c.LatchHighNext = !c.LatchHighNext;
                    break;
            }
            return b;
        }
        ushort count = Count(c);
        switch (c.Access)
        {
            case AccessLow: return (byte)count;
            case AccessHigh: return (byte)(count >> 8);
            default:
                byte r = c.ReadHighNext ? (byte)(count >> 8) : (byte)count;
                c.ReadHighNext = !c.ReadHighNext;
                return r;
        }
    }

    public void Write(ushort port, int size, uint value)
    {
        byte v = (byte)value;
        if (port == SystemControlPort)
        {
            var c2 = _ch[2];
            bool oldGate = c2.Gate;
            _portB = (byte)(v & (PortBGate2 | PortBSpeaker | PortBCheckDisables));
            SetGate2((v & PortBGate2) != 0, oldGate);
            return;
        }
        if (port == CommandPort)
        {
            int select = v >> 6;
            if (select == SelectReadBack)
            {
                for (int i = 0; i < 3; i++)
                {
                    if ((v & (2 << i)) == 0) continue;
                    var rc = _ch[i];
                    if ((v & ReadBackNoCount) == 0) LatchCount(rc);
                    if ((v & ReadBackNoStatus) == 0 && !rc.StatusLatched)
                    {
                        rc.StatusLatched = true;
                        rc.LatchedStatus = (byte)((Out(rc) ? StatusOut : 0) | (rc.NullCount ? StatusNullCount : 0)
                            | (rc.Access << 4) | (rc.Mode << 1) | (rc.Bcd ? 1 : 0));
                    }
                }
                return;
            }
            var c = _ch[select];
            int access = (v >> 4) & 3;
            if (access == AccessLatch) { LatchCount(c); return; }
            c.Access = access;
            int mode = (v >> 1) & 7;
            c.Mode = mode >= 6 ? mode - 4 : mode; // 6 and 7 alias 2 and 3
            c.Bcd = (v & CommandBcd) != 0;
            c.Counting = false;
            c.NullCount = true;
            c.ReadHighNext = c.WriteHighNext = false;
            c.CountLatched = false;
            if (select == 0) Reschedule();
            return;
        }
        var ch = _ch[port - Channel0Port];
        switch (ch.Access)
        {
            case AccessLow: ch.Reload = v; Load(ch); break;
            case AccessHigh: ch.Reload = (uint)v << 8; Load(ch); break;
            default:
                if (!ch.WriteHighNext)
                {
                    ch.WriteLow = v;
                    ch.WriteHighNext = true;
                    if (ch.Mode == 0 && ch.Counting)
                    {
                        // Writing the first byte in mode 0 stops the count (OUT goes low).
                        ch.Counting = false;
                        if (ch == _ch[0]) Reschedule();
                    }
                }
                else
                {
                    ch.Reload = ch.WriteLow | ((uint)v << 8);
                    ch.WriteHighNext = false;
                    Load(ch);
                }
                break;
        }
    }

    private static void LatchCountValue(Channel c, ushort value)
    {
        c.CountLatched = true;
        c.LatchedCount = value;
        c.LatchHighNext = false;
    }

    private void LatchCount(Channel c)
    {
        if (c.CountLatched) return; // a second latch before the read is ignored
        LatchCountValue(c, Count(c));
    }

    private void SetGate2(bool gate, bool oldGate)
    {
        var c = _ch[2];
        if (gate == oldGate) return;
        if (gate)
        {
            c.Gate = true;
            // A rising gate (re)starts the count in modes 1, 2, 3 and 5, and resumes it in 0 and 4.
            if (!c.NullCount) { c.LoadTime = _clock.Now; c.Counting = true; }
        }
        else
        {
            c.Gate = false;
            // Gate low stops counting (simplification: the count restarts from the reload
            // value when the gate rises again, which is what Linux's calibration expects).
            if (c.Mode is 0 or 2 or 3 or 4) c.Counting = false;
        }
    }
}
