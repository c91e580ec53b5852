using HyperLock.Emulator.Processor;

namespace HyperLock.Emulator.Time;

/// <summary>
/// Deterministic virtual time and the device timer scheduler. Time is the CPU's
/// <see cref="Cpu.Now"/>: one cycle per retired instruction plus the cycles skipped while
/// halted. A configured frequency (the TSC frequency, 1 GHz by default: one instruction = 1 ns)
/// turns cycles into seconds; the PIT, the local APIC timer and the RTC derive their clocks from
/// it. Devices arm <see cref="ClockTimer"/>s; the clock keeps the CPU's
/// <see cref="Cpu.EventDeadline"/> at the earliest armed deadline and fires timers from
/// <see cref="Cpu.DeadlineReached"/> in deadline order (ties: creation order), so two runs
/// with the same inputs fire the same timers at the same instruction counts.
/// </summary>
public sealed class VirtualClock
{
    /// <summary>The default TSC frequency: 1 GHz, one retired instruction per nanosecond.</summary>
    public const ulong DefaultFrequencyHz = 1_000_000_000;

    private readonly Cpu _cpu;
    private readonly List<ClockTimer> _timers = new();

    /// <summary>Cycles (TSC ticks, retired instructions) per second of virtual time.</summary>
    public ulong FrequencyHz { get; }

    /// <summary>Timer callbacks run so far (diagnostics).</summary>
    public long FiredCount { get; private set; }

    public VirtualClock(Cpu cpu, ulong frequencyHz = DefaultFrequencyHz)
    {
        if (frequencyHz == 0) throw new ArgumentOutOfRangeException(nameof(frequencyHz), "The clock frequency must be positive.");
        _cpu = cpu;
        FrequencyHz = frequencyHz;
        cpu.DeadlineReached = OnDeadline;
    }

    /// <summary>The current virtual time in cycles.</summary>
    public ulong Now => _cpu.Now;

    /// <summary>The current virtual time in nanoseconds.</summary>
    public ulong Nanoseconds => CyclesToNanoseconds(Now);

    public ulong CyclesToNanoseconds(ulong cycles) => (ulong)((UInt128)cycles * 1_000_000_000 / FrequencyHz);

    /// <summary>Cycles for a duration, rounded up so a timer never fires early.</summary>
    public ulong NanosecondsToCycles(ulong ns) => (ulong)(((UInt128)ns * FrequencyHz + 999_999_999) / 1_000_000_000);

    /// <summary>Ticks of a clock of <paramref name="hz"/> that have elapsed at cycle <paramref name="cycles"/> (rounded down).</summary>
    public ulong TicksAt(ulong cycles, ulong hz) => (ulong)((UInt128)cycles * hz / FrequencyHz);

    /// <summary>The first cycle at which a clock of <paramref name="hz"/> has counted <paramref name="ticks"/> ticks.</summary>
    public ulong CycleOfTick(ulong ticks, ulong hz)
    {
        UInt128 c = ((UInt128)ticks * FrequencyHz + hz - 1) / hz;
        return c > ulong.MaxValue ? ulong.MaxValue : (ulong)c;
    }

    /// <summary>Creates a timer that runs <paramref name="callback"/> when its deadline is reached.</summary>
    public ClockTimer CreateTimer(string name, Action callback)
    {
        var t = new ClockTimer(this, name, callback);
        _timers.Add(t);
        return t;
    }

    /// <summary>True when any timer other than <paramref name="except"/> is armed.</summary>
    public bool AnyArmedExcept(ClockTimer? except)
    {
        foreach (var t in _timers)
            if (t.Armed && t != except) return true;
        return false;
    }

    internal void Reschedule(bool armedNow)
    {
        ulong min = ulong.MaxValue;
        foreach (var t in _timers)
            if (t.Armed && t.Deadline < min) min = t.Deadline;
        _cpu.EventDeadline = min;
        // A timer armed by a device access during a block: end the block after this instruction
        // so the run loop recomputes its budget and sees deadlines that are already due.
        if (armedNow) _cpu.ExitRequest |= Cpu.ExitEvent;
    }

    private void OnDeadline()
    {
        for (; ; )
        {
            ClockTimer? due = null;
            ulong now = _cpu.Now;
            foreach (var t in _timers)
                if (t.Armed && t.Deadline <= now && (due == null || t.Deadline < due.Deadline)) due = t;
            if (due == null) break;
            due.Armed = false;
            FiredCount++;
            due.Callback();
        }
        Reschedule(armedNow: false);
    }
}
