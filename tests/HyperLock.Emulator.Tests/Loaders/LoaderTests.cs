using System.Buffers.Binary;
using System.Text;
using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Loaders;
using HyperLock.Emulator.Machine;
using HyperLock.Emulator.Memory;

namespace HyperLock.Emulator.Tests.BootLoaders;

internal sealed class LoadRig : IDisposable
{
    public readonly E820Map Map;
    public readonly PhysicalMemory Mem;
    public readonly Cpu Cpu;

    public LoadRig(ulong memory = 64UL << 20)
    {
        Map = E820Map.ForMemory(memory);
        Mem = new PhysicalMemory(Map.PhysicalTop);
        Cpu = new Cpu(Mem);
    }

    public LoadedKernel Load(BootImage image) => KernelLoader.Load(image, Mem, Cpu, Map);

    public byte[] Bytes(ulong at, int n)
    {
        var b = new byte[n];
        Mem.ReadBytes(at, b);
        return b;
    }

    public uint U32(ulong at) => (uint)Mem.Read(at, 4);
    public ulong U64(ulong at) => Mem.Read(at, 8);

    public string CString(ulong at)
    {
        var sb = new StringBuilder();
        for (; ; at++)
        {
            byte b = (byte)Mem.Read(at, 1);
            if (b == 0) return sb.ToString();
            sb.Append((char)b);
        }
    }

    public void Dispose() => Mem.Dispose();
}

public class E820MapTests
{
    [Fact]
    public void SmallMachineMap()
    {
        var m = E820Map.ForMemory(512UL << 20);
        Assert.Equal(
            [(0UL, 0x9FC00UL, 1u), (0x9FC00UL, 0x400UL, 2u), (0xF0000UL, 0x10000UL, 2u), (0x100000UL, (512UL << 20) - 0x100000, 1u)],
            m.Entries.Select(e => (e.Address, e.Length, e.Type)));
        Assert.Equal(512UL << 20, m.PhysicalTop);
    }

    [Fact]
    public void LargeMachineLeavesTheDeviceHoleBelow4G()
    {
        var m = E820Map.ForMemory(5UL << 30);
        Assert.Equal((0x100000UL, 0xC0000000UL - 0x100000, 1u), (m.Entries[3].Address, m.Entries[3].Length, m.Entries[3].Type));
        Assert.Equal((0x100000000UL, 2UL << 30), (m.Entries[4].Address, m.Entries[4].Length));
        Assert.Equal(0x180000000UL, m.PhysicalTop);
        Assert.Equal(0xC0000000UL, m.LowRamTop);
    }

    [Fact]
    public void TooLittleMemoryIsBadInput()
    {
        var e = Assert.Throws<MachineConfigException>(() => E820Map.ForMemory(1 << 20));
        Assert.Contains("too small", e.Message);
    }
}

public class FormatDetectionTests
{
    [Fact]
    public void DetectsEachFormat()
    {
        Assert.Equal(KernelFormat.BzImage, KernelLoader.Detect(TestImages.BzImage(new byte[64]), "vmlinuz"));
        var mb = TestImages.MultibootHeader(0x10003, 0x100000, 0x100000, 0, 0, 0x100020).Concat(new byte[64]).ToArray();
        Assert.Equal(KernelFormat.Multiboot, KernelLoader.Detect(mb, "k"));
        var elf = TestImages.Elf(true, 0x200000, new TestImages.Seg(0x200000, [0xF4], 1));
        Assert.Equal(KernelFormat.Elf64, KernelLoader.Detect(elf, "k.elf"));
        Assert.Equal(KernelFormat.Flat, KernelLoader.Detect([0xF4], "guest.bin"));
    }

    [Theory]
    [InlineData("kernel")]
    [InlineData("x.txt")]
    public void UnknownFormatIsBadInput(string name)
    {
        var e = Assert.Throws<MachineConfigException>(() => KernelLoader.Detect("just some text"u8, name));
        Assert.StartsWith("kernel: unknown format", e.Message);
    }

    [Fact]
    public void Elf32WithoutMultibootIsBadInput()
    {
        var elf = TestImages.Elf(false, 0x200000, new TestImages.Seg(0x200000, [0xF4], 1));
        Assert.Contains("ELF32", Assert.Throws<MachineConfigException>(() => KernelLoader.Detect(elf, "k")).Message);
    }
}

