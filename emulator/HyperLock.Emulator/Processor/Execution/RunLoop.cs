using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Iced.Intel;
using HyperLock.Emulator.Processor.Decode;
using HyperLock.Emulator.Processor.Execution;

namespace HyperLock.Emulator.Processor;

/// <summary>
/// The run loop: find the block at RIP (jump cache, then the physical code cache, then
/// decode), execute it instruction by instruction through the handler pointers, and between
/// blocks deliver faults, interrupts and timer deadlines. Time is the retired-instruction
/// count plus cycles skipped while halted, so runs are deterministic.
/// </summary>
public sealed unsafe partial class Cpu
{
    internal const int ExitFault = 1, ExitCodeChanged = 2, ExitHalt = 4, ExitStop = 8, ExitEvent = 16;

    /// <summary>Nonzero when the current block must stop after this instruction.</summary>
    public int ExitRequest;

    public readonly CodeCache Code = new();

    // Blocks by linear address of their first byte, one half per privilege (supervisor, user),
    // because a hit skips the fetch translation and its U/S check. An entry carries the TLB key
    // it was filled under (context, PCID, INVLPG epoch), so it dies with the TLB in O(1).
    private const int JumpCacheSize = 4096;
    // Not readonly: the jump cache of the current PCID bank (Vmx/TlbContexts.cs).
    private JumpEntry[] _jumpCache = new JumpEntry[2 * JumpCacheSize];
    private int _jumpBase;

    /// <summary>A jump-cache slot: the block entered at <see cref="Linear"/> under TLB key <see cref="Key"/>.</summary>
    internal struct JumpEntry
    {
        public ulong Linear;
        public ulong Key;
        public Block? Block;
    }

    /// <summary>Maximum instructions per decoded block.</summary>
    public const int MaxBlockInstructions = 64;

    /// <summary>When set, exceptions stop the run instead of going through the IDT (snippet runner, tests).</summary>
    public bool InterceptExceptions { get; set; }

    /// <summary>The interrupt hardware; null when nothing can interrupt.</summary>
    public IInterruptController? Interrupts { get; set; }

    /// <summary>Cycles skipped while halted; <see cref="Now"/> = retired + idle.</summary>
    public ulong IdleCycles;

    /// <summary>Virtual time in cycles: one per retired instruction plus time skipped in HLT.</summary>
    public ulong Now => Retired + IdleCycles;

    /// <summary>Virtual time at which <see cref="DeadlineReached"/> must run (device timers); ulong.MaxValue for none.</summary>
    public ulong EventDeadline = ulong.MaxValue;

    /// <summary>Called when <see cref="Now"/> reaches <see cref="EventDeadline"/>; it sets the next deadline.</summary>
    public Action? DeadlineReached { get; set; }

    public bool Halted;

    /// <summary>Interrupts are inhibited until Retired reaches this value (STI and MOV SS shadows).</summary>
    public ulong InterruptShadowUntil;

    /// <summary>Set by <see cref="RequestStop"/>: the reason the run should end.</summary>
    private StopReason _requestedStop;

    private readonly HashSet<Code> _reportedUnimplemented = new();
    private readonly byte[] _fetchBuffer = new byte[4096 + 16];

    /// <summary>Asks the run to end after the current instruction (devices: debug exit, reset).</summary>
    public void RequestStop(StopReason reason)
    {
        _requestedStop = reason;
        ExitRequest |= ExitStop;
    }

    /// <summary>Logs an unimplemented instruction form once.</summary>
    internal void ReportUnimplemented(Code code)
    {
        if (_reportedUnimplemented.Add(code))
            Log?.Invoke($"unimplemented instruction {code} at rip 0x{Rip:x}: raising #UD");
    }

    /// <summary>Forms that raised #UD because they are not implemented, in order of first use.</summary>
    public IReadOnlyCollection<Code> UnimplementedSeen => _reportedUnimplemented;

