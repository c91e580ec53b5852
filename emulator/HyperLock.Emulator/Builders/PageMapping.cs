namespace HyperLock.Emulator.Builders;

/// <summary>
/// One leaf translation read back from a paging structure, with the permissions that take
/// effect (R/W and U/S: all levels must allow; XD: any level forbids).
/// </summary>
/// <param name="Linear">First linear address of the page.</param>
/// <param name="Physical">Its frame.</param>
/// <param name="Size">4 KiB, 2 MiB or 1 GiB.</param>
/// <param name="EntryAddress">Physical address of the leaf entry.</param>
public readonly record struct PageMapping(ulong Linear, ulong Physical, ulong Size, PageFlags Flags, ulong EntryAddress)
{
    public bool Writable => (Flags & PageFlags.Writable) != 0;
    public bool User => (Flags & PageFlags.User) != 0;
    public bool NoExecute => (Flags & PageFlags.NoExecute) != 0;
    public bool Global => (Flags & PageFlags.Global) != 0;

    /// <summary>The physical address <paramref name="linear"/> (inside this page) translates to.</summary>
    public ulong Translate(ulong linear) => Physical + (linear - Linear);
}
