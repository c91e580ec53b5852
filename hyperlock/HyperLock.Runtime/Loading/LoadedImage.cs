using HyperLock.Abi;
using HyperLock.Verifier;

namespace HyperLock.Runtime.Loading;

/// <summary>
/// An accepted image placed in memory once: the physical frames of its code (shared read-only by
/// every instance) and what the verifier validated. Only the manifest's entries can be entered.
/// </summary>
public sealed class LoadedImage
{
    internal LoadedImage(HypervisorImage image, VerificationResult verification, ulong[] codeFrames)
    {
        Image = image;
        Verification = verification;
        CodeFrames = codeFrames;
    }

    public HypervisorImage Image { get; }
    public HypervisorManifest Manifest => Image.Manifest;
    public VerificationResult Verification { get; }

    /// <summary>The physical frames holding the code, in order (page k of the image is frame k).</summary>
    public IReadOnlyList<ulong> CodeFrames { get; }

    /// <summary>The confined linear address of the entry for basic exit reason <paramref name="reason"/>.</summary>
    public ulong EntryAddress(int reason) => ConfinedLayout.Code + (ulong)Manifest.EntryFor(reason);
}
