using Iced.Intel;

namespace HyperLock.Differential.Tests.Harness;

/// <summary>
/// What the differential pass does about behaviour that differs between CPU vendors. The
/// emulator models an Intel core, so on an Intel host everything is compared. On any other
/// vendor (the vendor string is a parameter, so tests simulate one):
/// <list type="bullet">
/// <item>forms whose decoding is vendor-specific are excluded, with the reason
/// (<see cref="VendorSpecificForm"/>: the reserved-NOP space 0F 0D and 0F 18-0F 1F, which Intel
/// decodes as NOPs and AMD as PREFETCH/PREFETCHW or #UD);</item>
/// <item>forms whose choice of NaN is vendor-specific (<see cref="NanChoiceLaneBits"/>: DPPS and
/// DPPD, whose Intel sum order decides which NaN reaches the result) are compared with NaN
/// lanes counted equal when both sides produced a NaN; everything else in the state, and every
/// lane where either side is not a NaN, is still compared.</item>
/// </list>
/// </summary>
public sealed class VendorPolicy(string vendor)
{
    public string Vendor { get; } = vendor;

    public bool IsIntel => Vendor == HostVendor.Intel;

    /// <summary>The policy for the CPU the process runs on.</summary>
    public static VendorPolicy Host => new(HostVendor.Current.Value);

    /// <summary>Why the form is not run on this vendor, or null.</summary>
    public string? VendorSpecificForm(Code code)
    {
        if (IsIntel) return null;
        if (code.Mnemonic() == Mnemonic.Reservednop)
            return $"reserved-NOP space (0F 0D, 0F 18-1F): a NOP on Intel, PREFETCH/PREFETCHW or #UD on other vendors; host is {Vendor}";
        return null;
    }

    /// <summary>Lane width (32 or 64) of a form whose NaN choice is vendor-specific on this vendor, or 0.</summary>
    public int NanChoiceLaneBits(Code code)
    {
        if (IsIntel) return 0;
        return code switch
        {
            Code.Dpps_xmm_xmmm128_imm8 => 32,
            Code.Dppd_xmm_xmmm128_imm8 => 64,
            _ => 0,
        };
    }

    /// <summary>
    /// For a NaN-choice form, a copy of <paramref name="native"/> in which every XMM lane that is
    /// a NaN on both sides takes the emulator's bits (so only the NaN choice is forgiven); the
    /// native state itself when nothing was forgiven. <paramref name="forgiven"/> counts lanes.
    /// </summary>
    public MachineState ForgiveNanChoice(Code code, MachineState native, MachineState emulated, out int forgiven)
    {
        forgiven = 0;
        int bits = NanChoiceLaneBits(code);
        if (bits == 0) return native;
        MachineState? copy = null;
        for (int q = 0; q < 32; q++)
        {
            ulong n = native.Xmm[q], e = emulated.Xmm[q];
            if (n == e) continue;
            ulong merged = n;
            for (int shift = 0; shift < 64; shift += bits)
            {
                ulong mask = bits == 64 ? ulong.MaxValue : 0xFFFFFFFFUL << shift;
                ulong nl = (n & mask) >> shift, el = (e & mask) >> shift;
                if (nl != el && IsNan(nl, bits) && IsNan(el, bits))
                {
                    merged = (merged & ~mask) | (e & mask);
                    forgiven++;
                }
            }
            if (merged == n) continue;
            copy ??= CloneWithRip(native);
            copy.Xmm[q] = merged;
        }
        return copy ?? native;
    }

    private static MachineState CloneWithRip(MachineState s)
    {
        var c = s.Clone();
        c.Rip = s.Rip;
        c.HostSignal = s.HostSignal;
        return c;
    }

    public static bool IsNan(ulong lane, int bits) => bits == 32
        ? (lane & 0x7F800000) == 0x7F800000 && (lane & 0x007FFFFF) != 0
        : (lane & 0x7FF0000000000000) == 0x7FF0000000000000 && (lane & 0x000FFFFFFFFFFFFF) != 0;
}
