using System.Diagnostics;
using System.Text;
using HyperLock.Emulator.Loaders;

namespace HyperLock.Emulator.Tests.Machine;

/// <summary>
/// The Linux guest of the boot test: Debian 12's cloud kernel and busybox-static, fetched by
/// scripts/fetch-linux-guest.sh into .cache/guest (or $HYPERLOCK_GUEST_DIR; the tests run it
/// themselves, see <see cref="LinuxGuestFetch"/>), and an initramfs
/// built here with <see cref="CpioArchive"/>: busybox, /init and /workload.sh.
/// </summary>
internal static class LinuxGuest
{
    /// <summary>The kernel command line: serial console, reset through the i8042 on panic, fixed layout.</summary>
    public const string CommandLine = "console=ttyS0 reboot=k panic=-1 nokaslr";

    public const string StartMarker = "=== init start ===";
    public const string EndMarker = "=== init end ===";
    public const string WorkloadMarker = "--- workload";

    /// <summary>/init: mounts /proc, keeps kernel messages off the console from now on, prints the kernel version and /proc/cpuinfo, runs the workload, powers off.</summary>
    public const string Init = """
        #!/bin/busybox sh
        /bin/busybox --install -s /bin
        export PATH=/bin
        mount -t proc proc /proc
        dmesg -n 1
        echo "=== init start ==="
        echo "kernel $(uname -r)"
        echo "--- cpuinfo"
        cat /proc/cpuinfo
        echo "--- workload"
        sh /workload.sh
        echo "=== init end ==="
        poweroff -f
        """;

    /// <summary>Shell workloads (awk, sort, md5sum over generated data); their output does not depend on the machine.</summary>
    public const string Workload = """
        T=${TMPDIR:-/tmp}
        seq 1 3000 | awk '{ s += $1 * $1; if ($1 % 7 == 0) n++ } END { print "squares", s, "sevens", n }'
        i=0
        while [ $i -lt 400 ]; do echo "$(( (i * 7919 + 13) % 1009 )) item$i"; i=$((i + 1)); done > "$T/data"
        sort -n "$T/data" | md5sum
        sort -k2 "$T/data" | head -n 3
        sort -n -r "$T/data" | head -n 2
        awk '{ c[$1 % 10]++ } END { for (k = 0; k < 10; k++) printf "%d:%d ", k, c[k]; print "" }' "$T/data"
        wc -l < "$T/data"
        awk 'BEGIN { for (i = 1; i <= 12; i++) printf "%d ", i * i * i; print "" }'
        echo "the quick brown fox" | md5sum
        """;

    /// <summary>The repository root (the directory holding HyperLock.sln).</summary>
    public static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "HyperLock.sln"))) return d.FullName;
        throw new InvalidOperationException("HyperLock.sln not found above " + AppContext.BaseDirectory);
    }

    /// <summary>
    /// The guest files, fetched into the cache first when missing (<see cref="LinuxGuestFetch"/>);
    /// the test is skipped with the reason when this host cannot fetch them.
    /// </summary>
    public static string GuestDirectory()
    {
        var outcome = LinuxGuestFetch.Ensure(RepoRoot());
        Skip.If(outcome.SkipReason != null, outcome.SkipReason);
        if (outcome.Failure != null) Assert.Fail(outcome.Failure);
        return outcome.Directory;
    }

    public static byte[] BuildInitramfs(string guestDir)
    {
        var a = new CpioArchive();
        a.AddFile("bin/busybox", File.ReadAllBytes(Path.Combine(guestDir, "busybox")), 0x1ED);
        a.AddFile("init", Encoding.ASCII.GetBytes(Init.Replace("\r", "") + "\n"), 0x1ED);
        a.AddFile("workload.sh", Encoding.ASCII.GetBytes(Workload.Replace("\r", "") + "\n"), 0x1A4);
        a.AddDirectory("proc");
        a.AddDirectory("sys");
        a.AddDirectory("tmp", 0x3FF);
        a.AddStandardDevices();
        return a.ToArray();
    }

    /// <summary>Runs the workload with the same busybox on the host: the oracle for the guest's workload output.</summary>
    public static string RunWorkloadOnHost(string guestDir)
    {
        string tmp = Directory.CreateTempSubdirectory("hl-workload").FullName;
        try
        {
            string bin = Path.Combine(tmp, "bin");
            Directory.CreateDirectory(bin);
            string busybox = Path.Combine(guestDir, "busybox");
            Run(busybox, ["--install", "-s", bin], tmp, bin);
            string script = Path.Combine(tmp, "workload.sh");
            File.WriteAllText(script, Workload.Replace("\r", "") + "\n");
            return Run(busybox, ["sh", script], tmp, bin);
        }
        finally { Directory.Delete(tmp, true); }
    }

    private static string Run(string exe, string[] args, string tmp, string bin)
    {
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["PATH"] = bin;
        psi.Environment["TMPDIR"] = tmp;
        psi.Environment["LC_ALL"] = "C";
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd();
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"host busybox {string.Join(' ', args)} failed ({p.ExitCode}): {err}");
        return output;
    }
}
