using HyperLock.Differential.Tests.Harness;

namespace HyperLock.Differential.Tests;

/// <summary>
/// The CI pass: a fixed-seed sweep over every implemented form (<see cref="CasesPerForm"/> cases
/// each), run natively and in the emulator. Writes the full coverage report to
/// TestResults/differential-report.txt next to the test assembly.
/// </summary>
[Trait("Category", "Differential")]
public class DifferentialTests(Xunit.Abstractions.ITestOutputHelper output)
{
    /// <summary>
    /// Implemented forms the fixed-seed pass must cover: what main achieved when this was set
    /// (1,104 of 1,223 candidate forms; the unimplemented ones were mostly MMX, AES/SHA/PCLMUL),
    /// plus the 14 AES-NI/PCLMULQDQ/SHA forms.
    /// Raise it as forms land; never lower it to make a run pass.
    /// </summary>
    public const int MinimumCoveredForms = 1118;

    public const ulong CiSeed = 0x4879_7065_724C_6F63;
    public const int CasesPerForm = 16;

    [Fact]
    public void FixedSeedSweepMatchesTheHost()
    {
        using var pass = new DifferentialPass();
        var result = pass.Run(new PassOptions { Seed = CiSeed, CasesPerForm = CasesPerForm });
        string report = CoverageReport.Render(result);
        string dir = Path.Combine(AppContext.BaseDirectory, "TestResults");
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, "differential-report.txt");
        File.WriteAllText(path, report);
        output.WriteLine(CoverageReport.Summary(result));
        output.WriteLine("full report: " + path);

        Assert.True(result.Mismatches.Count == 0,
            $"{result.Mismatches.Count} implemented forms mismatch the host:\n" +
            string.Join("\n", result.Mismatches.Values.Take(10).Select(m => m.Case.Form.Code + ": " + m.Case.Text + "\n" + CoverageReport.Reproduction(m))));
        // Forms this host cannot run (missing CPUID feature) count as covered for the threshold,
        // so an older CI CPU does not fail it; they are listed in the report.
        int covered = result.CoveredImplementedForms + result.ImplementedButHostLacks;
        Assert.True(covered >= MinimumCoveredForms,
            $"covered {covered} implemented forms, expected at least {MinimumCoveredForms}\n" + CoverageReport.Summary(result));
    }
}
