using System.Buffers.Binary;
using System.Text;
using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Memory;

namespace HyperLock.Emulator.Loaders;

/// <summary>
/// Multiboot v1 as QEMU's -kernel implements it: the header is searched in the first 8 KiB;
/// with the a.out kludge (flag 16) the image is loaded raw by the header's addresses,
/// otherwise its ELF PT_LOAD segments are loaded at their physical addresses. QEMU refuses
/// ELF64 images without the kludge; this loader accepts them (segments by p_paddr, entry
/// below 4 GiB). Modules are placed page-aligned after the kernel (from 1 MiB up when the
/// kernel is below it). The information structure has memory sizes, the command line (the
/// kernel name, a space, the arguments, as QEMU passes it), modules, the memory map and the
/// boot loader name; it lives at 0x8000 unless the kernel loads there (a kernel may load
/// anywhere in RAM but the boot GDT at 0x500), and then moves to the first free page after
/// the kernel and its modules. The kernel starts in flat
/// 32-bit protected mode, paging off, interrupts off, EAX = 0x2BADB002, EBX = info address.
/// </summary>
public static class MultibootLoader
{
    /// <summary>Header magic.</summary>
    public const uint HeaderMagic = 0x1BADB002;
    /// <summary>Value in EAX at entry.</summary>
    public const uint BootloaderMagic = 0x2BADB002;
    /// <summary>The header must be within this many bytes of the start.</summary>
    public const int SearchLength = 8192;
    /// <summary>Header flag: align modules on 4 KiB boundaries.</summary>
    public const uint FlagPageAlign = 1u << 0;
    /// <summary>Header flag: memory information required.</summary>
    public const uint FlagMemoryInfo = 1u << 1;
    /// <summary>Header flag: video mode information wanted (ignored, as QEMU does).</summary>
    public const uint FlagVideoMode = 1u << 2;
    /// <summary>Header flag: the address fields are valid (a.out kludge).</summary>
    public const uint FlagAoutKludge = 1u << 16;
    /// <summary>Header flags this loader understands among the required ones (bits 0-15).</summary>
    public const uint KnownRequiredFlags = FlagPageAlign | FlagMemoryInfo | FlagVideoMode;
    /// <summary>Info flag: mem_lower/mem_upper valid.</summary>
    public const uint InfoMemory = 1u << 0;
    /// <summary>Info flag: cmdline valid.</summary>
    public const uint InfoCmdline = 1u << 2;
    /// <summary>Info flag: mods_count/mods_addr valid.</summary>
    public const uint InfoModules = 1u << 3;
    /// <summary>Info flag: mmap_length/mmap_addr valid.</summary>
    public const uint InfoMemoryMap = 1u << 6;
    /// <summary>Info flag: boot_loader_name valid.</summary>
    public const uint InfoLoaderName = 1u << 9;
    /// <summary>Address of the information structure when nothing is loaded there.</summary>
    public const ulong InfoAddress = 0x8000;
    /// <summary>Offsets within the boot information area: memory map, module list, strings (command lines, loader name).</summary>
    public const ulong MemoryMapOffset = 0x100, ModuleListOffset = 0x800, StringsOffset = 0x1000;
    /// <summary>End of the boot information area when it is at <see cref="InfoAddress"/>.</summary>
    public const ulong InfoAreaEnd = 0x9F000;
    /// <summary>Bytes of the boot GDT at <see cref="BootCpuState.GdtAddress"/> (null, code, data).</summary>
    private const ulong BootGdtSize = 24;
    /// <summary>Code selector at entry.</summary>
    public const ushort CodeSelector = 0x08;
    /// <summary>Data selector at entry.</summary>
    public const ushort DataSelector = 0x10;
    /// <summary>The boot loader name in the information structure.</summary>
    public const string LoaderName = "HyperLock";

    /// <summary>The multiboot header of an image.</summary>
    public readonly record struct Header(int Offset, uint Flags, uint HeaderAddr, uint LoadAddr, uint LoadEndAddr, uint BssEndAddr, uint EntryAddr);

    /// <summary>Finds a valid multiboot header (magic and checksum) in the first 8 KiB.</summary>
    public static Header? FindHeader(ReadOnlySpan<byte> d)
    {
        int end = Math.Min(d.Length, SearchLength) - 12;
        for (int o = 0; o <= end; o += 4)
        {
            if (U32(d, o) != HeaderMagic) continue;
            uint flags = U32(d, o + 4), check = U32(d, o + 8);
            if (HeaderMagic + flags + check != 0) continue;
            if ((flags & FlagAoutKludge) != 0)
            {
                if (o + 32 > d.Length) throw new MachineConfigException("kernel: truncated multiboot header");
                return new Header(o, flags, U32(d, o + 12), U32(d, o + 16), U32(d, o + 20), U32(d, o + 24), U32(d, o + 28));
            }
            return new Header(o, flags, 0, 0, 0, 0, 0);
        }
        return null;
    }

