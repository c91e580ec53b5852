namespace HyperLock.Verifier.Cli;

/// <summary>An input file that cannot be used (missing, unreadable, empty, or over its size limit); the message is one line.</summary>
public sealed class InputFileException(string message) : Exception(message);
