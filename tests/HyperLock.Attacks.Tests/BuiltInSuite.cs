using System.Collections.Concurrent;

namespace HyperLock.Attacks.Tests;

/// <summary>Each built-in case is run once per test process; the per-case theory and the table snapshot share the results.</summary>
internal static class BuiltInSuite
{
    private static readonly ConcurrentDictionary<string, Lazy<AttackResult>> Results = new();

    public static IEnumerable<object[]> CaseNames() => AttackSuite.BuiltInFiles().Select(f => new object[] { Path.GetFileName(f) });

    public static AttackCase Case(string fileName) => AttackCaseParser.ParseFile(Path.Combine(AttackSuite.BuiltInFolder, fileName));

    public static AttackResult Result(string fileName) =>
        Results.GetOrAdd(fileName, f => new Lazy<AttackResult>(() => new AttackRunner().Run(Case(f)))).Value;
}
