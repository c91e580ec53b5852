using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Loaders;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.Emulator.Tests.Processor.X87;

/// <summary>
/// Runs one x87 transcendental over many operands in a single guest loop: per case, FNINIT,
/// FLDCW, load y then x (so x = ST(0), y = ST(1)), the instruction, FNSTSW, then stores ST(0)
/// and ST(1). Names: sin, cos, tan (FPTAN), sincos, f2xm1, yl2x, yl2xp1, patan.
/// </summary>
internal static class TranscendentalRunner
{
    public readonly record struct Case(ushort Cw, Float80 X, Float80 Y);

    public readonly record struct Outcome(Float80 R0, Float80 R1, ushort Sw);

    // Per-case record in scratch: 0 control word, 8 status word (out), 16 x, 32 y, 48 ST(0) out, 64 ST(1) out.
    private const int Stride = 80;

    public static Outcome[] Run(string op, IReadOnlyList<Case> cases)
    {
        var results = new Outcome[cases.Count];
        const int batch = 10_000;
        for (int start = 0; start < cases.Count; start += batch)
        {
            int n = Math.Min(batch, cases.Count - start);
            var code = SnippetRunner.Assemble(a =>
            {
                var loop = a.CreateLabel();
                a.mov(rbx, (long)SnippetEnvironment.ScratchBase);
                a.mov(ecx, n);
                a.Label(ref loop);
                a.fninit();
                a.fldcw(__word_ptr[rbx]);
                a.fld(__tword_ptr[rbx + 32]);
                a.fld(__tword_ptr[rbx + 16]);
                switch (op)
                {
                    case "sin": a.fsin(); break;
                    case "cos": a.fcos(); break;
                    case "tan": a.fptan(); break;
                    case "sincos": a.fsincos(); break;
                    case "f2xm1": a.f2xm1(); break;
                    case "yl2x": a.fyl2x(); break;
                    case "yl2xp1": a.fyl2xp1(); break;
                    case "patan": a.fpatan(); break;
                    default: throw new ArgumentException(op, nameof(op));
                }
                a.fnstsw(__word_ptr[rbx + 8]);
                a.fstp(__tword_ptr[rbx + 48]);
                a.fstp(__tword_ptr[rbx + 64]);
                a.add(rbx, Stride);
                a.dec(ecx);
                a.jnz(loop);
                a.int3();
            });
            using var env = new SnippetEnvironment(code, user: true, scratchSize: (ulong)(n * Stride + 4096));
            var buf = new byte[n * Stride];
            for (int k = 0; k < n; k++)
            {
                var c = cases[start + k];
                var s = buf.AsSpan(k * Stride);
                BitConverter.TryWriteBytes(s, c.Cw);
                Put(s[16..], c.X);
                Put(s[32..], c.Y);
            }
            env.WriteScratch(0, buf);
            var stop = env.Cpu.Run((ulong)n * 20 + 100);
            Assert.Equal("int3", stop.ToString());
            var outBuf = env.ReadScratch();
            for (int k = 0; k < n; k++)
            {
                var s = outBuf.AsSpan(k * Stride);
                results[start + k] = new Outcome(Get(s[48..]), Get(s[64..]), BitConverter.ToUInt16(s[8..]));
            }
        }
        return results;
    }

    private static void Put(Span<byte> s, Float80 v)
    {
        BitConverter.TryWriteBytes(s, v.Mantissa);
        BitConverter.TryWriteBytes(s[8..], v.SignExp);
    }

    private static Float80 Get(ReadOnlySpan<byte> s) => new(BitConverter.ToUInt16(s[8..]), BitConverter.ToUInt64(s));

    /// <summary>
    /// Distance in units in the last place between two finite register values of the same sign
    /// (the step between consecutive representable values, denormals included); long.MaxValue
    /// when one is not finite or the signs differ.
    /// </summary>
    public static long UlpDistance(Float80 a, Float80 b)
    {
        if (a == b) return 0;
        if (a.Exponent == 0x7FFF || b.Exponent == 0x7FFF) return long.MaxValue;
        if (a.Sign != b.Sign && !(a.IsZero && b.IsZero)) return long.MaxValue;
        Int128 d = Int128.Abs(Ordinal(a) - Ordinal(b));
        return d > long.MaxValue ? long.MaxValue : (long)d;
    }

    /// <summary>Position of a magnitude on the line of representable values: denormals share exponent 1's ulp.</summary>
    private static Int128 Ordinal(Float80 v) => v.Exponent == 0 ? v.Mantissa : ((Int128)(v.Exponent - 1) << 63) + v.Mantissa;
}
