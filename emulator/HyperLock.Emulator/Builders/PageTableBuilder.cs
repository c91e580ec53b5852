using HyperLock.Emulator.Memory;

namespace HyperLock.Emulator.Builders;

/// <summary>
/// Builds 4-level (IA-32e) page tables in physical memory, and reads any such tables back.
/// Tables come from a <see cref="FrameAllocator"/>; non-leaf entries are present, writable and
/// user (the leaf alone decides), leaves carry <see cref="PageFlags"/>. Mapping a 4 KiB page
/// inside an existing 2 MiB page splits it into 512 small pages with the same flags first.
/// <see cref="Walk"/> and <see cref="Mappings"/> read a whole map back with its effective
/// permissions, for tests that check what an address space contains.
/// </summary>
public sealed class PageTableBuilder
{
    public const ulong Present = 1, Rw = 2, Us = 4, Pwt = 8, Pcd = 0x10, Accessed = 0x20, Dirty = 0x40, Ps = 0x80, G = 0x100;
    public const ulong Nx = 1UL << 63;
    /// <summary>Bits 51:12 of an entry: the next table or the page frame.</summary>
    public const ulong AddressMask = 0x000FFFFFFFFFF000UL;

    public const ulong Size4K = 1UL << 12, Size2M = 1UL << 21, Size1G = 1UL << 30;

    private readonly PhysicalMemory _memory;
    private readonly FrameAllocator _frames;

    /// <summary>Allocates an empty PML4.</summary>
    public PageTableBuilder(PhysicalMemory memory, FrameAllocator frames)
    {
        _memory = memory;
        _frames = frames;
        Root = frames.Allocate();
    }

    /// <summary>Adopts an existing PML4 at <paramref name="root"/> (new tables still come from <paramref name="frames"/>).</summary>
    public PageTableBuilder(PhysicalMemory memory, FrameAllocator frames, ulong root)
    {
        _memory = memory;
        _frames = frames;
        Root = root;
    }

    /// <summary>The PML4's physical address: the CR3 value (PCID 0, no PWT/PCD).</summary>
    public ulong Root { get; }

    /// <summary>The bits a leaf gets for <paramref name="flags"/> (present included).</summary>
    public static ulong LeafBits(PageFlags flags) =>
        Present | ((flags & PageFlags.Writable) != 0 ? Rw : 0) | ((flags & PageFlags.User) != 0 ? Us : 0)
        | ((flags & PageFlags.NoExecute) != 0 ? Nx : 0) | ((flags & PageFlags.Global) != 0 ? G : 0);

    /// <summary>Maps the 4 KiB page at <paramref name="linear"/> to <paramref name="physical"/>.</summary>
    public void Map4K(ulong linear, ulong physical, PageFlags flags) =>
        _memory.Write(EntryFor(linear, 1), 8, (physical & AddressMask) | LeafBits(flags));

    /// <summary>Maps the 2 MiB page at <paramref name="linear"/> (2 MiB-aligned) to <paramref name="physical"/>.</summary>
    public void Map2M(ulong linear, ulong physical, PageFlags flags)
    {
        if (((linear | physical) & (Size2M - 1)) != 0) throw new ArgumentException("2 MiB mappings need 2 MiB-aligned addresses.");
        _memory.Write(EntryFor(linear, 2), 8, (physical & AddressMask) | LeafBits(flags) | Ps);
    }

    /// <summary>Maps [linear, linear + size) to [physical, ...) with 4 KiB pages.</summary>
    public void MapRange(ulong linear, ulong physical, ulong size, PageFlags flags)
    {
        for (ulong off = 0; off < size; off += Size4K) Map4K(linear + off, physical + off, flags);
    }

    /// <summary>Identity-maps [0, size) with 2 MiB pages.</summary>
    public void IdentityMap2M(ulong size, PageFlags flags)
    {
        for (ulong a = 0; a < size; a += Size2M) Map2M(a, a, flags);
    }

    /// <summary>Removes the 4 KiB mapping of <paramref name="linear"/> (its table stays).</summary>
    public void Unmap4K(ulong linear) => _memory.Write(EntryFor(linear, 1), 8, 0);

    /// <summary>
    /// The address of the level-<paramref name="level"/> entry (1 = PTE, 2 = PDE) for
    /// <paramref name="linear"/>, creating the tables above it and splitting a 2 MiB page if the
    /// 4 KiB entry is asked for.
    /// </summary>
    public ulong EntryFor(ulong linear, int level)
    {
        ulong table = Root;
        for (int l = 4; l > level; l--)
        {
            ulong ea = table + Index(linear, l) * 8;
            ulong e = _memory.Read(ea, 8);
            if ((e & Present) == 0)
            {
                e = _frames.Allocate() | Present | Rw | Us;
                _memory.Write(ea, 8, e);
            }
            else if ((e & Ps) != 0)
            {
                if (l != 2) throw new InvalidOperationException($"0x{linear:x} lies in a 1 GiB page.");
                e = Split2M(ea, e);
            }
            table = e & AddressMask;
        }
        return table + Index(linear, level) * 8;
    }

