using HyperLock.Verifier;
using HyperLock.Verifier.Decoding;
using HyperLock.Verifier.Policy;
using Iced.Intel;

namespace HyperLock.Monitor;

/// <summary>
/// Decodes one executed instruction with the verifier's own reference decoder (Iced plus the
/// prefix policy and the allow-list), so the monitor and the verifier cannot disagree on what
/// is forbidden: there is no second policy here.
/// </summary>
internal sealed unsafe class ExecutedInstructionDecoder
{
    private readonly IcedDecoder _decoder = new();

    public DecodedInstruction Decode(ReadOnlySpan<byte> bytes)
    {
        var insn = default(DecodedInstruction);
        fixed (byte* p = bytes)
        {
            _decoder.Reset(p, bytes.Length);
            _decoder.Decode(0, ref insn);
            _decoder.Reset(null, 0);
        }
        return insn;
    }

    /// <summary>Why the verifier forbids <paramref name="insn"/> (only called for forbidden ones).</summary>
    public static string Reason(in DecodedInstruction insn) => insn.Problem == Problem.Code
        ? AllowList.Classify((Code)insn.Code).Reason
        : Problems.Describe(insn.Problem);

    /// <summary>The instruction as text, for descriptions.</summary>
    public static string Text(ReadOnlySpan<byte> bytes, ulong ip)
    {
        var decoder = Decoder.Create(64, new ByteArrayCodeReader(bytes.ToArray()));
        decoder.IP = ip;
        decoder.Decode(out var instruction);
        return instruction.Code == Code.INVALID ? $"(invalid: {Convert.ToHexString(bytes)})" : Disassembler.Format(instruction);
    }
}