public class ElfLoaderTests
{
    [Fact]
    public void LoadsSegmentsZeroesBssAndEntersLongMode()
    {
        using var r = new LoadRig();
        byte[] text = [0x90, 0x90, 0xF4];
        byte[] data = [1, 2, 3, 4];
        // Dirty the bss range first: the loader must clear it.
        r.Mem.WriteBytes(0x300004, [0xAA, 0xAA]);
        var elf = TestImages.Elf(true, 0x200001, new TestImages.Seg(0x200000, text, 3), new TestImages.Seg(0x300000, data, 0x2000));
        var k = r.Load(new BootImage { Kernel = elf, CommandLine = "hello world" });
        Assert.Equal(KernelFormat.Elf64, k.Format);
        Assert.Equal(text, r.Bytes(0x200000, 3));
        Assert.Equal(new byte[] { 1, 2, 3, 4, 0, 0 }, r.Bytes(0x300000, 6));
        var c = r.Cpu;
        Assert.Equal(0x200001UL, c.Rip);
        Assert.Equal(64, c.Bitness);
        Assert.Equal(BootCpuState.Pml4Address, c.Cr3);
        Assert.Equal((ushort)0x08, c.Segs[Seg.Cs].Selector);
        Assert.Equal((ushort)0x10, c.Segs[Seg.Ss].Selector);
        Assert.False(c.IF);
        Assert.Equal(BootCpuState.StackTop, c.R(Reg.Rsp));
        Assert.Equal("hello world", r.CString(c.R(Reg.Rdi)));
        // Identity map: 2 MiB pages.
        Assert.Equal(0x200000UL | 0x83, r.U64(BootCpuState.PdAddress + 8));
        Assert.Equal(BootCpuState.DescCode64, r.U64(BootCpuState.GdtAddress + 8));
    }

    [Fact]
    public void MalformedElfIsBadInput()
    {
        var good = TestImages.Elf(true, 0x200000, new TestImages.Seg(0x200000, new byte[100], 100));
        Assert.Contains("truncated", Assert.Throws<MachineConfigException>(() => ElfImage.Parse(good.AsSpan(0, good.Length - 10))).Message);
        var big = TestImages.Elf(true, 0x200000, new TestImages.Seg(0x200000, new byte[100], 50));
        Assert.Contains("file size larger", Assert.Throws<MachineConfigException>(() => ElfImage.Parse(big)).Message);
        var arm = (byte[])good.Clone();
        arm[0x12] = 183;
        Assert.Contains("machine", Assert.Throws<MachineConfigException>(() => ElfImage.Parse(arm)).Message);
        using var r = new LoadRig();
        var high = TestImages.Elf(true, 0x200000, new TestImages.Seg(0x8000000, new byte[16], 16));
        Assert.Contains("too little memory", Assert.Throws<MachineConfigException>(() => r.Load(new BootImage { Kernel = high })).Message);
    }
}

