using System.Diagnostics;
using System.Runtime.InteropServices;

namespace HyperLock.Emulator.Tests.Machine;

/// <summary>
/// Obtains the Linux guest for the tests that boot it, so that `dotnet test` needs no step
/// before it: when .cache/guest (or $HYPERLOCK_GUEST_DIR) lacks the files, it runs
/// scripts/fetch-linux-guest.sh once, under a lock file (.cache/guest.lock) so that parallel
/// test processes wait for one download instead of racing. A host that cannot fetch the guest
/// (not x86-64 Linux, no apt-get/dpkg-deb, no package lists without root, download refused)
/// makes the test skipped with the reason; any other failure of the script fails the test.
/// </summary>
internal static class LinuxGuestFetch
{
    public static readonly string[] Files = ["vmlinuz", "busybox", "kernel-version"];

    private static readonly object Gate = new();

    /// <summary>What <see cref="Ensure"/> found: the directory, or why the host cannot have the guest.</summary>
    public sealed record Outcome(string Directory, string? SkipReason, string? Failure);

    /// <summary>The guest directory with every file present, fetching it first when needed.</summary>
    public static Outcome Ensure(string repoRoot)
    {
        string? fromEnvironment = Environment.GetEnvironmentVariable("HYPERLOCK_GUEST_DIR");
        string dir = fromEnvironment ?? Path.Combine(repoRoot, ".cache", "guest");
        if (Complete(dir)) return new Outcome(dir, null, null);
        if (fromEnvironment != null)
            return new Outcome(dir, null, $"HYPERLOCK_GUEST_DIR={dir} lacks {string.Join(", ", Missing(dir))}");

        string? hostReason = HostCannotFetch();
        if (hostReason != null) return new Outcome(dir, hostReason, null);

        lock (Gate)
        {
            Directory.CreateDirectory(Path.Combine(repoRoot, ".cache"));
            using var fileLock = AcquireLock(Path.Combine(repoRoot, ".cache", "guest.lock"));
            if (Complete(dir)) return new Outcome(dir, null, null); // another process fetched it meanwhile
            var (status, output) = RunScript(Path.Combine(repoRoot, "scripts", "fetch-linux-guest.sh"), dir);
            string message = LastLine(output);
            return status switch
            {
                0 when Complete(dir) => new Outcome(dir, null, null),
                0 => new Outcome(dir, null, $"scripts/fetch-linux-guest.sh succeeded but {dir} lacks {string.Join(", ", Missing(dir))}"),
                2 or 3 or 4 => new Outcome(dir, $"the Linux guest cannot be fetched on this host: {message}", null),
                _ => new Outcome(dir, null, $"scripts/fetch-linux-guest.sh failed (status {status}): {output.Trim()}"),
            };
        }
    }

    /// <summary>Why this host cannot run the fetch at all (null when it can try).</summary>
    public static string? HostCannotFetch()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.OSArchitecture != Architecture.X64)
            return $"the Linux guest (Debian amd64 kernel and busybox, also run on the host as the workload oracle) needs x86-64 Linux; this host is {RuntimeInformation.OSDescription} {RuntimeInformation.OSArchitecture}";
        foreach (var tool in new[] { "bash", "apt-get", "apt-cache", "dpkg-deb" })
            if (!OnPath(tool)) return $"the Linux guest is fetched with Debian's package tools and this host has no {tool}";
        return null;
    }

    private static bool Complete(string dir) => Missing(dir).Count == 0;

    private static List<string> Missing(string dir)
    {
        var missing = new List<string>();
        foreach (var f in Files)
        {
            var info = new FileInfo(Path.Combine(dir, f));
            if (!info.Exists || info.Length == 0) missing.Add(f);
        }
        return missing;
    }

    private static bool OnPath(string tool)
    {
        foreach (var d in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
            if (File.Exists(Path.Combine(d, tool))) return true;
        return false;
    }

    /// <summary>An exclusive lock on a file, shared by every process (FileShare.None is an advisory lock on Unix); waits up to 15 minutes.</summary>
    internal static FileStream AcquireLock(string path)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try { return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
            catch (IOException) when (deadline.Elapsed < TimeSpan.FromMinutes(15)) { Thread.Sleep(250); }
        }
    }

    internal static (int Status, string Output) RunScript(string script, string dir)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add(dir);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout + stderr.Result);
    }

    internal static string LastLine(string output)
    {
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines.Length == 0 ? "(no message)" : lines[^1];
    }
}
