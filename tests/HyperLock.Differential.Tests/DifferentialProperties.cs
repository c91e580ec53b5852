using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using HyperLock.Differential.Tests.Harness;
using HyperLock.Emulator.Cpu.Execution;

namespace HyperLock.Differential.Tests;

/// <summary>
/// FsCheck properties over random implemented forms and random state (fixed replay seed in
/// CI, so the run is reproducible; the runner does the long random pass).
/// </summary>
[Trait("Category", "Differential")]
public class DifferentialProperties : IDisposable
{
    private readonly DifferentialPass _pass = new();

    private static readonly Form[] Implemented = FormCatalog.Forms.Where(f => OpTable.IsImplemented(f.Code)).ToArray();

    [Property(MaxTest = 2000, Replay = "(12345678901234,98765432109877)")]
    public Property RandomImplementedFormsMatchTheHost()
    {
        var arb = Generators.AnyCase(Implemented.Length > 0 ? Implemented : FormCatalog.Forms.ToArray()).ToArbitrary();
        return Prop.ForAll(arb, fc =>
        {
            var (form, built) = fc;
            if (built.Case == null || !OpTable.IsImplemented(form.Code)) return true; // nothing executed
            var mm = _pass.Check(built.Case);
            Assert.True(mm == null, mm == null ? "" : $"{form.Code}: {built.Case.Text}\n{CoverageReport.Reproduction(mm)}");
            return true;
        });
    }

    [Property(MaxTest = 300, Replay = "(42,4243)")]
    public Property EveryBuiltCasePassesTheSafetyGate()
    {
        // The gate is the only barrier between a generator bug and a dead test process:
        // check that whatever the builder hands out really is safe by the gate's own rules.
        var arb = Generators.AnyCase(FormCatalog.Forms.ToArray()).ToArbitrary();
        return Prop.ForAll(arb, fc =>
        {
            var c = fc.Result.Case;
            return c == null || SafetyGate.Check(c.Form, c.Instruction, c.Initial) == null;
        });
    }

    public void Dispose() => _pass.Dispose();
}
