namespace HyperLock.Attacks;

/// <summary>
/// One run of a case against one target: how it ended for the attacker (<see cref="Kind"/> with
/// the rule, vector or status), what stopped it, whether the run matches the expectation, and what
/// the other parties show (changed parties, the other guest's result, the reference monitor's
/// findings when one is attached).
/// </summary>
public sealed record AttackRun(
    AttackTarget? Target, ExpectKind? Kind, int Rule, int Vector, long Status, string StoppedBy, string Detail,
    bool MatchesExpectation, IReadOnlyCollection<string> ChangedParties, int Parties, bool OtherGuestOk,
    IReadOnlyList<string> MonitorFindings, long MonitorChecked, bool Ran)
{
    /// <summary>Nothing escaped: no other party changed, the other guest finished correctly, the monitor (if any) saw nothing.</summary>
    public bool Contained => ChangedParties.Count == 0 && (!Ran || OtherGuestOk) && MonitorFindings.Count == 0;
}
