using HyperLock.Emulator.Loaders;
using HyperLock.Emulator.Machine;

namespace HyperLock.Emulator.Tests.Machine;

public class BadInputTests
{
    private static string Error(MachineConfig config) =>
        Assert.Throws<MachineConfigException>(() => new X86Machine(config).Dispose()).Message;

    [Fact]
    public void UnknownKernelFormat()
    {
        string m = Error(new MachineConfig { Boot = new BootImage { Kernel = "#!/bin/sh\necho hi\n"u8.ToArray(), KernelName = "script.sh" } });
        Assert.StartsWith("kernel: unknown format", m);
    }

    [Fact]
    public void EmptyKernel()
    {
        Assert.Equal("kernel: empty file", Error(new MachineConfig { Boot = new BootImage { Kernel = [] } }));
    }

    [Fact]
    public void TooLittleMemory()
    {
        Assert.Contains("too small", Error(new MachineConfig { Boot = new BootImage { Kernel = [0xF4], KernelName = "a.bin" }, MemorySize = 1 << 20 }));
        var bz = BootLoaders.TestImages.BzImage(new byte[4096], initSize: 0x4000000);
        Assert.StartsWith("too little memory", Error(new MachineConfig { Boot = new BootImage { Kernel = bz }, MemorySize = 32UL << 20 }));
    }

    [Fact]
    public void CommandLineLongerThanTheHeaderAllows()
    {
        var bz = BootLoaders.TestImages.BzImage(new byte[4096], cmdlineSize: 255);
        Assert.Equal("command line is 300 bytes; the kernel accepts at most 255",
            Error(new MachineConfig { Boot = new BootImage { Kernel = bz, CommandLine = new string('a', 300) } }));
    }

    [Fact]
    public void TruncatedKernelAndInitrd()
    {
        var bz = BootLoaders.TestImages.BzImage(new byte[8192]);
        Assert.Contains("truncated bzImage", Error(new MachineConfig { Boot = new BootImage { Kernel = bz[..6000] } }));
        var cpio = new CpioArchive().AddFile("init", new byte[2000]).ToArray();
        Assert.StartsWith("initrd: truncated", Error(new MachineConfig { Boot = new BootImage { Kernel = bz, Initrd = cpio[..1000] } }));
    }

    [Fact]
    public void TscSlowerThanThePit()
    {
        Assert.Contains("TSC frequency", Error(new MachineConfig { Boot = new BootImage { Kernel = [0xF4], KernelName = "a.bin" }, TscFrequencyHz = 1000 }));
    }
}
