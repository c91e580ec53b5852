using System.Buffers.Binary;
using System.Text;
using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Memory;

namespace HyperLock.Emulator.Loaders;

/// <summary>
/// The Linux x86 boot protocol (Documentation/arch/x86/boot.rst) for a bzImage: parse and
/// check the setup header, load the protected-mode kernel at its preferred address, build the
/// zero page (boot_params: a copy of the setup header, type_of_loader 0xFF, the command line
/// pointer, the initrd placed as high as the header's initrd_addr_max allows, the e820 map)
/// and enter startup_64 (load address + 0x200) in long mode with RSI = boot_params, CS =
/// __BOOT_CS (0x10, flat 64-bit), DS = ES = SS = __BOOT_DS (0x18), interrupts off and the
/// low 4 GiB identity-mapped; or code32_start in flat 32-bit protected mode with ESI =
/// boot_params. The real-mode setup code is not run (no BIOS), so screen_info stays empty
/// (no VGA console) and no EDD or APM data is given.
/// </summary>
public static class LinuxBootProtocol
{
    /// <summary>Offset of the setup header in the image and in boot_params.</summary>
    public const int SetupHeaderOffset = 0x1F1;
    /// <summary>"HdrS" at 0x202.</summary>
    public const uint HeaderMagic = 0x53726448;
    /// <summary>0xAA55 at 0x1FE.</summary>
    public const ushort BootFlag = 0xAA55;
    /// <summary>Oldest protocol accepted: 2.06 (cmdline_size in the header).</summary>
    public const ushort MinimumVersion = 0x0206;
    /// <summary>Protocol with xloadflags, needed for the 64-bit entry: 2.12.</summary>
    public const ushort Version64BitEntry = 0x020C;
    /// <summary>Protocol with pref_address and init_size: 2.10.</summary>
    public const ushort VersionPrefAddress = 0x020A;
    /// <summary>loadflags bit 0: the protected-mode code is loaded at 0x100000 or above.</summary>
    public const byte LoadedHigh = 0x01;
    /// <summary>xloadflags bit 0: the kernel has the 64-bit entry point at +0x200.</summary>
    public const ushort XlfKernel64 = 0x0001;
    /// <summary>Offset of startup_64 from the load address.</summary>
    public const ulong Startup64Offset = 0x200;
    /// <summary>type_of_loader value of an unregistered boot loader.</summary>
    public const byte LoaderTypeUndefined = 0xFF;
    /// <summary>Where the zero page goes.</summary>
    public const ulong BootParamsAddress = 0x7000;
    /// <summary>Where the command line goes (up to <see cref="CommandLineArea"/> bytes).</summary>
    public const ulong CommandLineAddress = 0x20000;
    /// <summary>Room for the command line.</summary>
    public const int CommandLineArea = 0x10000;
    /// <summary>__BOOT_CS.</summary>
    public const ushort BootCs = 0x10;
    /// <summary>__BOOT_DS.</summary>
    public const ushort BootDs = 0x18;
    /// <summary>Maximum e820 entries in the zero page.</summary>
    public const int MaxE820Entries = 128;

    // Offsets in the setup header / boot_params.
    private const int OffSetupSects = 0x1F1, OffSysSize = 0x1F4, OffBootFlag = 0x1FE, OffJump = 0x200, OffHeader = 0x202,
        OffVersion = 0x206, OffTypeOfLoader = 0x210, OffLoadFlags = 0x211, OffCode32Start = 0x214, OffRamdiskImage = 0x218,
        OffRamdiskSize = 0x21C, OffCmdLinePtr = 0x228, OffInitrdAddrMax = 0x22C, OffKernelAlignment = 0x230,
        OffXLoadFlags = 0x236, OffCmdlineSize = 0x238, OffPrefAddress = 0x258, OffInitSize = 0x260,
        OffExtRamdiskImage = 0x0C0, OffExtRamdiskSize = 0x0C4, OffExtCmdLinePtr = 0x0C8, OffE820Entries = 0x1E8,
        OffE820Table = 0x2D0;

