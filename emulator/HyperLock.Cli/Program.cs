using System.CommandLine;
using HyperLock.Cli;
using HyperLock.Cli.Commands;

// hyperlock: the testbed's command-line tool. Each subcommand lives in Commands/; user mistakes
// become one-line errors with exit status 2, never stack traces.
var root = new RootCommand("HyperLock testbed: a software x86-64 machine with VMX for confining hypervisors");

var execCode = new Argument<string>("CODE.bin") { Description = "Raw x86-64 code, loaded at 0x400000" };
var execState = new Option<string?>("--state") { Description = "JSON file with initial registers and scratch bytes" };
var execMax = new Option<string?>("--max-steps") { Description = "Instruction limit (default 10,000,000)" };
var exec = new Command("exec", "Run a code snippet in a flat 64-bit CPL3 environment and print the final state as JSON")
{
    execCode, execState, execMax,
};
exec.SetAction(pr => Cli.Guard(() => ExecCommand.Run(pr.GetValue(execCode)!, pr.GetValue(execState), pr.GetValue(execMax), Console.Out)));
root.Subcommands.Add(exec);

var verifyFile = new Argument<string>("FILE") { Description = "Code image to check against the restricted-instruction rules" };
var verifyJson = new Option<bool>("--json") { Description = "Print the findings as JSON" };
var verifyGate = new Option<string?>("--gate") { Description = "Runtime gate vector (default 0x82)" };
var verifyEntry = new Option<string[]>("--entry") { Description = "Declared entry offset (repeatable)", AllowMultipleArgumentsPerToken = false };
var verify = new Command("verify", "Check a code image against the verifier's rules; exit 0 accepted, 1 rejected, 2 unusable input")
{
    verifyFile, verifyJson, verifyGate, verifyEntry,
};
verify.SetAction(pr =>
{
    // The verifier library owns the command's behaviour; this only forwards the parsed arguments.
    var forwarded = new List<string> { pr.GetValue(verifyFile)! };
    if (pr.GetValue(verifyJson)) forwarded.Add("--json");
    if (pr.GetValue(verifyGate) is { } gate) forwarded.AddRange(["--gate", gate]);
    foreach (var e in pr.GetValue(verifyEntry) ?? []) forwarded.AddRange(["--entry", e]);
    return HyperLock.Verifier.Cli.VerifyCommand.Run([.. forwarded], Console.Out, Console.Error);
});
root.Subcommands.Add(verify);

var runKernel = new Option<string?>("--kernel") { Description = "Kernel to boot: bzImage, multiboot, ELF64 or flat binary (required unless --stock-kvm)" };
var runInitrd = new Option<string?>("--initrd") { Description = "Initial ramdisk file" };
var runInitrdDir = new Option<string?>("--initrd-dir") { Description = "Directory packed into a newc initramfs" };
var runAppend = new Option<string?>("--append") { Description = "Kernel command line" };
var runMemory = new Option<string?>("--memory") { Description = "RAM size (default 512M)" };
var runMax = new Option<string?>("--max-instructions") { Description = "Stop with status 124 after N instructions" };
var runSerial = new Option<string?>("--serial") { Description = "Write the guest's serial output to FILE instead of stdout" };
var runQuiet = new Option<bool>("--quiet") { Description = "No serial output on stdout, no progress line" };
var runStockKvm = new Option<string?>("--stock-kvm")
{
    Description = "Stock KVM baseline: Debian's kernel loads kvm_intel and QEMU boots a KVM guest (DIR from scripts/build-stock-kvm-initrd.sh; default .cache/stock-kvm, built when missing)",
    Arity = ArgumentArity.ZeroOrOne,
};
var runHyperlock = new Option<bool>("--hyperlock") { Description = "Boot as a VMX guest of a confined mini-KVM instance" };
var runUnconfined = new Option<bool>("--unconfined") { Description = "Boot as a VMX guest of the unconfined mini-KVM (the baseline)" };
var runGuests = new Option<string?>("--guests") { Description = "Run N copies, each with its own instance and device model (with --hyperlock or --unconfined); --serial then names a directory" };
var run = new Command("run", "Boot a kernel on the bare machine, or as a guest of the mini-KVM (--hyperlock, --unconfined); serial output to stdout, a summary line to stderr")
{
    runKernel, runInitrd, runInitrdDir, runAppend, runMemory, runMax, runSerial, runQuiet, runStockKvm, runHyperlock, runUnconfined, runGuests,
};
run.SetAction(pr => Cli.Guard(() =>
{
    RunCommand.Options options;
    if (pr.GetResult(runStockKvm) != null)
    {
        if (pr.GetResult(runKernel) != null || pr.GetResult(runInitrd) != null || pr.GetResult(runInitrdDir) != null || pr.GetResult(runAppend) != null)
            throw new UsageException("--stock-kvm brings its own kernel, initramfs and command line: give none of --kernel, --initrd, --initrd-dir, --append");
        if (pr.GetValue(runHyperlock) || pr.GetValue(runUnconfined) || pr.GetResult(runGuests) != null)
            throw new UsageException("--stock-kvm runs on the bare machine: it does not combine with --hyperlock, --unconfined or --guests");
        options = StockKvmBuild.Options(pr.GetValue(runStockKvm), pr.GetValue(runMemory), pr.GetValue(runMax),
            pr.GetValue(runSerial), pr.GetValue(runQuiet), Console.Error);
    }
    else
    {
        options = new RunCommand.Options(
            pr.GetValue(runKernel) ?? throw new UsageException("run: --kernel is required (or --stock-kvm)"),
            pr.GetValue(runInitrd), pr.GetValue(runInitrdDir), pr.GetValue(runAppend) ?? "",
            pr.GetValue(runMemory), pr.GetValue(runMax), pr.GetValue(runSerial), pr.GetValue(runQuiet))
        { Hyperlock = pr.GetValue(runHyperlock), Unconfined = pr.GetValue(runUnconfined), Guests = pr.GetValue(runGuests) };
    }
    return RunCommand.Run(options, Console.Out, Console.Error);
}));
root.Subcommands.Add(run);

