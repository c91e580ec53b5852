using HyperLock.Abi;
using HyperLock.Emulator.Vmx;

namespace HyperLock.Emulator.Tests.Vmx;

/// <summary>
/// The ABI's VMCS table (what the verifier and the runtime use) and the emulator's table (the
/// fields the machine implements) describe the same fields: every implemented field is in the
/// ABI with the same width and area, and the ABI's rights agree with the SDM's encoding.
/// </summary>
public class VmcsAbiConsistencyTests
{
    private static VmcsFieldGroup[] GroupsForArea(int area) => area switch
    {
        0 => [VmcsFieldGroup.Control, VmcsFieldGroup.EventInjection],
        1 => [VmcsFieldGroup.ReadOnlyData],
        2 => [VmcsFieldGroup.GuestState],
        _ => [VmcsFieldGroup.HostState],
    };

    [Fact]
    public void EveryFieldTheEmulatorImplementsIsInTheAbiTableWithTheSameWidthAndArea()
    {
        foreach (var f in VmcsFields.All)
        {
            Assert.True(VmcsFieldTable.TryGet(f.Encoding, out var abi), $"{f.Name} (0x{f.Encoding:x4}) is not in HyperLock.Abi");
            Assert.Equal((int)f.Width, (int)abi.Width);
            Assert.Equal((int)f.Type, abi.AreaBits);
            Assert.Contains(abi.Group, GroupsForArea((int)f.Type));
            Assert.Equal(f.ReadOnly, abi.Group == VmcsFieldGroup.ReadOnlyData);
            // The machine accepts the high-access form exactly where the ABI lists one.
            Assert.Equal(VmcsFieldTable.TryGet(f.Encoding | 1, out _), VmcsFields.Lookup(f.Encoding | 1) >= 0);
        }
    }

    [Fact]
    public void TheAbiTableAgreesWithTheSdmEncodingRules()
    {
        foreach (var f in VmcsFieldTable.Fields)
        {
            Assert.Equal(0u, f.Encoding & ~0x6FFFu);                          // bits 31:15 and 12 reserved
            Assert.Contains(f.Group, GroupsForArea(f.AreaBits));
            if (f.IsHighAccess) Assert.Equal(VmcsFieldWidth.Bits64, f.Width);  // only 64-bit fields have a high half
            if (f.Writable) Assert.True(f.Readable, f.Name);
            if (f.Group is VmcsFieldGroup.HostState or VmcsFieldGroup.Control) Assert.False(f.Readable || f.Writable, f.Name);
        }
    }

    [Fact]
    public void EveryFieldConfinedCodeMayWriteIsOneTheMachineLetsVmwriteChange()
    {
        // A field the policy hands to the hypervisor must exist and be writable on the machine
        // the runtime drives, or the hypervisor's VMWRITE would fail at run time.
        foreach (var f in VmcsFieldTable.Fields)
        {
            if (!f.Writable || f.IsHighAccess) continue;
            int slot = VmcsFields.Lookup(f.Encoding);
            if (slot < 0) continue; // not implemented by the machine (newer SDM fields): VMWRITE fails architecturally
            Assert.False(VmcsFields.All[slot].ReadOnly, f.Name);
        }
    }
}
