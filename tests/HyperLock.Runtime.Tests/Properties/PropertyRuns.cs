using FsCheck;
using FsCheck.Fluent;
using Microsoft.FSharp.Core;

namespace HyperLock.Runtime.Tests.Properties;

/// <summary>
/// How the security properties run: in CI a fixed seed and a small count (a few seconds each);
/// for a long run set <c>HYPERLOCK_PROPERTY_TESTS</c> to the number of cases (the seed is then
/// random and printed on failure, or fixed with <c>HYPERLOCK_PROPERTY_SEED</c>).
/// docs/security.md, "Properties and the reference monitor".
/// </summary>
internal static class PropertyRuns
{
    public const string CountVariable = "HYPERLOCK_PROPERTY_TESTS";
    public const string SeedVariable = "HYPERLOCK_PROPERTY_SEED";
    private const ulong CiSeed = 0x4879_7065_724C_6F63; // fixed: CI runs the same cases every time
    private const ulong Gamma = 0x9E37_79B9_7F4A_7C15;   // odd, as FsCheck's generator needs

    /// <summary>Checks <paramref name="property"/> with <paramref name="ciTests"/> cases (or the environment's count); throws on a counter-example.</summary>
    public static void Check(string name, int ciTests, Property property)
    {
        string? count = Environment.GetEnvironmentVariable(CountVariable);
        string? seedText = Environment.GetEnvironmentVariable(SeedVariable);
        int tests = int.TryParse(count, out int n) && n > 0 ? n : ciTests;
        ulong seed = ulong.TryParse(seedText, out ulong s) ? s
            : count is null ? CiSeed : (ulong)System.Random.Shared.NextInt64();
        var replay = new Replay(new Rnd(seed, Gamma), FSharpOption<int>.None);
        var config = Config.QuickThrowOnFailure.WithMaxTest(tests).WithQuietOnSuccess(true)
            .WithReplay(FSharpOption<Replay>.Some(replay)).WithName($"{name} (seed {seed})");
        property.Check(config);
    }
}
