using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Processor.Execution;
using HyperLock.Emulator.Loaders;

namespace HyperLock.Emulator.Tests.Processor.X87;

/// <summary>
/// Random x87 instruction streams (every D8-DF opcode byte with random ModRM, register and
/// [rbx+disp8] forms, plus FXSAVE/FXRSTOR/XSAVE/XRSTOR) over random register contents —
/// including denormals, unnormals, NaNs and pseudo-values — and random control words with
/// unmasked exceptions: every run must end architecturally (int3, #MF, #GP, …), never with a
/// C# exception, and the stack pointer and tags must stay within their fields.
/// </summary>
public class X87RobustnessTests
{
    private static Float80 RandomValue(Random r)
    {
        ushort sign = (ushort)(r.Next(2) << 15);
        ulong m = (ulong)r.NextInt64() ^ ((ulong)r.Next() << 63);
        return r.Next(8) switch
        {
            0 => new Float80(sign, 0),
            1 => new Float80((ushort)(sign | 0x7FFF), Float80.JBit),
            2 => new Float80((ushort)(sign | 0x7FFF), m | Float80.JBit),
            3 => new Float80(sign, m >> r.Next(64)),
            4 => new Float80((ushort)(sign | r.Next(1, 0x7FFF)), m & ~Float80.JBit),
            _ => new Float80((ushort)(sign | (0x3FFF + r.Next(-80, 80))), m | Float80.JBit),
        };
    }

    [Fact]
    public void RandomStreamsEndArchitecturally()
    {
        var rng = new Random(87);
        int mf = 0, completed = 0;
        var outcomes = new Dictionary<string, int>();
        for (int run = 0; run < 400; run++)
        {
            var code = new List<byte> { 0x48, 0xBB };                  // mov rbx, scratch + 0x800
            code.AddRange(BitConverter.GetBytes(SnippetEnvironment.ScratchBase + 0x800));
            for (int k = 0; k < 16; k++)
            {
                switch (rng.Next(20))
                {
                    case 0: code.AddRange(new byte[] { 0x48, 0x0F, 0xAE, (byte)(0x43 | (rng.Next(2) << 3)), 0x00 }); break; // fxsave64/fxrstor64 [rbx]
                    case 1: code.AddRange(new byte[] { 0x0F, 0xAE, (byte)(0x63 | (rng.Next(2) << 3)), 0x00 }); break;       // xsave/xrstor [rbx]
                    case 2: code.Add(0x9B); break;                                                                        // fwait
                    default:
                        byte op = (byte)(0xD8 + rng.Next(8));
                        if (rng.Next(2) == 0) code.AddRange(new byte[] { op, (byte)(0xC0 + rng.Next(64)) });
                        else code.AddRange(new byte[] { op, (byte)(0x43 | (rng.Next(8) << 3)), (byte)(rng.Next(0, 8) * 16) });
                        break;
                }
            }
            code.Add(0xCC);
            using var env = new SnippetEnvironment(code.ToArray(), user: run % 2 == 0);
            var c = env.Cpu;
            c.Cr4 |= Bits.Cr4Osxsave;
            c.Xcr0 = 3;
            c.R(Reg.Rax) = 3;
            c.FpuControl = run % 3 == 0 ? (ushort)0x037F : (ushort)((rng.Next(0x2000) & 0x1F3F) | 0x0040);
            c.FpuTop = rng.Next(8);
            c.FpuValid = (byte)rng.Next(256);
            for (int p = 0; p < 8; p++) c.FpuRegs[p] = RandomValue(rng);
            var scratch = new byte[0x1000];
            rng.NextBytes(scratch);
            for (int k = 0; k < scratch.Length; k += 16) scratch[k + 8] &= 0x3F; // keep some images' MXCSR valid
            env.Memory.WriteBytes(SnippetEnvironment.ScratchBase + 0x800, scratch);

            var stop = c.Run(1000);
            Assert.Equal(StopKind.Exception, stop.Kind);
            Assert.Contains(stop.ToString(), new[] { "int3", "#MF", "#GP(0)", "#UD" });
            if (stop.ToString() == "#MF") mf++;
            if (stop.ToString() == "int3") completed++;
            outcomes[stop.ToString()] = outcomes.GetValueOrDefault(stop.ToString()) + 1;
            Assert.InRange(c.FpuTop, 0, 7);
            Assert.Equal(c.FpuTop, (c.FpuStatus >> 11) & 7);
            Assert.Equal(0, c.FpuControl & 0xE080);
        }
        // Both outcomes occur, so the streams really exercised unmasked exceptions and full runs.
        Assert.True(mf > 0, string.Join(", ", outcomes));
        Assert.True(completed > 0, string.Join(", ", outcomes));
    }
}
