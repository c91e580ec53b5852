namespace HyperLock.Runtime.Spaces;

/// <summary>The regions of a confined space (docs/runtime.md, "Address-space layout").</summary>
public enum Region
{
    Code,
    Data,
    Stack,
    GuestWindow,
    Trampoline,
    SystemTables,
    IstStack,
}
