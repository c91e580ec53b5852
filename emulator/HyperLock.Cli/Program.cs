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

var runKernel = new Option<string>("--kernel") { Description = "Kernel to boot: bzImage, multiboot, ELF64 or flat binary", Required = true };
var runInitrd = new Option<string?>("--initrd") { Description = "Initial ramdisk file" };
var runInitrdDir = new Option<string?>("--initrd-dir") { Description = "Directory packed into a newc initramfs" };
var runAppend = new Option<string?>("--append") { Description = "Kernel command line" };
var runMemory = new Option<string?>("--memory") { Description = "RAM size (default 512M)" };
var runMax = new Option<string?>("--max-instructions") { Description = "Stop with status 124 after N instructions" };
var runSerial = new Option<string?>("--serial") { Description = "Write the guest's serial output to FILE instead of stdout" };
var runQuiet = new Option<bool>("--quiet") { Description = "No serial output on stdout, no progress line" };
var runHyperlock = new Option<bool>("--hyperlock") { Description = "Boot as a VMX guest of a confined mini-KVM instance" };
var runUnconfined = new Option<bool>("--unconfined") { Description = "Boot as a VMX guest of the unconfined mini-KVM (the baseline)" };
var runGuests = new Option<string?>("--guests") { Description = "Run N copies, each with its own instance and device model (with --hyperlock or --unconfined); --serial then names a directory" };
var run = new Command("run", "Boot a kernel on the bare machine, or as a guest of the mini-KVM (--hyperlock, --unconfined); serial output to stdout, a summary line to stderr")
{
    runKernel, runInitrd, runInitrdDir, runAppend, runMemory, runMax, runSerial, runQuiet, runHyperlock, runUnconfined, runGuests,
};
run.SetAction(pr => Cli.Guard(() => RunCommand.Run(new RunCommand.Options(
    pr.GetValue(runKernel)!, pr.GetValue(runInitrd), pr.GetValue(runInitrdDir), pr.GetValue(runAppend) ?? "",
    pr.GetValue(runMemory), pr.GetValue(runMax), pr.GetValue(runSerial), pr.GetValue(runQuiet))
    { Hyperlock = pr.GetValue(runHyperlock), Unconfined = pr.GetValue(runUnconfined), Guests = pr.GetValue(runGuests) }, Console.Out, Console.Error)));
root.Subcommands.Add(run);

var tcbRoot = new Option<string?>("--root") { Description = "Source tree to count (default: found from the current directory)" };
var tcb = new Command("tcb", "Lines of code of HyperLock's trusted and untrusted parts, beside the paper's figures") { tcbRoot };
tcb.SetAction(pr => Cli.Guard(() => TcbCommand.Run(pr.GetValue(tcbRoot), Console.Out)));
root.Subcommands.Add(tcb);

var demoUnconfined = new Option<bool>("--unconfined") { Description = "Run the same mini-KVM image unconfined (the stock-KVM baseline)" };
var demoJson = new Option<bool>("--json") { Description = "Print the result as JSON (no streamed output)" };
var demo = new Command("demo", "Two bare-metal guests, each under its own confined instance of the mini-KVM; their output, then a table per guest")
{
    demoUnconfined, demoJson,
};
demo.SetAction(pr => Cli.Guard(() => DemoCommand.Run(pr.GetValue(demoUnconfined), pr.GetValue(demoJson), Console.Out, Console.Error)));
root.Subcommands.Add(demo);

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
