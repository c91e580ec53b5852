namespace HyperLock.Emulator.Devices;

/// <summary>
/// A 16550A UART (COM1 is at 0x3F8, IRQ 4). Transmitted bytes go to a host stream at once
/// (the transmitter is always empty again by the next instruction); received bytes come from
/// an input queue the host fills. Emulated: all eight registers with DLAB, the divisor latch,
/// scratch register, IER (four bits), IIR with FIFO-enabled bits and interrupt priorities
/// (line status, received data, THR empty, modem status), FCR FIFO enable and clears, LCR,
/// MCR with loopback (MSR follows DTR/RTS/OUT1/OUT2, transmitted bytes are received), LSR
/// and MSR with delta bits. This is what Linux's 8250 driver probes: IER read-back, the
/// loopback MSR test, FIFO detection through IIR, the THRE-interrupt test. Not emulated:
/// baud-rate timing, overrun/parity/framing errors and breaks (never raised), the 16750
/// 64-byte FIFO, the RX trigger level (any received byte interrupts). The interrupt line is
/// not gated by MCR.OUT2 (as in QEMU).
/// </summary>
public sealed class Uart16550 : IPortDevice
{
    /// <summary>Base port of COM1.</summary>
    public const ushort Com1Base = 0x3F8;
    /// <summary>ISA IRQ of COM1.</summary>
    public const int Com1Irq = 4;

    /// <summary>Offset 0: receive buffer (read), transmit holding (write), divisor low (DLAB).</summary>
    public const int RegData = 0;
    /// <summary>Offset 1: interrupt enable, divisor high (DLAB).</summary>
    public const int RegIer = 1;
    /// <summary>Offset 2: interrupt identification (read), FIFO control (write).</summary>
    public const int RegIirFcr = 2;
    /// <summary>Offset 3: line control.</summary>
    public const int RegLcr = 3;
    /// <summary>Offset 4: modem control.</summary>
    public const int RegMcr = 4;
    /// <summary>Offset 5: line status.</summary>
    public const int RegLsr = 5;
    /// <summary>Offset 6: modem status.</summary>
    public const int RegMsr = 6;
    /// <summary>Offset 7: scratch.</summary>
    public const int RegScratch = 7;

    /// <summary>IER: received data available interrupt.</summary>
    public const byte IerRxData = 0x01;
    /// <summary>IER: transmit holding register empty interrupt.</summary>
    public const byte IerThre = 0x02;
    /// <summary>IER: receiver line status interrupt.</summary>
    public const byte IerLineStatus = 0x04;
    /// <summary>IER: modem status interrupt.</summary>
    public const byte IerModemStatus = 0x08;
    /// <summary>IER bits that exist on a 16550A.</summary>
    public const byte IerMask = 0x0F;

    /// <summary>IIR bit 0: no interrupt pending.</summary>
    public const byte IirNoInterrupt = 0x01;
    /// <summary>IIR id: modem status.</summary>
    public const byte IirModemStatus = 0x00;
    /// <summary>IIR id: transmit holding register empty.</summary>
    public const byte IirThre = 0x02;
    /// <summary>IIR id: received data available.</summary>
    public const byte IirRxData = 0x04;
    /// <summary>IIR id: receiver line status.</summary>
    public const byte IirLineStatus = 0x06;
    /// <summary>IIR bits 7:6: FIFOs enabled (16550A).</summary>
    public const byte IirFifoEnabled = 0xC0;

    /// <summary>FCR: enable FIFOs.</summary>
    public const byte FcrEnable = 0x01;
    /// <summary>FCR: clear the receive FIFO.</summary>
    public const byte FcrClearRx = 0x02;
    /// <summary>FCR: clear the transmit FIFO.</summary>
    public const byte FcrClearTx = 0x04;

    /// <summary>LCR: divisor latch access bit.</summary>
    public const byte LcrDlab = 0x80;

    /// <summary>MCR: data terminal ready.</summary>
    public const byte McrDtr = 0x01;
    /// <summary>MCR: request to send.</summary>
    public const byte McrRts = 0x02;
    /// <summary>MCR: auxiliary output 1.</summary>
    public const byte McrOut1 = 0x04;
    /// <summary>MCR: auxiliary output 2 (the PC's interrupt enable).</summary>
    public const byte McrOut2 = 0x08;
    /// <summary>MCR: loopback mode.</summary>
    public const byte McrLoop = 0x10;
    /// <summary>MCR bits that exist on a 16550A.</summary>
    public const byte McrMask = 0x1F;

    /// <summary>LSR: data ready.</summary>
    public const byte LsrDataReady = 0x01;
    /// <summary>LSR: overrun, parity, framing error, break (never set here).</summary>
    public const byte LsrErrors = 0x1E;
    /// <summary>LSR: transmit holding register empty.</summary>
    public const byte LsrThre = 0x20;
    /// <summary>LSR: transmitter empty.</summary>
    public const byte LsrTemt = 0x40;

    /// <summary>MSR: delta clear to send.</summary>
    public const byte MsrDcts = 0x01;
    /// <summary>MSR: delta data set ready.</summary>
    public const byte MsrDdsr = 0x02;
    /// <summary>MSR: trailing edge ring indicator.</summary>
    public const byte MsrTeri = 0x04;
    /// <summary>MSR: delta data carrier detect.</summary>
    public const byte MsrDdcd = 0x08;
    /// <summary>MSR: clear to send.</summary>
    public const byte MsrCts = 0x10;
    /// <summary>MSR: data set ready.</summary>
    public const byte MsrDsr = 0x20;
    /// <summary>MSR: ring indicator.</summary>
    public const byte MsrRi = 0x40;
    /// <summary>MSR: data carrier detect.</summary>
    public const byte MsrDcd = 0x80;
    /// <summary>MSR delta bits (cleared by reading MSR).</summary>
    public const byte MsrDeltas = 0x0F;

