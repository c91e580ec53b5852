using System.Text;
using HyperLock.Emulator.Loaders;
using HyperLock.Emulator.Machine;
using HyperLock.Emulator.Tests.BootLoaders;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.Emulator.Tests.Machine;

/// <summary>A multiboot ELF32 kernel that runs in 32-bit protected mode and reads its information structure.</summary>
public class MultibootGuestTests
{
    private const uint Load = 0x100000;

    /// <summary>
    /// The kernel checks EAX, prints its command line from the information structure to COM1,
    /// copies module 0's first byte, and exits through the debug-exit port with the module count.
    /// </summary>
    private static byte[] Kernel(uint load = Load)
    {
        var a = new Assembler(32);
        var bad = a.CreateLabel();
        var print = a.CreateLabel();
        var done = a.CreateLabel();
        // The multiboot header (flags: memory info), at the start of the code segment.
        a.dd(0x1BADB002); a.dd(0x2); a.dd(unchecked(0u - 0x1BADB002u - 0x2u));
        a.cmp(eax, 0x2BADB002);
        a.jne(bad);
        a.mov(esi, __dword_ptr[ebx + 16]);          // cmdline
        a.mov(dx, (ushort)0x3F8);
        a.Label(ref print);
        a.lodsb();
        a.test(al, al);
        a.jz(done);
        a.@out(dx, al);
        a.jmp(print);
        a.Label(ref done);
        a.mov(al, (byte)'\n');
        a.@out(dx, al);
        a.mov(esi, __dword_ptr[ebx + 24]);          // mods_addr
        a.mov(esi, __dword_ptr[esi]);               // mod_start of module 0
        a.mov(al, __byte_ptr[esi]);
        a.@out(dx, al);
        a.mov(eax, __dword_ptr[ebx + 20]);          // mods_count
        a.@out(0xF4, al);
        a.Label(ref bad);
        a.mov(al, 0x7F);
        a.@out(0xF4, al);
        var code = AssembledCode.Bytes(a, load, out _);
        // Entry after the 12-byte header.
        return TestImages.Elf(false, load + 12, new TestImages.Seg(load, code, (ulong)code.Length));
    }

    [Fact]
    public void Elf32KernelRunsInProtectedModeWithItsInformation()
    {
        var serial = new MemoryStream();
        using var m = new X86Machine(new MachineConfig
        {
            Boot = new BootImage
            {
                Kernel = Kernel(), KernelName = "mbkernel", CommandLine = "hello multiboot",
                Modules = [new BootModule("Zmodule"u8.ToArray(), "m0"), new BootModule([1, 2], "m1")],
            },
            MemorySize = 32UL << 20,
            SerialOutput = serial,
            InstructionLimit = 1_000_000,
        });
        var r = m.Run();
        Assert.Equal("mbkernel hello multiboot\nZ", Encoding.ASCII.GetString(serial.ToArray()));
        Assert.Equal(MachineOutcome.DebugExit, r.Outcome);
        Assert.Equal(5, r.ExitStatus);
    }

    /// <summary>
    /// A kernel linked at 0x8000, where the information structure usually goes (as some test
    /// kernels are): it is loaded and booted, and the information moves out of its way.
    /// </summary>
    [Theory]
    [InlineData(0x8000u)]
    [InlineData(0x9000u)]
    [InlineData(0x1000u)]
    public void KernelLoadedAtALowAddressBootsWithItsInformation(uint load)
    {
        var serial = new MemoryStream();
        using var m = new X86Machine(new MachineConfig
        {
            Boot = new BootImage
            {
                Kernel = Kernel(load), KernelName = "low", CommandLine = "at low memory",
                Modules = [new BootModule("Qmodule"u8.ToArray(), "m0")],
            },
            MemorySize = 32UL << 20,
            SerialOutput = serial,
            InstructionLimit = 1_000_000,
        });
        var r = m.Run();
        Assert.Equal("low at low memory\nQ", Encoding.ASCII.GetString(serial.ToArray()));
        Assert.Equal(MachineOutcome.DebugExit, r.Outcome);
        Assert.Equal(3, r.ExitStatus);
    }

}
