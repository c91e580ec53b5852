using HyperLock.Emulator.Processor.Execution;
using HyperLock.Emulator.Devices;

namespace HyperLock.Emulator.Machine;

/// <summary>
/// The PC device set of <see cref="X86Machine"/>, attached to a <see cref="Board"/>: COM1 (16550
/// UART, IRQ 4), the 8259 pair, the 8254 PIT, the CMOS RTC, a local APIC (xAPIC/x2APIC,
/// 0xFEE00000), an I/O APIC (0xFEC00000), an i8042 for reset, QEMU's debug-exit port 0xF4, PCI
/// configuration mechanism #1 with no devices and the ignored port 0x80. A debug-exit write or
/// an i8042 reset is recorded here and stops the processor's run.
/// </summary>
public sealed class PcDevices
{
    public InterruptRouter Interrupts { get; }
    public Pic8259 Pic { get; }
    public Pit8254 Pit { get; }
    public CmosRtc Rtc { get; }
    public Uart16550 Serial { get; }
    public LocalApic LocalApic { get; }
    public IoApic IoApic { get; }
    public I8042 Keyboard { get; }
    public DebugExit DebugExit { get; }
    public PciConfigNoDevices Pci { get; }
    public IgnoredPorts Ignored { get; }

    /// <summary>The status the guest asked for through the debug-exit port (the first write wins), or null.</summary>
    public int? DebugExitStatus { get; private set; }

    /// <summary>True once the guest reset the machine through the i8042.</summary>
    public bool ResetRequested { get; private set; }

    private readonly Board _board;

    /// <param name="board">The board to attach to (its processor, clock, memory and I/O bus).</param>
    /// <param name="serialOutput">Where COM1's output goes (null: discarded).</param>
    /// <param name="rtcStart">The RTC's time at power-on (null: its default).</param>
    /// <param name="memoryBytes">RAM size the CMOS reports.</param>
    public PcDevices(Board board, Stream? serialOutput = null, DateTime? rtcStart = null, ulong memoryBytes = 0)
    {
        _board = board;
        var cpu = board.Cpu;
        var clock = board.Clock;
        // Creation order fixes the order of timers with equal deadlines; keep it.
        Pic = board.Attach(new Pic8259());
        LocalApic = board.AttachMmio(LocalApic.DefaultBase, LocalApic.PageSize, new LocalApic(cpu, clock));
        IoApic = board.AttachMmio(IoApic.DefaultBase, IoApic.WindowSize, new IoApic(LocalApic));
        Interrupts = board.Attach(new InterruptRouter(Pic, LocalApic, IoApic));
        cpu.Interrupts = Interrupts;
        cpu.MsrHook = new LocalApicMsrs(LocalApic, cpu.MsrHook);

        Pit = new Pit8254(clock, Interrupts.Line(0));
        Rtc = new CmosRtc(clock, Interrupts.Line(CmosRtc.Irq), rtcStart, memoryBytes);
        Serial = new Uart16550(Uart16550.Com1Base, serialOutput, Interrupts.Line(Uart16550.Com1Irq));
        Keyboard = new I8042(OnReset);
        DebugExit = new DebugExit(OnDebugExit);
        Pci = new PciConfigNoDevices();
        Ignored = new IgnoredPorts();

        board.AttachPort(Pic8259.MasterCommand, 2, Pic);
        board.AttachPort(Pic8259.SlaveCommand, 2, Pic);
        board.AttachPort(Pic8259.ElcrMaster, 2, Pic);
        board.AttachPort(Pit8254.Channel0Port, 4, Pit);
        board.AttachPort(Pit8254.SystemControlPort, 1, Pit);
        board.AttachPort(CmosRtc.IndexPort, 2, Rtc);
        board.AttachPort(Uart16550.Com1Base, 8, Serial);
        board.AttachPort(I8042.DataPort, 1, Keyboard);
        board.AttachPort(I8042.CommandPort, 1, Keyboard);
        board.AttachPort(DebugExit.Port, DebugExit.PortCount, DebugExit, byteWide: false);
        board.AttachPort(PciConfigNoDevices.AddressPort, 8, Pci, byteWide: false);
        board.AttachPort(IgnoredPorts.PostPort, 1, Ignored);
    }

    private void OnDebugExit(int status)
    {
        DebugExitStatus ??= status;
        _board.Cpu.RequestStop(new StopReason(StopKind.Requested));
    }

    private void OnReset()
    {
        ResetRequested = true;
        _board.Cpu.RequestStop(new StopReason(StopKind.Requested));
    }
}
