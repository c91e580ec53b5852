using HyperLock.Attacks;

namespace HyperLock.Cli.Commands;

/// <summary>
/// <c>hyperlock attack [CASE…]</c>: runs attack cases (the built-in suite without arguments; case
/// files or folders of them otherwise) and prints the table: attack, stopped by, observed, verdict.
/// Status 0 if every attack was stopped as its case expects, 1 otherwise, 2 for unusable input.
/// </summary>
public static class AttackCommand
{
    public static int Run(string[] paths, bool verbose, TextWriter stdout, TextWriter stderr, Func<AttackRunner>? runner = null)
    {
        var (results, _) = RunCases(paths, stderr, runner?.Invoke() ?? new AttackRunner());
        stdout.Write(AttackTable.Format(results, maskTimings: false));
        if (verbose)
            foreach (var r in results)
                foreach (var run in r.Runs)
                    stdout.WriteLine($"  {r.Case.Name}{(run.Target is null ? "" : $" [{run.Target.Name} 0x{run.Target.Value:x}]")}: {run.StoppedBy}; {run.Detail}");
        return results.All(r => r.Verdict == AttackVerdict.Stopped) ? 0 : 1;
    }

    /// <summary>Parses every case first (a bad file stops everything with one line), then runs them.</summary>
    public static (IReadOnlyList<AttackResult> Results, IReadOnlyList<string> Files) RunCases(string[] paths, TextWriter stderr, AttackRunner runner)
    {
        List<AttackCase> cases;
        IReadOnlyList<string> files;
        try
        {
            files = paths.Length == 0 ? AttackSuite.BuiltInFiles() : AttackSuite.Expand(paths);
            cases = files.Select(AttackCaseParser.ParseFile).ToList();
        }
        catch (AttackFormatException e)
        {
            throw new UsageException(e.Message);
        }
        var results = new List<AttackResult>();
        foreach (var c in cases)
        {
            stderr.Write($"\rhyperlock attack: {results.Count + 1}/{cases.Count} {c.Name}".PadRight(60));
            try
            {
                results.Add(runner.Run(c));
            }
            catch (AttackFormatException e)
            {
                stderr.WriteLine();
                throw new UsageException(e.Message);
            }
        }
        stderr.WriteLine();
        return (results, files);
    }
}
