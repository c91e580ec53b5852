using HyperLock.Emulator.Devices;
using HyperLock.Emulator.Machine;

namespace HyperLock.Runtime.Containment;

/// <summary>
/// The host's budget timer: the local APIC timer in one-shot mode, divide by 1 (one tick per
/// retired instruction of virtual time), vector <see cref="Vector"/>. The runtime arms it with
/// the instance's remaining budget whenever it enters the hypervisor and stops it whenever the
/// hypervisor leaves; if it fires while the hypervisor runs (IF = 1 there), the interrupt goes
/// through the confined IDT to the trampoline, and the runtime contains the instance.
/// </summary>
public sealed class BudgetTimer
{
    public const int Vector = 0xF0;
    private const int SpuriousVector = 0xFF, SvrEnable = 0x100, DivideBy1 = 0xB;

    private readonly LocalApic _apic;

    public BudgetTimer(Board board)
    {
        var pic = board.Attach(new Pic8259());
        _apic = board.AttachMmio(LocalApic.DefaultBase, LocalApic.PageSize, new LocalApic(board.Cpu, board.Clock));
        var ioapic = board.AttachMmio(IoApic.DefaultBase, IoApic.WindowSize, new IoApic(_apic));
        board.Cpu.Interrupts = board.Attach(new InterruptRouter(pic, _apic, ioapic));
        _apic.Write(LocalApic.RegSvr, 4, SvrEnable | SpuriousVector);
        _apic.Write(LocalApic.RegTimerDivide, 4, DivideBy1);
        _apic.Write(LocalApic.RegLvtTimer, 4, Vector);
    }

    /// <summary>Starts counting <paramref name="ticks"/> (at least 1).</summary>
    public void Arm(long ticks) => _apic.Write(LocalApic.RegTimerInitial, 4, (ulong)Math.Clamp(ticks, 1, uint.MaxValue));

    /// <summary>Stops the count; returns what was left.</summary>
    public long Stop()
    {
        long left = (long)_apic.Read(LocalApic.RegTimerCurrent, 4);
        _apic.Write(LocalApic.RegTimerInitial, 4, 0);
        return left;
    }

    /// <summary>End of interrupt (after the runtime took the timer's vector).</summary>
    public void Eoi() => _apic.Write(LocalApic.RegEoi, 4, 0);
}
