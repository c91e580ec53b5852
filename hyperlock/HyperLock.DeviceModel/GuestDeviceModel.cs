using HyperLock.Hypervisor;
using HyperLock.Runtime.Services;

namespace HyperLock.DeviceModel;

/// <summary>
/// One guest's device model (the role QEMU has in HyperLock): its UART, PIC and PIT, and the
/// mini-KVM's control ports (<see cref="MiniKvmAbi"/>: time advance, interrupt query and
/// acknowledge, idle). It is reached only through the runtime's DeviceRpc service and holds
/// references to nothing but its own devices: it is isolated by what it can reference, not by the
/// emulated MMU (it is C# in the host process, outside the TCB).
/// </summary>
public sealed class GuestDeviceModel : IDeviceModel
{
    public GuestDeviceModel(string name)
    {
        Name = name;
        Pit = new IntervalTimer(Pic);
    }

    public string Name { get; }
    public SerialPort Serial { get; } = new();
    public InterruptController Pic { get; } = new();
    public IntervalTimer Pit { get; }

    /// <summary>Requests served, for the demo's counters.</summary>
    public long Requests { get; private set; }

    public ulong? PortIo(ushort port, bool isIn, int size, ulong value)
    {
        Requests++;
        switch (port)
        {
            case MiniKvmAbi.PortAdvance:
                if (!isIn) Pit.Advance((uint)value);
                return 0;
            case MiniKvmAbi.PortInterrupt:
                if (!isIn) { Pic.Acknowledge(); return 0; }
                if (Pic.Pending() is not int v) return MiniKvmAbi.NoInterrupt;
                if (value != 1) return MiniKvmAbi.InterruptBlocked;
                Pic.Acknowledge();
                return (ulong)v;
            case MiniKvmAbi.PortMsrIndex:
            case MiniKvmAbi.PortMsrData:
                return null; // no model-specific registers here: the guest gets #GP
            case MiniKvmAbi.PortIdle:
                if (Pit.ClocksToNextTick is not uint clocks) return MiniKvmAbi.NoInterrupt;
                Pit.Advance(clocks);
                return clocks;
        }
        if (port >= MiniKvmAbi.PortAdvance) return null; // no MMIO, no other control port: refused
        // Writes reply 0. (No lambdas here: this runs at every forwarded port access.)
        if (Serial.Claims(port))
        {
            if (isIn) return Serial.Read(port);
            Serial.Write(port, value);
            return 0;
        }
        if (Pic.Claims(port))
        {
            if (isIn) return Pic.Read(port);
            Pic.Write(port, value);
            return 0;
        }
        if (Pit.Claims(port))
        {
            if (isIn) return Pit.Read(port);
            Pit.Write(port, value);
            return 0;
        }
        return isIn ? (1UL << (size * 8)) - 1 : 0; // nothing there: reads float high, writes vanish
    }
}