    /// <summary>The fields of a bzImage's setup header the loader uses.</summary>
    public sealed record SetupHeader(
        int SetupSectors, uint SysSize, ushort Version, byte LoadFlags, uint Code32Start, uint InitrdAddrMax,
        uint KernelAlignment, ushort XLoadFlags, uint CmdlineSize, ulong PrefAddress, uint InitSize, int HeaderEnd)
    {
        /// <summary>Bytes of the real-mode part (boot sector + setup sectors).</summary>
        public int SetupBytes => (SetupSectors + 1) * 512;

        /// <summary>Where the protected-mode kernel is loaded.</summary>
        public ulong LoadAddress => Version >= VersionPrefAddress ? PrefAddress : Code32Start;

        public bool Has64BitEntry => Version >= Version64BitEntry && (XLoadFlags & XlfKernel64) != 0;
    }

    /// <summary>True when the image has the boot sector flag and the "HdrS" magic.</summary>
    public static bool IsBzImage(ReadOnlySpan<byte> d) =>
        d.Length >= OffHeader + 4 && U16(d, OffBootFlag) == BootFlag && U32(d, OffHeader) == HeaderMagic;

    /// <summary>Parses and checks the setup header.</summary>
    public static SetupHeader ParseHeader(ReadOnlySpan<byte> d)
    {
        if (!IsBzImage(d)) throw new MachineConfigException("kernel: not a Linux bzImage (no HdrS setup header)");
        if (d.Length < 0x264) throw new MachineConfigException("kernel: truncated bzImage setup header");
        ushort version = U16(d, OffVersion);
        if (version < MinimumVersion)
            throw new MachineConfigException($"kernel: boot protocol {version >> 8}.{version & 0xFF:D2} is too old (need 2.06 or later)");
        byte loadFlags = d[OffLoadFlags];
        if ((loadFlags & LoadedHigh) == 0) throw new MachineConfigException("kernel: zImage (loaded low) is not supported, only bzImage");
        int setupSects = d[OffSetupSects] == 0 ? 4 : d[OffSetupSects];
        int headerEnd = OffJump + 2 + d[OffJump + 1];
        var h = new SetupHeader(setupSects, U32(d, OffSysSize), version, loadFlags, U32(d, OffCode32Start), U32(d, OffInitrdAddrMax),
            U32(d, OffKernelAlignment), U16(d, OffXLoadFlags), U32(d, OffCmdlineSize),
            version >= VersionPrefAddress ? U64(d, OffPrefAddress) : 0, version >= VersionPrefAddress ? U32(d, OffInitSize) : 0,
            headerEnd);
        long kernelBytes = (long)d.Length - h.SetupBytes;
        if (kernelBytes <= 0) throw new MachineConfigException($"kernel: truncated bzImage ({d.Length} bytes, setup alone is {h.SetupBytes})");
        if ((ulong)h.SysSize * 16 > (ulong)kernelBytes)
            throw new MachineConfigException($"kernel: truncated bzImage (header says {(ulong)h.SysSize * 16} bytes of protected-mode code, file has {kernelBytes})");
        if (headerEnd > 0x1000 || headerEnd > d.Length) throw new MachineConfigException("kernel: corrupt bzImage setup header (bad length)");
        if (h.LoadAddress < E820Map.HighMemoryStart) throw new MachineConfigException($"kernel: bad load address 0x{h.LoadAddress:x}");
        return h;
    }