    public static LoadedKernel Load(BootImage image, PhysicalMemory mem, Cpu cpu, E820Map map)
    {
        var d = image.Kernel;
        var h = FindHeader(d) ?? throw new MachineConfigException("kernel: no multiboot header");
        uint unknown = h.Flags & 0xFFFF & ~KnownRequiredFlags;
        if (unknown != 0) throw new MachineConfigException($"kernel: unsupported required multiboot flags 0x{unknown:x}");

        ulong entry, kernelEnd;
        string how;
        var loaded = new List<(ulong Start, ulong End)>();
        if ((h.Flags & FlagAoutKludge) != 0)
        {
            if (h.HeaderAddr < h.LoadAddr) throw new MachineConfigException("kernel: corrupt multiboot header (header_addr below load_addr)");
            long fileOffset = h.Offset - (long)(h.HeaderAddr - h.LoadAddr);
            if (fileOffset < 0) throw new MachineConfigException("kernel: corrupt multiboot header (load_addr before the start of the file)");
            ulong size;
            if (h.LoadEndAddr == 0) size = (ulong)(d.Length - fileOffset);
            else
            {
                if (h.LoadEndAddr < h.LoadAddr) throw new MachineConfigException("kernel: corrupt multiboot header (load_end_addr below load_addr)");
                size = h.LoadEndAddr - h.LoadAddr;
                if (size > (ulong)(d.Length - fileOffset))
                    throw new MachineConfigException($"kernel: truncated multiboot image (header says {size} bytes, file has {d.Length - fileOffset})");
            }
            ulong loadEnd = h.LoadAddr + size;
            ulong bssEnd = h.BssEndAddr == 0 ? loadEnd : h.BssEndAddr;
            if (bssEnd < loadEnd) throw new MachineConfigException("kernel: corrupt multiboot header (bss_end_addr below load_end_addr)");
            CheckRange(map, h.LoadAddr, bssEnd - h.LoadAddr);
            loaded.Add((h.LoadAddr, bssEnd));
            mem.WriteBytes(h.LoadAddr, d.AsSpan((int)fileOffset, (int)size));
            ZeroFill(mem, loadEnd, bssEnd - loadEnd);
            entry = h.EntryAddr;
            kernelEnd = bssEnd;
            how = "a.out kludge";
        }
        else
        {
            var elf = ElfImage.Parse(d);
            kernelEnd = 0;
            foreach (var s in elf.Segments)
            {
                CheckRange(map, s.PhysicalAddress, s.MemorySize);
                loaded.Add((s.PhysicalAddress, s.PhysicalAddress + s.MemorySize));
                mem.WriteBytes(s.PhysicalAddress, d.AsSpan((int)s.FileOffset, (int)s.FileSize));
                ZeroFill(mem, s.PhysicalAddress + s.FileSize, s.MemorySize - s.FileSize);
                kernelEnd = Math.Max(kernelEnd, s.PhysicalAddress + s.MemorySize);
            }
            entry = elf.Entry;
            how = elf.Is64 ? "ELF64" : "ELF32";
        }
        if (entry > 0xFFFFFFFF) throw new MachineConfigException($"kernel: multiboot entry point 0x{entry:x} is above 4 GiB");

        // Modules, page-aligned after the kernel (above the legacy hole for a kernel below 1 MiB).
        var modules = new List<BootModule>();
        if (image.Initrd != null) modules.Add(new BootModule(image.Initrd, "initrd"));
        modules.AddRange(image.Modules);
        if (modules.Count > (int)((StringsOffset - ModuleListOffset) / 16)) throw new MachineConfigException("too many multiboot modules");
        ulong next = Math.Max((kernelEnd + 0xFFF) & ~0xFFFUL, modules.Count > 0 ? E820Map.HighMemoryStart : 0);
        string cmdline = image.CommandLine.Length == 0 ? image.KernelName : image.KernelName + " " + image.CommandLine;
        ulong stringBytes = (ulong)Encoding.UTF8.GetByteCount(cmdline) + (ulong)Encoding.UTF8.GetByteCount(LoaderName) + 2;
        foreach (var m in modules) stringBytes += (ulong)Encoding.UTF8.GetByteCount(m.CommandLine) + 1;
        ulong modulesEnd = next;
        foreach (var m in modules) modulesEnd = (modulesEnd + (ulong)m.Data.Length + 0xFFF) & ~0xFFFUL;
        ulong infoBase = PlaceInformation(map, loaded, StringsOffset + stringBytes, modulesEnd);
        ulong memoryMapAddress = infoBase + MemoryMapOffset, moduleListAddress = infoBase + ModuleListOffset;
        var strings = new StringArea(mem, infoBase + StringsOffset, infoBase + StringsOffset + stringBytes);
        for (int i = 0; i < modules.Count; i++)
        {
            var m = modules[i];
            ulong size = (ulong)m.Data.Length;
            if (!map.IsRam(next, Math.Max(size, 1)))
                throw new MachineConfigException($"too little memory for multiboot module {i} ({size} bytes at 0x{next:x}), the machine has {map.MemorySize >> 20} MiB");
            if (next + size > 0x100000000) throw new MachineConfigException($"multiboot module {i} does not fit below 4 GiB");
            mem.WriteBytes(next, m.Data);
            ulong entryAddr = moduleListAddress + (ulong)i * 16;
            mem.Write(entryAddr, 4, next);
            mem.Write(entryAddr + 4, 4, next + size);
            mem.Write(entryAddr + 8, 4, strings.Add(m.CommandLine));
            mem.Write(entryAddr + 12, 4, 0);
            next = (next + size + 0xFFF) & ~0xFFFUL;
        }

        // Memory map: the e820 entries with a 4-byte size prefix each.
        ulong mm = memoryMapAddress;
        foreach (var e in map.Entries)
        {
            mem.Write(mm, 4, 20);
            mem.Write(mm + 4, 8, e.Address);
            mem.Write(mm + 12, 8, e.Length);
            mem.Write(mm + 20, 4, e.Type);
            mm += 24;
        }

        var info = new byte[88];
        uint flags = InfoMemory | InfoCmdline | InfoModules | InfoMemoryMap | InfoLoaderName;
        W32(info, 0, flags);
        W32(info, 4, (uint)(E820Map.ConventionalEnd / 1024));
        W32(info, 8, (uint)((map.LowRamTop - E820Map.HighMemoryStart) / 1024));
        W32(info, 16, strings.Add(cmdline));
        W32(info, 20, (uint)modules.Count);
        W32(info, 24, (uint)moduleListAddress);
        W32(info, 44, (uint)(mm - memoryMapAddress));
        W32(info, 48, (uint)memoryMapAddress);
        W32(info, 64, strings.Add(LoaderName));
        mem.WriteBytes(infoBase, info);

        ushort limit = BootCpuState.WriteGdt(mem, 0, BootCpuState.DescCode32, BootCpuState.DescData);
        BootCpuState.EnterProtectedMode(cpu, limit, CodeSelector, DataSelector, entry);
        for (int i = 0; i < 16; i++) cpu.R(i) = 0;
        cpu.R(Reg.Rax) = BootloaderMagic;
        cpu.R(Reg.Rbx) = infoBase;

        return new LoadedKernel(KernelFormat.Multiboot, entry,
            $"multiboot ({how}), entry 0x{entry:x}, {modules.Count} module{(modules.Count == 1 ? "" : "s")}")
        {
            BootInfoAddress = infoBase,
        };
    }