    private void OnCodeWritten(ulong frame)
    {
        // Dropped blocks are marked invalid, which the jump cache checks on every hit.
        if (Code.InvalidateFrame(frame)) ExitRequest |= ExitCodeChanged;
    }

    /// <summary>Runs until a stop condition or until <paramref name="maxInstructions"/> more have retired.</summary>
    public StopReason Run(ulong maxInstructions)
    {
        ulong end = Retired + maxInstructions;
        if (end < Retired) end = ulong.MaxValue;
        _requestedStop = default;
        for (; ; )
        {
            if (ExitRequest != 0 || Now >= EventDeadline)
            {
                var stop = HandleEvents();
                if (stop.Kind != StopKind.None) return stop;
            }
            if (InNonRoot && VmxCheckEvents()) continue; // VMX: timer, windows, external-interrupt exiting
            if (Halted)
            {
                var stop = Idle();
                if (stop.Kind != StopKind.None) return stop;
                continue;
            }
            if (NmiPending && !InNonRoot && TryDeliverNmi()) continue;
            if (Interrupts != null && IF && Retired >= InterruptShadowUntil && Interrupts.HasInterrupt)
            {
                DeliverExternalInterrupt(Interrupts.Acknowledge());
                continue;
            }
            if (Retired >= end) return new StopReason(StopKind.InstructionLimit);

            // TF, RF or an execute breakpoint: one instruction at a time, breakpoints checked before the fetch.
            bool stepping = DebugStepping;
            if (stepping && CheckExecuteBreakpoints()) continue;

            // Observed mode (an observer attached): no jump cache, every instruction reported.
            Block? block = _observer == null ? FindBlock() : LookupOrDecode(CodeLinear(Rip));
            if (block == null) continue; // fetch fault raised; delivered at the top

            ulong budget = end - Retired;
            if (EventDeadline != ulong.MaxValue)
            {
                ulong untilEvent = EventDeadline > Now ? EventDeadline - Now : 1;
                if (untilEvent < budget) budget = untilEvent;
            }
            if (VmxTimerDeadline != ulong.MaxValue)
            {
                ulong untilTimer = VmxTimerDeadline > Now ? VmxTimerDeadline - Now : 1;
                if (untilTimer < budget) budget = untilTimer;
            }
            if (InterruptShadowUntil > Retired && InterruptShadowUntil - Retired < budget)
                budget = InterruptShadowUntil - Retired;
            if (stepping)
            {
                BeginDebugStep();
                budget = 1;
            }
            if (_observer == null) ExecuteBlock(block, budget);
            else ExecuteBlockObserved(block, budget);
            // STI / MOV SS (terminators) ask for a shadow over the next instruction; Retired is exact only here.
            if (InterruptShadowUntil == ShadowAfterThisInstruction) InterruptShadowUntil = Retired + 1;
            if (stepping) AfterDebugStep(block.Insns[0].Len);
            if ((DbTrapPending | DbTrapHeld) != 0) ResolveDebugTraps();
        }
    }