    private readonly ushort _base;
    private readonly Stream? _sink;
    private readonly Action<bool>? _irq;
    private readonly Queue<byte> _rx = new();
    private byte _ier, _lcr, _mcr, _scratch, _dll = 0x0C, _dlm, _msr = MsrDcd | MsrDsr | MsrCts;
    private bool _fifo, _thrPending, _irqLevel;

    /// <summary>Bytes sent to the sink.</summary>
    public long Transmitted { get; private set; }

    /// <summary>Accesses the model does not implement.</summary>
    public long UnhandledAccesses { get; private set; }

    /// <param name="basePort">First of the eight ports (0x3F8 for COM1).</param>
    /// <param name="sink">Where transmitted bytes go (null: discarded).</param>
    /// <param name="irq">The interrupt line (COM1: ISA IRQ 4).</param>
    public Uart16550(ushort basePort, Stream? sink, Action<bool>? irq)
    {
        _base = basePort;
        _sink = sink;
        _irq = irq;
    }

    /// <summary>Queues bytes for the guest to receive.</summary>
    public void Enqueue(ReadOnlySpan<byte> data)
    {
        foreach (byte b in data) _rx.Enqueue(b);
        UpdateIrq();
    }

    /// <summary>Bytes waiting to be read by the guest.</summary>
    public int PendingInput => _rx.Count;

    private bool Loopback => (_mcr & McrLoop) != 0;

    private byte Lsr => (byte)((_rx.Count > 0 ? LsrDataReady : 0) | LsrThre | LsrTemt);

    /// <summary>The highest-priority pending interrupt's IIR id, or -1.</summary>
    private int PendingId()
    {
        if ((_ier & IerRxData) != 0 && _rx.Count > 0) return IirRxData;
        if ((_ier & IerThre) != 0 && _thrPending) return IirThre;
        if ((_ier & IerModemStatus) != 0 && (_msr & MsrDeltas) != 0) return IirModemStatus;
        return -1;
    }

    private void UpdateIrq()
    {
        bool level = PendingId() >= 0;
        if (level == _irqLevel) return;
        _irqLevel = level;
        _irq?.Invoke(level);
    }

    public uint Read(ushort port, int size)
    {
        byte r;
        switch (port - _base)
        {
            case RegData:
                if ((_lcr & LcrDlab) != 0) return _dll;
                r = _rx.Count > 0 ? _rx.Dequeue() : (byte)0;
                break;
            case RegIer:
                return (_lcr & LcrDlab) != 0 ? _dlm : _ier;
            case RegIirFcr:
            {
                int id = PendingId();
                r = (byte)((id < 0 ? IirNoInterrupt : id) | (_fifo ? IirFifoEnabled : 0));
                if (id == IirThre) _thrPending = false; // reading IIR with THRE reported clears it
                break;
            }
            case RegLcr: return _lcr;
            case RegMcr: return _mcr;
            case RegLsr: return Lsr;
            case RegMsr:
                r = _msr;
                _msr &= unchecked((byte)~MsrDeltas);
                break;
            case RegScratch: return _scratch;
            default: UnhandledAccesses++; return 0xFF;
        }
        UpdateIrq();
        return r;
    }

    public void Write(ushort port, int size, uint value)
    {
        byte v = (byte)value;
        switch (port - _base)
        {
            case RegData:
                if ((_lcr & LcrDlab) != 0) { _dll = v; return; }
                if (Loopback) _rx.Enqueue(v);
                else
                {
                    _sink?.WriteByte(v);
                    Transmitted++;
                }
                _thrPending = true; // sent at once: the holding register is empty again
                break;
            case RegIer:
                if ((_lcr & LcrDlab) != 0) { _dlm = v; return; }
                if ((v & ~IerMask) != 0) UnhandledAccesses++;
                // Enabling the THRE interrupt while the holding register is empty raises it.
                if ((v & IerThre) != 0 && (_ier & IerThre) == 0) _thrPending = true;
                _ier = (byte)(v & IerMask);
                break;
            case RegIirFcr:
                _fifo = (v & FcrEnable) != 0;
                if ((v & FcrClearRx) != 0 || !_fifo) _rx.Clear();
                break;
            case RegLcr:
                _lcr = v;
                return;
            case RegMcr:
            {
                if ((v & ~McrMask) != 0) UnhandledAccesses++;
                _mcr = (byte)(v & McrMask);
                byte old = _msr;
                byte lines = Loopback
                    ? (byte)(((_mcr & McrRts) != 0 ? MsrCts : 0) | ((_mcr & McrDtr) != 0 ? MsrDsr : 0)
                        | ((_mcr & McrOut1) != 0 ? MsrRi : 0) | ((_mcr & McrOut2) != 0 ? MsrDcd : 0))
                    : (byte)(MsrDcd | MsrDsr | MsrCts);
                byte deltas = (byte)(old & MsrDeltas);
                if (((old ^ lines) & MsrCts) != 0) deltas |= MsrDcts;
                if (((old ^ lines) & MsrDsr) != 0) deltas |= MsrDdsr;
                if ((old & MsrRi) != 0 && (lines & MsrRi) == 0) deltas |= MsrTeri;
                if (((old ^ lines) & MsrDcd) != 0) deltas |= MsrDdcd;
                _msr = (byte)(lines | deltas);
                break;
            }
            case RegLsr:
            case RegMsr:
                UnhandledAccesses++; // read-only (factory test registers)
                return;
            case RegScratch:
                _scratch = v;
                return;
            default:
                UnhandledAccesses++;
                return;
        }
        UpdateIrq();
    }
}
