namespace HyperLock.Verifier;

/// <summary>
/// One rejection: where, which rule, why, and the instruction found there (Iced's
/// disassembly with its bytes, or a byte dump when nothing decodes).
/// </summary>
/// <param name="Offset">Byte offset in the image.</param>
/// <param name="Rule">The SPEC §6 rule broken.</param>
/// <param name="Detail">What exactly is wrong, in one line.</param>
/// <param name="Instruction">Disassembly of the instruction at <paramref name="Offset"/>.</param>
public sealed record Finding(int Offset, Rule Rule, string Detail, string Instruction)
{
    /// <summary>The rule's one-line statement.</summary>
    public string RuleText => HyperLock.Verifier.RuleText.Of(Rule);
}
