using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Processor.Execution;
using HyperLock.Emulator.Loaders;

namespace HyperLock.Emulator.Tests.Processor.Integer;

/// <summary>Random code and register state must only ever produce architectural outcomes (no C# exception).</summary>
public class IntegerRobustnessTests
{
    [Theory]
    [InlineData(1, true)]
    [InlineData(2, false)]
    [InlineData(3, true)]
    public void RandomBytesWithRandomRegistersNeverThrow(int seed, bool user)
    {
        var rng = new Random(seed);
        var code = new byte[64];
        for (int round = 0; round < 300; round++)
        {
            rng.NextBytes(code);
            using var env = new SnippetEnvironment(code, user);
            var c = env.Cpu;
            for (int r = 0; r < 16; r++)
            {
                if (r == Reg.Rsp) continue;
                // Mostly pointers into scratch (so memory forms execute), sometimes wild values.
                c.R(r) = rng.Next(4) == 0 ? (ulong)rng.NextInt64() ^ ((ulong)rng.Next() << 63)
                    : SnippetEnvironment.ScratchBase + (ulong)rng.Next(1 << 20);
            }
            c.SetRflags(0x202 | ((ulong)rng.Next() & 0xCD5));
            var stop = c.Run(500);
            Assert.NotEqual(StopKind.None, stop.Kind);
        }
    }
}
