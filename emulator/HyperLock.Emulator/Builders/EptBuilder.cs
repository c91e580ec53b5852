using HyperLock.Emulator.Memory;

namespace HyperLock.Emulator.Builders;

/// <summary>
/// Builds extended page tables (4 levels, 4 KiB leaves) in host-physical memory and reads them
/// back. Non-leaf entries allow everything (the leaf decides); leaves carry the permissions
/// and the memory type (write-back by default). <see cref="Pointer"/> is the EPTP value.
/// </summary>
public sealed class EptBuilder
{
    public const ulong AddressMask = 0x000FFFFFFFFFF000UL;
    /// <summary>EPT memory types (leaf bits 5:3, EPTP bits 2:0).</summary>
    public const int Uncacheable = 0, WriteBack = 6;

    private readonly PhysicalMemory _memory;
    private readonly FrameAllocator _frames;

    public EptBuilder(PhysicalMemory memory, FrameAllocator frames)
    {
        _memory = memory;
        _frames = frames;
        Root = frames.Allocate();
    }

    /// <summary>The EPT PML4's host-physical address.</summary>
    public ulong Root { get; }

    /// <summary>The EPTP: write-back paging structures, 4-level walk, accessed/dirty flags if asked.</summary>
    public ulong Pointer(bool accessedDirty = false) => Root | WriteBack | (3 << 3) | (accessedDirty ? 1UL << 6 : 0);

    /// <summary>Maps one 4 KiB guest-physical page to a host-physical frame.</summary>
    public void Map(ulong gpa, ulong hpa, EptPermissions permissions = EptPermissions.All, int memoryType = WriteBack) =>
        _memory.Write(LeafAddress(gpa, create: true), 8, (hpa & AddressMask) | (ulong)permissions | ((ulong)memoryType << 3));

    /// <summary>Maps [gpa, gpa + size) to [hpa, ...) with 4 KiB pages.</summary>
    public void MapRange(ulong gpa, ulong hpa, ulong size, EptPermissions permissions = EptPermissions.All)
    {
        for (ulong off = 0; off < size; off += FrameAllocator.FrameSize) Map(gpa + off, hpa + off, permissions);
    }

    /// <summary>Identity-maps guest-physical [0, size).</summary>
    public void IdentityMap(ulong size, EptPermissions permissions = EptPermissions.All) => MapRange(0, 0, size, permissions);

    /// <summary>Address of the leaf entry for <paramref name="gpa"/> (creating the tables above it), for tests that edit it.</summary>
    public ulong LeafAddress(ulong gpa) => LeafAddress(gpa, create: true);

    private ulong LeafAddress(ulong gpa, bool create)
    {
        ulong table = Root;
        for (int shift = 39; shift > 12; shift -= 9)
        {
            ulong ea = table + (((gpa >> shift) & 0x1FF) << 3);
            ulong e = _memory.Read(ea, 8);
            if ((e & 7) == 0)
            {
                if (!create) return 0;
                e = _frames.Allocate() | 7;
                _memory.Write(ea, 8, e);
            }
            table = e & AddressMask;
        }
        return table + (((gpa >> 12) & 0x1FF) << 3);
    }

    /// <summary>The mapping of <paramref name="gpa"/> in the EPT at <paramref name="root"/>, or null (no large pages).</summary>
    public static EptMapping? Walk(PhysicalMemory memory, ulong root, ulong gpa)
    {
        ulong table = root & AddressMask;
        for (int shift = 39; shift >= 12; shift -= 9)
        {
            ulong ea = table + (((gpa >> shift) & 0x1FF) << 3);
            ulong e = memory.Read(ea, 8);
            if ((e & 7) == 0) return null;
            if (shift == 12 || (e & 0x80) != 0)
            {
                ulong size = 1UL << shift;
                return new EptMapping(gpa & ~(size - 1), e & AddressMask & ~(size - 1), size,
                    (EptPermissions)(e & 7), (int)((e >> 3) & 7), ea);
            }
            table = e & AddressMask;
        }
        return null;
    }

    /// <summary>Every leaf of the EPT at <paramref name="root"/>, by guest-physical address.</summary>
    public static List<EptMapping> Mappings(PhysicalMemory memory, ulong root)
    {
        var list = new List<EptMapping>();
        void Visit(ulong table, int shift, ulong baseGpa)
        {
            for (ulong i = 0; i < 512; i++)
            {
                ulong ea = table + i * 8;
                ulong e = memory.Read(ea, 8);
                if ((e & 7) == 0) continue;
                ulong gpa = baseGpa | (i << shift);
                if (shift == 12 || (e & 0x80) != 0)
                    list.Add(new EptMapping(gpa, e & AddressMask & ~((1UL << shift) - 1), 1UL << shift, (EptPermissions)(e & 7), (int)((e >> 3) & 7), ea));
                else Visit(e & AddressMask, shift - 9, gpa);
            }
        }
        Visit(root & AddressMask, 39, 0);
        return list;
    }

    public EptMapping? Walk(ulong gpa) => Walk(_memory, Root, gpa);
    public List<EptMapping> Mappings() => Mappings(_memory, Root);
}
