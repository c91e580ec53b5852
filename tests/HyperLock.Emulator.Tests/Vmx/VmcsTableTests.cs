using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Vmx;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using F = HyperLock.Emulator.Vmx.VmcsField;

namespace HyperLock.Emulator.Tests.Vmx;

/// <summary>The VMCS field table and the capability MSRs.</summary>
public class VmcsTableTests
{
    [Fact]
    public void EveryFieldHasAUniqueSlotAndReservedEncodingsAreRejected()
    {
        var seen = new HashSet<int>();
        foreach (var f in VmcsFields.All)
        {
            Assert.True(seen.Add(f.Slot));
            Assert.Equal(f.Slot, VmcsFields.Lookup(f.Encoding));
            Assert.Equal(0u, f.Encoding & 1);
            if (f.Width == VmcsWidth.Bits64) Assert.Equal(f.Slot, VmcsFields.Lookup(f.Encoding + 1));
            else Assert.Equal(-1, VmcsFields.Lookup(f.Encoding + 1));
            Assert.Equal(-1, VmcsFields.Lookup(f.Encoding | 0x1000));   // bit 12 reserved
            Assert.Equal(-1, VmcsFields.Lookup(f.Encoding | 0x10000));  // bits 31:15 reserved
        }
        Assert.True(VmcsFields.Count * 8 + Vmcs.DataOffset <= 4096);
    }

    [Fact]
    public void EveryWritableFieldRoundTripsThroughVmwriteAndVmreadWithItsWidth()
    {
        using var m = new VmxMachine();
        m.Load(VmxMachine.HostCode, a =>
        {
            a.vmxon(__qword_ptr[VmxMachine.PtrVmxon]);
            a.vmclear(__qword_ptr[VmxMachine.PtrVmcs]);
            a.vmptrld(__qword_ptr[VmxMachine.PtrVmcs]);
            ulong slot = 0;
            foreach (var f in VmcsFields.All)
            {
                if (f.ReadOnly) continue;
                HvTest.Vmw(a, f.Encoding, 0xFEDCBA9876543210);
                HvTest.Vmr(a, rbx, f.Encoding);
                a.mov(__qword_ptr[VmxMachine.Data + 0x1000 + slot * 8], rbx);
                slot++;
            }
            a.int3();
        });
        Assert.Equal("int3", m.Run(100_000).ToString());
        ulong k = 0;
        foreach (var f in VmcsFields.All)
        {
            if (f.ReadOnly) continue;
            ulong expected = f.Width switch
            {
                VmcsWidth.Bits16 => 0x3210,
                VmcsWidth.Bits32 => 0x76543210,
                _ => 0xFEDCBA9876543210,
            };
            Assert.True(expected == m.Memory.Read(VmxMachine.Data + 0x1000 + k * 8, 8), f.Name);
            k++;
        }
    }

    [Fact]
    public void CapabilityMsrsDescribeTheModel()
    {
        using var m = new VmxMachine();
        var c = m.Cpu;
        Assert.True(c.TryReadMsr(0x480, out ulong basic));
        Assert.Equal((ulong)VmxCapabilities.RevisionId, basic & 0x7FFFFFFF);
        Assert.Equal(4096UL, (basic >> 32) & 0x1FFF);
        Assert.Equal(6UL, (basic >> 50) & 0xF);
        Assert.NotEqual(0UL, basic & (1UL << 55)); // TRUE controls
        Assert.True(c.TryReadMsr(0x48E, out ulong trueProc));
        Assert.True(c.TryReadMsr(0x482, out ulong proc));
        Assert.Equal(0x0401E172UL, proc & 0xFFFFFFFF);
        Assert.Equal(0x04006172UL, trueProc & 0xFFFFFFFF);
        Assert.True(c.TryReadMsr(0x48B, out ulong proc2));
        Assert.NotEqual(0UL, (proc2 >> 32) & VmxControls.Proc2Ept);
        Assert.True(c.TryReadMsr(0x48A, out ulong vmcsEnum));
        Assert.Equal((ulong)VmcsFields.HighestIndex() << 1, vmcsEnum);
        Assert.True(c.TryReadMsr(0x485, out ulong misc));
        Assert.Equal((ulong)VmxCapabilities.TimerRateShift, misc & 0x1F);
        Assert.True(c.TryReadMsr(0x486, out ulong cr0f0));
        Assert.Equal(0x80000021UL, cr0f0);
        Assert.True(c.TryReadMsr(0x488, out ulong cr4f0));
        Assert.Equal(Bits.Cr4Vmxe, cr4f0);
        Assert.False(c.TryWriteMsr(0x480, 0));    // read-only: #GP
        Assert.False(c.TryReadMsr(0x491, out _)); // VMFUNC not supported
    }

    [Fact]
    public void CapabilityMsrsFaultWhenCpuidHidesVmx()
    {
        using var m = new VmxMachine();
        m.Cpu.Cpuid.ClearBit(1, 0, 2, 5);
        Assert.False(m.Cpu.TryReadMsr(0x480, out _));
    }

    [Fact]
    public void CompositeMsrHandlerChainsHandlers()
    {
        using var m = new VmxMachine();
        m.Cpu.AddMsrHandler(new Fixed(0x800, 42));
        Assert.True(m.Cpu.TryReadMsr(0x800, out ulong v));
        Assert.Equal(42UL, v);
        Assert.True(m.Cpu.TryReadMsr(0x480, out _)); // VMX handler still answers
    }

    private sealed class Fixed(uint index, ulong value) : IMsrHandler
    {
        public bool TryRead(HyperLock.Emulator.Processor.Cpu cpu, uint i, out ulong v, out bool fault) { fault = false; v = value; return i == index; }
        public bool TryWrite(HyperLock.Emulator.Processor.Cpu cpu, uint i, ulong v, out bool fault) { fault = false; return false; }
    }
}
