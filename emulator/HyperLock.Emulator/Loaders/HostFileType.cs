using System.Runtime.InteropServices;

namespace HyperLock.Emulator.Loaders;

/// <summary>
/// The type of a host file (regular, directory, FIFO, device, socket, link), which .NET does not
/// expose: an initramfs builder must not open a FIFO (the open blocks until a writer appears) or
/// read a device. Asked of the C library's <c>lstat</c> on Linux; elsewhere the type is unknown.
/// </summary>
public static partial class HostFileType
{
    /// <summary>st_mode's type bits: S_IFMT and the regular, directory and symbolic link values.</summary>
    public const uint TypeMask = 0xF000, Regular = 0x8000, Directory = 0x4000, SymbolicLink = 0xA000;

    /// <summary>The st_mode type bits of <paramref name="path"/> (not following a final symbolic link); null when not known.</summary>
    public static uint? Of(string path)
    {
        // Offset of st_mode in the kernel's struct stat, which glibc and musl use as is.
        int modeOffset = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => 24,
            Architecture.Arm64 => 16,
            _ => -1,
        };
        if (!OperatingSystem.IsLinux() || modeOffset < 0) return null;
        var buffer = new byte[256];
        int rc;
        try
        {
            rc = LStat(path, buffer);
        }
        catch (EntryPointNotFoundException)
        {
            rc = LegacyLStat(1, path, buffer); // glibc before 2.33 exports only __lxstat
        }
        catch (DllNotFoundException)
        {
            return null;
        }
        return rc == 0 ? BitConverter.ToUInt32(buffer, modeOffset) & TypeMask : null;
    }

    /// <summary>A name for the type bits, for error messages.</summary>
    public static string Describe(uint type) => type switch
    {
        Regular => "regular file",
        Directory => "directory",
        SymbolicLink => "symbolic link",
        0x1000 => "FIFO",
        0x2000 => "character device",
        0x6000 => "block device",
        0xC000 => "socket",
        _ => $"file of type 0x{type:x}",
    };

    [LibraryImport("libc", EntryPoint = "lstat", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int LStat(string path, byte[] buffer);

    [LibraryImport("libc", EntryPoint = "__lxstat", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int LegacyLStat(int version, string path, byte[] buffer);
}
