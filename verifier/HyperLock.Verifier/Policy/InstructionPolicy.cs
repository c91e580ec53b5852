namespace HyperLock.Verifier.Policy;

/// <summary>How the allow-list treats one Iced <see cref="Iced.Intel.Code"/>.</summary>
public enum PolicyKind : byte
{
    /// <summary>No decision recorded: the verifier treats it as forbidden and a test fails.</summary>
    Unclassified = 0,
    /// <summary>Allowed anywhere (prefix rules still apply).</summary>
    Allowed,
    /// <summary>Allowed only as the second half of a pseudo-instruction (rules 4 and 7).</summary>
    PseudoOnly,
    /// <summary>Allowed only as <c>int GATE</c>.</summary>
    GateOnly,
    /// <summary>Never allowed; <see cref="InstructionPolicy.Reason"/> says why.</summary>
    Forbidden,
}

/// <summary>The allow-list's verdict on one instruction form.</summary>
/// <param name="Kind">Allowed, pseudo-only, gate-only or forbidden.</param>
/// <param name="Rule">The rule a use of a forbidden form breaks (5 for returns, 4 for indirect branches, else 6).</param>
/// <param name="Reason">Why, in a few words (empty for plainly allowed forms).</param>
public readonly record struct InstructionPolicy(PolicyKind Kind, Rule Rule, string Reason)
{
    internal static InstructionPolicy Allow(string reason = "") => new(PolicyKind.Allowed, Rule.AllowList, reason);
    internal static InstructionPolicy Forbid(string reason, Rule rule = Rule.AllowList) => new(PolicyKind.Forbidden, rule, reason);
}
