namespace HyperLock.Emulator.Processor;

/// <summary>
/// Raising exceptions from handlers, and the bookkeeping that turns them into delivery:
/// a handler calls <see cref="RaiseFault"/> and returns; the run loop sees <see cref="Faulted"/>,
/// keeps RIP at the faulting instruction, and delivers through the IDT (or stops, when the
/// embedding environment intercepts exceptions).
/// </summary>
public sealed partial class Cpu
{
    /// <summary>The current instruction raised an exception; its results must not be committed.</summary>
    public bool Faulted;

    internal int PendingVector = -1;
    internal uint PendingError;
    internal bool PendingHasError;
    internal ulong PendingCr2;
    internal bool PendingIsPageFault;

    /// <summary>Raises a fault (RIP stays at the instruction). Error code is pushed when the vector defines one.</summary>
    public void RaiseFault(int vector, uint errorCode = 0)
    {
        if (Faulted) return; // first fault of an instruction wins
        Faulted = true;
        PendingVector = vector;
        PendingError = errorCode;
        PendingHasError = Vector.HasErrorCode(vector);
        PendingIsPageFault = false;
        ExitRequest |= ExitFault;
    }

    public void RaiseUd() => RaiseFault(Vector.UD);

    public void RaiseGp(uint errorCode = 0) => RaiseFault(Vector.GP, errorCode);

    public void RaisePageFault(ulong linear, uint errorCode)
    {
        if (Faulted) return;
        RaiseFault(Vector.PF, errorCode);
        PendingCr2 = linear;
        PendingIsPageFault = true;
    }

    /// <summary>
    /// Raises a trap-like event (INT3, INTO, INT n): the handler has already set RIP to the
    /// next instruction; delivery pushes that RIP.
    /// </summary>
    public void RaiseSoftwareInterrupt(int vector, SoftwareEventKind kind)
    {
        Faulted = true;
        PendingVector = vector;
        PendingHasError = false;
        PendingError = 0;
        PendingIsPageFault = false;
        PendingSoftware = kind;
        ExitRequest |= ExitFault;
    }

    internal SoftwareEventKind PendingSoftware;

    /// <summary>Length of the INT n/INT3/INTO/INT1 being delivered (a fault during delivery is reported at it).</summary>
    internal int PendingSoftwareLength;

    internal readonly record struct FaultState(bool Faulted, int Vector, uint Error, bool HasError, ulong Cr2, bool IsPf,
        SoftwareEventKind Software, int Exit);

    internal FaultState SaveFaultState() =>
        new(Faulted, PendingVector, PendingError, PendingHasError, PendingCr2, PendingIsPageFault, PendingSoftware, ExitRequest);

    internal void RestoreFaultState(FaultState s)
    {
        Faulted = s.Faulted;
        PendingVector = s.Vector;
        PendingError = s.Error;
        PendingHasError = s.HasError;
        PendingCr2 = s.Cr2;
        PendingIsPageFault = s.IsPf;
        PendingSoftware = s.Software;
        ExitRequest = s.Exit;
        if (!s.Faulted) _nonCanonicalPending = false;
    }

    internal void ClearFault()
    {
        Faulted = false;
        PendingVector = -1;
        PendingSoftware = SoftwareEventKind.None;
        ExitRequest &= ~ExitFault;
        _nonCanonicalPending = false;
    }
}

/// <summary>How an event was raised by software, which decides DPL checks and the pushed RIP.</summary>
public enum SoftwareEventKind : byte
{
    /// <summary>Not a software event: a fault or a hardware interrupt.</summary>
    None,
    /// <summary>INT n (CD ib).</summary>
    IntN,
    /// <summary>INT3 (CC).</summary>
    Int3,
    /// <summary>INTO (CE).</summary>
    Into,
    /// <summary>INT1 / ICEBP (F1).</summary>
    Int1,
}
