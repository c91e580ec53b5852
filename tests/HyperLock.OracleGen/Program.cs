using HyperLock.OracleGen;

// Regenerates the host-oracle tables of tests/HyperLock.Emulator.Tests (the *.g.cs files; never
// edit those by hand):
//   dotnet run --project tests/HyperLock.OracleGen -c Release [-- OUTPUT_DIR]
// OUTPUT_DIR defaults to tests/HyperLock.Emulator.Tests/Processor/Sse of the repository. Needs x86-64
// Linux with SSE4.1 and SSSE3. Exit code 0 on success, 2 when the host cannot run the
// instructions. Rows whose expected value is vendor-specific are not taken from the host (see
// ScalarSseTable); the summary says how many there were and whether the host agreed.

string dir = args.Length > 0 ? args[0] : Path.Combine(Repo.Root(), "tests", "HyperLock.Emulator.Tests", "Cpu", "Sse");
if (!Directory.Exists(dir))
{
    Console.Error.WriteLine($"oraclegen: no directory {dir}");
    return 2;
}
var native = HyperLock.Differential.Tests.Harness.Native.NativeExecutor.TryGet(out string failure);
if (native == null)
{
    Console.Error.WriteLine($"oraclegen: native execution is unavailable: {failure}");
    return 2;
}
string vendor = HyperLock.Differential.Tests.Harness.HostVendor.Current.Value;

var sse = ScalarSseTable.Generate(native);
File.WriteAllText(Path.Combine(dir, "SseHostOracleTests.Table.g.cs"), GeneratedFile.Render("SseHostOracleTests", vendor, sse.Rows, sse.Notes));
Console.WriteLine($"SseHostOracleTests.Table.g.cs: {sse.Rows.Count} rows; {sse.Notes}");

var mmx = MmxTable.Generate(native);
File.WriteAllText(Path.Combine(dir, "SseMmxHostOracleTests.Table.g.cs"), GeneratedFile.Render("SseMmxHostOracleTests", vendor, mmx, "every row is vendor-independent integer arithmetic"));
Console.WriteLine($"SseMmxHostOracleTests.Table.g.cs: {mmx.Count} rows");
return 0;
