using HyperLock.Hypervisor;
using HyperLock.Runtime.Loading;

namespace HyperLock.Cli.Commands;

/// <summary>
/// <c>hyperlock build-hypervisor IMAGE</c>: the mini-KVM as the toolchain builds it, written as an
/// image file and its manifest (IMAGE.manifest), the format <c>demo --hypervisor</c> reads back.
/// The image is verified before it is written.
/// </summary>
public static class BuildHypervisorCommand
{
    public static int Run(string imagePath, TextWriter stdout)
    {
        var image = MiniKvm.Build();
        var verdict = ImageLoader.Check(image);
        string manifest;
        try { manifest = HypervisorImageFile.Write(image, imagePath); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new UsageException($"{imagePath}: {e.Message}"); }
        stdout.WriteLine($"{imagePath}: mini-KVM, {image.Code.Length} bytes ({image.Code.Length / 32} bundles), verified ({verdict.ValidatedStarts.Count} validated instruction starts)");
        stdout.WriteLine($"{manifest}: dispatch 0x{image.Manifest.DispatchEntry:x}, data 0x{image.Manifest.DataSize:x}, stack 0x{image.Manifest.StackSize:x}");
        return 0;
    }
}
