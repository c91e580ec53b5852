using HyperLock.Cli;
using HyperLock.Cli.Commands;

namespace HyperLock.Emulator.Tests.Cli;

/// <summary><c>hyperlock run --stock-kvm DIR</c>: how a build directory becomes run options.</summary>
public class StockKvmBuildTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("hyperlock-stockkvm-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void BuildDirectoryGivesKernelInitramfsTreeAndCommandLine()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "rootfs"));
        File.WriteAllText(Path.Combine(_dir, "vmlinuz"), "k");
        File.WriteAllText(Path.Combine(_dir, "rootfs", "init"), "#!/bin/busybox sh\n");
        File.WriteAllText(Path.Combine(_dir, "append"), "console=ttyS0 nokaslr\n");
        var o = StockKvmBuild.Options(_dir, "1G", null, null, quiet: true, new StringWriter());
        Assert.Equal(Path.Combine(_dir, "vmlinuz"), o.Kernel);
        Assert.Equal(Path.Combine(_dir, "rootfs"), o.InitrdDir);
        Assert.Null(o.Initrd);
        Assert.Equal("console=ttyS0 nokaslr", o.Append);
        Assert.Equal("1G", o.Memory);
        Assert.True(o.Quiet);
    }

    [Fact]
    public void IncompleteBuildDirectoryIsAOneLineError()
    {
        File.WriteAllText(Path.Combine(_dir, "vmlinuz"), "k");
        var e = Assert.Throws<UsageException>(() => StockKvmBuild.Options(_dir, null, null, null, quiet: true, new StringWriter()));
        Assert.Contains("not a stock-KVM build", e.Message);
        Assert.Contains("scripts/build-stock-kvm-initrd.sh", e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }
}
