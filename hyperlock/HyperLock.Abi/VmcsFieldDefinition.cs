namespace HyperLock.Abi;

/// <summary>One row of the VMCS field table: a field and what confined code may do with it.</summary>
/// <param name="Encoding">The 32-bit field encoding VMREAD/VMWRITE take (bit 0: high-half access of a 64-bit field).</param>
/// <param name="Name">The SDM's name.</param>
/// <param name="Group">Its area.</param>
/// <param name="Readable">Confined code may VMREAD it.</param>
/// <param name="Writable">Confined code may VMWRITE it.</param>
public readonly record struct VmcsFieldDefinition(uint Encoding, string Name, VmcsFieldGroup Group, bool Readable, bool Writable)
{
    /// <summary>The field's width (encoding bits 14:13).</summary>
    public VmcsFieldWidth Width => (VmcsFieldWidth)((Encoding >> 13) & 3);

    /// <summary>The area the encoding names (bits 11:10): 0 control, 1 read-only data, 2 guest state, 3 host state.</summary>
    public int AreaBits => (int)((Encoding >> 10) & 3);

    /// <summary>True for the high-half access form of a 64-bit field.</summary>
    public bool IsHighAccess => (Encoding & 1) != 0;
}
