using Iced.Intel;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>Queries over Iced's instruction-form tables, for registering whole families at once.</summary>
internal static class FormTable
{
    private static readonly Code[] AllCodes = Enum.GetValues<Code>();

    /// <summary>Every legacy-encoded form (no VEX/EVEX/XOP/3DNow!) of a mnemonic.</summary>
    public static IEnumerable<Code> Legacy(Mnemonic m)
    {
        foreach (var c in AllCodes)
        {
            if (c == Code.INVALID || c.Mnemonic() != m) continue;
            if (c.ToOpCode().Encoding != EncodingKind.Legacy) continue;
            yield return c;
        }
    }
}
