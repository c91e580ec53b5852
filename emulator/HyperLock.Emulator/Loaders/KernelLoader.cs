using System.Text;
using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Memory;

namespace HyperLock.Emulator.Loaders;

/// <summary>
/// Detects a kernel's format and hands it to its loader. Detection, in QEMU's order: a Linux
/// setup header ("HdrS" at 0x202) → bzImage; a multiboot header in the first 8 KiB →
/// multiboot; an ELF64 x86-64 executable → ELF64; a name ending in .bin, .img, .raw or .com
/// → flat binary. Anything else is an unknown format. Flat binaries and ELF64 executables
/// start in long mode (flat: optionally 32-bit protected or real mode) with the low 4 GiB
/// identity-mapped, a GDT with a 64-bit code segment at 0x08 and data at 0x10, RSP = 0x9F000,
/// interrupts off, and RDI = the address of the NUL-terminated command line (0x20000).
/// </summary>
public static class KernelLoader
{
    /// <summary>File name endings taken as flat binaries.</summary>
    public static readonly string[] FlatExtensions = [".bin", ".img", ".raw", ".com"];
    /// <summary>Where flat and ELF64 kernels find their command line.</summary>
    public const ulong CommandLineAddress = 0x20000;
    /// <summary>Code selector of flat and ELF64 kernels in long mode (and flat 32-bit).</summary>
    public const ushort CodeSelector = 0x08;
    /// <summary>Data selector of flat and ELF64 kernels.</summary>
    public const ushort DataSelector = 0x10;

    /// <summary>The format of a kernel image, by content and (for flat binaries) by name.</summary>
    public static KernelFormat Detect(ReadOnlySpan<byte> data, string name)
    {
        if (data.Length == 0) throw new MachineConfigException("kernel: empty file");
        if (LinuxBootProtocol.IsBzImage(data)) return KernelFormat.BzImage;
        if (MultibootLoader.FindHeader(data) != null) return KernelFormat.Multiboot;
        if (ElfImage.HasMagic(data))
        {
            if (data.Length > 4 && data[4] == ElfImage.Class64) return KernelFormat.Elf64;
            throw new MachineConfigException("kernel: ELF32 image without a multiboot header is not supported");
        }
        foreach (var ext in FlatExtensions)
            if (name.EndsWith(ext, StringComparison.OrdinalIgnoreCase)) return KernelFormat.Flat;
        throw new MachineConfigException("kernel: unknown format (not a bzImage, multiboot image or ELF64 executable; raw binaries need a .bin name)");
    }

    /// <summary>Loads the kernel (and initrd or modules) into memory and sets up the processor.</summary>
    public static LoadedKernel Load(BootImage image, PhysicalMemory mem, Cpu cpu, E820Map map)
    {
        var format = image.Format == KernelFormat.Auto ? Detect(image.Kernel, image.KernelName) : image.Format;
        return format switch
        {
            KernelFormat.BzImage => LinuxBootProtocol.Load(image, mem, cpu, map),
            KernelFormat.Multiboot => MultibootLoader.Load(image, mem, cpu, map),
            KernelFormat.Elf64 => LoadElf64(image, mem, cpu, map),
            KernelFormat.Flat => LoadFlat(image, mem, cpu, map),
            _ => throw new MachineConfigException($"kernel: unsupported format {format}"),
        };
    }

    private static void WriteCommandLine(BootImage image, PhysicalMemory mem)
    {
        byte[] cmd = Encoding.UTF8.GetBytes(image.CommandLine + "\0");
        if (cmd.Length > 0x10000) throw new MachineConfigException($"command line is {cmd.Length - 1} bytes; the loader has room for {0x10000 - 1}");
        mem.WriteBytes(CommandLineAddress, cmd);
    }

    private static void RejectInitrd(BootImage image, string format)
    {
        if (image.Initrd != null || image.Modules.Count > 0)
            throw new MachineConfigException($"an initrd or modules can only be given to a Linux or multiboot kernel, not to {format}");
    }

