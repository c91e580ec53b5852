namespace HyperLock.Emulator.Loaders;

/// <summary>
/// Unusable machine input: a truncated or corrupt kernel or initrd, an unknown kernel format,
/// too little memory, a command line too long for the kernel. The message is one line that
/// names the problem; the CLI prints it and exits with status 2.
/// </summary>
public sealed class MachineConfigException : Exception
{
    public MachineConfigException(string message) : base(message) { }

    public MachineConfigException(string message, Exception inner) : base(message, inner) { }
}
