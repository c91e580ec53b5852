using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Tests.Processor.Sse;

public class SseCoverageTests
{
    /// <summary>
    /// Every legacy-encoded form of the SSE..SSE4.2 and MMX feature sets (and CLFLUSH) has a
    /// handler, except those that belong to other families (FISTTP: x87; CRC32: integer;
    /// PREFETCHh: integer NOP group).
    /// </summary>
    [Fact]
    public void EveryLegacySseAndMmxFormIsImplemented()
    {
        var features = new[]
        {
            CpuidFeature.SSE, CpuidFeature.SSE2, CpuidFeature.SSE3, CpuidFeature.SSSE3, CpuidFeature.SSE4_1,
            CpuidFeature.SSE4_2, CpuidFeature.MMX, CpuidFeature.CLFSH,
        };
        var missing = new List<Code>();
        int total = 0;
        foreach (var c in Enum.GetValues<Code>())
        {
            if (c == Code.INVALID || c.ToOpCode().Encoding != EncodingKind.Legacy) continue;
            if (!c.CpuidFeatures().Any(f => features.Contains(f))) continue;
            if (c.Mnemonic() is Mnemonic.Fisttp or Mnemonic.Crc32 or Mnemonic.Prefetchnta or Mnemonic.Prefetcht0
                or Mnemonic.Prefetcht1 or Mnemonic.Prefetcht2) continue;
            total++;
            if (!OpTable.IsImplemented(c)) missing.Add(c);
        }
        Assert.True(total > 400, $"only {total} forms selected");
        Assert.Empty(missing);
    }
}
