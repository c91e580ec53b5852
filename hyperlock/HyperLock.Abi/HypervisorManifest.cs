namespace HyperLock.Abi;

/// <summary>
/// What a hypervisor image declares besides its code: the entry the runtime enters after every
/// VM exit (one dispatch entry; the hypervisor reads the exit reason), optional entries per exit
/// reason (preferred when present), and the sizes of its data and stack. Every entry is an
/// offset into the image; the loader accepts it only if it is bundle-aligned and a validated
/// instruction start.
/// </summary>
/// <remarks>
/// At an entry: RDI = basic exit reason, RSI = <see cref="ConfinedLayout.Data"/>, RSP = the top
/// of the stack, every other general register 0, RFLAGS = IF only. The guest's registers are in
/// the data area at <see cref="ConfinedLayout.GuestRegisters"/>.
/// </remarks>
public sealed record HypervisorManifest
{
    public required long DispatchEntry { get; init; }
    public IReadOnlyDictionary<int, long> ExitEntries { get; init; } = new Dictionary<int, long>();
    /// <summary>Bytes of data + heap (rounded up to 4 KiB; at least the guest-register area).</summary>
    public ulong DataSize { get; init; } = 0x4000;
    /// <summary>Bytes of stack (rounded up to 4 KiB).</summary>
    public ulong StackSize { get; init; } = 0x4000;

    /// <summary>Every declared entry offset (dispatch first).</summary>
    public IEnumerable<long> AllEntries()
    {
        yield return DispatchEntry;
        foreach (var e in ExitEntries.Values) yield return e;
    }

    /// <summary>The entry for basic exit reason <paramref name="reason"/>.</summary>
    public long EntryFor(int reason) => ExitEntries.TryGetValue(reason, out long e) ? e : DispatchEntry;
}
