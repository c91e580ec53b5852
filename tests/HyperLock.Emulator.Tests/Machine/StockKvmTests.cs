using System.Text;
using HyperLock.Emulator.Loaders;
using HyperLock.Emulator.Machine;

namespace HyperLock.Emulator.Tests.Machine;

/// <summary>
/// The paper's baseline on the emulated machine (issue 14 item 7): Debian's cloud kernel, on the
/// bare machine, loads Debian's kvm_intel and runs QEMU's microvm (-enable-kvm), which boots the
/// same kernel as a KVM guest; that guest runs scripts/linux-workload.sh and powers off, then the
/// host powers off. Exercises the VMX model with an unmodified KVM and QEMU.
/// </summary>
[Trait("Category", "Linux")]
public class StockKvmTests
{
    [SkippableFact]
    public void KvmGuestRunsTheWorkloadUnderDebiansKvmAndQemu()
    {
        string dir = StockKvmGuest.Directory();
        var serial = new MemoryStream();
        var log = new StringBuilder();
        MachineResult result;
        using (var m = new X86Machine(new MachineConfig
        {
            Boot = new BootImage
            {
                Kernel = File.ReadAllBytes(Path.Combine(dir, "vmlinuz")),
                Initrd = CpioArchive.FromDirectory(Path.Combine(dir, "rootfs")).ToArray(),
                CommandLine = File.ReadAllText(Path.Combine(dir, "append")).Trim(),
            },
            SerialOutput = serial,
            InstructionLimit = 40_000_000_000,
            Log = s => log.AppendLine(s),
        }))
        {
            result = m.Run();
        }
        // QEMU writes the guest's CRLF to the host's tty, which adds its own CR: drop them all.
        string console = Encoding.UTF8.GetString(serial.ToArray()).Replace("\r", "");
        string context = $"\n{result.Summary()}\nlog:\n{log}\nconsole tail:\n{Tail(console, 4000)}";

        Assert.True(console.Contains(StockKvmGuest.HostStart + "\n", StringComparison.Ordinal), "The host's /init did not start." + context);
        int start = console.IndexOf(StockKvmGuest.GuestStart + "\n", StringComparison.Ordinal);
        int end = console.IndexOf(StockKvmGuest.GuestEnd + "\n", StringComparison.Ordinal);
        Assert.True(start >= 0 && end > start, "The KVM guest's /init did not run to its end marker." + context);

        // The KVM guest's workload prints what the same busybox prints on the host.
        string guestOutput = console[start..end];
        int w = guestOutput.IndexOf(LinuxGuest.WorkloadMarker + "\n", StringComparison.Ordinal);
        Assert.True(w >= 0, "No workload marker in the KVM guest's output." + context);
        string guestWorkload = guestOutput[(w + LinuxGuest.WorkloadMarker.Length + 1)..];
        Assert.Equal(LinuxGuest.RunWorkloadOnHost(LinuxGuest.GuestDirectory()), guestWorkload);

        // QEMU ended with status 0 (the guest powered the microvm off), then the host powered off.
        Assert.True(console.Contains(StockKvmGuest.HostEndSuccess, StringComparison.Ordinal), "QEMU did not end with status 0." + context);
        Assert.True(result.Outcome == MachineOutcome.Halted && result.ExitStatus == 0, "The host did not power off." + context);
    }

    /// <summary>The stock-KVM guest and the bare boot test run the same workload.</summary>
    [Fact]
    public void WorkloadScriptIsTheBootTestsWorkload()
    {
        string script = File.ReadAllText(Path.Combine(LinuxGuest.RepoRoot(), "scripts", "linux-workload.sh"));
        Assert.Equal(LinuxGuest.Workload.Replace("\r", "") + "\n", script.Replace("\r", ""));
    }

    private static string Tail(string s, int n) => s.Length <= n ? s : s[^n..];
}
