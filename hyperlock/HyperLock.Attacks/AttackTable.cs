using System.Text;

namespace HyperLock.Attacks;

/// <summary>The table <c>hyperlock attack</c> prints: attack, stopped by, observed, verdict (and time).</summary>
public static class AttackTable
{
    public static string Format(IReadOnlyList<AttackResult> results, bool maskTimings)
    {
        var rows = results.Select(r => new[]
        {
            r.Case.Name, r.StoppedBy, r.Observed, r.Verdict switch
            {
                AttackVerdict.Stopped => "stopped",
                AttackVerdict.Unexpected => $"UNEXPECTED (wanted '{r.Case.Expect.Text}': {r.FirstBad?.Detail})",
                _ => "ESCAPED",
            },
            maskTimings ? "(masked)" : $"{r.ElapsedMilliseconds} ms",
        }).ToList();
        string[] head = ["attack", "stopped by", "observed", "verdict", "time"];
        var width = new int[head.Length];
        for (int k = 0; k < head.Length; k++) width[k] = Math.Max(head[k].Length, rows.Count == 0 ? 0 : rows.Max(r => r[k].Length));
        var sb = new StringBuilder();
        void Row(string[] cells)
        {
            for (int k = 0; k < cells.Length; k++)
                sb.Append(k == cells.Length - 1 ? cells[k] : cells[k].PadRight(width[k] + 2));
            sb.Append('\n');
        }
        Row(head);
        Row(head.Select((_, k) => new string('-', width[k])).ToArray());
        foreach (var r in rows) Row(r);
        int stopped = results.Count(r => r.Verdict == AttackVerdict.Stopped);
        int escaped = results.Count(r => r.Verdict == AttackVerdict.Escaped);
        sb.Append($"\n{results.Count} attacks: {stopped} stopped, {escaped} escaped, {results.Count - stopped - escaped} unexpected\n");
        return sb.ToString();
    }
}
