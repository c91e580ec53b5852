using System.Globalization;
using System.Runtime.InteropServices;
using HyperLock.Demo;
using HyperLock.Emulator.Loaders;
using HyperLock.Emulator.Machine;
using HyperLock.Emulator.Vmx;
using HyperLock.Verifier.Cli;

namespace HyperLock.Cli.Commands;

/// <summary>
/// <c>hyperlock run --hyperlock | --unconfined [--guests N]</c>: the kernel boots as a VMX guest of
/// the mini-KVM (<see cref="LinuxRunner"/>). One guest: its console as in a bare run. Several: each
/// console line prefixed with the guest's name, or one file per guest with <c>--serial DIR</c>
/// (DIR/guestK.log). Stderr gets one line per guest (outcome, VM exits by reason, confined↔host
/// transitions) and the summary line of a bare run; the exit status is the guest's, as bare.
/// </summary>
internal static class HyperLockRun
{
    public static int Run(RunCommand.Options o, BootImage boot, ulong memory, ulong limit, int guests, TextWriter stdout, TextWriter stderr,
        CancellationTokenSource stopSource, Func<RunCommand.Options, CancellationTokenSource, SerialSink?> openSerial)
    {
        var sinks = new List<Stream>();
        SerialSink? shared = null;
        var prefixed = new List<PrefixedLineStream>();
        Func<int, Stream?> serialFor;
        if (guests == 1)
        {
            shared = openSerial(o, stopSource);
            serialFor = _ => shared;
        }
        else if (o.Serial != null)
        {
            if (!Directory.Exists(o.Serial)) throw new UsageException($"{o.Serial}: no such directory (--serial with --guests names a directory)");
            serialFor = k =>
            {
                string path = Path.Combine(o.Serial, LinuxRunner.GuestName(k) + ".log");
                try
                {
                    var f = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read);
                    sinks.Add(f);
                    return f;
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new UsageException($"{path}: cannot write the serial output: {InputFile.FirstLine(e.Message)}");
                }
            };
        }
        else
        {
            shared = openSerial(o with { Serial = null }, stopSource);
            serialFor = k =>
            {
                if (shared == null) return null;
                var p = new PrefixedLineStream(shared, LinuxRunner.GuestName(k) + ": ");
                prefixed.Add(p);
                return p;
            };
        }

        bool live = !o.Quiet && !Console.IsErrorRedirected;
        PosixSignal? caught = null;
        void OnSignal(PosixSignalContext context)
        {
            if (caught != null) return;
            caught = context.Signal;
            context.Cancel = true;
            stopSource.Cancel();
        }
        using var onInterrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var onTerminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);

        LinuxRunner.RunResult result;
        try
        {
            result = LinuxRunner.Run(new LinuxRunner.Options(boot, memory, guests, o.Hyperlock, serialFor)
            {
                InstructionLimit = limit,
                SliceInstructions = RunCommand.SliceInstructions,
                Stop = stopSource.Token,
                Progress = n =>
                {
                    shared?.Flush();
                    if (live) stderr.Write($"\r[hyperlock] {n:N0} instructions ");
                },
            });
        }
        catch (MachineConfigException e)
        {
            throw new UsageException(e.Message);
        }
        finally
        {
            foreach (var p in prefixed) p.Finish();
            foreach (var s in sinks) s.Dispose();
            shared?.Flush();
        }
        if (live) stderr.Write("\r\x1b[K");
        if (shared?.Error is { } error && !shared.ReaderClosed)
            throw new UsageException($"{o.Serial ?? "stdout"}: cannot write the serial output: {error}");

        string mode = o.Hyperlock ? "confined" : "unconfined";
        foreach (var g in result.Guests) stderr.WriteLine(GuestLine(g, mode));
        var machine = result.Machine;
        if (machine.Outcome == MachineOutcome.Stopped)
        {
            (string why, int status) = caught == PosixSignal.SIGINT ? ("stopped by SIGINT", RunCommand.InterruptStatus)
                : shared?.ReaderClosed == true && caught == null ? ("stopped: the serial output's reader closed it", RunCommand.ClosedOutputStatus)
                : ("stopped by SIGTERM", RunCommand.TerminateStatus);
            machine = machine with { Description = why, ExitStatus = status };
        }
        stderr.WriteLine(machine.Summary());
        return machine.ExitStatus;
    }

    /// <summary><c>[guest1, confined] outcome; N VM exits (io 123, msr-write 45, …); T confined↔host transitions</c>.</summary>
    public static string GuestLine(LinuxRunner.GuestOutcome g, string mode)
    {
        var inst = g.Instance;
        var parts = new List<string>();
        for (int r = 0; r < inst.ExitsByReason.Length; r++)
            if (inst.ExitsByReason[r] > 0) parts.Add(string.Create(CultureInfo.InvariantCulture, $"{ExitReasonName(r)} {inst.ExitsByReason[r]:N0}"));
        return string.Create(CultureInfo.InvariantCulture,
            $"[{g.Name}, {mode}] {g.Description}; {inst.Exits:N0} VM exits ({string.Join(", ", parts)}); {inst.Transitions:N0} {(inst.Confined ? "confined<->host" : "hypervisor<->host")} transitions");
    }

    public static string ExitReasonName(int reason) => reason switch
    {
        ExitReason.ExternalInterrupt => "external-interrupt",
        ExitReason.InterruptWindow => "interrupt-window",
        ExitReason.Cpuid => "cpuid",
        ExitReason.Hlt => "hlt",
        ExitReason.Vmcall => "vmcall",
        ExitReason.CrAccess => "cr-access",
        ExitReason.Io => "io",
        ExitReason.Rdmsr => "msr-read",
        ExitReason.Wrmsr => "msr-write",
        ExitReason.EptViolation => "ept-violation",
        ExitReason.PreemptionTimer => "preemption-timer",
        ExitReason.Xsetbv => "xsetbv",
        _ => $"reason-{reason}",
    };
}
