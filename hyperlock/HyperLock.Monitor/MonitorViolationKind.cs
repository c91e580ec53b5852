namespace HyperLock.Monitor;

/// <summary>What a <see cref="MonitorViolation"/> is about.</summary>
public enum MonitorViolationKind
{
    /// <summary>Instruction bytes fetched from a frame the instance may not execute.</summary>
    FetchOutsideAllowed,
    /// <summary>A read (data or page walk) of a frame outside the instance's allowed set.</summary>
    ReadOutsideAllowed,
    /// <summary>A write (data or page walk) of a frame outside the instance's allowed set, or a page-walk write that changed more than the accessed/dirty flags.</summary>
    WriteOutsideAllowed,
    /// <summary>An executed instruction the verifier's rules forbid (allow-list, prefixes, pseudo-instructions, gate, VMCS field policy).</summary>
    ForbiddenInstruction,
    /// <summary>An instruction start that is neither a validated instruction boundary of the image (or the fall-through from one) nor a trampoline entry or trampoline instruction.</summary>
    StartNotValidated,
}
