using HyperLock.Abi;
using HyperLock.Verifier.Policy;
using Xunit;

namespace HyperLock.Verifier.Tests;

public class VmcsFieldPolicyTests
{
    [Fact]
    public void HostStateIsNeitherReadableNorWritable()
    {
        var host = VmcsFieldPolicy.Fields.Where(f => f.Group == VmcsFieldGroup.HostState).ToList();
        Assert.True(host.Count >= 20);
        Assert.All(host, f => Assert.False(f.Readable || f.Writable, f.Name));
        Assert.All(host, f => Assert.Equal(3u, (f.Encoding >> 10) & 3)); // SDM: type bits 11:10 = 3 (host state)
    }

    [Fact]
    public void ControlsAreRuntimeOnlyExceptEventInjection()
    {
        foreach (var f in VmcsFieldPolicy.Fields.Where(f => f.Group == VmcsFieldGroup.Control))
            Assert.False(f.Readable || f.Writable, f.Name);
        foreach (uint e in new uint[] { 0x4016, 0x4018, 0x401A })
            Assert.True(VmcsFieldPolicy.MayWrite(e) && VmcsFieldPolicy.MayRead(e));
    }

    [Fact]
    public void ReadOnlyDataIsReadOnly()
    {
        var ro = VmcsFieldPolicy.Fields.Where(f => f.Group == VmcsFieldGroup.ReadOnlyData).ToList();
        Assert.All(ro, f => Assert.True(f.Readable && !f.Writable, f.Name));
        Assert.All(ro, f => Assert.Equal(1u, (f.Encoding >> 10) & 3)); // type 1 = read-only data
    }

    [Fact]
    public void GuestStateIsReadWriteExceptLinkPointerAndPmlIndex()
    {
        foreach (var f in VmcsFieldPolicy.Fields.Where(f => f.Group == VmcsFieldGroup.GuestState))
        {
            Assert.Equal(2u, (f.Encoding >> 10) & 3); // type 2 = guest state
            bool runtimeOnly = (f.Encoding & ~1u) is 0x2800 or 0x0812;
            Assert.Equal(!runtimeOnly, f.Readable);
            Assert.Equal(!runtimeOnly, f.Writable);
        }
    }

    [Fact]
    public void UnknownEncodingsAreDenied()
    {
        Assert.False(VmcsFieldPolicy.MayRead(0xFFFF));
        Assert.False(VmcsFieldPolicy.MayWrite(0x1234));
    }

    [Fact]
    public void SixtyFourBitFieldsHaveHighAccessWithSameRights()
    {
        foreach (var f in VmcsFieldPolicy.Fields.Where(f => ((f.Encoding >> 13) & 3) == 1 && (f.Encoding & 1) == 0))
        {
            Assert.True(VmcsFieldPolicy.TryGet(f.Encoding | 1, out var high), f.Name);
            Assert.Equal((f.Readable, f.Writable), (high.Readable, high.Writable));
        }
    }
}
