namespace HyperLock.Emulator.Tests.Machine;

/// <summary>
/// The stock-KVM baseline's files (issue 14 item 7): scripts/build-stock-kvm-initrd.sh run once
/// into .cache/stock-kvm, under a lock file (.cache/stock-kvm.lock), after the Linux guest it
/// builds on (<see cref="LinuxGuest.GuestDirectory"/>). A host that cannot fetch Debian's
/// packages makes the test skipped with the script's reason (statuses 2-4); any other failure
/// fails it.
/// </summary>
internal static class StockKvmGuest
{
    /// <summary>The markers the host's /init and the KVM guest's /init print (see the script).</summary>
    public const string HostStart = "=== stock-kvm host start ===";
    public const string GuestStart = "=== kvm guest start ===";
    public const string GuestEnd = "=== kvm guest end ===";
    public const string HostEndSuccess = "=== stock-kvm host end (qemu status 0) ===";

    private static readonly object Gate = new();

    /// <summary>The build directory (vmlinuz, rootfs/, append), built first when needed.</summary>
    public static string Directory()
    {
        string guest = LinuxGuest.GuestDirectory(); // skips the test when the guest cannot be fetched
        string repo = LinuxGuest.RepoRoot();
        string dir = Path.Combine(repo, ".cache", "stock-kvm");
        lock (Gate)
        {
            using var fileLock = LinuxGuestFetch.AcquireLock(Path.Combine(repo, ".cache", "stock-kvm.lock"));
            // The script is idempotent (a stamp of its inputs): a current build costs one md5sum.
            var (status, output) = LinuxGuestFetch.RunScript(Path.Combine(repo, "scripts", "build-stock-kvm-initrd.sh"), dir);
            string message = LinuxGuestFetch.LastLine(output);
            Skip.If(status is 2 or 3 or 4, $"the stock-KVM packages cannot be fetched on this host: {message}");
            if (status != 0) Assert.Fail($"scripts/build-stock-kvm-initrd.sh failed (status {status}, guest {guest}): {output.Trim()}");
        }
        return dir;
    }
}
