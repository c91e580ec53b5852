using HyperLock.Differential.Tests.Harness;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;

namespace HyperLock.Differential.Tests;

/// <summary>
/// The vendor policy with the vendor as a parameter: a simulated non-Intel host excludes the
/// reserved-NOP space and forgives only the NaN choice of DPPS/DPPD; an Intel host compares
/// everything.
/// </summary>
[Trait("Category", "Differential")]
public class VendorPolicyTests
{
    private static readonly VendorPolicy Amd = new("AuthenticAMD");
    private static readonly VendorPolicy Intel = new(HostVendor.Intel);

    [Fact]
    public void NonIntelHostsExcludeTheReservedNopSpaceWithTheReason()
    {
        var reserved = FormCatalog.Forms.Where(f => f.Mnemonic == Mnemonic.Reservednop).ToList();
        Assert.True(reserved.Count >= 24, $"only {reserved.Count} reserved-NOP forms in the catalogue");
        foreach (var f in reserved)
        {
            Assert.Null(Intel.VendorSpecificForm(f.Code));
            Assert.Contains("reserved-NOP", Amd.VendorSpecificForm(f.Code));
            Assert.Contains("AuthenticAMD", Amd.VendorSpecificForm(f.Code));
        }
        // Architectural NOPs and the documented PREFETCH forms are the same on every vendor.
        foreach (var c in new[] { Code.Nop_rm32, Code.Prefetcht0_m8, Code.Addps_xmm_xmmm128, Code.Dpps_xmm_xmmm128_imm8 })
            Assert.Null(Amd.VendorSpecificForm(c));
    }

    private static MachineState WithXmm0(ulong lo, ulong hi)
    {
        var s = new MachineState();
        s.Xmm[0] = lo;
        s.Xmm[1] = hi;
        return s;
    }

    [Fact]
    public void OnlyTheNanChoiceIsForgivenAndOnlyOnNonIntelHosts()
    {
        // Lane 0: two different QNaNs (forgiven on AMD). Lane 1: a NaN against a number (never).
        var native = WithXmm0(0x3F800000_7FC00001UL, 0);
        var emulated = WithXmm0(0x3F800000_FFC00002UL, 0);
        var relaxed = Amd.ForgiveNanChoice(Code.Dpps_xmm_xmmm128_imm8, native, emulated, out int forgiven);
        Assert.Equal(1, forgiven);
        Assert.Equal(emulated.Xmm[0], relaxed.Xmm[0]);
        Assert.Equal(0x7FC00001UL, native.Xmm[0] & 0xFFFFFFFF); // the native state itself is untouched

        var wrongNumber = WithXmm0(0x3F800000_7FC00001UL, 0);
        var emulatedNumber = WithXmm0(0x40000000_7FC00001UL, 0);
        var notRelaxed = Amd.ForgiveNanChoice(Code.Dpps_xmm_xmmm128_imm8, wrongNumber, emulatedNumber, out forgiven);
        Assert.Equal(0, forgiven);
        Assert.Same(wrongNumber, notRelaxed);

        var nanVsNumber = WithXmm0(0x7FC00000UL, 0);
        var number = WithXmm0(0x3F800000UL, 0);
        Amd.ForgiveNanChoice(Code.Dpps_xmm_xmmm128_imm8, nanVsNumber, number, out forgiven);
        Assert.Equal(0, forgiven);

        // DPPD lanes are 64-bit; other forms and Intel hosts forgive nothing.
        var dNative = WithXmm0(0x7FF8000000000001UL, 0);
        var dEmulated = WithXmm0(0xFFF8000000000002UL, 0);
        Amd.ForgiveNanChoice(Code.Dppd_xmm_xmmm128_imm8, dNative, dEmulated, out forgiven);
        Assert.Equal(1, forgiven);
        Amd.ForgiveNanChoice(Code.Addps_xmm_xmmm128, native, emulated, out forgiven);
        Assert.Equal(0, forgiven);
        Intel.ForgiveNanChoice(Code.Dpps_xmm_xmmm128_imm8, native, emulated, out forgiven);
        Assert.Equal(0, forgiven);
    }

    [Fact]
    public void ASimulatedNonIntelPassExcludesVendorFormsAndComparesTheRest()
    {
        using var pass = new DifferentialPass();
        var result = pass.Run(new PassOptions
        {
            Seed = 11, CasesPerForm = 24, Vendor = Amd,
            FormFilter = ["Reservednop*", "Dpps*", "Dppd*", "Nop_rm32"],
        });
        Assert.Equal("AuthenticAMD", result.Vendor);
        Assert.Equal(FormCatalog.Forms.Count(f => f.Mnemonic == Mnemonic.Reservednop), result.VendorExcluded.Count);
        Assert.DoesNotContain(result.Covered.Keys, c => c.Mnemonic() == Mnemonic.Reservednop);
        Assert.Empty(result.HostFaults);
        Assert.Empty(result.Mismatches);
        Assert.Equal(24, result.Covered[Code.Dpps_xmm_xmmm128_imm8].Cases);
        Assert.Equal(24, result.Covered[Code.Nop_rm32].Cases);
        Assert.Contains("## Vendor-specific forms", CoverageReport.Render(result));
    }

    [Fact]
    public void ASimulatedIntelPassRunsTheReservedNopSpaceWithoutDying()
    {
        // On an Intel host every reserved-NOP form runs and matches; on another vendor some of
        // them fault natively (0F 0D with a register operand is #UD on AMD): those become host
        // exclusions with the signal, and the pass finishes either way.
        using var pass = new DifferentialPass();
        var result = pass.Run(new PassOptions { Seed = 3, CasesPerForm = 16, Vendor = Intel, FormFilter = ["Reservednop*"] });
        Assert.Empty(result.VendorExcluded);
        Assert.Empty(result.Mismatches);
        foreach (var f in FormCatalog.Forms.Where(f => f.Mnemonic == Mnemonic.Reservednop && OpTable.IsImplemented(f.Code)))
            Assert.True(result.Covered.ContainsKey(f.Code) || result.HostFaults.ContainsKey(f.Code), $"{f.Code}: neither run nor excluded");
        if (HostVendor.Current.Value == HostVendor.Intel) Assert.Empty(result.HostFaults);
        foreach (var why in result.HostFaults.Values) Assert.StartsWith("SIGILL natively", why);
    }
}