    /// <summary>Loads a bzImage (and initrd) and sets the processor to the chosen entry point.</summary>
    public static LoadedKernel Load(BootImage image, PhysicalMemory mem, Cpu cpu, E820Map map)
    {
        var d = image.Kernel;
        var h = ParseHeader(d);
        if (image.LinuxEntry == LinuxEntry.Bits64 && !h.Has64BitEntry)
            throw new MachineConfigException($"kernel: boot protocol {h.Version >> 8}.{h.Version & 0xFF:D2} has no 64-bit entry point (use the 32-bit entry)");

        ulong load = h.LoadAddress;
        int kernelBytes = d.Length - h.SetupBytes;
        ulong footprint = Math.Max(h.InitSize, (ulong)kernelBytes);
        if (!map.IsRam(load, footprint))
            throw new MachineConfigException($"too little memory: the kernel needs {(load + footprint + 0xFFFFF) >> 20} MiB, the machine has {map.MemorySize >> 20} MiB");

        byte[] cmd = Encoding.UTF8.GetBytes(image.CommandLine);
        ulong maxCmd = h.CmdlineSize;
        if ((ulong)cmd.Length > maxCmd)
            throw new MachineConfigException($"command line is {cmd.Length} bytes; the kernel accepts at most {maxCmd}");
        if (cmd.Length >= CommandLineArea) throw new MachineConfigException($"command line is {cmd.Length} bytes; the loader has room for {CommandLineArea - 1}");

        mem.WriteBytes(load, d.AsSpan(h.SetupBytes));

        ulong initrdAddr = 0, initrdSize = 0;
        if (image.Initrd != null && image.Initrd.Length > 0)
        {
            InitrdCheck.Validate(image.Initrd, (long)Math.Min(map.MemorySize, long.MaxValue));
            initrdSize = (ulong)image.Initrd.Length;
            ulong limit = Math.Min((ulong)h.InitrdAddrMax + 1, map.LowRamTop);
            if (initrdSize > limit) throw new MachineConfigException($"too little memory for the initrd ({initrdSize >> 20} MiB)");
            initrdAddr = (limit - initrdSize) & ~0xFFFUL;
            if (initrdAddr < load + footprint)
                throw new MachineConfigException($"too little memory: kernel and initrd need {(load + footprint + initrdSize + 0xFFFFF) >> 20} MiB below 0x{limit:x}, the machine has {map.MemorySize >> 20} MiB");
            mem.WriteBytes(initrdAddr, image.Initrd);
        }

        // The zero page.
        var bp = new byte[0x1000];
        d.AsSpan(SetupHeaderOffset, h.HeaderEnd - SetupHeaderOffset).CopyTo(bp.AsSpan(SetupHeaderOffset));
        bp[OffTypeOfLoader] = LoaderTypeUndefined;
        W32(bp, OffCode32Start, (uint)load);
        W32(bp, OffCmdLinePtr, (uint)CommandLineAddress);
        W32(bp, OffExtCmdLinePtr, 0);
        W32(bp, OffRamdiskImage, (uint)initrdAddr);
        W32(bp, OffRamdiskSize, (uint)initrdSize);
        W32(bp, OffExtRamdiskImage, (uint)(initrdAddr >> 32));
        W32(bp, OffExtRamdiskSize, (uint)(initrdSize >> 32));
        if (map.Entries.Count > MaxE820Entries) throw new MachineConfigException("memory map has too many entries");
        bp[OffE820Entries] = (byte)map.Entries.Count;
        map.WriteLinux(bp.AsSpan(OffE820Table));
        mem.WriteBytes(BootParamsAddress, bp);

        var cmdz = new byte[cmd.Length + 1];
        cmd.CopyTo(cmdz, 0);
        mem.WriteBytes(CommandLineAddress, cmdz);

        ulong entry;
        if (image.LinuxEntry == LinuxEntry.Bits64)
        {
            ushort limit = BootCpuState.WriteGdt(mem, 0, 0, BootCpuState.DescCode64, BootCpuState.DescData);
            BootCpuState.WriteIdentityPageTables(mem);
            entry = load + Startup64Offset;
            BootCpuState.EnterLongMode(cpu, limit, BootCs, BootDs, entry);
        }
        else
        {
            ushort limit = BootCpuState.WriteGdt(mem, 0, 0, BootCpuState.DescCode32, BootCpuState.DescData);
            entry = load;
            BootCpuState.EnterProtectedMode(cpu, limit, BootCs, BootDs, entry);
        }
        for (int i = 0; i < 16; i++) cpu.R(i) = 0;
        cpu.R(Reg.Rsi) = BootParamsAddress;
        cpu.R(Reg.Rsp) = BootCpuState.StackTop;

        string desc = $"Linux bzImage, boot protocol {h.Version >> 8}.{h.Version & 0xFF:D2}, {kernelBytes} bytes at 0x{load:x}, "
            + $"{(image.LinuxEntry == LinuxEntry.Bits64 ? "64" : "32")}-bit entry 0x{entry:x}"
            + (initrdSize != 0 ? $", initrd {initrdSize} bytes at 0x{initrdAddr:x}" : "");
        return new LoadedKernel(KernelFormat.BzImage, entry, desc)
        {
            BootInfoAddress = BootParamsAddress, InitrdAddress = initrdAddr, InitrdSize = initrdSize,
        };
    }

    private static ushort U16(ReadOnlySpan<byte> d, int o) => BinaryPrimitives.ReadUInt16LittleEndian(d[o..]);
    private static uint U32(ReadOnlySpan<byte> d, int o) => BinaryPrimitives.ReadUInt32LittleEndian(d[o..]);
    private static ulong U64(ReadOnlySpan<byte> d, int o) => BinaryPrimitives.ReadUInt64LittleEndian(d[o..]);
    private static void W32(Span<byte> d, int o, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(d[o..], v);
}
