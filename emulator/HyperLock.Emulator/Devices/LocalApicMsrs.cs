using HyperLock.Emulator.Processor;

namespace HyperLock.Emulator.Devices;

/// <summary>
/// The MSRs the local APIC owns, installed as <see cref="Cpu.MsrHook"/>: IA32_APIC_BASE
/// (0x1B), IA32_TSC_DEADLINE (0x6E0) and the x2APIC register range 0x800-0x8FF. Anything
/// else goes to the hook that was installed before (e.g. VMX capability MSRs), then to the
/// core's own table.
/// </summary>
public sealed class LocalApicMsrs : IMsrHandler
{
    private readonly LocalApic _apic;
    private readonly IMsrHandler? _next;

    public LocalApicMsrs(LocalApic apic, IMsrHandler? next)
    {
        _apic = apic;
        _next = next;
    }

    public bool TryRead(Cpu cpu, uint index, out ulong value, out bool fault)
    {
        fault = false;
        switch (index)
        {
            case Msr.ApicBase:
                value = _apic.BaseMsr;
                return true;
            case Msr.TscDeadline:
                value = _apic.TscDeadline;
                return true;
        }
        if (index >= LocalApic.X2ApicMsrFirst && index <= LocalApic.X2ApicMsrLast)
        {
            fault = !_apic.ReadX2ApicMsr(index, out value);
            return true;
        }
        if (_next != null) return _next.TryRead(cpu, index, out value, out fault);
        value = 0;
        return false;
    }

    public bool TryWrite(Cpu cpu, uint index, ulong value, out bool fault)
    {
        fault = false;
        switch (index)
        {
            case Msr.ApicBase:
                fault = !_apic.WriteBaseMsr(value);
                return true;
            case Msr.TscDeadline:
                cpu.TscDeadline = value;
                _apic.WriteTscDeadline(value);
                return true;
        }
        if (index >= LocalApic.X2ApicMsrFirst && index <= LocalApic.X2ApicMsrLast)
        {
            fault = !_apic.WriteX2ApicMsr(index, value);
            return true;
        }
        return _next != null && _next.TryWrite(cpu, index, value, out fault);
    }
}