    private static LoadedKernel LoadElf64(BootImage image, PhysicalMemory mem, Cpu cpu, E820Map map)
    {
        RejectInitrd(image, "an ELF64 executable");
        var d = image.Kernel;
        var elf = ElfImage.Parse(d);
        if (!elf.Is64) throw new MachineConfigException("kernel: ELF32 image without a multiboot header is not supported");
        foreach (var s in elf.Segments)
        {
            CheckLowRange(map, s.PhysicalAddress, s.MemorySize);
            mem.WriteBytes(s.PhysicalAddress, d.AsSpan((int)s.FileOffset, (int)s.FileSize));
            MultibootLoader.ZeroFill(mem, s.PhysicalAddress + s.FileSize, s.MemorySize - s.FileSize);
        }
        if (elf.Entry >= 0x100000000) throw new MachineConfigException($"kernel: ELF64 entry point 0x{elf.Entry:x} is outside the identity-mapped 4 GiB");
        EnterLong(image, mem, cpu, elf.Entry);
        return new LoadedKernel(KernelFormat.Elf64, elf.Entry, $"ELF64, {elf.Segments.Count} segment{(elf.Segments.Count == 1 ? "" : "s")}, entry 0x{elf.Entry:x}");
    }

    private static LoadedKernel LoadFlat(BootImage image, PhysicalMemory mem, Cpu cpu, E820Map map)
    {
        RejectInitrd(image, "a flat binary");
        ulong at = image.FlatLoadAddress;
        if (image.FlatEntry == FlatEntryMode.Real16)
        {
            // Real mode uses no boot structures: only the interrupt vector table must stay clear.
            if (at < 0x500 || !map.IsRam(at, (ulong)image.Kernel.Length))
                throw new MachineConfigException($"a real-mode flat binary of {image.Kernel.Length} bytes does not fit in conventional memory at 0x{at:x}");
        }
        else CheckLowRange(map, at, (ulong)image.Kernel.Length);
        mem.WriteBytes(at, image.Kernel);
        switch (image.FlatEntry)
        {
            case FlatEntryMode.Long64:
                EnterLong(image, mem, cpu, at);
                break;
            case FlatEntryMode.Protected32:
            {
                WriteCommandLine(image, mem);
                ushort limit = BootCpuState.WriteGdt(mem, 0, BootCpuState.DescCode32, BootCpuState.DescData);
                BootCpuState.EnterProtectedMode(cpu, limit, CodeSelector, DataSelector, at);
                ResetRegisters(cpu);
                break;
            }
            case FlatEntryMode.Real16:
                if (at >= 0x100000 || (at & 0xF) != 0)
                    throw new MachineConfigException($"a real-mode flat binary must load below 1 MiB on a 16-byte boundary, not at 0x{at:x}");
                BootCpuState.EnterRealMode(cpu, (ushort)(at >> 4), 0);
                for (int i = 0; i < 16; i++) cpu.R(i) = 0;
                cpu.R(Reg.Rsp) = 0xFFFE;
                break;
        }
        return new LoadedKernel(KernelFormat.Flat, at, $"flat binary, {image.Kernel.Length} bytes at 0x{at:x}, {image.FlatEntry} entry");
    }

    private static void EnterLong(BootImage image, PhysicalMemory mem, Cpu cpu, ulong entry)
    {
        WriteCommandLine(image, mem);
        ushort limit = BootCpuState.WriteGdt(mem, 0, BootCpuState.DescCode64, BootCpuState.DescData);
        BootCpuState.WriteIdentityPageTables(mem);
        BootCpuState.EnterLongMode(cpu, limit, CodeSelector, DataSelector, entry);
        ResetRegisters(cpu);
    }

    private static void ResetRegisters(Cpu cpu)
    {
        for (int i = 0; i < 16; i++) cpu.R(i) = 0;
        cpu.R(Reg.Rsp) = BootCpuState.StackTop;
        cpu.R(Reg.Rdi) = CommandLineAddress;
    }

    private static void CheckLowRange(E820Map map, ulong address, ulong length)
    {
        if (length == 0) return;
        if (address < 0x30000 && address + length > BootCpuState.GdtAddress)
            throw new MachineConfigException($"kernel: image at 0x{address:x} overlaps the boot structures below 0x30000");
        if (!map.IsRam(address, length))
            throw new MachineConfigException($"too little memory: the kernel needs [0x{address:x}, 0x{address + length:x}), the machine has {map.MemorySize >> 20} MiB");
    }
}
