using HyperLock.Emulator.Memory;

namespace HyperLock.Emulator.Vmx;

/// <summary>
/// The VMCS region format in guest-physical memory (implementation-specific, as the SDM
/// allows): revision identifier at offset 0 (bit 31 = shadow-VMCS indicator), VMX-abort
/// indicator at 4, launch state at 8 (1 = launched), then one 8-byte slot per supported field
/// from <see cref="DataOffset"/>, in <see cref="VmcsFields"/> order.
/// </summary>
public static class Vmcs
{
    public const int RevisionOffset = 0, AbortOffset = 4, LaunchStateOffset = 8, DataOffset = 16;

    /// <summary>Writes field data and launch state to the region.</summary>
    public static void Store(PhysicalMemory memory, ulong region, ulong[] fields, bool launched)
    {
        memory.Write(region + LaunchStateOffset, 4, launched ? 1UL : 0UL);
        for (int s = 0; s < fields.Length; s++) memory.Write(region + DataOffset + (ulong)s * 8, 8, fields[s]);
    }

    /// <summary>Reads field data from the region; returns the launch state.</summary>
    public static bool Load(PhysicalMemory memory, ulong region, ulong[] fields)
    {
        for (int s = 0; s < fields.Length; s++) fields[s] = memory.Read(region + DataOffset + (ulong)s * 8, 8);
        return memory.Read(region + LaunchStateOffset, 4) == 1;
    }

    /// <summary>VMCLEAR of a region that is not current: set launch state to clear.</summary>
    public static void Clear(PhysicalMemory memory, ulong region) => memory.Write(region + LaunchStateOffset, 4, 0);
}
