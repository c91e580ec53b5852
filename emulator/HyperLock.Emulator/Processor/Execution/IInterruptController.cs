namespace HyperLock.Emulator.Processor.Execution;

/// <summary>
/// What the CPU sees of the interrupt hardware (PIC, local APIC): whether a maskable
/// interrupt is waiting and, on acknowledge, its vector.
/// </summary>
public interface IInterruptController
{
    /// <summary>True when a maskable interrupt is ready for delivery.</summary>
    bool HasInterrupt { get; }

    /// <summary>Acknowledges the highest-priority interrupt and returns its vector.</summary>
    int Acknowledge();
}