    /// <summary>Address of the 4 KiB PTE for <paramref name="linear"/> (creating tables, splitting a 2 MiB page).</summary>
    public ulong PteAddress(ulong linear) => EntryFor(linear, 1);

    private ulong Split2M(ulong pdeAddress, ulong pde)
    {
        ulong pt = _frames.Allocate();
        ulong flags = pde & (Rw | Us | Nx | G | Pwt | Pcd);
        ulong region = pde & ~(Size2M - 1) & AddressMask;
        for (ulong i = 0; i < 512; i++) _memory.Write(pt + i * 8, 8, (region + (i << 12)) | flags | Present);
        ulong e = pt | Present | Rw | Us;
        _memory.Write(pdeAddress, 8, e);
        return e;
    }

    private static ulong Index(ulong linear, int level) => (linear >> (12 + 9 * (level - 1))) & 0x1FF;

    // ---- reading back -------------------------------------------------------------------------

    /// <summary>The mapping that translates <paramref name="linear"/> under this builder's root, or null.</summary>
    public PageMapping? Walk(ulong linear) => Walk(_memory, Root, linear);

    /// <summary>Every leaf mapping under this builder's root.</summary>
    public List<PageMapping> Mappings() => Mappings(_memory, Root);

    /// <summary>
    /// Walks 4-level tables at <paramref name="root"/> (a CR3 value) for <paramref name="linear"/>
    /// as the processor does (no A/D updates, reserved bits not checked); null when not present.
    /// </summary>
    public static PageMapping? Walk(PhysicalMemory memory, ulong root, ulong linear)
    {
        ulong table = root & AddressMask;
        bool w = true, u = true, nx = false;
        for (int l = 4; l >= 1; l--)
        {
            ulong ea = table + Index(linear, l) * 8;
            ulong e = memory.Read(ea, 8);
            if ((e & Present) == 0) return null;
            w &= (e & Rw) != 0;
            u &= (e & Us) != 0;
            nx |= (e & Nx) != 0;
            if (l == 1 || (l <= 3 && (e & Ps) != 0))
            {
                ulong size = l == 1 ? Size4K : l == 2 ? Size2M : Size1G;
                ulong start = linear & ~(size - 1);
                ulong frame = e & AddressMask & ~(size - 1);
                return new PageMapping(start, frame, size, Flags(w, u, nx, (e & G) != 0), ea);
            }
            table = e & AddressMask;
        }
        return null;
    }

    /// <summary>
    /// Every leaf mapping of the 4-level tables at <paramref name="root"/>, in increasing
    /// (canonical, sign-extended) linear order, with effective permissions.
    /// </summary>
    public static List<PageMapping> Mappings(PhysicalMemory memory, ulong root)
    {
        var list = new List<PageMapping>();
        Collect(memory, root & AddressMask, 4, 0, true, true, false, list);
        return list;
    }

    /// <summary>Physical addresses of every table frame reachable from <paramref name="root"/> (the PML4 included).</summary>
    public static List<ulong> TableFrames(PhysicalMemory memory, ulong root)
    {
        var list = new List<ulong>();
        void Visit(ulong table, int level)
        {
            list.Add(table);
            if (level == 1) return;
            for (ulong i = 0; i < 512; i++)
            {
                ulong e = memory.Read(table + i * 8, 8);
                if ((e & Present) != 0 && !(level <= 3 && (e & Ps) != 0)) Visit(e & AddressMask, level - 1);
            }
        }
        Visit(root & AddressMask, 4);
        return list;
    }

    private static void Collect(PhysicalMemory memory, ulong table, int level, ulong baseLinear, bool w, bool u, bool nx, List<PageMapping> list)
    {
        int shift = 12 + 9 * (level - 1);
        for (ulong i = 0; i < 512; i++)
        {
            ulong ea = table + i * 8;
            ulong e = memory.Read(ea, 8);
            if ((e & Present) == 0) continue;
            ulong linear = baseLinear | (i << shift);
            if (level == 4 && (linear & (1UL << 47)) != 0) linear |= 0xFFFF000000000000UL; // canonical upper half
            bool w2 = w && (e & Rw) != 0, u2 = u && (e & Us) != 0, nx2 = nx || (e & Nx) != 0;
            if (level == 1 || (level <= 3 && (e & Ps) != 0))
            {
                ulong size = 1UL << shift;
                list.Add(new PageMapping(linear, e & AddressMask & ~(size - 1), size, Flags(w2, u2, nx2, (e & G) != 0), ea));
            }
            else Collect(memory, e & AddressMask, level - 1, linear, w2, u2, nx2, list);
        }
    }

    private static PageFlags Flags(bool w, bool u, bool nx, bool g) =>
        (w ? PageFlags.Writable : 0) | (u ? PageFlags.User : 0) | (nx ? PageFlags.NoExecute : 0) | (g ? PageFlags.Global : 0);
}
