using System.Runtime.InteropServices;
using HyperLock.Emulator.Loaders;
using HyperLock.Emulator.Machine;
using HyperLock.Verifier.Cli;
using Microsoft.Win32.SafeHandles;

namespace HyperLock.Cli.Commands;

/// <summary>
/// <c>hyperlock run --kernel PATH [--initrd PATH | --initrd-dir DIR] [--append STR] [--memory 512M]
/// [--max-instructions N] [--serial FILE] [--quiet]</c>: boots a kernel on the bare machine (no VMX,
/// no hypervisor). Guest serial output goes to stdout (or FILE); one summary line goes to stderr.
/// SIGINT and SIGTERM end the run between slices with the summary line (status 130, 143); a
/// closed stdout ends it too (status 141, as after SIGPIPE).
/// </summary>
public static class RunCommand
{
    public sealed record Options(string Kernel, string? Initrd, string? InitrdDir, string Append, string? Memory,
        string? MaxInstructions, string? Serial, bool Quiet)
    {
        /// <summary>Boot as a VMX guest of a confined mini-KVM instance.</summary>
        public bool Hyperlock { get; init; }
        /// <summary>Boot as a VMX guest of the unconfined mini-KVM instance.</summary>
        public bool Unconfined { get; init; }
        /// <summary>Copies of the guest, each with its own instance and device model (with --hyperlock or --unconfined).</summary>
        public string? Guests { get; init; }
    }

    /// <summary>The largest kernel image read.</summary>
    public const long MaxKernelSize = 256L << 20;
    /// <summary>The largest initrd read (or less: the machine's memory).</summary>
    public const long MaxInitrdSize = 1L << 30;

    /// <summary>Exit status after SIGINT, SIGTERM and a closed stdout: 128 + the signal number, as a shell reports them.</summary>
    public const int InterruptStatus = 130, TerminateStatus = 143, ClosedOutputStatus = 141;

    /// <summary>
    /// Instructions per run slice: a signal or a closed output ends the run at the next slice
    /// end, so a slice is short enough (about 50 ms at 200 MIPS) for that to feel immediate.
    /// </summary>
    public const ulong SliceInstructions = 10_000_000;

    public static int Run(Options o, TextWriter stdout, TextWriter stderr) => Run(o, stdout, stderr, CancellationToken.None);

