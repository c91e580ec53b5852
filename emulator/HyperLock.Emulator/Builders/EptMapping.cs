namespace HyperLock.Emulator.Builders;

/// <summary>One EPT leaf read back: guest-physical page, host frame, size, permissions, memory type, entry address.</summary>
public readonly record struct EptMapping(ulong GuestPhysical, ulong HostPhysical, ulong Size, EptPermissions Permissions,
    int MemoryType, ulong EntryAddress);
