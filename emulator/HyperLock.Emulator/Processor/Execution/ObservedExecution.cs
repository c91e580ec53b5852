using HyperLock.Emulator.Processor.Decode;

namespace HyperLock.Emulator.Processor;

/// <summary>
/// Observed mode (see <see cref="IExecutionObserver"/>): attaching empties every TLB and jump
/// cache; while attached no translation is cached, blocks are looked up without the jump
/// cache and run one reported instruction at a time, and the slow memory paths report each
/// access. Nothing here runs while no observer is attached.
/// </summary>
public sealed unsafe partial class Cpu
{
    private IExecutionObserver? _observer;

    /// <summary>The attached observer, or null. Setting it (either way) empties the TLBs.</summary>
    public IExecutionObserver? Observer
    {
        get => _observer;
        set
        {
            _observer = value;
            ResetAllTlbs();
            RefreshTlbKeys();
            ExitRequest |= ExitEvent; // a block in progress ends, so the next one runs in the new mode
        }
    }

    /// <summary>True while an observer is attached (fast paths that bypass the TLB check it).</summary>
    internal bool Observed => _observer != null;

    private ObservedContext ObservationContext() => new(Cpl, Cr3, CurrentPcid, InNonRoot);

    private void ReportAccess(ulong lin, ulong phys, int size, ObservedAccessKind kind, bool user) =>
        _observer!.MemoryAccessed(new AccessObservation(lin, phys, size, kind, user, ObservationContext()));

    /// <summary>Runs up to <paramref name="budget"/> instructions of a block, reporting each start and fetch.</summary>
    private void ExecuteBlockObserved(Block block, ulong budget)
    {
        int count = block.Count;
        if ((ulong)count > budget) count = (int)budget;
        for (int k = 0; ;)
        {
            ref Insn insn = ref block.Insns[k];
            ulong lin = CodeLinear(Rip);
            ulong phys = (block.Phys & ~0xFFFUL) | (lin & 0xFFF);
            var ctx = ObservationContext();
            _observer!.InstructionStarted(new InstructionObservation(lin, phys, ctx));
            int first = (int)Math.Min((ulong)insn.Len, 0x1000 - (lin & 0xFFF));
            bool user = Cpl == 3;
            _observer.MemoryAccessed(new AccessObservation(lin, phys, first, ObservedAccessKind.Fetch, user, ctx));
            if (first < insn.Len)
            {
                ulong lin2 = Bitness == 64 ? lin + (ulong)first : (lin + (ulong)first) & 0xFFFFFFFF;
                _observer.MemoryAccessed(new AccessObservation(lin2, block.SecondFrame << 12, insn.Len - first,
                    ObservedAccessKind.Fetch, user, ctx));
            }
            insn.Exec(this, ref insn);
            if (ExitRequest != 0)
            {
                EndBlockAfterExitRequest(ref insn);
                return;
            }
            Retired++;
            if (insn.IsTerminator) return;
            Rip += insn.Len;
            if (++k == count) return;
        }
    }
}