    /// <summary>
    /// Where the boot information area of <paramref name="size"/> bytes goes: at <see cref="InfoAddress"/>
    /// when the kernel leaves that room free, else on the first page after the kernel and modules.
    /// </summary>
    private static ulong PlaceInformation(E820Map map, List<(ulong Start, ulong End)> loaded, ulong size, ulong modulesEnd)
    {
        if (InfoAddress + size <= InfoAreaEnd && !Overlaps(loaded, InfoAddress, InfoAddress + size)) return InfoAddress;
        ulong at = modulesEnd;
        foreach (var (_, end) in loaded) at = Math.Max(at, (end + 0xFFF) & ~0xFFFUL);
        if (at + size > 0x100000000 || !map.IsRam(at, size))
            throw new MachineConfigException($"too little memory for the multiboot information ({size} bytes at 0x{at:x}), the machine has {map.MemorySize >> 20} MiB");
        return at;
    }

    private static bool Overlaps(List<(ulong Start, ulong End)> ranges, ulong start, ulong end)
    {
        foreach (var (s, e) in ranges)
            if (s < end && start < e) return true;
        return false;
    }

    private static void CheckRange(E820Map map, ulong address, ulong length)
    {
        if (length == 0) return;
        if (address < BootCpuState.GdtAddress + BootGdtSize && address + length > BootCpuState.GdtAddress)
            throw new MachineConfigException($"kernel: multiboot image at 0x{address:x} overlaps the boot GDT at 0x{BootCpuState.GdtAddress:x}");
        if (address + length > 0x100000000 || !map.IsRam(address, length))
            throw new MachineConfigException($"too little memory: the kernel needs [0x{address:x}, 0x{address + length:x}), the machine has {map.MemorySize >> 20} MiB");
    }

    internal static void ZeroFill(PhysicalMemory mem, ulong address, ulong length)
    {
        var zeros = new byte[Math.Min(length, 1UL << 20)];
        while (length > 0)
        {
            int n = (int)Math.Min(length, (ulong)zeros.Length);
            mem.WriteBytes(address, zeros.AsSpan(0, n));
            address += (ulong)n;
            length -= (ulong)n;
        }
    }

    private sealed class StringArea(PhysicalMemory mem, ulong start, ulong end)
    {
        private ulong _next = start;

        public uint Add(string s)
        {
            byte[] b = Encoding.UTF8.GetBytes(s + "\0");
            if (_next + (ulong)b.Length > end) throw new MachineConfigException("multiboot command lines are too long");
            ulong at = _next;
            mem.WriteBytes(at, b);
            _next += (ulong)b.Length;
            return (uint)at;
        }
    }

    private static uint U32(ReadOnlySpan<byte> d, int o) => BinaryPrimitives.ReadUInt32LittleEndian(d[o..]);
    private static void W32(Span<byte> d, int o, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(d[o..], v);
}
