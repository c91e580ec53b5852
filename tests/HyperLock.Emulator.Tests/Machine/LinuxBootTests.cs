using System.Text;
using HyperLock.Emulator.Loaders;
using HyperLock.Emulator.Machine;

namespace HyperLock.Emulator.Tests.Machine;

/// <summary>
/// Boots Debian 12's cloud kernel with a busybox initramfs on the bare machine and compares
/// what /init prints with a reviewed snapshot (Snapshots/linux-init-output.txt, the kernel
/// version as {KERNEL_VERSION}); the workload part is also checked against the same busybox
/// run on the host. The guest is fetched and cached on first use; a host that cannot fetch it
/// (see <see cref="LinuxGuestFetch"/>) reports these tests skipped with the reason.
/// </summary>
[Trait("Category", "Linux")]
public class LinuxBootTests
{
    private const string SnapshotName = "linux-init-output.txt";

    /// <summary>Boots through the 64-bit entry point (startup_64) and through the 32-bit one (startup_32, protected mode).</summary>
    [SkippableTheory]
    [InlineData(LinuxEntry.Bits64)]
    [InlineData(LinuxEntry.Bits32)]
    public void BootsToInitAndRunsTheWorkload(LinuxEntry entry)
    {
        string guest = LinuxGuest.GuestDirectory();
        string version = File.ReadAllText(Path.Combine(guest, "kernel-version")).Trim();
        var serial = new MemoryStream();
        var log = new StringBuilder();
        MachineResult result;
        using (var m = new X86Machine(new MachineConfig
        {
            Boot = new BootImage
            {
                Kernel = File.ReadAllBytes(Path.Combine(guest, "vmlinuz")),
                Initrd = LinuxGuest.BuildInitramfs(guest),
                CommandLine = LinuxGuest.CommandLine,
                LinuxEntry = entry,
            },
            MemorySize = 256UL << 20,
            SerialOutput = serial,
            InstructionLimit = 8_000_000_000,
            Log = s => log.AppendLine(s),
        }))
        {
            result = m.Run();
        }
        string console = Encoding.UTF8.GetString(serial.ToArray()).Replace("\r\n", "\n");
        string context = $"\n{result.Summary()}\nlog:\n{log}\nconsole tail:\n{Tail(console, 3000)}";

        int start = console.IndexOf(LinuxGuest.StartMarker + "\n", StringComparison.Ordinal);
        int end = console.IndexOf(LinuxGuest.EndMarker + "\n", StringComparison.Ordinal);
        Assert.True(start >= 0 && end > start, "/init did not run to its end marker." + context);
        string initOutput = console[start..(end + LinuxGuest.EndMarker.Length + 1)];

        // The kernel's boot messages (the console before /init starts) report no firmware bug,
        // no errata, no disabled MTRRs and no vulnerability the modelled core does not have.
        string kernelLog = console[..start];
        Assert.Contains("x86/PAT: Configuration [0-7]: WB  WC", kernelLog, StringComparison.Ordinal); // PAT set up: MTRRs are on
        foreach (string warning in BootLogWarnings)
            Assert.False(kernelLog.Contains(warning, StringComparison.Ordinal), $"The boot log reports \"{warning}\":\n{kernelLog}");

        // The run ends by itself: poweroff -f halts the processor with interrupts off.
        Assert.True(result.Outcome == MachineOutcome.Halted && result.ExitStatus == 0, "The guest did not power off." + context);

        // The workload's output is what the same busybox prints on the host.
        int w = initOutput.IndexOf(LinuxGuest.WorkloadMarker + "\n", StringComparison.Ordinal);
        string guestWorkload = initOutput[(w + LinuxGuest.WorkloadMarker.Length + 1)..^(LinuxGuest.EndMarker.Length + 1)];
        Assert.Equal(LinuxGuest.RunWorkloadOnHost(guest), guestWorkload);

        // The whole /init output matches the reviewed snapshot.
        string snapshotPath = Path.Combine(LinuxGuest.RepoRoot(), "tests", "HyperLock.Emulator.Tests", "Machine", "Snapshots", SnapshotName);
        string actual = initOutput.Replace(version, "{KERNEL_VERSION}");
        if (!File.Exists(snapshotPath))
        {
            File.WriteAllText(snapshotPath + ".actual", actual);
            Assert.Fail($"No snapshot {snapshotPath}; the actual output is in {snapshotPath}.actual: review it and rename it.");
        }
        string expected = File.ReadAllText(snapshotPath).Replace("\r\n", "\n");
        if (expected != actual) File.WriteAllText(snapshotPath + ".actual", actual);
        Assert.Equal(expected, actual);
    }

    /// <summary>Boot-log phrases a correctly modelled, current core never causes (the CPU model, its MSRs and CPUID).</summary>
    private static readonly string[] BootLogWarnings =
    [
        "[Firmware Bug]", "Errata", "please update microcode", "MTRRs disabled", "WARNING", "Vulnerable", "unchecked MSR access",
    ];

    private static string Tail(string s, int n) => s.Length <= n ? s : s[^n..];
}
