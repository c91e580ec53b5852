using Xunit;

namespace HyperLock.Verifier.Tests;

/// <summary>Confined code cannot reach the host-call port: the verifier rejects every I/O instruction (rule 6).</summary>
public class HostSeamTests
{
    [Theory]
    [InlineData(new byte[] { 0xB8, 7, 0, 0, 0, 0xE7, 0xE0 }, 5)]   // mov eax, 7; out 0xE0, eax
    [InlineData(new byte[] { 0x66, 0xBA, 0xE0, 0, 0xEF }, 4)]      // mov dx, 0xE0; out dx, eax
    [InlineData(new byte[] { 0xE5, 0xE0 }, 0)]                       // in eax, 0xE0
    [InlineData(new byte[] { 0x6F }, 0)]                             // outsd
    public void AHostCallStubIsRejected(byte[] code, int ioOffset)
    {
        var image = new byte[32];
        Array.Fill(image, (byte)0x90);
        code.CopyTo(image, 0);
        var r = ImageVerifier.Verify(image);
        Assert.False(r.Accepted);
        Assert.Contains(r.Findings, f => f.Offset == ioOffset && f.Rule == Rule.AllowList);
    }
}
