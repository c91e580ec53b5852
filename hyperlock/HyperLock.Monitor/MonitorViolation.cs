namespace HyperLock.Monitor;

/// <summary>
/// One thing the reference monitor saw a confined instance do outside its allowed set.
/// </summary>
/// <param name="Kind">What kind of violation.</param>
/// <param name="InstanceIndex">The instance (<see cref="Runtime.Instance.Id"/>) whose space the CPU was in.</param>
/// <param name="Rip">Linear address of the instruction executing (or being delivered from) when it happened.</param>
/// <param name="Linear">The linear address accessed or executed.</param>
/// <param name="Physical">Where the bytes are (for a page walk, the entry's address).</param>
/// <param name="Description">A one-line explanation.</param>
public sealed record MonitorViolation(MonitorViolationKind Kind, int InstanceIndex, ulong Rip, ulong Linear, ulong Physical, string Description)
{
    public override string ToString() => $"{Kind} instance {InstanceIndex} rip 0x{Rip:x} linear 0x{Linear:x} physical 0x{Physical:x}: {Description}";
}
