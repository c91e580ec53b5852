namespace HyperLock.DeviceModel;

/// <summary>
/// A single 8259A PIC (master only, ports 0x20/0x21): the ICW1-ICW4 initialisation sequence
/// (vector base from ICW2), the mask register (OCW1), non-specific EOI (OCW3 reads are not
/// modelled). Lines are edge-triggered: <see cref="Raise"/> sets the request bit.
/// </summary>
public sealed class InterruptController
{
    public const ushort Command = 0x20, Data = 0x21;

    private byte _irr, _isr, _imr = 0xFF, _vectorBase = 0x08;
    private int _initStep; // 0 = ready; 1..3 = expecting ICW2..ICW4
    private bool _expectIcw4;

    public bool Claims(ushort port) => port is Command or Data;

    public void Raise(int line) => _irr |= (byte)(1 << line);

    public ulong Read(ushort port) => port == Data ? _imr : _irr;

    public void Write(ushort port, ulong value)
    {
        byte v = (byte)value;
        if (port == Command)
        {
            if ((v & 0x10) != 0) { _initStep = 1; _expectIcw4 = (v & 1) != 0; _imr = 0; _isr = 0; _irr = 0; return; }
            if ((v & 0x18) == 0 && (v & 0x20) != 0) _isr &= (byte)(_isr - 1); // non-specific EOI: clear the highest-priority (lowest) bit
            return;
        }
        switch (_initStep)
        {
            case 1: _vectorBase = (byte)(v & 0xF8); _initStep = 2; return;
            case 2: _initStep = _expectIcw4 ? 3 : 0; return;
            case 3: _initStep = 0; return;
            default: _imr = v; return;
        }
    }

    /// <summary>The vector of the highest-priority request that is unmasked and not blocked by one in service; null if none.</summary>
    public int? Pending()
    {
        int requests = _irr & ~_imr;
        for (int line = 0; line < 8; line++)
        {
            if ((_isr & (1 << line)) != 0) return null;
            if ((requests & (1 << line)) != 0) return _vectorBase + line;
        }
        return null;
    }

    /// <summary>The CPU takes the interrupt: request → in service.</summary>
    public void Acknowledge()
    {
        int? v = Pending();
        if (v is null) return;
        int line = v.Value - _vectorBase;
        _irr &= (byte)~(1 << line);
        _isr |= (byte)(1 << line);
    }
}