    /// <param name="stop">Stops the run as SIGTERM would (tests).</param>
    public static int Run(Options o, TextWriter stdout, TextWriter stderr, CancellationToken stop)
    {
        if (o.Initrd != null && o.InitrdDir != null) throw new UsageException("give --initrd or --initrd-dir, not both");
        ulong memory = o.Memory == null ? MachineConfig.DefaultMemorySize : NumberParser.Parse(o.Memory, "--memory");
        ulong limit = o.MaxInstructions == null ? ulong.MaxValue : NumberParser.Parse(o.MaxInstructions, "--max-instructions");
        byte[] kernel = CliInput.Read(o.Kernel, "kernel", MaxKernelSize);
        byte[]? initrd = null;
        if (o.Initrd != null)
        {
            initrd = CliInput.Read(o.Initrd, "initrd", (long)Math.Min(memory, MaxInitrdSize));
            if (initrd.Length == 0) throw new UsageException($"{o.Initrd}: the initrd is empty");
        }
        if (o.InitrdDir != null)
        {
            if (!Directory.Exists(o.InitrdDir)) throw new UsageException($"{o.InitrdDir}: no such directory (--initrd-dir)");
            try
            {
                initrd = CpioArchive.FromDirectory(o.InitrdDir, maxBytes: (long)Math.Min(memory, MaxInitrdSize)).ToArray();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
            {
                throw new UsageException($"{o.InitrdDir}: cannot build an initramfs from it: {InputFile.FirstLine(e.Message)}");
            }
            catch (MachineConfigException e)
            {
                throw new UsageException(e.Message);
            }
        }

        if (o.Hyperlock && o.Unconfined) throw new UsageException("give --hyperlock or --unconfined, not both");
        int guests = 1;
        if (o.Guests != null)
        {
            if (!o.Hyperlock && !o.Unconfined) throw new UsageException("--guests needs --hyperlock or --unconfined");
            ulong n = NumberParser.Parse(o.Guests, "--guests");
            if (n is < 1 or > 16) throw new UsageException($"--guests {o.Guests}: give 1 to 16 guests");
            guests = (int)n;
        }
        using var stopSource = CancellationTokenSource.CreateLinkedTokenSource(stop);
        if (o.Hyperlock || o.Unconfined)
            return HyperLockRun.Run(o, new BootImage { Kernel = kernel, KernelName = o.Kernel, CommandLine = o.Append, Initrd = initrd },
                memory, limit, guests, stdout, stderr, stopSource, OpenSerial);
        using var serial = OpenSerial(o, stopSource);
        bool live = !o.Quiet && !Console.IsErrorRedirected;
        PosixSignal? caught = null;
        void OnSignal(PosixSignalContext context)
        {
            // The first signal asks the run to stop at the next slice; a second one is not
            // cancelled, so the default action ends the process at once.
            if (caught != null) return;
            caught = context.Signal;
            context.Cancel = true;
            stopSource.Cancel();
        }
        using var onInterrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var onTerminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);

        MachineResult result;
        try
        {
            var config = new MachineConfig
            {
                Boot = new BootImage { Kernel = kernel, KernelName = o.Kernel, CommandLine = o.Append, Initrd = initrd },
                MemorySize = memory,
                InstructionLimit = limit,
                SerialOutput = serial,
                Stop = stopSource.Token,
                ProgressInterval = SliceInstructions,
                Progress = m =>
                {
                    serial?.Flush();
                    if (live) stderr.Write($"\r[hyperlock] {m.Instructions:N0} instructions ");
                },
            };
            using var machine = new X86Machine(config);
            result = machine.Run();
        }
        catch (MachineConfigException e)
        {
            throw new UsageException(e.Message);
        }
        serial?.Flush();
        if (live) stderr.Write("\r\x1b[K");

        if (serial?.Error is { } error && !serial.ReaderClosed)
            throw new UsageException($"{o.Serial ?? "stdout"}: cannot write the serial output: {error}");
        if (result.Outcome == MachineOutcome.Stopped)
        {
            (string why, int status) = caught == PosixSignal.SIGINT ? ("stopped by SIGINT", InterruptStatus)
                : serial?.ReaderClosed == true && caught == null ? ("stopped: the serial output's reader closed it", ClosedOutputStatus)
                : ("stopped by SIGTERM", TerminateStatus);
            result = result with { Description = why, ExitStatus = status };
        }
        stderr.WriteLine(result.Summary());
        return result.ExitStatus;
    }

    /// <summary>The serial output: FILE, stdout (written through its descriptor so that a closed pipe is seen), or none.</summary>
    internal static SerialSink? OpenSerial(Options o, CancellationTokenSource stop)
    {
        Stream output;
        bool lineBuffered;
        if (o.Serial != null)
        {
            try
            {
                output = new FileStream(o.Serial, FileMode.Create, FileAccess.Write, FileShare.Read, bufferSize: 0);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
                throw new UsageException($"{o.Serial}: cannot write the serial output: {InputFile.FirstLine(e.Message)}");
            }
            lineBuffered = false;
        }
        else if (o.Quiet) return null;
        else
        {
            // Console.OpenStandardOutput ignores EPIPE, so a run whose reader has gone would go on for ever.
            output = OperatingSystem.IsWindows() ? Console.OpenStandardOutput()
                : new FileStream(new SafeFileHandle(1, ownsHandle: false), FileAccess.Write, bufferSize: 0);
            lineBuffered = true;
        }
        return new SerialSink(output, lineBuffered, () => stop.Cancel());
    }
}