    /// <summary>
    /// Runs up to <paramref name="budget"/> instructions of a block. <see cref="Retired"/> is
    /// exact while a handler runs (instructions before it, not itself), so RDTSC and device
    /// reads of virtual time see the true clock even in the middle of a block.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void ExecuteBlock(Block block, ulong budget)
    {
        int count = block.Count;
        if ((ulong)count > budget) count = (int)budget;
        ref Insn first = ref MemoryMarshal.GetArrayDataReference(block.Insns);
        int k = 0;
        for (; ; )
        {
            ref Insn insn = ref Unsafe.Add(ref first, k);
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

    /// <summary>
    /// The block ends after <paramref name="insn"/> asked to leave it (a fault, a software
    /// interrupt, a VM exit, a stop): shared by the plain and the observed block loops so that
    /// both retire and report exactly alike.
    /// </summary>
    private void EndBlockAfterExitRequest(ref Insn insn)
    {
        if (Faulted)
        {
            if (_nonCanonicalPending) NonCanonicalFaultOf(ref insn);
            // A fault leaves RIP at the instruction and does not retire it; a software
            // interrupt (INT n, INT3, INTO) has completed and its handler set RIP past it.
            if (PendingSoftware != SoftwareEventKind.None)
            {
                PendingSoftwareLength = insn.Len;
                Retired++;
            }
            return;
        }
        if (!insn.IsTerminator) Rip += insn.Len;
        Retired++;
    }

    /// <summary>Finds or decodes the block at RIP; null when fetching raised a fault.</summary>
    private Block? FindBlock()
    {
        ulong lin = CodeLinear(Rip);
        int slot = _jumpBase + (int)((lin ^ (lin >> 12)) & (JumpCacheSize - 1));
        ref JumpEntry j = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_jumpCache), slot);
        if (j.Linear == lin && j.Key == _jumpKey)
        {
            Block hit = j.Block!;
            if (hit.Valid && hit.Bitness == Bitness) return hit;
        }
        Block? b = LookupOrDecode(lin);
        if (b != null)
        {
            j = ref _jumpCache[slot]; // the lookup may have swapped arrays (never today; cheap to be sure)
            j.Linear = lin;
            j.Key = _jumpKey;
            j.Block = b;
        }
        return b;
    }

    private ulong CodeLinear(ulong rip) => Bitness == 64 ? rip : (Segs[Seg.Cs].Base + rip) & 0xFFFFFFFF;

    private Block? LookupOrDecode(ulong lin)
    {
        ref TlbEntry e = ref TlbSlot(_fetchSet, lin >> 12);
        ulong phys;
        if (e.Tag == TlbTag(lin)) phys = (e.Frame << 12) | (lin & 0xFFF);
        else if (!GlobalTlbHit(lin, Access.Fetch, Cpl == 3, out phys) && !Translate(lin, Access.Fetch, Cpl == 3, out phys)) return null;
        Block? b = Code.Find(phys, Bitness);
        if (b != null && b.SecondFrame != ulong.MaxValue)
        {
            // The block's first instruction continues on the next page: that page must still be
            // executable and map the same frame, or the block is decoded again.
            ulong lin2 = (lin | 0xFFF) + 1;
            if (Bitness != 64) lin2 &= 0xFFFFFFFF;
            if (!Translate(lin2, Access.Fetch, Cpl == 3, out ulong phys2)) return null;
            if ((phys2 >> 12) != b.SecondFrame) b = null;
        }
        if (b != null) return b;
        return DecodeBlock(lin, phys);
    }

    private Block? DecodeBlock(ulong lin, ulong phys)
    {
        int offset = (int)(phys & 0xFFF);
        int avail = 4096 - offset;
        Memory.ReadBytes(phys, _fetchBuffer.AsSpan(0, avail));
        var decoder = Decoder.Create(Bitness, new ByteArrayCodeReader(_fetchBuffer, 0, avail), Rip, DecoderOptions.None);
        var insns = new Insn[Math.Min(MaxBlockInstructions, avail)];
        int count = 0;
        ulong secondFrame = ulong.MaxValue;
        while (count < insns.Length)
        {
            ulong ipBefore = decoder.IP;
            decoder.Decode(out Instruction raw);
            if (raw.Code == Iced.Intel.Code.INVALID && decoder.LastError == DecoderError.NoMoreBytes)
            {
                if (count > 0) break; // the next block starts with the page-crossing instruction
                // The first instruction crosses into the next page: fetch up to 15 bytes across.
                ulong lin2 = (lin | 0xFFF) + 1;
                if (Bitness != 64) lin2 &= 0xFFFFFFFF;
                if (!Translate(lin2, Access.Fetch, Cpl == 3, out ulong phys2)) return null;
                Memory.ReadBytes(phys2, _fetchBuffer.AsSpan(avail, 16));
                decoder = Decoder.Create(Bitness, new ByteArrayCodeReader(_fetchBuffer, 0, avail + 16), ipBefore, DecoderOptions.None);
                decoder.Decode(out raw);
                secondFrame = phys2 >> 12;
                InsnBuilder.Build(raw, ref insns[count++]);
                break;
            }
            InsnBuilder.Build(raw, ref insns[count++]);
            if (insns[count - 1].IsTerminator) break;
        }
        var block = new Block(phys, Bitness, insns, count) { SecondFrame = secondFrame };
        if (!Memory.IsCode(phys >> 12) || (secondFrame != ulong.MaxValue && !Memory.IsCode(secondFrame)))
        {
            Memory.MarkCode(phys >> 12);
            if (secondFrame != ulong.MaxValue) Memory.MarkCode(secondFrame);
            FlushWriteTlb();
        }
        Code.Add(block);
        return block;
    }

