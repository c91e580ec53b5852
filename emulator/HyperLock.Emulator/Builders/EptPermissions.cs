namespace HyperLock.Emulator.Builders;

/// <summary>Permissions of an EPT mapping (bits 2:0 of an entry).</summary>
[Flags]
public enum EptPermissions : ulong
{
    None = 0,
    Read = 1,
    Write = 2,
    Execute = 4,
    All = 7,
}