public class MultibootLoaderTests
{
    [Fact]
    public void Elf32KernelGetsTheInformationStructureQemuGives()
    {
        using var r = new LoadRig(32UL << 20);
        // Code segment whose first bytes are the multiboot header (flags: page-align, memory info).
        var header = TestImages.MultibootHeader(0x3);
        var text = header.Concat(new byte[] { 0xF4 }).ToArray();
        var elf = TestImages.Elf(false, 0x10000C, new TestImages.Seg(0x100000, text, 0x1000));
        // The ELF header comes first, so move the multiboot header within 8 KiB: it is at offset 84.
        var mod1 = Encoding.ASCII.GetBytes("module one");
        var k = r.Load(new BootImage
        {
            Kernel = elf, KernelName = "/boot/kernel.elf", CommandLine = "console=ttyS0 x=1",
            Modules = [new BootModule(mod1, "mod1 arg"), new BootModule(new byte[5000], "mod2")],
        });
        Assert.Equal(KernelFormat.Multiboot, k.Format);
        var c = r.Cpu;
        Assert.Equal(0x2BADB002UL, c.R(Reg.Rax));
        ulong mbi = c.R(Reg.Rbx);
        Assert.Equal(MultibootLoader.InfoAddress, mbi);
        Assert.Equal(32, c.Bitness);
        Assert.Equal(0x10000CUL, c.Rip);
        Assert.Equal(0UL, c.Cr0 & Bits.Cr0Pg);
        Assert.False(c.IF);

        uint flags = r.U32(mbi);
        Assert.Equal(1u | 4u | 8u | 64u | 512u, flags);
        Assert.Equal(639u, r.U32(mbi + 4));                     // mem_lower KiB
        Assert.Equal(31u * 1024, r.U32(mbi + 8));               // mem_upper KiB
        Assert.Equal("/boot/kernel.elf console=ttyS0 x=1", r.CString(r.U32(mbi + 16)));
        Assert.Equal(2u, r.U32(mbi + 20));
        ulong mods = r.U32(mbi + 24);
        uint start1 = r.U32(mods), end1 = r.U32(mods + 4);
        Assert.Equal(0x101000u, start1);                        // page-aligned after the kernel's 4 KiB
        Assert.Equal(start1 + 10, end1);
        Assert.Equal(mod1, r.Bytes(start1, 10));
        Assert.Equal("mod1 arg", r.CString(r.U32(mods + 8)));
        uint start2 = r.U32(mods + 16);
        Assert.Equal(0x102000u, start2);
        Assert.Equal(start2 + 5000, r.U32(mods + 20));
        Assert.Equal("mod2", r.CString(r.U32(mods + 24)));
        // Memory map: size-prefixed e820 entries.
        uint mmapLen = r.U32(mbi + 44);
        ulong mmap = r.U32(mbi + 48);
        Assert.Equal(4u * 24, mmapLen);
        Assert.Equal(20u, r.U32(mmap));
        Assert.Equal(0x100000UL, r.U64(mmap + 3 * 24 + 4));
        Assert.Equal((32UL << 20) - 0x100000, r.U64(mmap + 3 * 24 + 12));
        Assert.Equal(1u, r.U32(mmap + 3 * 24 + 20));
        Assert.Equal("HyperLock", r.CString(r.U32(mbi + 64)));
    }

    /// <summary>
    /// An a.out-kludge kernel loaded over 0x8000-0x3FFFF: nothing of the boot information
    /// (structure, memory map, module list, strings) may land inside it.
    /// </summary>
    [Fact]
    public void InformationAreaMovesOutOfALowKernel()
    {
        using var r = new LoadRig(32UL << 20);
        const uint load = 0x8000, end = 0x40000;
        var header = TestImages.MultibootHeader(0x10000, load, load, 0, end, load + 0x20);
        var file = new byte[0x1000];
        header.CopyTo(file, 0);
        file[0x20] = 0xF4;
        for (int i = 0x21; i < file.Length; i++) file[i] = 0xAB;
        var k = r.Load(new BootImage { Kernel = file, KernelName = "k", CommandLine = "args", Modules = [new BootModule([7], "m")] });
        ulong mbi = r.Cpu.R(Reg.Rbx);
        Assert.Equal(mbi, k.BootInfoAddress);
        Assert.Equal(file, r.Bytes(load, file.Length));                 // the image is intact
        Assert.Equal(0UL, r.U64(load + 0x1000));                        // and its bss is zero
        ulong[] pointers = [mbi, r.U32(mbi + 16), r.U32(mbi + 24), r.U32(mbi + 48), r.U32(mbi + 64), r.U32(r.U32(mbi + 24)), r.U32(r.U32(mbi + 24) + 8)];
        foreach (ulong p in pointers) Assert.False(p >= load && p < end, $"0x{p:x} is inside the kernel");
        Assert.Equal("k args", r.CString(r.U32(mbi + 16)));
        Assert.Equal("m", r.CString(r.U32(r.U32(mbi + 24) + 8)));
        Assert.Equal(7UL, r.Mem.Read(r.U32(r.U32(mbi + 24)), 1));
        Assert.Equal(0x2BADB002UL, r.Cpu.R(Reg.Rax));
        Assert.Equal((ulong)load + 0x20, r.Cpu.Rip);
    }

    [Fact]
    public void AoutKludgeLoadsRawWithBss()
    {
        using var r = new LoadRig();
        // File: 16 bytes of padding, header at 16 (header_addr 0x200010), code after; load at 0x200000.
        var header = TestImages.MultibootHeader(0x10000, 0x200010, 0x200000, 0x200040, 0x201000, 0x200030);
        var file = new byte[0x40];
        header.CopyTo(file, 16);
        file[0x30] = 0xF4;
        r.Mem.WriteBytes(0x200800, [0x55]);
        var k = r.Load(new BootImage { Kernel = file });
        Assert.Equal(0x200030UL, r.Cpu.Rip);
        Assert.Equal(0xF4, r.Bytes(0x200030, 1)[0]);
        Assert.Equal(0, r.Bytes(0x200800, 1)[0]);
        Assert.Contains("a.out", k.Description);
    }

