using System.Globalization;
using HyperLock.Differential.Tests.Harness;

// hyperlock differential runner: the long random pass.
//   dotnet run --project tests/HyperLock.Differential.Runner -c Release -- --seed N --cases M --report FILE
// --seed N        seed for every sample (decimal or 0x hex); default: random, printed
// --cases M       random cases over all implemented forms (default 100000)
// --per-form K    sweep cases per implemented form before the random cases (default 8)
// --report FILE   write the full coverage report there (default: print the summary only)
// --forms LIST    only these Iced Code names, comma-separated; a trailing * matches a prefix (Shld*,Fprem)
// --no-minimize   report mismatches as found, without shrinking
// --trace         print every case to stderr before it runs (to find a case that kills the process)
// --replay FILE   run the cases of a --trace output (lines: Code hex state-json), printing each step
// --vendor NAME   apply the vendor policy of another CPU vendor (GenuineIntel, AuthenticAMD...) instead of the host's
// A case that faults natively is caught and its form listed as a host exclusion; the run goes on.
// Exit code: 0 when no implemented form mismatches, 1 otherwise, 2 on bad arguments.

ulong seed = (ulong)Random.Shared.NextInt64();
int cases = 100_000, perForm = 8;
string? reportPath = null;
bool minimize = true;
string[]? forms = null;
bool trace = false;
string? replay = null;
string? vendor = null;
for (int i = 0; i < args.Length; i++)
{
    string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
    try
    {
        switch (args[i])
        {
            case "--seed": seed = ParseU64(Next()); break;
            case "--cases": cases = int.Parse(Next(), CultureInfo.InvariantCulture); break;
            case "--per-form": perForm = int.Parse(Next(), CultureInfo.InvariantCulture); break;
            case "--report": reportPath = Next(); break;
            case "--no-minimize": minimize = false; break;
            case "--trace": trace = true; break;
            case "--replay": replay = Next(); break;
            case "--vendor": vendor = Next(); break;
            case "--forms": forms = Next().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries); break;
            case "-h" or "--help":
                Console.WriteLine("usage: HyperLock.Differential.Runner [--seed N] [--cases M] [--per-form K] [--report FILE] [--forms LIST] [--no-minimize] [--trace] [--replay FILE] [--vendor NAME]");
                return 0;
            default: throw new ArgumentException($"unknown argument {args[i]}");
        }
    }
    catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
    {
        Console.Error.WriteLine(e.Message);
        return 2;
    }
}

if (replay != null) return Replay(replay);

Console.WriteLine($"differential pass: seed 0x{seed:x}, {perForm} cases per form, {cases} random cases");
using var pass = new DifferentialPass();
var result = pass.Run(new PassOptions
{
    Seed = seed,
    CasesPerForm = perForm,
    RandomCases = cases,
    Minimize = minimize,
    FormFilter = forms,
    Vendor = vendor == null ? null : new VendorPolicy(vendor),
    Trace = trace ? c => { Console.Error.WriteLine($"{c.Form.Code} {c.Hex} {CoverageReport.StateJson(c.Initial)}"); Console.Error.Flush(); } : null,
    Progress = Console.WriteLine,
});
Console.WriteLine();
Console.Write(CoverageReport.Summary(result));
foreach (var (code, why) in result.HostFaults) Console.WriteLine($"host exclusion {code}: {why}");
Console.WriteLine($"elapsed: {result.Elapsed.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture)} s");
foreach (var (code, mm) in result.Mismatches)
{
    Console.WriteLine();
    Console.WriteLine($"MISMATCH {code}: {mm.Case.Text}");
    Console.Write(CoverageReport.Reproduction(mm));
}
if (reportPath != null)
{
    File.WriteAllText(reportPath, CoverageReport.Render(result));
    Console.WriteLine($"report written to {reportPath}");
}
return result.Mismatches.Count == 0 ? 0 : 1;

static int Replay(string path)
{
    using var pass = new DifferentialPass();
    int mismatches = 0;
    foreach (string line in File.ReadLines(path))
    {
        string[] parts = line.Split(' ', 3);
        if (parts.Length < 3) continue;
        var code = Enum.Parse<Iced.Intel.Code>(parts[0]);
        var (form, exclusion) = FormCatalog.Classify(code);
        if (form == null) { Console.WriteLine($"{code}: excluded ({exclusion!.Reason})"); continue; }
        byte[] bytes = Convert.FromHexString(parts[1]);
        var state = CoverageReport.ParseStateJson(parts[2]);
        state.Rip = ScratchLayout.CodeBase;
        var decoder = Iced.Intel.Decoder.Create(64, new Iced.Intel.ByteArrayCodeReader(bytes), ScratchLayout.CodeBase);
        decoder.Decode(out var ins);
        var c = new DiffCase { Form = form, Instruction = ins, Bytes = bytes, Initial = state, ChoiceSeed = 0 };
        string? gate = SafetyGate.Check(form, ins, state);
        Console.WriteLine($"{code}: {ins}  gate: {gate ?? "safe"}");
        Console.Out.Flush();
        if (gate != null) continue;
        pass.Trace = t => { Console.WriteLine("  run: " + CoverageReport.StateJson(t.Initial)); Console.Out.Flush(); };
        var mm = pass.Check(c, minimize: true);
        Console.WriteLine(mm == null ? "  agree" : "  MISMATCH\n" + CoverageReport.Reproduction(mm));
        if (mm != null) mismatches++;
    }
    return mismatches == 0 ? 0 : 1;
}

static ulong ParseU64(string s) => s.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
    ? ulong.Parse(s.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture)
    : ulong.Parse(s, CultureInfo.InvariantCulture);
