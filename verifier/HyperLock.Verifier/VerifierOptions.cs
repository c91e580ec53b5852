namespace HyperLock.Verifier;

/// <summary>What the verifier is told besides the bytes.</summary>
public sealed record VerifierOptions
{
    /// <summary>
    /// The runtime gate vector: <c>int 0x82</c>. Chosen above the 32 exception vectors and
    /// away from the legacy PIC range (0x20-0x2f) and Linux's 0x80, so a stray guest-style
    /// interrupt number cannot collide with it.
    /// </summary>
    public const byte DefaultGateVector = 0x82;

    /// <summary>Bytes per bundle (the NaCl scheme).</summary>
    public const int BundleSize = 32;

    /// <summary>The vector of the one allowed software interrupt, <c>int GATE</c>.</summary>
    public byte GateVector { get; init; } = DefaultGateVector;

    /// <summary>Entry points the image declares (rule 8); offsets into the image.</summary>
    public IReadOnlyList<long> EntryPoints { get; init; } = [];

    /// <summary>Stop collecting findings after this many (the verdict is unaffected).</summary>
    public int MaxFindings { get; init; } = 1000;

    /// <summary>
    /// Whether an accepted image's <see cref="VerificationResult.ValidatedStarts"/> are copied
    /// out (one bit per byte of the image). A loader needs them; a caller that only reports the
    /// verdict and the findings (the <c>verify</c> command) saves the copy and its memory.
    /// </summary>
    public bool KeepValidatedStarts { get; init; } = true;

    /// <summary>The defaults: gate <c>int 0x82</c>, no declared entries.</summary>
    public static VerifierOptions Default { get; } = new();
}
