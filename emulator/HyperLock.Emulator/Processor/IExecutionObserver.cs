namespace HyperLock.Emulator.Processor;

/// <summary>What a memory access observed by an <see cref="IExecutionObserver"/> was for.</summary>
public enum ObservedAccessKind
{
    /// <summary>A data read (instruction operand, stack pop, descriptor table, interrupt frame).</summary>
    Read,
    /// <summary>A data write.</summary>
    Write,
    /// <summary>Instruction bytes, reported once per executed instruction.</summary>
    Fetch,
    /// <summary>A paging-structure entry read by a page walk.</summary>
    PageWalkRead,
    /// <summary>A paging-structure entry written by a page walk (accessed and dirty flags).</summary>
    PageWalkWrite,
}

/// <summary>The state an observation was made in: privilege, address space and VMX side.</summary>
/// <param name="Cpl">Current privilege level.</param>
/// <param name="Cr3">CR3 (its low 12 bits are the PCID when CR4.PCIDE = 1).</param>
/// <param name="Pcid">The PCID translations are tagged with (0 without CR4.PCIDE).</param>
/// <param name="NonRoot">True in VMX non-root operation (a guest), false in root or outside VMX.</param>
public readonly record struct ObservedContext(int Cpl, ulong Cr3, int Pcid, bool NonRoot);

/// <summary>An instruction about to execute: its linear and physical address.</summary>
public readonly record struct InstructionObservation(ulong Linear, ulong Physical, ObservedContext Context);

/// <summary>
/// One memory access. <see cref="Linear"/> is the address being accessed, or for page-walk
/// kinds the address being translated; <see cref="Physical"/> is where the bytes are (for
/// page walks, the entry's address). An access that crosses a page is reported as two.
/// <see cref="User"/> is the privilege the access was checked with (false for implicit
/// supervisor accesses such as descriptor-table reads, whatever the CPL).
/// </summary>
public readonly record struct AccessObservation(ulong Linear, ulong Physical, int Size, ObservedAccessKind Kind, bool User,
    ObservedContext Context);

/// <summary>
/// Told of every instruction start and every memory access while attached to a CPU through
/// <see cref="Cpu.Observer"/> (for a reference monitor). Attaching switches the CPU to an
/// observed mode: the TLB is emptied and no longer filled, so every access takes the slow path
/// where the observer is called, and blocks run through an observed loop; a detached CPU runs
/// exactly the fast paths it ran before (no per-access check). Calls come from the CPU thread,
/// in program order; an access that faults is not reported.
/// </summary>
public interface IExecutionObserver
{
    void InstructionStarted(in InstructionObservation instruction);

    void MemoryAccessed(in AccessObservation access);
}
