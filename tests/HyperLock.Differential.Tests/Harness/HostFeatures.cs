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
            or CpuidFeature.PCLMULQDQ or CpuidFeature.SHA or CpuidFeature.PREFETCHW or CpuidFeature.FPU
            or CpuidFeature.FPU287 or CpuidFeature.FPU387 or CpuidFeature.MMX => true,
        _ => false,
    };

    /// <summary>Where CPUID reports each in-scope feature that is not architecturally guaranteed on x86-64.</summary>
    public static readonly IReadOnlyDictionary<CpuidFeature, (uint Leaf, uint Subleaf, int Register, int Bit)> CpuidBits =
        new Dictionary<CpuidFeature, (uint, uint, int, int)>
        {
            [CpuidFeature.SSE3] = (1, 0, Ecx, 0),
            [CpuidFeature.PCLMULQDQ] = (1, 0, Ecx, 1),
            [CpuidFeature.SSSE3] = (1, 0, Ecx, 9),
            [CpuidFeature.CMPXCHG16B] = (1, 0, Ecx, 13),
            [CpuidFeature.SSE4_1] = (1, 0, Ecx, 19),
            [CpuidFeature.SSE4_2] = (1, 0, Ecx, 20),
            [CpuidFeature.MOVBE] = (1, 0, Ecx, 22),
            [CpuidFeature.POPCNT] = (1, 0, Ecx, 23),
            [CpuidFeature.AES] = (1, 0, Ecx, 25),
            [CpuidFeature.CLFSH] = (1, 0, Edx, 19),
            [CpuidFeature.BMI1] = (7, 0, Ebx, 3),
            [CpuidFeature.BMI2] = (7, 0, Ebx, 8),
            [CpuidFeature.ADX] = (7, 0, Ebx, 19),
            [CpuidFeature.CLFLUSHOPT] = (7, 0, Ebx, 23),
            [CpuidFeature.CLWB] = (7, 0, Ebx, 24),
            [CpuidFeature.SHA] = (7, 0, Ebx, 29),
            [CpuidFeature.LZCNT] = (0x80000001, 0, Ecx, 5),
            [CpuidFeature.SSE4A] = (0x80000001, 0, Ecx, 6),
            [CpuidFeature.PREFETCHW] = (0x80000001, 0, Ecx, 8),
        };

    private const int Eax = 0, Ebx = 1, Ecx = 2, Edx = 3;

    /// <summary>True when the host CPU implements the feature (CPUID).</summary>
    public static bool HostHas(CpuidFeature f) => f switch
    {
        CpuidFeature.INTEL8086 or CpuidFeature.INTEL186 or CpuidFeature.INTEL286 or CpuidFeature.INTEL386
            or CpuidFeature.INTEL486 or CpuidFeature.X64 or CpuidFeature.MULTIBYTENOP or CpuidFeature.PAUSE
            or CpuidFeature.SSE or CpuidFeature.SSE2 or CpuidFeature.CMOV or CpuidFeature.CX8 or CpuidFeature.FPU
            or CpuidFeature.FPU287 or CpuidFeature.FPU387 or CpuidFeature.MMX => true,
        _ => CpuidBits.TryGetValue(f, out var b) && Bit(b.Leaf, b.Subleaf, b.Register, b.Bit),
    };

    /// <summary>LAHF/SAHF are valid in 64-bit mode only with CPUID.80000001H:ECX.LAHF-SAHF[bit 0].</summary>
    public static bool HostHasLahfSahf64 => Bit(0x80000001, 0, Ecx, 0);

    private static bool Bit(uint leaf, uint sub, int reg, int bit)
    {
        var (maxLeaf, _, _, _) = X86Base.CpuId((int)(leaf & 0x80000000), 0);
        if ((uint)maxLeaf < leaf) return false;
        var (a, b, c, d) = X86Base.CpuId((int)leaf, (int)sub);
        int v = reg switch { Eax => a, Ebx => b, Ecx => c, _ => d };
        return ((v >> bit) & 1) != 0;
    }
}
