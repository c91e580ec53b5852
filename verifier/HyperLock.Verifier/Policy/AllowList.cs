using Iced.Intel;

namespace HyperLock.Verifier.Policy;

/// <summary>
/// The allow-list of instruction forms (SPEC §6 rule 6), stated as data over Iced's
/// <see cref="Code"/> values. Nothing is allowed by default: a form is allowed only when every
/// CPUID feature it needs is on <see cref="AllowListData.Features"/>'s allowed side and no
/// earlier rule forbids it. Classification, first match wins:
/// <list type="number">
/// <item>not an instruction, or not encodable in 64-bit mode: forbidden;</item>
/// <item>EVEX, XOP, 3DNow!, MVEX encodings: forbidden;</item>
/// <item>an explicit per-<see cref="Code"/> entry (<see cref="AllowListData.Codes"/>);</item>
/// <item>an explicit per-mnemonic entry (<see cref="AllowListData.Mnemonics"/>);</item>
/// <item>Iced marks it privileged (CPL 0 only): forbidden;</item>
/// <item>an operand is a segment, control, debug or test register: forbidden;</item>
/// <item>32-bit address size or 16-bit branch displacement forms: forbidden;</item>
/// <item>control flow other than fall-through, direct jump, jcc or direct call: forbidden;</item>
/// <item>every CPUID feature allowed: allowed; any feature forbidden: forbidden;
///       a feature missing from the table: unclassified (treated as forbidden).</item>
/// </list>
/// </summary>
public static class AllowList
{
    private static readonly InstructionPolicy[] Table = Build();

    /// <summary>The verdict for <paramref name="code"/>.</summary>
    public static InstructionPolicy Classify(Code code) => Table[(int)code];

    /// <summary>Every Iced code with its verdict, in enum order.</summary>
    public static IEnumerable<(Code Code, InstructionPolicy Policy)> All()
    {
        for (int i = 0; i < Table.Length; i++) yield return ((Code)i, Table[i]);
    }

    private static InstructionPolicy[] Build()
    {
        var table = new InstructionPolicy[Enum.GetValues<Code>().Length];
        for (int i = 0; i < table.Length; i++) table[i] = Decide((Code)i);
        return table;
    }

    private static InstructionPolicy Decide(Code code)
    {
        var op = code.ToOpCode();
        if (code == Code.INVALID || !op.IsInstruction) return InstructionPolicy.Forbid("not an instruction", Rule.Bundles);
        if (!op.Mode64) return InstructionPolicy.Forbid("not encodable in 64-bit mode", Rule.Bundles);
        var enc = op.Encoding;
        if (enc is not (EncodingKind.Legacy or EncodingKind.VEX))
            return InstructionPolicy.Forbid($"{enc} encoding not on the allow-list (not in the testbed CPU profile)");
        if (AllowListData.Codes.TryGetValue(code, out var byCode)) return byCode;
        if (AllowListData.Mnemonics.TryGetValue(code.Mnemonic(), out var byMnemonic)) return byMnemonic;
        if (code.IsPrivileged()) return InstructionPolicy.Forbid("privileged instruction (CPL 0 only)");
        for (int i = 0; i < op.OpCount; i++)
        {
            switch (op.GetOpKind(i))
            {
                case OpCodeOperandKind.seg_reg or OpCodeOperandKind.es or OpCodeOperandKind.cs or OpCodeOperandKind.ss
                    or OpCodeOperandKind.ds or OpCodeOperandKind.fs or OpCodeOperandKind.gs:
                    return InstructionPolicy.Forbid("reads or writes a segment register");
                case OpCodeOperandKind.cr_reg: return InstructionPolicy.Forbid("control register access");
                case OpCodeOperandKind.dr_reg: return InstructionPolicy.Forbid("debug register access");
                case OpCodeOperandKind.tr_reg: return InstructionPolicy.Forbid("test register access");
                case OpCodeOperandKind.br16_1 or OpCodeOperandKind.br16_2:
                    return InstructionPolicy.Forbid("16-bit branch form (truncates RIP on AMD)");
                case OpCodeOperandKind.farbr2_2 or OpCodeOperandKind.farbr4_2:
                    return InstructionPolicy.Forbid("far jump or call");
            }
        }
        if (op.AddressSize == 32) return InstructionPolicy.Forbid("32-bit address-size form (needs prefix 0x67)");
        switch (code.FlowControl())
        {
            case FlowControl.Next or FlowControl.UnconditionalBranch or FlowControl.ConditionalBranch or FlowControl.Call:
                break;
            case FlowControl.Return: return InstructionPolicy.Forbid("return", Rule.NoReturn);
            case FlowControl.IndirectBranch or FlowControl.IndirectCall:
                return InstructionPolicy.Forbid("indirect branch form other than jmp/call r64", Rule.MaskedIndirect);
            case FlowControl.Interrupt: return InstructionPolicy.Forbid("software interrupt other than the gate");
            case FlowControl.XbeginXabortXend: return InstructionPolicy.Forbid("transactional memory (RTM)");
            default: return InstructionPolicy.Forbid($"control flow '{code.FlowControl()}' not on the allow-list");
        }
        var features = code.CpuidFeatures();
        if (features.Length == 0) return default;
        foreach (var f in features)
        {
            if (!AllowListData.Features.TryGetValue(f, out var fv)) return default;
            if (fv.Kind != PolicyKind.Allowed) return fv;
        }
        return InstructionPolicy.Allow();
    }
}
