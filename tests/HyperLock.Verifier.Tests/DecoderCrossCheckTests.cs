using HyperLock.Verifier.Decoding;
using Xunit;

namespace HyperLock.Verifier.Tests;

/// <summary>
/// The fast table decoder must agree with the Iced reference on every instruction it
/// accepts: length, kind, register and value. These tests sweep every opcode under every
/// prefix shape the fast path knows, with ModRM/SIB/immediate variations.
/// </summary>
public class DecoderCrossCheckTests
{
    [ThreadStatic] internal static int s_fastHits;

    /// <summary>
    /// Compare, at <paramref name="offset"/>, the general fast decoder with Iced exactly, and
    /// the turbo-first decoder with Iced up to the kinds the hot path deliberately treats as
    /// plain (masks and field immediates, which the checker re-decodes when they matter).
    /// </summary>
    internal static unsafe string? Compare(byte[] buf, int offset = 0)
    {
        if (buf.Length - offset < FastDecoder.Lookahead) return null;
        fixed (byte* p = buf)
        {
            var iced = new IcedDecoder();
            iced.Reset(p, buf.Length);
            var slow = default(DecodedInstruction);
            iced.Decode(offset, ref slow);
            var general = default(DecodedInstruction);
            if (FastDecoder.TryDecodeGeneral(p + offset, offset, ref general))
            {
                s_fastHits++;
                if (!Same(general, slow))
                    return $"{Convert.ToHexString(buf, offset, Math.Min(16, buf.Length - offset))}: general {general} / iced {slow}";
            }
            var turbo = default(DecodedInstruction);
            if (FastDecoder.TryDecode(p + offset, offset, ref turbo))
            {
                s_fastHits++;
                var expected = slow;
                if (expected.Kind is InstructionKind.AndMask or InstructionKind.AndMaskNarrow or InstructionKind.MovR32Imm && turbo.Kind == InstructionKind.Plain)
                    expected = expected with { Kind = InstructionKind.Plain };
                if (!Same(turbo, expected))
                    return $"{Convert.ToHexString(buf, offset, Math.Min(16, buf.Length - offset))}: turbo {turbo} / iced {slow}";
            }
            return null;
        }
    }

    internal static bool Same(DecodedInstruction a, DecodedInstruction b)
    {
        if (a.Kind != b.Kind || a.Length != b.Length) return false;
        switch (a.Kind)
        {
            case InstructionKind.JmpReg or InstructionKind.CallReg or InstructionKind.AndMask or InstructionKind.AndMaskNarrow or InstructionKind.Vmread or InstructionKind.Vmwrite:
                return a.Reg == b.Reg;
            case InstructionKind.MovR32Imm:
                return a.Reg == b.Reg && a.Value == b.Value;
            case InstructionKind.JmpRel or InstructionKind.JccRel or InstructionKind.CallRel or InstructionKind.Int:
                return a.Value == b.Value;
            default:
                return true;
        }
    }

    private static readonly byte[][] Prefixes =
    [
        [], [0x66], [0xF3], [0xF2], [0x48], [0x41], [0x4C], [0x40], [0x4F], [0x66, 0x48], [0x66, 0x41], [0xF3, 0x48], [0xF2, 0x41],
    ];

    private static readonly byte[] ModRms =
        [0x00, 0x05, 0x04, 0x44, 0x84, 0x0C, 0x14, 0x1D, 0x24, 0x2C, 0x34, 0x3C, 0x40, 0x80, 0xC0, 0xC8, 0xD0, 0xD8, 0xE0, 0xE3, 0xE8, 0xF0, 0xF8, 0xFF];

    private static readonly byte[][] Tails =
    [
        [0x25, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
        [0xE0, 0xE0, 0xFF, 0xFF, 0xFF, 0xE0, 0xFF, 0xFF, 0xFF, 0x90, 0x90, 0x90, 0x90, 0x90],
        [0x24, 0x10, 0x80, 0x00, 0x00, 0x00, 0x7F, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07],
        [0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
    ];

    [Fact]
    public void FastDecoderAgreesWithIcedOnEveryOpcodeAndPrefixShape()
    {
        var mismatches = new List<string>();
        int checkedCount = 0;
        s_fastHits = 0;
        var buf = new byte[48];
        foreach (var prefix in Prefixes)
        foreach (bool twoByte in new[] { false, true })
        for (int op = 0; op < 256; op++)
        foreach (byte modrm in ModRms)
        foreach (var tail in Tails)
        {
            Array.Fill(buf, (byte)0x90);
            int n = 0;
            foreach (var b in prefix) buf[n++] = b;
            if (twoByte) buf[n++] = 0x0F;
            buf[n++] = (byte)op;
            buf[n++] = modrm;
            Array.Copy(tail, 0, buf, n, tail.Length);
            var m = Compare(buf);
            if (m is not null && mismatches.Count < 40) mismatches.Add(m);
            checkedCount++;
        }
        Assert.True(mismatches.Count == 0, $"{mismatches.Count} mismatches of {checkedCount}:\n" + string.Join("\n", mismatches));
        Assert.True(s_fastHits > checkedCount / 4, $"fast path took only {s_fastHits} of {checkedCount}");
    }

    [Fact]
    public void FastDecoderAgreesWithIcedOnRandomBytes()
    {
        var rng = new Random(12345);
        var buf = new byte[64];
        var mismatches = new List<string>();
        s_fastHits = 0;
        for (int iter = 0; iter < 200_000; iter++)
        {
            rng.NextBytes(buf);
            var m = Compare(buf);
            if (m is not null && mismatches.Count < 40) mismatches.Add(m);
        }
        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches));
        Assert.True(s_fastHits > 20_000, $"fast path took only {s_fastHits}");
    }
}
