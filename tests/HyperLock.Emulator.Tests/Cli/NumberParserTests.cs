using HyperLock.Cli;

namespace HyperLock.Emulator.Tests.Cli;

public class NumberParserTests
{
    [Theory]
    [InlineData("0", 0UL)]
    [InlineData("1234", 1234UL)]
    [InlineData("0x10", 16UL)]
    [InlineData("0xfF", 255UL)]
    [InlineData("4K", 4096UL)]
    [InlineData("512M", 512UL << 20)]
    [InlineData("2G", 2UL << 30)]
    [InlineData("0x10K", 16UL << 10)]
    [InlineData("1_000_000", 1000000UL)]
    public void Parses(string text, ulong expected)
    {
        Assert.True(NumberParser.TryParse(text, out ulong v));
        Assert.Equal(expected, v);
    }

    [Theory]
    [InlineData("")]
    [InlineData("-1")]
    [InlineData("12Q")]
    [InlineData("0x")]
    [InlineData("99999999999999999999")]
    [InlineData("17179869184G")]
    public void Rejects(string text) => Assert.False(NumberParser.TryParse(text, out _));
}
