using System.Diagnostics;

namespace HyperLock.Emulator.Tests.Machine;

/// <summary>
/// The fetch script's exit statuses that <see cref="LinuxGuestFetch"/> turns into a skipped
/// test: a host without Debian's package tools gets status 2 and a message naming the tool.
/// </summary>
public class LinuxGuestFetchTests
{
    [SkippableFact]
    public void AHostWithoutPackageToolsGetsTheSkipStatusAndTheReason()
    {
        Skip.If(!OperatingSystem.IsLinux() || !File.Exists("/bin/bash"), "needs bash on Linux");
        string tmp = Directory.CreateTempSubdirectory("hl-fetch").FullName;
        try
        {
            // A PATH with only the shell utilities the script needs before its tool check.
            string bin = Path.Combine(tmp, "bin");
            Directory.CreateDirectory(bin);
            foreach (var tool in new[] { "bash", "mkdir", "dirname" })
                foreach (var dir in new[] { "/usr/bin", "/bin" })
                    if (File.Exists(Path.Combine(dir, tool))) { File.CreateSymbolicLink(Path.Combine(bin, tool), Path.Combine(dir, tool)); break; }
            var psi = new ProcessStartInfo("/bin/bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            psi.ArgumentList.Add(Path.Combine(LinuxGuest.RepoRoot(), "scripts", "fetch-linux-guest.sh"));
            psi.ArgumentList.Add(Path.Combine(tmp, "guest"));
            psi.Environment["PATH"] = bin;
            using var p = Process.Start(psi)!;
            string err = p.StandardError.ReadToEnd();
            p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            Assert.Equal(2, p.ExitCode);
            Assert.Contains("apt-get is required", err);
            Assert.False(File.Exists(Path.Combine(tmp, "guest", "vmlinuz")));
        }
        finally { Directory.Delete(tmp, true); }
    }
}
