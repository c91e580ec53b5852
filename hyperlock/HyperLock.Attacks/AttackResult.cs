namespace HyperLock.Attacks;

/// <summary>Verdict on a whole case.</summary>
public enum AttackVerdict
{
    /// <summary>Every run ended as expected and nothing escaped.</summary>
    Stopped,
    /// <summary>Nothing escaped, but a run did not end as the case expects (the case or the defence changed).</summary>
    Unexpected,
    /// <summary>A run changed another party, the other guest did not finish correctly, or the monitor saw a violation.</summary>
    Escaped,
}

/// <summary>A case's runs and the table row they make.</summary>
public sealed record AttackResult(AttackCase Case, IReadOnlyList<AttackRun> Runs, long ElapsedMilliseconds)
{
    public AttackVerdict Verdict =>
        Runs.Any(r => !r.Contained) ? AttackVerdict.Escaped
        : Runs.All(r => r.MatchesExpectation) ? AttackVerdict.Stopped : AttackVerdict.Unexpected;

    /// <summary>What stopped it, summarised over the runs (distinct stoppers with counts).</summary>
    public string StoppedBy
    {
        get
        {
            var groups = Runs.GroupBy(r => r.StoppedBy).Select(g => Runs.Count == 1 ? g.Key : $"{g.Key} x{g.Count()}");
            return string.Join("; ", groups);
        }
    }

    /// <summary>What the other parties show.</summary>
    public string Observed
    {
        get
        {
            if (Runs.All(r => !r.Ran)) return "nothing ran";
            var ran = Runs.Where(r => r.Ran).ToList();
            var changed = ran.SelectMany(r => r.ChangedParties).Distinct().ToList();
            int monitor = ran.Sum(r => r.MonitorFindings.Count);
            string runs = ran.Count == 1 ? "" : $"{ran.Count} runs: ";
            if (changed.Count > 0) return $"{runs}CHANGED: {string.Join(", ", changed)}";
            if (ran.Any(r => !r.OtherGuestOk)) return $"{runs}other guest did NOT finish correctly";
            if (monitor > 0) return $"{runs}MONITOR: {monitor} violation(s): {ran.SelectMany(r => r.MonitorFindings).First()}";
            long watched = ran.Sum(r => r.MonitorChecked);
            string oracle = watched > 0 ? $"monitor silent over {watched} confined instructions, " : "";
            return $"{runs}{oracle}{ran[0].Parties} parties unchanged, other guest ok";
        }
    }

    /// <summary>The first run that decides the verdict (for details).</summary>
    public AttackRun? FirstBad => Runs.FirstOrDefault(r => !r.Contained) ?? Runs.FirstOrDefault(r => !r.MatchesExpectation);
}
