namespace HyperLock.Cli;

/// <summary>Unusable input or arguments: reported as one line on stderr with exit status 2.</summary>
public sealed class UsageException(string message) : Exception(message);
