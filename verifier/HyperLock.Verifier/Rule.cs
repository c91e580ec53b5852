namespace HyperLock.Verifier;

/// <summary>The rules of SPEC §6, by number. A finding always names exactly one.</summary>
public enum Rule : byte
{
    /// <summary>Whole bundles; every byte in exactly one valid instruction; nothing crosses a bundle end.</summary>
    Bundles = 1,
    /// <summary>Direct branches target an instruction start that is not the second half of a pseudo-instruction.</summary>
    DirectTargets = 2,
    /// <summary>Calls end exactly at a bundle boundary.</summary>
    CallAlignment = 3,
    /// <summary>Indirect jumps and calls only as <c>and rX,-32</c> + <c>jmp/call rX</c> in one bundle.</summary>
    MaskedIndirect = 4,
    /// <summary><c>ret</c> in every form is forbidden.</summary>
    NoReturn = 5,
    /// <summary>Only allow-listed instruction forms (no privileged, segment, I/O, ... instructions).</summary>
    AllowList = 6,
    /// <summary><c>vmread</c>/<c>vmwrite</c> only as <c>mov r32,imm32</c> + VMX instruction with a policy-allowed field.</summary>
    VmcsAccess = 7,
    /// <summary>Declared entry points are bundle-aligned.</summary>
    EntryAlignment = 8,
}

/// <summary>The text of each rule as people read it in reports.</summary>
public static class RuleText
{
    /// <summary>The one-line statement of <paramref name="rule"/>.</summary>
    public static string Of(Rule rule) => rule switch
    {
        Rule.Bundles => "the image is whole 32-byte bundles of valid instructions, none crossing a bundle end",
        Rule.DirectTargets => "direct branches target an instruction start that is not inside a pseudo-instruction",
        Rule.CallAlignment => "calls end exactly at a bundle boundary",
        Rule.MaskedIndirect => "indirect branches only as 'and rX,-32' + 'jmp/call rX' in one bundle; no memory-indirect branches",
        Rule.NoReturn => "ret is forbidden in every form",
        Rule.AllowList => "only allow-listed instruction forms and prefixes",
        Rule.VmcsAccess => "vmread/vmwrite only as 'mov r32,imm32' + VMX instruction on that register, with a field the VMCS policy allows",
        Rule.EntryAlignment => "declared entry points are bundle-aligned",
        _ => throw new ArgumentOutOfRangeException(nameof(rule)),
    };
}
