using System.Buffers.Binary;

namespace HyperLock.Emulator.Loaders;

/// <summary>
/// The machine's physical memory map as firmware reports it (BIOS INT 15h E820 entries,
/// also the source of the multiboot memory map). For a machine with M bytes of RAM:
/// conventional memory [0, 0x9FC00), the EBDA [0x9FC00, 0xA0000) and the BIOS area
/// [0xF0000, 0x100000) reserved, RAM from 1 MiB to min(M, 3 GiB), and when M is larger
/// than 3 GiB the rest of the RAM from 4 GiB up, so the range [3 GiB, 4 GiB) is left for
/// device windows (local and I/O APIC). <see cref="PhysicalTop"/> is the address space the
/// RAM occupies.
/// </summary>
public sealed class E820Map
{
    /// <summary>Entry type: usable RAM.</summary>
    public const uint TypeRam = 1;
    /// <summary>Entry type: reserved.</summary>
    public const uint TypeReserved = 2;
    /// <summary>End of conventional memory (start of the EBDA).</summary>
    public const ulong ConventionalEnd = 0x9FC00;
    /// <summary>Start of the reserved BIOS area.</summary>
    public const ulong BiosAreaStart = 0xF0000;
    /// <summary>Start of extended memory.</summary>
    public const ulong HighMemoryStart = 0x100000;
    /// <summary>Where RAM below 4 GiB ends when the machine has more.</summary>
    public const ulong LowRamLimit = 0xC0000000;
    /// <summary>Where the RAM above the device hole starts.</summary>
    public const ulong HighRamStart = 0x100000000;
    /// <summary>Smallest supported machine: 2 MiB.</summary>
    public const ulong MinimumMemory = 2 << 20;
    /// <summary>Bytes per entry in the Linux boot_params table (u64 addr, u64 size, u32 type).</summary>
    public const int EntrySize = 20;

    /// <summary>One entry.</summary>
    public readonly record struct Entry(ulong Address, ulong Length, uint Type)
    {
        public ulong End => Address + Length;
    }

    public IReadOnlyList<Entry> Entries { get; }

    /// <summary>The RAM size the map was made for.</summary>
    public ulong MemorySize { get; }

    /// <summary>One past the highest RAM address.</summary>
    public ulong PhysicalTop { get; }

    /// <summary>One past the highest RAM address below 4 GiB.</summary>
    public ulong LowRamTop { get; }

    private E820Map(List<Entry> entries, ulong memory, ulong top, ulong lowTop)
    {
        Entries = entries;
        MemorySize = memory;
        PhysicalTop = top;
        LowRamTop = lowTop;
    }

    /// <summary>The map for a machine with <paramref name="memoryBytes"/> of RAM.</summary>
    public static E820Map ForMemory(ulong memoryBytes)
    {
        if (memoryBytes < MinimumMemory)
            throw new MachineConfigException($"memory size {memoryBytes} bytes is too small (at least {MinimumMemory >> 20} MiB)");
        if (memoryBytes > (1UL << 39))
            throw new MachineConfigException($"memory size {memoryBytes >> 30} GiB is too large (at most 512 GiB)");
        var list = new List<Entry>
        {
            new(0, ConventionalEnd, TypeRam),
            new(ConventionalEnd, 0xA0000 - ConventionalEnd, TypeReserved),
            new(BiosAreaStart, HighMemoryStart - BiosAreaStart, TypeReserved),
        };
        ulong low = Math.Min(memoryBytes, LowRamLimit);
        list.Add(new Entry(HighMemoryStart, low - HighMemoryStart, TypeRam));
        ulong top = low;
        if (memoryBytes > LowRamLimit)
        {
            ulong rest = memoryBytes - LowRamLimit;
            list.Add(new Entry(HighRamStart, rest, TypeRam));
            top = HighRamStart + rest;
        }
        return new E820Map(list, memoryBytes, top, low);
    }

    /// <summary>True when [address, address + length) lies inside one RAM entry.</summary>
    public bool IsRam(ulong address, ulong length)
    {
        foreach (var e in Entries)
            if (e.Type == TypeRam && address >= e.Address && address + length <= e.End && address + length >= address) return true;
        return false;
    }

    /// <summary>Writes the entries in the Linux boot_params layout (20 bytes each).</summary>
    public void WriteLinux(Span<byte> dest)
    {
        for (int i = 0; i < Entries.Count; i++)
        {
            var s = dest.Slice(i * EntrySize, EntrySize);
            BinaryPrimitives.WriteUInt64LittleEndian(s, Entries[i].Address);
            BinaryPrimitives.WriteUInt64LittleEndian(s[8..], Entries[i].Length);
            BinaryPrimitives.WriteUInt32LittleEndian(s[16..], Entries[i].Type);
        }
    }
}
