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

var parse = root.Parse(args);
if (parse.Errors.Count > 0 && parse.Action is not System.CommandLine.Help.HelpAction)
{
    Console.Error.WriteLine($"hyperlock: {parse.Errors[0].Message} (see 'hyperlock --help')");
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
