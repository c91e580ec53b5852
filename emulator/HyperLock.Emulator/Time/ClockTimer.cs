namespace HyperLock.Emulator.Time;

/// <summary>A one-shot timer on the <see cref="VirtualClock"/>; re-arm it from its callback for periodic events.</summary>
public sealed class ClockTimer
{
    private readonly VirtualClock _clock;

    internal readonly Action Callback;

    public string Name { get; }

    /// <summary>True while armed.</summary>
    public bool Armed { get; internal set; }

    /// <summary>The virtual cycle at which it fires (meaningful while armed).</summary>
    public ulong Deadline { get; private set; }

    internal ClockTimer(VirtualClock clock, string name, Action callback)
    {
        _clock = clock;
        Name = name;
        Callback = callback;
    }

    /// <summary>Arms (or re-arms) the timer to fire when virtual time reaches <paramref name="deadline"/> cycles.</summary>
    public void Arm(ulong deadline)
    {
        Deadline = deadline;
        Armed = true;
        _clock.Reschedule(armedNow: true);
    }

    /// <summary>Disarms the timer.</summary>
    public void Cancel()
    {
        if (!Armed) return;
        Armed = false;
        _clock.Reschedule(armedNow: false);
    }
}
