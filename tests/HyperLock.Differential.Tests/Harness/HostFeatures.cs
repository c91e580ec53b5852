using System.Runtime.Intrinsics.X86;
using Iced.Intel;

namespace HyperLock.Differential.Tests.Harness;

/// <summary>
/// Which CPUID features the tested ISA covers, and whether the host CPU has them. A form whose
/// feature the host lacks would raise #UD natively (SIGILL kills the test process), so such
/// forms are excluded, never executed.
/// </summary>
public static class HostFeatures
{
    /// <summary>
    /// User-mode features in scope: the base integer ISA, the SSE family through SSE4.2 and
    /// the small scalar extensions compilers emit. Everything else (AVX, TSX, SGX, CET, MPX, ...)
    /// is outside the emulated ISA.
    /// </summary>
    public static bool InScope(CpuidFeature f) => f switch
    {
        CpuidFeature.INTEL8086 or CpuidFeature.INTEL186 or CpuidFeature.INTEL286 or CpuidFeature.INTEL386
            or CpuidFeature.INTEL486 or CpuidFeature.X64 or CpuidFeature.CMOV or CpuidFeature.CX8
            or CpuidFeature.CMPXCHG16B or CpuidFeature.SSE or CpuidFeature.SSE2 or CpuidFeature.SSE3
            or CpuidFeature.SSSE3 or CpuidFeature.SSE4_1 or CpuidFeature.SSE4_2 or CpuidFeature.SSE4A
            or CpuidFeature.POPCNT or CpuidFeature.LZCNT or CpuidFeature.BMI1 or CpuidFeature.BMI2
            or CpuidFeature.ADX or CpuidFeature.MOVBE or CpuidFeature.CLFSH or CpuidFeature.CLFLUSHOPT
            or CpuidFeature.CLWB or CpuidFeature.MULTIBYTENOP or CpuidFeature.PAUSE or CpuidFeature.AES
            or CpuidFeature.PCLMULQDQ or CpuidFeature.SHA or CpuidFeature.PREFETCHW => true,
        _ => false,
    };

    /// <summary>True when the host CPU implements the feature (CPUID).</summary>
    public static bool HostHas(CpuidFeature f) => f switch
    {
        CpuidFeature.INTEL8086 or CpuidFeature.INTEL186 or CpuidFeature.INTEL286 or CpuidFeature.INTEL386
            or CpuidFeature.INTEL486 or CpuidFeature.X64 or CpuidFeature.MULTIBYTENOP or CpuidFeature.PAUSE
            or CpuidFeature.SSE or CpuidFeature.SSE2 or CpuidFeature.CMOV or CpuidFeature.CX8 => true,
        CpuidFeature.SSE3 => Bit(1, 0, 'c', 0),
        CpuidFeature.PCLMULQDQ => Bit(1, 0, 'c', 1),
        CpuidFeature.SSSE3 => Bit(1, 0, 'c', 9),
        CpuidFeature.CMPXCHG16B => Bit(1, 0, 'c', 13),
        CpuidFeature.SSE4_1 => Bit(1, 0, 'c', 19),
        CpuidFeature.SSE4_2 => Bit(1, 0, 'c', 20),
        CpuidFeature.MOVBE => Bit(1, 0, 'c', 22),
        CpuidFeature.POPCNT => Bit(1, 0, 'c', 23),
        CpuidFeature.AES => Bit(1, 0, 'c', 25),
        CpuidFeature.CLFSH => Bit(1, 0, 'd', 19),
        CpuidFeature.BMI1 => Bit(7, 0, 'b', 3),
        CpuidFeature.BMI2 => Bit(7, 0, 'b', 8),
        CpuidFeature.ADX => Bit(7, 0, 'b', 19),
        CpuidFeature.CLFLUSHOPT => Bit(7, 0, 'b', 23),
        CpuidFeature.CLWB => Bit(7, 0, 'b', 24),
        CpuidFeature.SHA => Bit(7, 0, 'b', 29),
        CpuidFeature.LZCNT => Bit(0x80000001, 0, 'c', 5),
        CpuidFeature.SSE4A => Bit(0x80000001, 0, 'c', 6),
        CpuidFeature.PREFETCHW => Bit(0x80000001, 0, 'c', 8),
        _ => false,
    };

    /// <summary>LAHF/SAHF are valid in 64-bit mode only with CPUID.80000001H:ECX.LAHF-SAHF[bit 0].</summary>
    public static bool HostHasLahfSahf64 => Bit(0x80000001, 0, 'c', 0);

    private static bool Bit(uint leaf, uint sub, char reg, int bit)
    {
        var (maxLeaf, _, _, _) = X86Base.CpuId((int)(leaf & 0x80000000), 0);
        if ((uint)maxLeaf < leaf) return false;
        var (a, b, c, d) = X86Base.CpuId((int)leaf, (int)sub);
        int v = reg switch { 'a' => a, 'b' => b, 'c' => c, _ => d };
        return ((v >> bit) & 1) != 0;
    }
}