    [Fact]
    public void Elf64MultibootLoadsByPhysicalAddress()
    {
        using var r = new LoadRig();
        var text = TestImages.MultibootHeader(0).Concat(new byte[] { 0xF4 }).ToArray();
        var elf = TestImages.Elf(true, 0x40000C, new TestImages.Seg(0x400000, text, (ulong)text.Length));
        var k = r.Load(new BootImage { Kernel = elf });
        Assert.Equal(KernelFormat.Multiboot, k.Format);
        Assert.Contains("ELF64", k.Description);
        Assert.Equal(0x40000CUL, r.Cpu.Rip);
    }

    [Fact]
    public void BadHeadersAreBadInput()
    {
        using var r = new LoadRig();
        var unknownFlag = new byte[64];
        TestImages.MultibootHeader(0x8).CopyTo(unknownFlag, 0);
        Assert.Contains("unsupported required multiboot flags", Assert.Throws<MachineConfigException>(
            () => r.Load(new BootImage { Kernel = unknownFlag, Format = KernelFormat.Multiboot })).Message);
        var truncated = new byte[0x30];
        TestImages.MultibootHeader(0x10000, 0x200000, 0x200000, 0x200100, 0, 0x200020).CopyTo(truncated, 0);
        Assert.Contains("truncated", Assert.Throws<MachineConfigException>(() => r.Load(new BootImage { Kernel = truncated })).Message);
    }
}

public class LinuxBootProtocolTests
{
    private static readonly byte[] Payload = Enumerable.Range(0, 0x1000).Select(i => (byte)i).ToArray();

    [Fact]
    public void ParsesTheSetupHeader()
    {
        var h = LinuxBootProtocol.ParseHeader(TestImages.BzImage(Payload, setupSects: 3));
        Assert.Equal(3, h.SetupSectors);
        Assert.Equal(2048, h.SetupBytes);
        Assert.Equal((ushort)0x020F, h.Version);
        Assert.Equal(0x1000000UL, h.LoadAddress);
        Assert.Equal(0x400000u, h.InitSize);
        Assert.Equal(2047u, h.CmdlineSize);
        Assert.True(h.Has64BitEntry);
        Assert.Equal(0x26C, h.HeaderEnd);
        Assert.Equal(4, LinuxBootProtocol.ParseHeader(TestImages.BzImage(Payload, setupSects: 0)).SetupSectors);
    }

    [Fact]
    public void LoadsKernelZeroPageInitrdAndEntersStartup64()
    {
        using var r = new LoadRig(128UL << 20);
        var image = TestImages.BzImage(Payload, initrdAddrMax: 0x37FFFFFF);
        var initrd = new CpioArchive().AddFile("init", new byte[3000]).ToArray();
        var k = r.Load(new BootImage { Kernel = image, CommandLine = "console=ttyS0 panic=-1", Initrd = initrd });
        Assert.Equal(KernelFormat.BzImage, k.Format);
        Assert.Equal(Payload, r.Bytes(0x1000000, Payload.Length));
        ulong bp = LinuxBootProtocol.BootParamsAddress;
        // The setup header is copied, with the loader's fields filled in.
        Assert.Equal(0x53726448u, r.U32(bp + 0x202));
        Assert.Equal(0xFF, r.Bytes(bp + 0x210, 1)[0]);
        Assert.Equal("console=ttyS0 panic=-1", r.CString(r.U32(bp + 0x228)));
        ulong initrdAt = r.U32(bp + 0x218);
        Assert.Equal((uint)initrd.Length, r.U32(bp + 0x21C));
        Assert.Equal(0UL, initrdAt & 0xFFF);
        Assert.True(initrdAt + (ulong)initrd.Length <= 128UL << 20);
        Assert.True(initrdAt + (ulong)initrd.Length > (128UL << 20) - 0x1000); // as high as possible
        Assert.Equal(initrd, r.Bytes(initrdAt, initrd.Length));
        // e820 in the zero page.
        Assert.Equal(4, r.Bytes(bp + 0x1E8, 1)[0]);
        Assert.Equal(0x100000UL, r.U64(bp + 0x2D0 + 3 * 20));
        Assert.Equal((128UL << 20) - 0x100000, r.U64(bp + 0x2D0 + 3 * 20 + 8));
        Assert.Equal(1u, r.U32(bp + 0x2D0 + 3 * 20 + 16));
        Assert.Equal(2u, r.U32(bp + 0x2D0 + 1 * 20 + 16));
        // 64-bit boot protocol state.
        var c = r.Cpu;
        Assert.Equal(0x1000200UL, c.Rip);
        Assert.Equal(bp, c.R(Reg.Rsi));
        Assert.Equal(64, c.Bitness);
        Assert.Equal((ushort)0x10, c.Segs[Seg.Cs].Selector);
        Assert.Equal((ushort)0x18, c.Segs[Seg.Ds].Selector);
        Assert.Equal((ushort)0x18, c.Segs[Seg.Ss].Selector);
        Assert.False(c.IF);
        Assert.Equal(BootCpuState.GdtAddress, c.Gdtr.Base);
        Assert.Equal(BootCpuState.DescCode64, r.U64(BootCpuState.GdtAddress + 0x10));
        Assert.Equal(BootCpuState.DescData, r.U64(BootCpuState.GdtAddress + 0x18));
        // The initrd also sits below initrd_addr_max when memory is larger.
        using var big = new LoadRig(2UL << 30);
        big.Load(new BootImage { Kernel = image, Initrd = initrd });
        ulong at = big.U32(bp + 0x218);
        Assert.True(at + (ulong)initrd.Length <= 0x38000000UL && at + (ulong)initrd.Length > 0x38000000UL - 0x1000);
    }