    /// <summary>Delivers pending faults, runs timer deadlines, honours stop requests.</summary>
    private StopReason HandleEvents()
    {
        if ((ExitRequest & ExitStop) != 0)
        {
            ExitRequest &= ~ExitStop;
            return _requestedStop;
        }
        ExitRequest &= ~(ExitCodeChanged | ExitEvent);
        if (Now >= EventDeadline)
        {
            EventDeadline = ulong.MaxValue;
            DeadlineReached?.Invoke();
        }
        if (Faulted && InNonRoot)
        {
            // VMX non-root: pending VM exits, the exception bitmap, delivery through the guest IDT.
            var stop = VmxHandleFault();
            if (stop.Kind != StopKind.None) return stop;
        }
        else if (Faulted)
        {
            int vector = PendingVector;
            uint err = PendingError;
            bool hasErr = PendingHasError;
            var soft = PendingSoftware;
            if (PendingIsPageFault) Cr2 = PendingCr2;
            ClearFault();
            if (InterceptExceptions)
            {
                if (vector == Vector.DB) TakeDebugEventBits();
                return new StopReason(StopKind.Exception, vector, err, hasErr);
            }
            if (soft == SoftwareEventKind.None)
            {
                if (vector == Vector.DB) OnDebugExceptionDelivered();
                else if (Vector.SetsResumeFlag(vector)) RflagsRest |= Bits.Rf;
            }
            var stop = DeliverException(vector, hasErr, err, soft);
            if (stop.Kind != StopKind.None) return stop;
        }
        if ((ExitRequest & ExitHalt) != 0) ExitRequest &= ~ExitHalt;
        if ((ExitRequest & ExitStop) != 0)
        {
            ExitRequest &= ~ExitStop;
            return _requestedStop;
        }
        return default;
    }

    /// <summary>HLT: wait for an interrupt by skipping virtual time to the next timer deadline.</summary>
    /// <remarks>
    /// In VMX non-root operation an armed preemption timer also ends the wait (its VM exit is
    /// taken at the top of the loop), and an external interrupt that exits wakes the guest even with IF = 0.
    /// </remarks>
    private StopReason Idle()
    {
        bool exitsOnInterrupt = InNonRoot && (VPin & Vmx.VmxControls.PinExtIntExiting) != 0;
        bool canWake = (IF || exitsOnInterrupt) && Interrupts != null;
        // An interrupt that exits is taken by VmxCheckEvents; only one the guest will take un-halts it here.
        if ((IF && Interrupts != null && Interrupts.HasInterrupt) || (NmiPending && !NmiBlocked && !InNonRoot))
        {
            Halted = false;
            return default;
        }
        bool timer = InNonRoot && VmxTimerDeadline != ulong.MaxValue;
        if (!canWake && !timer) return new StopReason(StopKind.Halted);
        ulong wake = EventDeadline;
        if (timer && VmxTimerDeadline < wake) wake = VmxTimerDeadline;
        if (wake == ulong.MaxValue) return new StopReason(StopKind.Halted);
        if (wake > Now) IdleCycles += wake - Now;
        return default; // the deadline runs at the top of the loop; an interrupt or the timer may then wake us
    }
}
