using HyperLock.Emulator.Loaders;
using HyperLock.Emulator.Machine;

namespace HyperLock.Cli.Commands;

/// <summary>
/// <c>hyperlock run --kernel PATH [--initrd PATH | --initrd-dir DIR] [--append STR] [--memory 512M]
/// [--max-instructions N] [--serial FILE] [--quiet]</c>: boots a kernel on the bare machine (no VMX,
/// no hypervisor). Guest serial output goes to stdout (or FILE); one summary line goes to stderr.
/// </summary>
public static class RunCommand
{
    public sealed record Options(string Kernel, string? Initrd, string? InitrdDir, string Append, string? Memory,
        string? MaxInstructions, string? Serial, bool Quiet);

    public static int Run(Options o, TextWriter stdout, TextWriter stderr)
    {
        if (o.Initrd != null && o.InitrdDir != null) throw new UsageException("give --initrd or --initrd-dir, not both");
        byte[] kernel = ReadFile(o.Kernel, "kernel");
        byte[]? initrd = o.Initrd != null ? ReadFile(o.Initrd, "initrd") : null;
        if (o.InitrdDir != null)
        {
            if (!Directory.Exists(o.InitrdDir)) throw new UsageException($"{o.InitrdDir}: no such directory (--initrd-dir)");
            try
            {
                initrd = CpioArchive.FromDirectory(o.InitrdDir).ToArray();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
            {
                throw new UsageException($"{o.InitrdDir}: cannot build an initramfs from it: {e.Message}");
            }
        }
        ulong memory = o.Memory == null ? MachineConfig.DefaultMemorySize : NumberParser.Parse(o.Memory, "--memory");
        ulong limit = o.MaxInstructions == null ? ulong.MaxValue : NumberParser.Parse(o.MaxInstructions, "--max-instructions");

        Stream serial;
        bool ownSerial = false;
        if (o.Serial != null)
        {
            try
            {
                serial = File.Create(o.Serial);
                ownSerial = true;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
                throw new UsageException($"{o.Serial}: cannot write the serial log: {e.Message}");
            }
        }
        else
        {
            serial = o.Quiet ? Stream.Null : Console.OpenStandardOutput();
        }

        bool live = !o.Quiet && !Console.IsErrorRedirected;
        try
        {
            var config = new MachineConfig
            {
                Boot = new BootImage { Kernel = kernel, KernelName = o.Kernel, CommandLine = o.Append, Initrd = initrd },
                MemorySize = memory,
                InstructionLimit = limit,
                SerialOutput = serial,
                Progress = live ? m => stderr.Write($"\r[hyperlock] {m.Instructions:N0} instructions ") : null,
            };
            using var machine = new X86Machine(config);
            var result = machine.Run();
            serial.Flush();
            if (live) stderr.Write("\r\x1b[K");
            stderr.WriteLine(result.Summary());
            return result.ExitStatus;
        }
        catch (MachineConfigException e)
        {
            throw new UsageException(e.Message);
        }
        finally
        {
            if (ownSerial) serial.Dispose();
        }
    }

    private static byte[] ReadFile(string path, string what)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new UsageException($"{path}: cannot read the {what}: {e.Message}");
        }
    }
}
