using System.Buffers.Binary;

namespace HyperLock.Emulator.Loaders;

/// <summary>
/// A validated view of an ELF32 or ELF64 little-endian x86 executable: its entry point and
/// PT_LOAD segments. Anything malformed (bad magic, class, truncated headers or segments,
/// file sizes larger than memory sizes, overflowing ranges) is a <see cref="MachineConfigException"/>.
/// </summary>
public sealed class ElfImage
{
    /// <summary>ELF magic "\x7fELF".</summary>
    public const uint Magic = 0x464C457F;
    /// <summary>e_ident[EI_CLASS]: 32-bit objects.</summary>
    public const byte Class32 = 1;
    /// <summary>e_ident[EI_CLASS]: 64-bit objects.</summary>
    public const byte Class64 = 2;
    /// <summary>e_ident[EI_DATA]: little-endian.</summary>
    public const byte DataLittleEndian = 1;
    /// <summary>e_type: executable.</summary>
    public const ushort TypeExec = 2;
    /// <summary>e_machine: Intel 80386.</summary>
    public const ushort Machine386 = 3;
    /// <summary>e_machine: AMD x86-64.</summary>
    public const ushort MachineX8664 = 62;
    /// <summary>p_type: loadable segment.</summary>
    public const uint PtLoad = 1;

    /// <summary>One PT_LOAD segment.</summary>
    public readonly record struct Segment(ulong PhysicalAddress, ulong VirtualAddress, ulong FileOffset, ulong FileSize, ulong MemorySize);

    public bool Is64 { get; }
    public ulong Entry { get; }
    public IReadOnlyList<Segment> Segments { get; }

    private ElfImage(bool is64, ulong entry, List<Segment> segments)
    {
        Is64 = is64;
        Entry = entry;
        Segments = segments;
    }

    /// <summary>True when the data starts with the ELF magic.</summary>
    public static bool HasMagic(ReadOnlySpan<byte> data) => data.Length >= 4 && BinaryPrimitives.ReadUInt32LittleEndian(data) == Magic;

    /// <summary>Parses and validates an x86 ELF executable.</summary>
    public static ElfImage Parse(ReadOnlySpan<byte> data, string what = "kernel")
    {
        if (!HasMagic(data)) throw new MachineConfigException($"{what}: not an ELF file");
        if (data.Length < 0x34) throw new MachineConfigException($"{what}: truncated ELF header");
        byte cls = data[4];
        if (cls != Class32 && cls != Class64) throw new MachineConfigException($"{what}: bad ELF class {cls}");
        if (data[5] != DataLittleEndian) throw new MachineConfigException($"{what}: ELF file is not little-endian");
        bool is64 = cls == Class64;
        if (is64 && data.Length < 0x40) throw new MachineConfigException($"{what}: truncated ELF header");
        ushort type = U16(data, 0x10);
        ushort machine = U16(data, 0x12);
        if (type != TypeExec) throw new MachineConfigException($"{what}: ELF type {type} is not an executable");
        if (machine != (is64 ? MachineX8664 : Machine386))
            throw new MachineConfigException($"{what}: ELF machine {machine} is not {(is64 ? "x86-64" : "i386")}");
        ulong entry = is64 ? U64(data, 0x18) : U32(data, 0x18);
        ulong phoff = is64 ? U64(data, 0x20) : U32(data, 0x1C);
        int phentsize = U16(data, is64 ? 0x36 : 0x2A);
        int phnum = U16(data, is64 ? 0x38 : 0x2C);
        int minEntry = is64 ? 56 : 32;
        if (phnum == 0) throw new MachineConfigException($"{what}: ELF file has no program headers");
        if (phentsize < minEntry) throw new MachineConfigException($"{what}: bad ELF program header size {phentsize}");
        if (phoff > (ulong)data.Length || (ulong)phnum * (ulong)phentsize > (ulong)data.Length - phoff)
            throw new MachineConfigException($"{what}: truncated ELF program headers");
        var segs = new List<Segment>();
        for (int i = 0; i < phnum; i++)
        {
            var ph = data.Slice((int)phoff + i * phentsize, phentsize);
            if (U32(ph, 0) != PtLoad) continue;
            ulong off, vaddr, paddr, filesz, memsz;
            if (is64)
            {
                off = U64(ph, 8); vaddr = U64(ph, 16); paddr = U64(ph, 24); filesz = U64(ph, 32); memsz = U64(ph, 40);
            }
            else
            {
                off = U32(ph, 4); vaddr = U32(ph, 8); paddr = U32(ph, 12); filesz = U32(ph, 16); memsz = U32(ph, 20);
            }
            if (filesz > memsz) throw new MachineConfigException($"{what}: ELF segment {i} has a file size larger than its memory size");
            if (off > (ulong)data.Length || filesz > (ulong)data.Length - off)
                throw new MachineConfigException($"{what}: truncated ELF segment {i}");
            if (paddr + memsz < paddr) throw new MachineConfigException($"{what}: ELF segment {i} wraps around the address space");
            if (memsz != 0) segs.Add(new Segment(paddr, vaddr, off, filesz, memsz));
        }
        if (segs.Count == 0) throw new MachineConfigException($"{what}: ELF file has no loadable segments");
        return new ElfImage(is64, entry, segs);
    }

    private static ushort U16(ReadOnlySpan<byte> d, int o) => BinaryPrimitives.ReadUInt16LittleEndian(d[o..]);
    private static uint U32(ReadOnlySpan<byte> d, int o) => BinaryPrimitives.ReadUInt32LittleEndian(d[o..]);
    private static ulong U64(ReadOnlySpan<byte> d, int o) => BinaryPrimitives.ReadUInt64LittleEndian(d[o..]);
}
