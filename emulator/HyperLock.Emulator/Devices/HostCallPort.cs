using HyperLock.Emulator.Memory;
using HyperLock.Emulator.Processor;

namespace HyperLock.Emulator.Devices;

/// <summary>
/// The host seam: the one way trusted host code written in C# is reached from the machine. A
/// stub of trusted x86 code writes a call number to the port (<c>mov eax, N; out PORT, eax</c>);
/// the device runs the handler registered for N with the processor and memory, and the stub
/// continues after the OUT. The handler may read and write general registers, memory and (as a
/// VMX-root stub could with VMREAD/VMWRITE) the current VMCS; anything that changes mode,
/// paging or RIP is left to the stub's own x86 code after the call, so the machine's state is
/// always one the architecture can produce. An unregistered number sets RAX to
/// <see cref="UnknownCall"/>.
/// <para>
/// Reaching the port is decided by the architecture, not by a check here: I/O needs CPL ≤ IOPL
/// or the TSS I/O bitmap (CPL3 code gets #GP); a guest in VMX non-root operation runs with
/// unconditional I/O exiting, so its OUT is a VM exit to HOST_RIP; confined hypervisor code is
/// rejected by the verifier if it contains any I/O instruction (SPEC §6 rule 6).
/// </para>
/// </summary>
public sealed class HostCallPort : IPortDevice
{
    /// <summary>The default port: unused on a PC, and below 0x100 so a stub can use <c>out imm8, eax</c>.</summary>
    public const ushort DefaultPort = 0xE0;

    /// <summary>RAX after a call number no handler is registered for (-1).</summary>
    public const ulong UnknownCall = ulong.MaxValue;

    private readonly Cpu _cpu;
    private readonly PhysicalMemory _memory;
    private readonly Dictionary<uint, Action<HostCallContext>> _handlers = new();

    public HostCallPort(Cpu cpu, PhysicalMemory memory)
    {
        _cpu = cpu;
        _memory = memory;
    }

    /// <summary>Calls made so far (registered or not).</summary>
    public long Calls { get; private set; }

    /// <summary>Registers (or replaces) the handler for call number <paramref name="number"/>.</summary>
    public void Register(uint number, Action<HostCallContext> handler) => _handlers[number] = handler;

    /// <summary>Reads return all ones: the port is write-only.</summary>
    public uint Read(ushort port, int size) => uint.MaxValue;

    public void Write(ushort port, int size, uint value)
    {
        Calls++;
        if (_handlers.TryGetValue(value, out var handler)) handler(new HostCallContext(value, _cpu, _memory));
        else _cpu.R(HyperLock.Emulator.Processor.Reg.Rax) = UnknownCall;
    }
}

/// <summary>What a host-call handler sees: the call number, the processor (registers, VMCS) and physical memory.</summary>
public readonly record struct HostCallContext(uint Number, Cpu Cpu, PhysicalMemory Memory);
