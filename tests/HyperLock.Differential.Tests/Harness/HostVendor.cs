using System.Runtime.Intrinsics.X86;
using System.Text;

namespace HyperLock.Differential.Tests.Harness;

/// <summary>The host CPU's vendor string (CPUID leaf 0: EBX, EDX, ECX), e.g. GenuineIntel or AuthenticAMD.</summary>
public static class HostVendor
{
    public const string Intel = "GenuineIntel";

    public static readonly Lazy<string> Current = new(() =>
    {
        if (!X86Base.IsSupported) return "unknown";
        var (_, b, c, d) = X86Base.CpuId(0, 0);
        var bytes = new byte[12];
        BitConverter.TryWriteBytes(bytes.AsSpan(0), b);
        BitConverter.TryWriteBytes(bytes.AsSpan(4), d);
        BitConverter.TryWriteBytes(bytes.AsSpan(8), c);
        return Encoding.ASCII.GetString(bytes);
    });
}
