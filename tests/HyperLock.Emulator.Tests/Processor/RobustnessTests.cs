using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using HyperLock.Emulator.Processor.Execution;
using HyperLock.Emulator.Loaders;

namespace HyperLock.Emulator.Tests.Processor;

/// <summary>
/// Random bytes as guest code must only ever produce architectural outcomes: a stop reason,
/// never a C# exception escaping the emulator.
/// </summary>
public class RobustnessTests
{
    private static Arbitrary<byte[]> Code() =>
        Gen.Choose(1, 96).SelectMany(n => Gen.ArrayOf(Gen.Choose(0, 255).Select(b => (byte)b), n)).ToArbitrary();

    private static bool RunsToAnArchitecturalStop(byte[] code, bool user, bool intercept)
    {
        using var env = new SnippetEnvironment(code, user);
        env.Cpu.InterceptExceptions = intercept;
        var rng = new Random(code.Length * 31 + code[0]);
        for (int i = 0; i < 16; i++) env.Cpu.R(i) = i == 4 ? env.Cpu.R(4) : (ulong)rng.NextInt64();
        var stop = env.Cpu.Run(2_000);
        return stop.Kind != StopKind.None;
    }

    [Property(MaxTest = 400, Arbitrary = new[] { typeof(RobustnessTests) })]
    public bool RandomCodeAtCpl3StopsArchitecturally(byte[] code) => RunsToAnArchitecturalStop(code, user: true, intercept: true);

    [Property(MaxTest = 400, Arbitrary = new[] { typeof(RobustnessTests) })]
    public bool RandomCodeAtCpl0StopsArchitecturally(byte[] code) => RunsToAnArchitecturalStop(code, user: false, intercept: true);

    /// <summary>With no IDT, every exception escalates through #DF to a triple fault: the delivery paths must cope.</summary>
    [Property(MaxTest = 200, Arbitrary = new[] { typeof(RobustnessTests) })]
    public bool RandomCodeWithoutInterceptionShutsDownCleanly(byte[] code) => RunsToAnArchitecturalStop(code, user: false, intercept: false);

    public static Arbitrary<byte[]> ByteArrays() => Code();
}
