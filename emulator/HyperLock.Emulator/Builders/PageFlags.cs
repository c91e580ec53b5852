namespace HyperLock.Emulator.Builders;

/// <summary>Permissions of a 4-level paging mapping (the leaf's; present is implied).</summary>
[Flags]
public enum PageFlags
{
    /// <summary>Read-only, supervisor, executable.</summary>
    None = 0,
    /// <summary>R/W = 1.</summary>
    Writable = 1,
    /// <summary>U/S = 1: reachable from CPL3.</summary>
    User = 2,
    /// <summary>XD = 1 (needs EFER.NXE).</summary>
    NoExecute = 4,
    /// <summary>G = 1 (kept across CR3 loads when CR4.PGE = 1).</summary>
    Global = 8,
}
