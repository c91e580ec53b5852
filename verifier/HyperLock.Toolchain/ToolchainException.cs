namespace HyperLock.Toolchain;

/// <summary>The toolchain cannot produce a verified image from what it was given.</summary>
public sealed class ToolchainException(string message) : Exception(message);
