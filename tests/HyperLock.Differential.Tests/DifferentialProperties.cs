using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using HyperLock.Differential.Tests.Harness;
using HyperLock.Emulator.Processor.Execution;

namespace HyperLock.Differential.Tests;

/// <summary>
/// FsCheck properties over random implemented forms and random state (fixed replay seed in
/// CI, so the run is reproducible; the runner does the long random pass).
/// </summary>
[Trait("Category", "Differential")]
public class DifferentialProperties : IDisposable
{
    private readonly DifferentialPass _pass = new();

    /// <summary>Implemented forms this host runs (the vendor policy keeps vendor-specific forms out on other vendors).</summary>
    private static readonly Form[] Implemented = FormCatalog.Forms
        .Where(f => OpTable.IsImplemented(f.Code) && VendorPolicy.Host.VendorSpecificForm(f.Code) == null).ToArray();

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

    [Property(MaxTest = 1000, Replay = "(42,4243)")]
    public Property BuiltCasesPutTheirMemoryOperandInTheDataWindow()
    {
        // Independent of the safety gate (which asks Iced): recompute the effective address from
        // the decoded operand fields and check the builder's own promise.
        var arb = Generators.AnyCase(FormCatalog.Forms.ToArray()).ToArbitrary();
        return Prop.ForAll(arb, fc =>
        {
            var c = fc.Result.Case;
            if (c == null) return true;
            var ins = c.Instruction;
            bool hasMemory = false;
            for (int k = 0; k < ins.OpCount; k++) hasMemory |= ins.GetOpKind(k) == Iced.Intel.OpKind.Memory;
            if (!hasMemory || ins.Mnemonic == Iced.Intel.Mnemonic.Xlatb) return true;
            ulong ea = Comparison.EffectiveAddress(c);
            bool inside = ea >= ScratchLayout.DataBase + ScratchLayout.Margin && ea < ScratchLayout.DataBase + ScratchLayout.DataSize - ScratchLayout.Margin;
            bool aligned = c.Form.MemorySize != 16 || (ea & 15) == 0;
            return inside && aligned && c.Initial.Gpr[4] <= ScratchLayout.StackTop && c.Initial.Gpr[4] >= ScratchLayout.StackTop - 24;
        });
    }

    public void Dispose() => _pass.Dispose();
}
