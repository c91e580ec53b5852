namespace HyperLock.DeviceModel;

/// <summary>
/// Channel 0 of an 8254 PIT (ports 0x40, 0x43) in the periodic modes 2 and 3, lo/hi byte access:
/// every reload-value input clocks it raises IRQ 0. Time is what the hypervisor says it is
/// (<see cref="Advance"/>), so runs are deterministic.
/// </summary>
public sealed class IntervalTimer(InterruptController pic)
{
    public const ushort Channel0 = 0x40, ModeCommand = 0x43;

    private uint _reload, _remaining;
    private bool _running, _highByteNext;

    public long Ticks { get; private set; }

    public bool Claims(ushort port) => port is Channel0 or ModeCommand;

    public ulong Read(ushort port) => port == Channel0 ? _remaining & 0xFF : 0UL;

    public void Write(ushort port, ulong value)
    {
        byte v = (byte)value;
        if (port == ModeCommand)
        {
            if ((v >> 6) == 0) { _running = false; _highByteNext = false; _reload = 0; }
            return;
        }
        if (!_highByteNext) { _reload = v; _highByteNext = true; return; }
        _reload |= (uint)v << 8;
        if (_reload == 0) _reload = 0x10000;
        _highByteNext = false;
        _remaining = _reload;
        _running = true;
    }

    /// <summary>Clocks until the next IRQ 0, or null when the timer is stopped.</summary>
    public uint? ClocksToNextTick => _running ? _remaining : null;

    /// <summary>Runs the counter for <paramref name="clocks"/> input clocks, raising IRQ 0 at each terminal count.</summary>
    public void Advance(uint clocks)
    {
        if (!_running) return;
        while (clocks >= _remaining)
        {
            clocks -= _remaining;
            _remaining = _reload;
            Ticks++;
            pic.Raise(0);
        }
        _remaining -= clocks;
    }
}
