using HyperLock.Emulator.Time;
using HyperLock.Emulator.Memory;
using HyperLock.Emulator.Processor;

namespace HyperLock.Emulator.Tests.Devices;

/// <summary>
/// A processor that never runs, with a virtual clock: device tests move time forward by hand
/// (as HLT would) and the clock fires the timers that fall due, in order.
/// </summary>
internal sealed class DeviceTestBench : IDisposable
{
    public PhysicalMemory Memory { get; } = new(1 << 20);
    public Cpu Cpu { get; }
    public VirtualClock Clock { get; }

    public DeviceTestBench(ulong hz = VirtualClock.DefaultFrequencyHz)
    {
        Cpu = new Cpu(Memory);
        Clock = new VirtualClock(Cpu, hz);
    }

    /// <summary>Advances virtual time by <paramref name="cycles"/>, firing due timers at their deadlines.</summary>
    public void Advance(ulong cycles)
    {
        ulong target = Cpu.Now + cycles;
        while (Cpu.EventDeadline <= target)
        {
            if (Cpu.EventDeadline > Cpu.Now) Cpu.IdleCycles += Cpu.EventDeadline - Cpu.Now;
            Cpu.EventDeadline = ulong.MaxValue;
            Cpu.DeadlineReached!();
        }
        Cpu.IdleCycles += target - Cpu.Now;
    }

    /// <summary>Advances to an absolute virtual time.</summary>
    public void AdvanceTo(ulong cycle)
    {
        if (cycle > Cpu.Now) Advance(cycle - Cpu.Now);
    }

    public void Dispose() => Memory.Dispose();
}

/// <summary>Records the level changes of an interrupt line.</summary>
internal sealed class IrqProbe
{
    public bool Level { get; private set; }
    public int RisingEdges { get; private set; }
    public List<(ulong Time, bool Level)> Changes { get; } = new();
    private readonly Func<ulong> _now;

    public IrqProbe(Func<ulong> now) => _now = now;

    public void Set(bool level)
    {
        if (level && !Level) RisingEdges++;
        if (level != Level) Changes.Add((_now(), level));
        Level = level;
    }

    public List<ulong> RiseTimes()
    {
        var l = new List<ulong>();
        foreach (var c in Changes) if (c.Level) l.Add(c.Time);
        return l;
    }
}
