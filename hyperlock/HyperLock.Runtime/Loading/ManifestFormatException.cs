namespace HyperLock.Runtime.Loading;

/// <summary>A hypervisor manifest or image file that cannot be read; the message names the file and line.</summary>
public sealed class ManifestFormatException(string message) : Exception(message);
