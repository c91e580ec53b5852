using HyperLock.Verifier.Decoding;
using Xunit;

namespace HyperLock.Verifier.Tests;

/// <summary>
/// The pre-pass automaton (<see cref="FastDecoderDfa"/>) must accept only instructions that
/// Iced decodes with the same length and a compatible kind (the branch targets included), and
/// only forms the turbo or general fast decoders accept with the same length; and it must accept
/// everything the turbo decoder accepts (so that it does not silently send common code to the
/// slow path).
/// </summary>
public class DfaCrossCheckTests
{
    /// <summary>Run the automaton from an instruction start: (length, end state) or (0, Fail).</summary>
    internal static unsafe (int Length, byte End) Run(byte[] buf, int offset = 0)
    {
        uint s = 0;
        for (int k = 0; k < 16 && offset + k < buf.Length; k++)
        {
            s = FastDecoderDfa.Table[((uint)buf[offset + k] << 8) | s];
            if (s < FastDecoderDfa.Boundaries) return (k + 1, (byte)s);
            if (s == FastDecoderDfa.Fail) return (0, FastDecoderDfa.Fail);
        }
        return (0, FastDecoderDfa.Fail);
    }

    internal static unsafe string? Compare(byte[] buf, ref int accepted)
    {
        if (buf.Length < FastDecoder.Lookahead) return null;
        var (len, end) = Run(buf);
        fixed (byte* p = buf)
        {
            int turbo = FastDecoder.TurboLength(p);
            if (turbo == 0)
            {
                turbo = FastDecoder.TurboBranch(p, 0, out _, out _);
            }
            if (turbo != 0 && turbo != len)
                return $"{Hex(buf)}: turbo length {turbo}, automaton {len}";
            if (len == 0) return null;
            accepted++;
            var general = default(DecodedInstruction);
            bool generalOk = FastDecoder.TryDecodeGeneral(p, 0, ref general);
            if (turbo == 0 && !(generalOk && general.Length == len))
                return $"{Hex(buf)}: automaton accepts {len} bytes, fast decoders do not ({(generalOk ? general.ToString() : "general declines")})";
            var iced = new IcedDecoder();
            iced.Reset(p, buf.Length);
            var slow = default(DecodedInstruction);
            iced.Decode(0, ref slow);
            if (slow.Length != len) return $"{Hex(buf)}: automaton length {len}, iced {slow}";
            bool kindOk = end switch
            {
                FastDecoderDfa.EndPlain => slow.Kind is InstructionKind.Plain or InstructionKind.AndMask or InstructionKind.AndMaskNarrow or InstructionKind.MovR32Imm,
                FastDecoderDfa.EndRel8 => slow.Kind is InstructionKind.JmpRel or InstructionKind.JccRel && slow.Value == len + (sbyte)buf[len - 1],
                FastDecoderDfa.EndRel32 => slow.Kind is InstructionKind.JmpRel or InstructionKind.JccRel && slow.Value == len + BitConverter.ToInt32(buf, len - 4),
                FastDecoderDfa.EndCall32 => slow.Kind == InstructionKind.CallRel && slow.Value == len + BitConverter.ToInt32(buf, len - 4),
                FastDecoderDfa.EndJmpReg => slow.Kind == InstructionKind.JmpReg,
                FastDecoderDfa.EndCallReg => slow.Kind == InstructionKind.CallReg,
                FastDecoderDfa.EndVmx => slow.Kind is InstructionKind.Vmread or InstructionKind.Vmwrite,
                FastDecoderDfa.EndInt => slow.Kind == InstructionKind.Int && slow.Value == buf[len - 1],
                _ => false,
            };
            return kindOk ? null : $"{Hex(buf)}: automaton end {end}, iced {slow}";
        }
    }

    private static string Hex(byte[] buf) => Convert.ToHexString(buf, 0, 16);

    private static readonly byte[][] Prefixes =
    [
        [], [0x66], [0xF3], [0xF2], [0x48], [0x49], [0x41], [0x4C], [0x40], [0x4F], [0x66, 0x48], [0x66, 0x41], [0xF3, 0x48],
        [0xF2, 0x41], [0x66, 0x66], [0x48, 0x66], [0x48, 0x41], [0xF3, 0x66], [0x2E], [0x64], [0x67], [0xF0],
    ];

