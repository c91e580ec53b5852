using HyperLock.Emulator.Processor.Decode;

namespace HyperLock.Emulator.Processor;

/// <summary>
/// Which exception a non-canonical address raises (SDM Vol. 3 §6.15 and each instruction's
/// 64-bit-mode exceptions): #SS(0) for a memory reference through the stack segment, #GP(0)
/// for any other. The translation that finds the address does not know which segment the
/// access used, so it raises #GP(0) and records the address; when the instruction's handler
/// returns with that fault, the decoder's <see cref="InsnAttr.StackReference"/> decides.
/// Nothing runs on the paths that do not fault.
/// </summary>
public sealed partial class Cpu
{
    /// <summary>The pending #GP(0) came from a non-canonical linear address (<see cref="_nonCanonicalLinear"/>).</summary>
    private bool _nonCanonicalPending;
    private ulong _nonCanonicalLinear;

    private void RaiseNonCanonical(ulong linear)
    {
        if (!Faulted)
        {
            _nonCanonicalPending = true;
            _nonCanonicalLinear = linear;
        }
        RaiseFault(Vector.GP, 0);
    }

    /// <summary>Turns the pending non-canonical #GP(0) of <paramref name="insn"/> into #SS(0) when the access went through SS.</summary>
    private void NonCanonicalFaultOf(ref Insn insn)
    {
        _nonCanonicalPending = false;
        if (PendingVector != Vector.GP || PendingError != 0 || (insn.Attr & InsnAttr.StackReference) == 0) return;
        // PUSH/POP/CALL with an operand outside SS (push [rax]): a fault at that operand's
        // address is its own #GP; one elsewhere came from the stack access.
        if ((insn.Op0IsMem || insn.Op1IsMem) && insn.Segment != Seg.Ss && _nonCanonicalLinear - Ea(ref insn) < 16) return;
        PendingVector = Vector.SS;
    }
}
