using HyperLock.Verifier.Decoding;

namespace HyperLock.Verifier;

/// <summary>Collects findings (with their disassembly) up to a limit.</summary>
internal sealed class FindingSink(int max)
{
    private readonly int _max = Math.Max(1, max);
    private List<Finding>? _findings;
    private IcedDecoder? _decoder;

    public bool Full { get; private set; }
    public bool Truncated { get; private set; }
    public IReadOnlyList<Finding> Findings => (IReadOnlyList<Finding>?)_findings ?? [];

    public void Bind(IcedDecoder decoder) => _decoder = decoder;
    public void Unbind() => _decoder = null;

    public void Add(int offset, Rule rule, string detail) =>
        Add(new Finding(offset, rule, detail, _decoder is null ? "" : Disassembler.At(_decoder, offset)));

    public void AddNoInstruction(long offset, Rule rule, string detail) =>
        Add(new Finding((int)Math.Clamp(offset, int.MinValue, int.MaxValue), rule, detail, ""));

    private void Add(Finding f)
    {
        if (Full) { Truncated = true; return; }
        (_findings ??= []).Add(f);
        if (_findings.Count >= _max) Full = true;
    }
}