var tcbRoot = new Option<string?>("--root") { Description = "Source tree to count (default: found from the current directory)" };
var tcb = new Command("tcb", "Lines of code of HyperLock's trusted and untrusted parts, beside the paper's figures") { tcbRoot };
tcb.SetAction(pr => Cli.Guard(() => TcbCommand.Run(pr.GetValue(tcbRoot), Console.Out)));
root.Subcommands.Add(tcb);

var demoUnconfined = new Option<bool>("--unconfined") { Description = "Run the same mini-KVM image unconfined (the stock-KVM baseline)" };
var demoJson = new Option<bool>("--json") { Description = "Print the result as JSON (no streamed output)" };
var demoHypervisor = new Option<string?>("--hypervisor") { Description = "Run this hypervisor image (raw bundled code; manifest in IMAGE.manifest) instead of the mini-KVM" };
var demoManifest = new Option<string?>("--manifest") { Description = "The image's manifest (default IMAGE.manifest)" };
var demo = new Command("demo", "Two bare-metal guests, each under its own confined instance of the mini-KVM; their output, then a table per guest")
{
    demoUnconfined, demoJson, demoHypervisor, demoManifest,
};
demo.SetAction(pr => Cli.Guard(() => DemoCommand.Run(pr.GetValue(demoUnconfined), pr.GetValue(demoJson), Console.Out, Console.Error,
    pr.GetValue(demoHypervisor), pr.GetValue(demoManifest))));
root.Subcommands.Add(demo);

var buildHvOut = new Argument<string>("IMAGE") { Description = "Where to write the image (its manifest goes to IMAGE.manifest)" };
var buildHv = new Command("build-hypervisor", "Write the mini-KVM as a hypervisor image file and manifest (the format 'demo --hypervisor' reads)") { buildHvOut };
buildHv.SetAction(pr => Cli.Guard(() => BuildHypervisorCommand.Run(pr.GetValue(buildHvOut)!, Console.Out)));
root.Subcommands.Add(buildHv);

var attackCases = new Argument<string[]>("CASE") { Description = "Case files (.attack) or folders of them; none = the built-in suite", Arity = ArgumentArity.ZeroOrMore };
var attackVerbose = new Option<bool>("--verbose") { Description = "One line per run (target, what stopped it, the report)" };
var attackNoMonitor = new Option<bool>("--no-monitor") { Description = "Do not attach the reference monitor (faster; the hashes and the other guest are still checked)" };
var attack = new Command("attack", "Run attacks on the confinement and print what stopped each; exit 1 if any was not stopped as expected")
{
    attackCases, attackVerbose, attackNoMonitor,
};
attack.SetAction(pr => Cli.Guard(() => AttackCommand.Run(pr.GetValue(attackCases) ?? [], pr.GetValue(attackVerbose), Console.Out, Console.Error,
    pr.GetValue(attackNoMonitor) ? () => new HyperLock.Attacks.AttackRunner { Monitor = false } : null)));
root.Subcommands.Add(attack);

var parse = root.Parse(args);
if (parse.Errors.Count > 0 && parse.Action is not System.CommandLine.Help.HelpAction)
{
    // An unknown word says more than the "required command" complaint it also causes.
    var error = parse.Errors.FirstOrDefault(e => e.Message.StartsWith("Unrecognized", StringComparison.Ordinal)) ?? parse.Errors[0];
    Console.Error.WriteLine($"hyperlock: {error.Message} (see 'hyperlock --help')");
    return 2;
}
return parse.Invoke();

namespace HyperLock.Cli
{
    internal static class Cli
    {
        /// <summary>Runs a command body, turning usage errors into a one-line message and status 2.</summary>
        public static int Guard(Func<int> body)
        {
            try
            {
                return body();
            }
            catch (UsageException e)
            {
                Console.Error.WriteLine($"hyperlock: {e.Message}");
                return 2;
            }
        }
    }
}