    [Fact]
    public void ThirtyTwoBitEntryUsesCode32Start()
    {
        using var r = new LoadRig();
        var image = TestImages.BzImage(Payload);
        r.Load(new BootImage { Kernel = image, LinuxEntry = LinuxEntry.Bits32 });
        Assert.Equal(32, r.Cpu.Bitness);
        Assert.Equal(0x1000000UL, r.Cpu.Rip);
        Assert.Equal(LinuxBootProtocol.BootParamsAddress, r.Cpu.R(Reg.Rsi));
        Assert.Equal(0x1000000u, r.U32(LinuxBootProtocol.BootParamsAddress + 0x214));
    }

    [Fact]
    public void BadInputsNameTheProblem()
    {
        using var r = new LoadRig(64UL << 20);
        string Err(BootImage b) => Assert.Throws<MachineConfigException>(() => r.Load(b)).Message;
        var image = TestImages.BzImage(Payload, cmdlineSize: 16);
        Assert.Equal("command line is 17 bytes; the kernel accepts at most 16",
            Err(new BootImage { Kernel = image, CommandLine = new string('x', 17) }));
        Assert.Contains("truncated bzImage", Err(new BootImage { Kernel = image.AsSpan(0, image.Length - 100).ToArray(), Format = KernelFormat.BzImage }));
        Assert.Contains("too old", Err(new BootImage { Kernel = TestImages.BzImage(Payload, version: 0x0204) }));
        Assert.Contains("no 64-bit entry", Err(new BootImage { Kernel = TestImages.BzImage(Payload, xloadflags: 0) }));
        Assert.Contains("too little memory", Err(new BootImage { Kernel = TestImages.BzImage(Payload, initSize: 0x4000000) }));
        Assert.Contains("too little memory", Err(new BootImage { Kernel = image, Initrd = new CpioArchive().AddFile("big", new byte[60 << 20]).ToArray() }));
        Assert.StartsWith("initrd: truncated", Err(new BootImage { Kernel = image, Initrd = new CpioArchive().AddFile("a", new byte[500]).ToArray().AsSpan(0, 300).ToArray() }));
        Assert.StartsWith("initrd: unrecognised", Err(new BootImage { Kernel = image, Initrd = "plain text, not an archive"u8.ToArray() }));
        var gz = new MemoryStream();
        using (var z = new System.IO.Compression.GZipStream(gz, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true))
            z.Write(new CpioArchive().AddFile("a", new byte[5000]).ToArray());
        var gzBytes = gz.ToArray();
        r.Load(new BootImage { Kernel = image, Initrd = gzBytes });            // a whole gzip archive is fine
        Assert.StartsWith("initrd:", Err(new BootImage { Kernel = image, Initrd = gzBytes.AsSpan(0, gzBytes.Length / 2).ToArray() }));
    }
}
