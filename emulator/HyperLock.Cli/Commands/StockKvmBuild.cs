using System.Diagnostics;

namespace HyperLock.Cli.Commands;

/// <summary>
/// <c>hyperlock run --stock-kvm [DIR]</c>: the paper's baseline, stock KVM on the bare machine. DIR
/// (default: .cache/stock-kvm of the source tree holding the current directory) is what
/// scripts/build-stock-kvm-initrd.sh produces: the host kernel, the initramfs tree in which it
/// loads Debian's kvm_intel and runs QEMU's microvm with a KVM guest, and the command line. When
/// the default directory has no build yet, the script is run first (its messages go to stderr).
/// </summary>
public static class StockKvmBuild
{
    public const string Script = "scripts/build-stock-kvm-initrd.sh";
    public const string DefaultDirectory = ".cache/stock-kvm";

    /// <summary>The run options for the build in <paramref name="dir"/> (null: the default, built when missing).</summary>
    public static RunCommand.Options Options(string? dir, string? memory, string? maxInstructions, string? serial, bool quiet, TextWriter stderr)
    {
        if (dir == null)
        {
            string root = SourceRoot(Directory.GetCurrentDirectory())
                ?? throw new UsageException($"--stock-kvm: no source tree with {Script} above the current directory (give the build directory: --stock-kvm DIR)");
            dir = Path.Combine(root, DefaultDirectory);
            if (!Complete(dir)) Build(Path.Combine(root, Script), dir, stderr);
        }
        if (!Complete(dir))
            throw new UsageException($"{dir}: not a stock-KVM build (no vmlinuz, rootfs/init or append; run {Script} DIR)");
        string append = File.ReadAllText(Path.Combine(dir, "append")).Trim();
        return new RunCommand.Options(Path.Combine(dir, "vmlinuz"), null, Path.Combine(dir, "rootfs"), append,
            memory, maxInstructions, serial, quiet);
    }

    private static bool Complete(string dir) =>
        File.Exists(Path.Combine(dir, "vmlinuz")) && File.Exists(Path.Combine(dir, "rootfs", "init"))
        && File.Exists(Path.Combine(dir, "append"));

    private static string? SourceRoot(string from)
    {
        for (var d = new DirectoryInfo(from); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, Script))) return d.FullName;
        return null;
    }

    private static void Build(string script, string dir, TextWriter stderr)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add(dir);
        Process p;
        try { p = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception e) { throw new UsageException($"--stock-kvm: cannot run {Script}: {e.Message}"); }
        using (p)
        {
            string last = "";
            p.OutputDataReceived += (_, e) => { if (e.Data != null) stderr.WriteLine(e.Data); };
            p.ErrorDataReceived += (_, e) => { if (e.Data != null) { stderr.WriteLine(e.Data); last = e.Data; } };
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
            p.WaitForExit();
            if (p.ExitCode != 0) throw new UsageException($"--stock-kvm: {Script} failed (status {p.ExitCode}): {last}");
        }
    }
}
