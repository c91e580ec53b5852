namespace HyperLock.Emulator.Loaders;

/// <summary>Kernel file formats the machine boots.</summary>
public enum KernelFormat
{
    /// <summary>Detect from the contents (bzImage, multiboot, ELF) and, for flat binaries, the file name.</summary>
    Auto,
    /// <summary>A raw binary loaded at <see cref="BootImage.FlatLoadAddress"/> and entered there.</summary>
    Flat,
    /// <summary>An ELF64 executable without a multiboot header: PT_LOAD segments, entered in long mode.</summary>
    Elf64,
    /// <summary>A multiboot v1 kernel (ELF32, ELF64 or a.out-kludge image).</summary>
    Multiboot,
    /// <summary>A Linux kernel image with the x86 boot protocol's setup header (bzImage).</summary>
    BzImage,
}

/// <summary>The processor mode a flat binary starts in.</summary>
public enum FlatEntryMode
{
    /// <summary>64-bit long mode, identity-mapped low 4 GiB (the default).</summary>
    Long64,
    /// <summary>Flat 32-bit protected mode, paging off.</summary>
    Protected32,
    /// <summary>Real mode, CS = DS = ES = SS = load address / 16 (load address below 1 MiB, 16-byte aligned).</summary>
    Real16,
}

/// <summary>Which entry point of a Linux kernel the loader uses.</summary>
public enum LinuxEntry
{
    /// <summary>startup_64 (load address + 0x200) in long mode, as the 64-bit boot protocol describes.</summary>
    Bits64,
    /// <summary>code32_start in flat 32-bit protected mode, as the 32-bit boot protocol describes.</summary>
    Bits32,
}

/// <summary>A multiboot module: its contents and its command line.</summary>
public sealed record BootModule(byte[] Data, string CommandLine);

/// <summary>What to boot: a kernel with its command line, initrd or modules, and loader options.</summary>
public sealed class BootImage
{
    public required byte[] Kernel { get; init; }

    /// <summary>The kernel's file name or path (format detection of flat binaries; multiboot command line, as QEMU passes it).</summary>
    public string KernelName { get; init; } = "kernel";

    public KernelFormat Format { get; init; } = KernelFormat.Auto;

    public string CommandLine { get; init; } = "";

    /// <summary>Linux initrd; for a multiboot kernel, loaded as its first module.</summary>
    public byte[]? Initrd { get; init; }

    /// <summary>Multiboot modules (after the initrd, if one is given).</summary>
    public IReadOnlyList<BootModule> Modules { get; init; } = [];

    public ulong FlatLoadAddress { get; init; } = 0x100000;

    public FlatEntryMode FlatEntry { get; init; } = FlatEntryMode.Long64;

    public LinuxEntry LinuxEntry { get; init; } = LinuxEntry.Bits64;
}

/// <summary>What a loader did: the format, the entry point, and a one-line description.</summary>
public sealed record LoadedKernel(KernelFormat Format, ulong Entry, string Description)
{
    /// <summary>Guest-physical address of the Linux boot_params or the multiboot information structure (0 if none).</summary>
    public ulong BootInfoAddress { get; init; }

    /// <summary>Guest-physical address and size of the initrd (0 if none).</summary>
    public ulong InitrdAddress { get; init; }

    public ulong InitrdSize { get; init; }
}
