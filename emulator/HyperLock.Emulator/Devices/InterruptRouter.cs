using HyperLock.Emulator.Processor.Execution;

namespace HyperLock.Emulator.Devices;

/// <summary>
/// Wires the ISA interrupt lines to the interrupt controllers and the controllers to the
/// processor, as on a PC: ISA IRQ n drives 8259 input n and I/O APIC pin n, except IRQ 0
/// (the PIT), which drives I/O APIC pin 2 (the usual interrupt-source override). The
/// processor sees the local APIC's fixed interrupts, and the 8259's INTR while it passes
/// the local APIC (globally disabled APIC, or LINT0 unmasked in ExtINT mode: legacy and
/// virtual-wire mode). Local APIC interrupts are acknowledged before 8259 ones.
/// </summary>
public sealed class InterruptRouter : IInterruptController
{
    /// <summary>Number of ISA interrupt lines.</summary>
    public const int IsaIrqCount = 16;
    /// <summary>The I/O APIC pin the PIT's IRQ 0 is wired to.</summary>
    public const int PitIoApicPin = 2;

    private readonly Pic8259 _pic;
    private readonly LocalApic _lapic;
    private readonly IoApic _ioapic;
    private bool _picPath;

    public InterruptRouter(Pic8259 pic, LocalApic lapic, IoApic ioapic)
    {
        _pic = pic;
        _lapic = lapic;
        _ioapic = ioapic;
        pic.OutputChanged = Recompute;
        lapic.Lint0Changed = Recompute;
        lapic.EoiBroadcast = ioapic.EndOfInterrupt;
        Recompute();
    }

    /// <summary>Interrupts acknowledged through the 8259.</summary>
    public long PicAcknowledged { get; private set; }

    /// <summary>Interrupts acknowledged through the local APIC.</summary>
    public long ApicAcknowledged { get; private set; }

    /// <summary>Sets the level of ISA interrupt line <paramref name="irq"/> (0-15).</summary>
    public void SetIrq(int irq, bool level)
    {
        if ((uint)irq >= IsaIrqCount) return;
        _pic.SetIrq(irq, level);
        _ioapic.SetPin(irq == 0 ? PitIoApicPin : irq, level);
    }

    /// <summary>A delegate for a device's interrupt output on ISA line <paramref name="irq"/>.</summary>
    public Action<bool> Line(int irq) => level => SetIrq(irq, level);

    private void Recompute() => _picPath = _pic.Output && _lapic.PassesExtInt;

    public bool HasInterrupt => _picPath || _lapic.HasDeliverable;

    public int Acknowledge()
    {
        if (_lapic.HasDeliverable)
        {
            ApicAcknowledged++;
            return _lapic.Acknowledge();
        }
        PicAcknowledged++;
        return _pic.Acknowledge();
    }
}