    private static readonly byte[][] Tails =
    [
        [0x25, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
        [0xE0, 0xE0, 0xFF, 0xFF, 0xFF, 0xE0, 0xFF, 0xFF, 0xFF, 0x90, 0x90, 0x90, 0x90, 0x90],
        [0x24, 0x10, 0x80, 0x00, 0x00, 0x00, 0x7F, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07],
        [0x65, 0x82, 0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0, 0x11, 0x22, 0x33, 0x44],
    ];

    [Fact]
    public void AutomatonAgreesWithIcedOnEveryOpcodeModRmAndPrefixShape()
    {
        var mismatches = new List<string>();
        int accepted = 0, total = 0;
        var buf = new byte[32];
        foreach (var prefix in Prefixes)
        foreach (bool twoByte in new[] { false, true })
        for (int op = 0; op < 256; op++)
        for (int modrm = 0; modrm < 256; modrm++)
        foreach (var tail in Tails)
        {
            Array.Fill(buf, (byte)0x90);
            int n = 0;
            foreach (var b in prefix) buf[n++] = b;
            if (twoByte) buf[n++] = 0x0F;
            buf[n++] = (byte)op;
            buf[n++] = (byte)modrm;
            Array.Copy(tail, 0, buf, n, tail.Length);
            total++;
            var m = Compare(buf, ref accepted);
            if (m is not null && mismatches.Count < 40) mismatches.Add(m);
        }
        Assert.True(mismatches.Count == 0, $"{mismatches.Count} mismatches of {total}:\n" + string.Join("\n", mismatches));
        Assert.True(accepted > total / 10, $"automaton accepted only {accepted} of {total}");
    }

    [Fact]
    public void AutomatonAgreesWithIcedOnRandomBytes()
    {
        var rng = new Random(4242);
        var buf = new byte[32];
        var mismatches = new List<string>();
        int accepted = 0;
        for (int iter = 0; iter < 300_000; iter++)
        {
            rng.NextBytes(buf);
            var m = Compare(buf, ref accepted);
            if (m is not null && mismatches.Count < 40) mismatches.Add(m);
        }
        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches));
        Assert.True(accepted > 30_000, $"automaton accepted only {accepted}");
    }

    [Fact]
    public void AutomatonDecodesEveryInstructionOfAToolchainImage()
    {
        // Every instruction the toolchain emits for the realistic mix is an automaton form, so
        // accepted images take the pre-pass alone (the throughput figure depends on it).
        var img = HyperLock.Toolchain.SyntheticProgram.Build(seed: 3, minBytes: 64 * 1024).Bytes;
        var padded = new byte[img.Length + 32];
        Array.Copy(img, padded, img.Length);
        int pos = 0, accepted = 0;
        var misses = new List<string>();
        foreach (var ins in ToolchainTests.DecodeAll(img))
        {
            pos = (int)ins.IP;
            var (len, _) = Run(padded, pos);
            if (len != ins.Length && misses.Count < 20) misses.Add($"0x{pos:x}: {ins} ({Convert.ToHexString(img, pos, ins.Length)}) automaton {len}");
            if (len == ins.Length) accepted++;
        }
        Assert.True(misses.Count == 0, string.Join("\n", misses));
        Assert.True(accepted > 1000);
    }

    /// <summary>
    /// Overwrite parts of toolchain images with the special forms the pre-pass checks itself
    /// (jmp/call rX with right and wrong masks, vmread/vmwrite with right and wrong field
    /// immediates, int with and without the gate vector, calls not ending a bundle, inc/push r/m):
    /// the report must be exactly the linear Iced-only reference's.
    /// </summary>
    [Fact]
    public void PlantedSpecialFormsGiveTheReferenceReport()
    {
        byte[][] plants =
        [
            [0x49, 0x83, 0xE3, 0xE0, 0x41, 0xFF, 0xE3], [0x49, 0x83, 0xE3, 0xE0, 0x41, 0xFF, 0xD3], [0x48, 0x83, 0xE0, 0xE0, 0xFF, 0xE0],
            [0x48, 0x83, 0xE0, 0xE0, 0xFF, 0xE1], [0x83, 0xE0, 0xE0, 0xFF, 0xE0], [0x48, 0x83, 0xE4, 0xE0, 0xFF, 0xE4], [0xFF, 0xE0],
            [0x41, 0xBB, 0x02, 0x44, 0x00, 0x00, 0x49, 0x0F, 0x78, 0xC3], [0x41, 0xBB, 0x1E, 0x68, 0x00, 0x00, 0x4C, 0x0F, 0x79, 0xD8],
            [0x41, 0xBB, 0x00, 0x00, 0x00, 0x00, 0x4C, 0x0F, 0x79, 0xD8], [0xB8, 0x02, 0x44, 0x00, 0x00, 0x0F, 0x78, 0xC1],
            [0x0F, 0x78, 0xC3], [0xCD, 0x82], [0xCD, 0x80], [0x48, 0xCD, 0x82], [0xE8, 0x00, 0x00, 0x00, 0x00], [0xFF, 0xC0],
            [0x41, 0xFF, 0x34, 0x24], [0xFE, 0x00], [0xFF, 0x10], [0xFF, 0x20], [0x66, 0xFF, 0xC0], [0x0F, 0x84, 0x10, 0x00, 0x00, 0x00],
            [0x48, 0x0F, 0x84, 0xF0, 0xFF, 0xFF, 0xFF], [0x75, 0xFE], [0x48, 0xEB, 0x01],
        ];
        var rng = new Random(777);
        var failures = new List<string>();
        for (int iter = 0; iter < 400 && failures.Count < 5; iter++)
        {
            var img = HyperLock.Toolchain.SyntheticProgram.Build(iter % 20, 2048).Bytes;
            int n = rng.Next(1, 6);
            for (int k = 0; k < n; k++)
            {
                var plant = plants[rng.Next(plants.Length)];
                int bundle = rng.Next(img.Length / 32);
                int at = bundle * 32 + (rng.Next(2) == 0 ? 32 - plant.Length : rng.Next(0, 33 - plant.Length));
                Array.Copy(plant, 0, img, at, plant.Length);
            }
            var fast = ImageVerifier.Verify(img);
            var reference = ImageVerifier.VerifyReference(img);
            if (fast.ToText() != reference.ToText()) failures.Add($"iteration {iter}:\nfast:\n{fast.ToText()}\nreference:\n{reference.ToText()}");
            else if (!ImageVerifier.Boundaries(img).SequenceEqual(ImageVerifier.Boundaries(img, useFastPath: false)))
                failures.Add($"iteration {iter}: instruction starts differ");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }
}
