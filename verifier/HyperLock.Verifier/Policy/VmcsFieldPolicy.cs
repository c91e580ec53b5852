using HyperLock.Abi;

namespace HyperLock.Verifier.Policy;

/// <summary>
/// The VMCS rights rule 7 enforces: a view of the ABI's one table
/// (<see cref="VmcsFieldTable"/>), so the verifier and the runtime cannot disagree on which
/// fields confined code may VMREAD or VMWRITE.
/// </summary>
public static class VmcsFieldPolicy
{
    /// <summary>Every field the table knows, sorted by encoding.</summary>
    public static IReadOnlyList<VmcsFieldDefinition> Fields => VmcsFieldTable.Fields;

    /// <summary>The row for <paramref name="encoding"/>, if the table has one.</summary>
    public static bool TryGet(uint encoding, out VmcsFieldDefinition field) => VmcsFieldTable.TryGet(encoding, out field);

    /// <summary>May the confined hypervisor VMREAD <paramref name="encoding"/>?</summary>
    public static bool MayRead(uint encoding) => VmcsFieldTable.MayRead(encoding);

    /// <summary>May the confined hypervisor VMWRITE <paramref name="encoding"/>?</summary>
    public static bool MayWrite(uint encoding) => VmcsFieldTable.MayWrite(encoding);
}
