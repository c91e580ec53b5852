using HyperLock.Verifier;

namespace HyperLock.Runtime.Loading;

/// <summary>The loader refused an image: the verifier's findings (or a bad manifest entry) are attached.</summary>
public sealed class ImageRejectedException : Exception
{
    public ImageRejectedException(string message, VerificationResult verification) : base(message) => Verification = verification;

    /// <summary>The verifier's result on the image (its findings when rejected; accepted when only the manifest was wrong).</summary>
    public VerificationResult Verification { get; }
}
