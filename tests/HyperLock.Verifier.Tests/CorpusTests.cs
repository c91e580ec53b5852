using HyperLock.Verifier.Decoding;
using Xunit;

namespace HyperLock.Verifier.Tests;

/// <summary>The adversarial corpus: every case's exact findings, with the fast decoder and with Iced alone.</summary>
public class CorpusTests
{
    public static TheoryData<string> Cases()
    {
        var d = new TheoryData<string>();
        foreach (var f in Directory.GetFiles(CorpusCase.Directory, "*.txt").OrderBy(f => f, StringComparer.Ordinal))
            d.Add(Path.GetFileNameWithoutExtension(f));
        return d;
    }

    private static CorpusCase Get(string name) => CorpusCase.Load(Path.Combine(CorpusCase.Directory, name + ".txt"));

    [Theory]
    [MemberData(nameof(Cases))]
    public void CaseHasExactlyTheExpectedFindings(string name)
    {
        var c = Get(name);
        var result = ImageVerifier.Verify(c.Bytes, c.Options);
        var actual = result.Findings.Select(f => ((int)f.Rule, (long)f.Offset)).OrderBy(x => x).ToArray();
        var expected = c.Expected.OrderBy(x => x).ToArray();
        Assert.True(expected.SequenceEqual(actual),
            $"{c.Name} ({c.Description})\nexpected: {string.Join(", ", expected.Select(e => $"rule {e.Item1} at 0x{e.Item2:x}"))}\n" + result.ToText(c.Name));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void FastAndReferenceDecodersAgree(string name)
    {
        var c = Get(name);
        var fast = ImageVerifier.Verify(c.Bytes, c.Options);
        var reference = ImageVerifier.VerifyReference(c.Bytes, c.Options);
        Assert.Equal(reference.ToText(), fast.ToText());
        // And instruction by instruction, at every offset the fast path accepts.
        var padded = c.Bytes.Concat(new byte[32]).ToArray();
        for (int off = 0; off < c.Bytes.Length; off++)
        {
            var mismatch = DecoderCrossCheckTests.Compare(padded, off);
            Assert.True(mismatch is null, mismatch);
        }
    }

    [Fact]
    public void CorpusIsLargeAndCoversEveryRule()
    {
        var all = CorpusCase.All().ToList();
        Assert.True(all.Count >= 80, $"only {all.Count} cases");
        for (int rule = 1; rule <= 8; rule++)
            Assert.Contains(all, c => c.Expected.Any(e => e.Rule == rule));
        Assert.True(all.Count(c => c.Expected.Length == 0) >= 20, "too few accepting cases");
    }
}
