using HyperLock.Emulator.Builders;
using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Memory;
using HyperLock.Emulator.Tests.Vmx;
using HyperLock.Emulator.Vmx;
using static Iced.Intel.AssemblerRegisters;
using F = HyperLock.Emulator.Vmx.VmcsField;

namespace HyperLock.Emulator.Tests.Builders;

/// <summary>The EPT builder: what it maps reads back, and a guest under it sees exactly that.</summary>
public class EptBuilderTests
{
    [Fact]
    public void MappingsReadBackWithPermissionsAndTheEptpHasTheSdmLayout()
    {
        using var memory = new PhysicalMemory(16 << 20);
        var ept = new EptBuilder(memory, new FrameAllocator(memory, 0x100000, 0x200000));
        ept.MapRange(0x10000, 0x800000, 0x3000, EptPermissions.Read | EptPermissions.Write);
        ept.Map(0x7FFFF000, 0x900000, EptPermissions.Execute);
        var all = ept.Mappings();
        Assert.Equal(
            [(0x10000UL, 0x800000UL), (0x11000UL, 0x801000UL), (0x12000UL, 0x802000UL), (0x7FFFF000UL, 0x900000UL)],
            all.Select(m => (m.GuestPhysical, m.HostPhysical)));
        Assert.All(all, m => Assert.Equal(EptBuilder.WriteBack, m.MemoryType));
        Assert.Equal(EptPermissions.Execute, ept.Walk(0x7FFFF123)!.Value.Permissions);
        Assert.Equal(EptPermissions.Read | EptPermissions.Write, ept.Walk(0x11FFF)!.Value.Permissions);
        Assert.Null(ept.Walk(0x13000));
        Assert.Equal(ept.Root, ept.Pointer() & ~0xFFFUL);
        Assert.Equal(6UL | (3 << 3), ept.Pointer() & 0xFFF);                // WB, 4-level walk
        Assert.Equal(1UL << 6, ept.Pointer(accessedDirty: true) & (1 << 6));
        Assert.Equal(ept.Walk(0x12000)!.Value.EntryAddress, ept.LeafAddress(0x12000));
    }

    [Fact]
    public void AGuestUnderTheBuiltEptReadsTheRemappedFrameAndFaultsOnAMissingOne()
    {
        using var m = new VmxMachine();
        var ept = new EptBuilder(m.Memory, new FrameAllocator(m.Memory, VmxMachine.EptBase, VmxMachine.HostStack));
        ept.IdentityMap(4 << 20);
        ept.Map(0x500000, 0x700000, EptPermissions.Read);  // outside the identity part: only this page
        m.Memory.Write(0x700000, 8, 0xABCDEF);
        var t = new HvTest
        {
            Guest = g => { g.mov(rax, 0x500000); g.mov(rbx, __qword_ptr[rax]); g.mov(__qword_ptr[rax], rbx); },
        };
        t.Fields.WithEpt(ept.Pointer());
        Assert.Equal("int3", t.Run(m).ToString());
        Assert.Equal(0xABCDEFUL, m.Cpu.R(Reg.Rbx));
        Assert.Equal((ulong)ExitReason.EptViolation, m.Cpu.R(Reg.R12));  // the write to a read-only page
        Assert.Equal(0x500000UL, m.Vmcs(F.GuestPhysicalAddress));
    }
}
