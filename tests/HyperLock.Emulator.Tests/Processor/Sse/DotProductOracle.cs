using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using HyperLock.Emulator.Processor;

namespace HyperLock.Emulator.Tests.Processor.Sse;

/// <summary>
/// A vendor-aware oracle for DPPS and DPPD at the default MXCSR. Which NaN reaches the result
/// when several operands are NaN depends on the order in which the processor adds the
/// products, and that order differs between vendors. The emulator models an Intel core, so the
/// expected value is built from the SDM's operation — products DEST[i]*SRC[i] (+0.0 where
/// imm8[4+i] is clear), summed as (p0+p1)+(p2+p3) (DPPS) or p0+p1 (DPPD), every step with the
/// SDM's NaN rule (a NaN first operand wins, else the second; an SNaN is quieted) — in the
/// operand order Intel hardware uses per destination lane k, which the SDM's pseudocode does
/// not show and which was recorded on the Intel CI host (the emulator matched it there):
/// DPPS lo = k odd ? p0+p1 : p1+p0, hi = k odd ? p2+p3 : p3+p2, lane = k &lt; 2 ? lo+hi : hi+lo;
/// DPPD lane 0 = p0+p1, lane 1 = p1+p0. Arithmetic on non-NaN values is done by the host, which
/// rounds the same on every vendor. The model is checked against the live host on every call:
/// on an Intel host bit for bit, on any other host in every lane that is not a NaN and in which
/// lanes are NaNs.
/// </summary>
// The host intrinsic takes the test's imm8 as a variable (the JIT falls back to a jump table): fine for an oracle.
#pragma warning disable CA1857
internal static class DotProductOracle
{
    public static bool HostIsIntel { get; } = Vendor() == "GenuineIntel";

    private static string Vendor()
    {
        if (!X86Base.IsSupported) return "unknown";
        var (_, b, c, d) = X86Base.CpuId(0, 0);
        Span<byte> s = stackalloc byte[12];
        BitConverter.TryWriteBytes(s, b);
        BitConverter.TryWriteBytes(s[4..], d);
        BitConverter.TryWriteBytes(s[8..], c);
        return System.Text.Encoding.ASCII.GetString(s);
    }

    public static Xmm Dpps(Xmm dest, Xmm src, byte imm)
    {
        var p = new uint[4];
        for (int i = 0; i < 4; i++)
            p[i] = (imm >> (4 + i) & 1) != 0 ? Op32(Lane32(dest, i), Lane32(src, i), (x, y) => x * y) : 0;
        var r = new uint[4];
        for (int k = 0; k < 4; k++)
        {
            if ((imm >> k & 1) == 0) continue;
            bool odd = (k & 1) != 0;
            uint lo = odd ? Op32(p[0], p[1], Add32) : Op32(p[1], p[0], Add32);
            uint hi = odd ? Op32(p[2], p[3], Add32) : Op32(p[3], p[2], Add32);
            r[k] = k < 2 ? Op32(lo, hi, Add32) : Op32(hi, lo, Add32);
        }
        var model = new Xmm(r[0] | (ulong)r[1] << 32, r[2] | (ulong)r[3] << 32);
        var host = Sse41.DotProduct(Vector128.Create(dest.Lo, dest.Hi).AsSingle(), Vector128.Create(src.Lo, src.Hi).AsSingle(), imm).AsUInt64();
        CheckAgainstHost(model, new Xmm(host.GetElement(0), host.GetElement(1)), 32, $"dpps 0x{imm:x2} {dest} {src}");
        return model;
    }

    public static Xmm Dppd(Xmm dest, Xmm src, byte imm)
    {
        ulong p0 = (imm & 0x10) != 0 ? Op64(dest.Lo, src.Lo, (x, y) => x * y) : 0;
        ulong p1 = (imm & 0x20) != 0 ? Op64(dest.Hi, src.Hi, (x, y) => x * y) : 0;
        var model = new Xmm((imm & 1) != 0 ? Op64(p0, p1, (x, y) => x + y) : 0, (imm & 2) != 0 ? Op64(p1, p0, (x, y) => x + y) : 0);
        var host = Sse41.DotProduct(Vector128.Create(dest.Lo, dest.Hi).AsDouble(), Vector128.Create(src.Lo, src.Hi).AsDouble(), imm).AsUInt64();
        CheckAgainstHost(model, new Xmm(host.GetElement(0), host.GetElement(1)), 64, $"dppd 0x{imm:x2} {dest} {src}");
        return model;
    }

    private static float Add32(float x, float y) => x + y;

    private static uint Lane32(Xmm x, int i) => (uint)((i < 2 ? x.Lo : x.Hi) >> (32 * (i & 1)));

    /// <summary>One SDM step on singles: the NaN rule, else the host's arithmetic.</summary>
    private static uint Op32(uint a, uint b, Func<float, float, float> f)
    {
        if (IsNan32(a)) return a | 0x00400000;
        if (IsNan32(b)) return b | 0x00400000;
        return BitConverter.SingleToUInt32Bits(f(BitConverter.UInt32BitsToSingle(a), BitConverter.UInt32BitsToSingle(b)));
    }

    private static ulong Op64(ulong a, ulong b, Func<double, double, double> f)
    {
        if (IsNan64(a)) return a | 0x0008000000000000;
        if (IsNan64(b)) return b | 0x0008000000000000;
        return BitConverter.DoubleToUInt64Bits(f(BitConverter.UInt64BitsToDouble(a), BitConverter.UInt64BitsToDouble(b)));
    }

    private static bool IsNan32(ulong v) => (v & 0x7F800000) == 0x7F800000 && (v & 0x007FFFFF) != 0;
    private static bool IsNan64(ulong v) => (v & 0x7FF0000000000000) == 0x7FF0000000000000 && (v & 0x000FFFFFFFFFFFFF) != 0;

    /// <summary>The model against the live host: exact on Intel; elsewhere equal except for which NaN.</summary>
    private static void CheckAgainstHost(Xmm model, Xmm host, int bits, string what)
    {
        if (HostIsIntel)
        {
            Assert.True(model.Lo == host.Lo && model.Hi == host.Hi, $"SDM model {model} differs from the Intel host {host} for {what}");
            return;
        }
        foreach (var (m, h) in new[] { (model.Lo, host.Lo), (model.Hi, host.Hi) })
            for (int shift = 0; shift < 64; shift += bits)
            {
                ulong ml = bits == 64 ? m : (m >> shift) & 0xFFFFFFFF, hl = bits == 64 ? h : (h >> shift) & 0xFFFFFFFF;
                bool mNan = bits == 64 ? IsNan64(ml) : IsNan32(ml), hNan = bits == 64 ? IsNan64(hl) : IsNan32(hl);
                Assert.True(mNan == hNan && (mNan || ml == hl), $"SDM model {model} differs from the host {host} beyond the NaN choice for {what}");
            }
    }
}
