using HyperLock.Cli.Commands;
using Snapshooter.Xunit;

namespace HyperLock.Runtime.Tests;

/// <summary><c>hyperlock tcb</c>: the classification covers every project folder; the counting and the report.</summary>
public sealed class TcbTests : IDisposable
{
    private readonly string _tree = Path.Combine(Path.GetTempPath(), "hyperlock-tcb-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_tree)) Directory.Delete(_tree, recursive: true);
    }

    [Fact]
    public void EveryProjectFolderOfThisRepositoryIsClassified()
    {
        string root = TcbCommand.FindRoot(null) ?? throw new InvalidOperationException("source tree not found");
        Assert.Empty(TcbCommand.Unclassified(root, TcbCommand.LoadClassification(root)));
    }

    private void Write(string relative, string text)
    {
        string path = Path.Combine(_tree, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
    }

    private void Fixture()
    {
        Write(TcbCommand.ClassificationFile, """
            { "folders": [
              { "path": "a/Trusted", "class": "trusted", "role": "the runtime" },
              { "path": "b/Untrusted", "class": "untrusted", "role": "a hypervisor" },
              { "path": "c/Tests", "class": "test", "role": "tests" } ] }
            """);
        Write("a/Trusted/Trusted.csproj", "<Project />");
        // 4 lines of code: blank lines, // comments, /* */ blocks, bin/ and obj/ do not count.
        Write("a/Trusted/One.cs", "// header\n\nclass A\n{\n    /* a\n       block */\n    int x; // trailing\n}\n");
        Write("a/Trusted/bin/Gen.cs", "class Ignored { }\n");
        Write("b/Untrusted/Untrusted.csproj", "<Project />");
        Write("b/Untrusted/Two.cs", "class B { }\n/* one-line */\nclass C { }\n");
        Write("c/Tests/Tests.csproj", "<Project />");
        Write("c/Tests/T.cs", "class T { }\n");
    }

    [Fact]
    public void LinesAreCountedWithoutBlanksCommentsOrBuildOutput()
    {
        Fixture();
        Assert.Equal(4, TcbCommand.CountLines(Path.Combine(_tree, "a/Trusted")));
        Assert.Equal(2, TcbCommand.CountLines(Path.Combine(_tree, "b/Untrusted")));
    }

    [Fact]
    public void AnUnclassifiedProjectFolderIsNamed()
    {
        Fixture();
        Write("d/New/New.csproj", "<Project />");
        Assert.Equal(["d/New"], TcbCommand.Unclassified(_tree, TcbCommand.LoadClassification(_tree)));
        Assert.Contains("unclassified project folders: d/New", TcbCommand.Report(_tree));
    }

    [Fact]
    public void TheReportReadsLikeThis()
    {
        Fixture();
        Snapshot.Match(TcbCommand.Report(_tree));
    }
}
