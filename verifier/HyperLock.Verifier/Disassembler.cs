using System.Text;
using HyperLock.Verifier.Decoding;
using Iced.Intel;

namespace HyperLock.Verifier;

/// <summary>Renders instructions for reports: NASM-style text (hex with 0x), and the bytes.</summary>
public static class Disassembler
{
    [ThreadStatic] private static NasmFormatter? s_formatter;

    private static NasmFormatter Formatter
    {
        get
        {
            if (s_formatter is { } f) return f;
            f = new NasmFormatter();
            f.Options.HexPrefix = "0x";
            f.Options.HexSuffix = null;
            f.Options.UppercaseHex = false;
            f.Options.SpaceAfterOperandSeparator = true;
            f.Options.SignedImmediateOperands = false;
            f.Options.ShowBranchSize = false;
            f.Options.BranchLeadingZeros = false;
            f.Options.LeadingZeros = false;
            f.Options.SmallHexNumbersInDecimal = false;
            return s_formatter = f;
        }
    }

    /// <summary>The text of one instruction, as reports show it.</summary>
    public static string Format(in Instruction instruction)
    {
        var output = new StringOutput();
        Formatter.Format(instruction, output);
        return output.ToStringAndReset();
    }

    /// <summary>Disassemble the instruction at <paramref name="offset"/>.</summary>
    internal static unsafe string At(IcedDecoder decoder, int offset)
    {
        var instr = decoder.DecodeRaw(offset);
        var output = new StringOutput();
        var sb = new StringBuilder();
        if (instr.Code == Code.INVALID || instr.Length == 0)
        {
            sb.Append("(bad)");
            AppendBytes(sb, decoder, offset, 4);
            return sb.ToString();
        }
        Formatter.Format(instr, output);
        sb.Append(output.ToStringAndReset());
        AppendBytes(sb, decoder, offset, instr.Length);
        return sb.ToString();
    }

    private static void AppendBytes(StringBuilder sb, IcedDecoder decoder, int offset, int count)
    {
        sb.Append("  [");
        var bytes = decoder.Bytes(offset, count);
        for (int i = 0; i < bytes.Length; i++)
        {
            if (i > 0) sb.Append(' ');
            sb.Append(bytes[i].ToString("x2"));
        }
        sb.Append(']');
    }
}
