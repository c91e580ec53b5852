using System.Runtime.InteropServices;

namespace HyperLock.Differential.Tests.Harness.Native;

/// <summary>The few libc calls the native runner needs (Linux x86-64).</summary>
internal static unsafe partial class Libc
{
    public const int ProtRead = 1, ProtWrite = 2, ProtExec = 4;
    public const int MapPrivate = 0x02, MapAnonymous = 0x20, MapFixedNoReplace = 0x100000;
    public static readonly nint MapFailed = -1;

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    public static partial nint Mmap(nint address, nuint length, int protection, int flags, int fd, nint offset);

    [LibraryImport("libc", EntryPoint = "mprotect", SetLastError = true)]
    public static partial int Mprotect(nint address, nuint length, int protection);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    public static partial int Munmap(nint address, nuint length);

    public const int SigIll = 4, SigTrap = 5, SigBus = 7, SigFpe = 8, SigSegv = 11;

    /// <summary>glibc's struct sigaction (x86-64): handler at 0, sa_mask (128 bytes) at 8, sa_flags at 136, sa_restorer at 144.</summary>
    public const int SigactionSize = 152, SigactionFlagsOffset = 136;
    public const int SaSigInfo = 4;

    [LibraryImport("libc", EntryPoint = "sigaction", SetLastError = true)]
    public static partial int Sigaction(int signal, byte* action, byte* oldAction);

    public static string SignalName(int signal) => signal switch
    {
        SigIll => "SIGILL", SigTrap => "SIGTRAP", SigBus => "SIGBUS", SigFpe => "SIGFPE", SigSegv => "SIGSEGV",
        _ => $"signal {signal}",
    };

    /// <summary>
    /// Maps anonymous memory at exactly <paramref name="address"/>, never replacing an existing
    /// mapping. Returns false (with a reason) when the range is taken or the kernel refuses.
    /// </summary>
    public static bool MapFixed(ulong address, ulong length, int protection, out string error)
    {
        nint p = Mmap((nint)address, (nuint)length, protection, MapPrivate | MapAnonymous | MapFixedNoReplace, -1, 0);
        if (p == MapFailed)
        {
            error = $"mmap(0x{address:x}, 0x{length:x}) failed: errno {Marshal.GetLastPInvokeError()}";
            return false;
        }
        if ((ulong)p != address)
        {
            // Kernels before 4.17 treat MAP_FIXED_NOREPLACE as a hint.
            Munmap(p, (nuint)length);
            error = $"mmap(0x{address:x}) returned 0x{(ulong)p:x}: the address is taken";
            return false;
        }
        error = "";
        return true;
    }
}
