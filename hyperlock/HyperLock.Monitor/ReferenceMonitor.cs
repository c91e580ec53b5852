using HyperLock.Abi;
using HyperLock.Emulator.Builders;
using HyperLock.Emulator.Memory;
using HyperLock.Emulator.Processor;
using HyperLock.Runtime;
using HyperLock.Runtime.Loading;
using HyperLock.Verifier;
using HyperLock.Verifier.Decoding;
using Iced.Intel;

namespace HyperLock.Monitor;

/// <summary>
/// The reference monitor (SPEC §2, §7): a test oracle, not a defence. Attached to a runtime's
/// CPU as its <see cref="IExecutionObserver"/>, it watches every instruction and memory access
/// made while a confined instance runs (root mode, CR3 = that instance's space) and records
/// <list type="bullet">
/// <item>every fetch, read or write of a physical frame outside the instance's allowed set
///       (<see cref="InstanceAllowedSet"/>), every page walk outside its own page tables, and
///       every page-walk write that changes more than the accessed/dirty flags;</item>
/// <item>every executed instruction the verifier forbids, judged by the verifier's own decoder
///       and allow-list, with the pseudo-instruction, gate and VMCS-field rules checked on what
///       actually ran;</item>
/// <item>every instruction start that is not a validated instruction boundary of the loaded image
///       (or the fall-through from the instruction before it, i.e. the second half of a
///       pseudo-instruction), nor a trampoline instruction entered at a bundle start or vector
///       entry, nor the loader's INT3 padding past the end of the image (trusted traps, like
///       the trampoline's bundle-start INT3s).</item>
/// </list>
/// Nothing is attached unless <see cref="Attach"/> is called; <see cref="Dispose"/> detaches.
/// The host, the unconfined baseline and the guests (non-root) are not judged. VMREAD/VMWRITE
/// reach the current VMCS, which the CPU keeps internally (it touches the VMCS region only at
/// VMPTRLD/VMCLEAR, done by the trampoline in the host space), and EPT walks happen only in
/// non-root operation, so neither appears as a confined memory access.
/// </summary>
public sealed class ReferenceMonitor : IDisposable, IExecutionObserver
{
    /// <summary>Violations kept (more are counted in <see cref="TotalViolations"/>).</summary>
    public const int MaxRecorded = 10_000;

    private const ulong AccessedDirty = PageTableBuilder.Accessed | PageTableBuilder.Dirty;
    private const int Bundle = VerifierOptions.BundleSize;
    private const int VectorEntries = 256;

    private enum Where : byte { Nowhere, Image, Trampoline, Padding, Elsewhere }

    private readonly IsolationRuntime _runtime;
    private readonly Cpu _cpu;
    private readonly PhysicalMemory _memory;
    private readonly List<MonitorViolation> _violations = new();
    private readonly Dictionary<ulong, InstanceAllowedSet> _sets = new();
    private readonly SortedSet<int> _seen = new();
    private readonly bool[] _trampolineStarts;
    private readonly ExecutedInstructionDecoder _decoder = new();
    private bool _attached;

    // The context of the last observation.
    private ulong _lastRoot = ulong.MaxValue;
    private InstanceAllowedSet? _lastSet;

    // The instruction being executed (judged when the next one starts: its bytes come with its fetches).
    private InstanceAllowedSet? _set;
    private bool _pending;
    private ulong _linear, _physical;
    private long _offset;
    private Where _where;
    private readonly byte[] _bytes = new byte[16];
    private int _byteCount;

    // The instruction before it, in the same confined space (Where.Nowhere when there was none).
    private InstanceAllowedSet? _prevSet;
    private Where _prevWhere;
    private ulong _prevEnd;
    private long _prevOffset;
    private DecodedInstruction _prevDecoded;

    // A page-walk write, checked at the next observation (the observer is told before the write lands).
    private bool _walkWritePending;
    private InstanceAllowedSet? _walkSet;
    private ulong _walkLinear, _walkPhysical, _walkOld, _walkRip;
    private int _walkSize;

    private ReferenceMonitor(IsolationRuntime runtime)
    {
        _runtime = runtime;
        _cpu = runtime.Board.Cpu;
        _memory = runtime.Board.Memory;
        _trampolineStarts = InstructionStarts(runtime.Trampoline.Bytes);
    }

    /// <summary>Attaches a monitor to <paramref name="runtime"/>'s CPU (observed mode: slower, every access reported).</summary>
    public static ReferenceMonitor Attach(IsolationRuntime runtime)
    {
        ArgumentNullException.ThrowIfNull(runtime);
        if (runtime.Board.Cpu.Observer != null) throw new InvalidOperationException("the CPU already has an execution observer attached");
        var monitor = new ReferenceMonitor(runtime);
        runtime.Board.Cpu.Observer = monitor;
        monitor._attached = true;
        return monitor;
    }

    /// <summary>What the monitor recorded so far (at most <see cref="MaxRecorded"/>).</summary>
    public IReadOnlyList<MonitorViolation> Violations
    {
        get
        {
            Settle();
            return _violations.ToArray();
        }
    }

    /// <summary>Every violation seen, including those past <see cref="MaxRecorded"/>.</summary>
    public long TotalViolations { get; private set; }

    /// <summary>The instances (by id) whose confined space the CPU was seen in.</summary>
    public IReadOnlyCollection<int> InstancesSeen => _seen;

    /// <summary>Confined instructions judged (so a test can tell "nothing recorded" from "nothing watched").</summary>
    public long InstructionsChecked { get; private set; }

    /// <summary>Confined memory accesses judged.</summary>
    public long AccessesChecked { get; private set; }

    /// <summary>Detaches from the CPU (it returns to its unobserved fast paths).</summary>
    public void Dispose()
    {
        if (!_attached) return;
        Settle();
        _attached = false;
        if (ReferenceEquals(_cpu.Observer, this)) _cpu.Observer = null;
    }

    void IExecutionObserver.InstructionStarted(in InstructionObservation instruction)
    {
        Settle();
        var set = Resolve(instruction.Context);
        _set = set;
        if (set == null)
        {
            _prevWhere = Where.Nowhere; // left the confined space: the next confined start comes from the trampoline or an event
            return;
        }
        InstructionsChecked++;
        _pending = true;
        _linear = instruction.Linear;
        _physical = instruction.Physical;
        _byteCount = 0;
        _where = Locate(set, _linear, _physical, out _offset);
        CheckStart(set);
    }

    void IExecutionObserver.MemoryAccessed(in AccessObservation access)
    {
        SettleWalkWrite();
        var set = Resolve(access.Context);
        if (set == null) return;
        AccessesChecked++;
        ulong frame = access.Physical >> 12;
        ulong lastFrame = (access.Physical + (ulong)Math.Max(access.Size, 1) - 1) >> 12;
        switch (access.Kind)
        {
            case ObservedAccessKind.Fetch:
                CollectBytes(access.Physical, access.Size);
                if (!set.MayFetch(frame) || !set.MayFetch(lastFrame))
                    Record(MonitorViolationKind.FetchOutsideAllowed, set, access.Linear, access.Physical,
                        "instruction fetch from a frame that is neither the hypervisor code nor the trampoline");
                break;
            case ObservedAccessKind.Read:
                if (!set.MayRead(frame) || !set.MayRead(lastFrame))
                    Record(MonitorViolationKind.ReadOutsideAllowed, set, access.Linear, access.Physical,
                        $"{access.Size}-byte read of a frame outside the instance's allowed set");
                break;
            case ObservedAccessKind.Write:
                if (!set.MayWrite(frame) || !set.MayWrite(lastFrame))
                    Record(MonitorViolationKind.WriteOutsideAllowed, set, access.Linear, access.Physical,
                        $"{access.Size}-byte write of a frame outside the instance's writable set");
                break;
            case ObservedAccessKind.PageWalkRead:
                if (!set.IsPageTable(frame))
                    Record(MonitorViolationKind.ReadOutsideAllowed, set, access.Linear, access.Physical,
                        "page walk read outside the instance's own page tables");
                break;
            case ObservedAccessKind.PageWalkWrite:
                if (!set.IsPageTable(frame))
                {
                    Record(MonitorViolationKind.WriteOutsideAllowed, set, access.Linear, access.Physical,
                        "page walk write outside the instance's own page tables");
                    break;
                }
                _walkWritePending = true;
                _walkSet = set;
                _walkLinear = access.Linear;
                _walkPhysical = access.Physical;
                _walkSize = access.Size;
                _walkRip = _linear;
                _walkOld = _memory.Read(access.Physical, access.Size);
                break;
        }
    }

    // ---- context and location ---------------------------------------------------------------

    /// <summary>The allowed set of the confined instance whose space the CPU is in, or null (host, baseline, guest).</summary>
    private InstanceAllowedSet? Resolve(in ObservedContext context)
    {
        if (context.NonRoot) return null;
        ulong root = context.Cr3 & PageTableBuilder.AddressMask;
        if (root == _lastRoot) return _lastSet;
        if (!_sets.TryGetValue(root, out var set))
        {
            set = null;
            foreach (var inst in _runtime.Instances)
                if (inst.Confined && inst.Cr3 == root)
                {
                    set = new InstanceAllowedSet(_runtime, inst);
                    _sets[root] = set;
                    _seen.Add(inst.Id);
                    break;
                }
        }
        _lastRoot = root;
        _lastSet = set;
        return set;
    }

    private Where Locate(InstanceAllowedSet set, ulong linear, ulong physical, out long offset)
    {
        var frames = _runtime.TrampolineFrames;
        ulong trampolineEnd = ConfinedLayout.Trampoline + (ulong)frames.Count * 0x1000;
        if (linear >= ConfinedLayout.Trampoline && linear < trampolineEnd
            && frames[(int)((linear - ConfinedLayout.Trampoline) >> 12)] == (physical & ~0xFFFUL))
        {
            offset = (long)(linear - ConfinedLayout.Trampoline);
            if (offset < _runtime.Trampoline.Bytes.Length) return Where.Trampoline;
            // Past the trampoline's code in its last frame: the runtime's INT3 padding is a trap.
            if (_memory.Read(physical, 1) == ImageLoader.TailPadding) return Where.Padding;
            return Where.Elsewhere;
        }
        int page = set.CodePage(physical >> 12);
        if (page >= 0)
        {
            offset = ((long)page << 12) + (long)(physical & 0xFFF);
            if (linear == ConfinedLayout.Code + (ulong)offset) return Where.Image;
        }
        offset = -1;
        return Where.Elsewhere;
    }

    private void CheckStart(InstanceAllowedSet set)
    {
        bool prevHere = _prevWhere != Where.Nowhere && ReferenceEquals(_prevSet, set);
        switch (_where)
        {
            case Where.Trampoline:
                if (!_trampolineStarts[_offset])
                    Record(MonitorViolationKind.StartNotValidated, set, _linear, _physical,
                        $"trampoline offset 0x{_offset:x} is not a trampoline instruction start");
                else if (prevHere && _prevWhere != Where.Trampoline && !IsTrampolineEntry(_offset))
                    Record(MonitorViolationKind.StartNotValidated, set, _linear, _physical,
                        $"hypervisor code entered the trampoline at offset 0x{_offset:x}, not at a bundle start or a vector entry");
                break;
            case Where.Image:
                if (_offset >= set.Instance.Image.Image.Code.Length && _memory.Read(_physical, 1) == ImageLoader.TailPadding)
                {
                    _where = Where.Padding; // the loader's INT3 past the end: it traps to the runtime and does nothing else
                    break;
                }
                if (_offset >= set.Instance.Image.Image.Code.Length)
                {
                    // The rest of the last code frame: bytes the verifier never saw.
                    Record(MonitorViolationKind.StartNotValidated, set, _linear, _physical,
                        $"image offset 0x{_offset:x} is past the end of the verified image (0x{set.Instance.Image.Image.Code.Length:x} bytes)");
                    break;
                }
                bool fallThrough = prevHere && _prevWhere == Where.Image && _prevEnd == _linear;
                if (!fallThrough && !set.Instance.Image.Verification.ValidatedStarts.Contains(_offset))
                    Record(MonitorViolationKind.StartNotValidated, set, _linear, _physical,
                        $"image offset 0x{_offset:x} is not a validated instruction start");
                break;
            case Where.Padding:
                break;
            default:
                Record(MonitorViolationKind.StartNotValidated, set, _linear, _physical,
                    "instruction start outside the loaded image and the trampoline");
                break;
        }
    }

    /// <summary>A bundle start (INT3: a masked jump lands there) or a vector entry (bundle v + 1: where every IDT gate points).</summary>
    private static bool IsTrampolineEntry(long offset) =>
        offset % Bundle == 0 || (offset % Bundle == 1 && offset / Bundle < VectorEntries);

    // ---- judging the executed instruction ------------------------------------------------------

    private void CollectBytes(ulong physical, int size)
    {
        if (!_pending || _byteCount + size > _bytes.Length) return;
        if (!_memory.IsRam(physical >> 12)) return; // never read a device to decode
        _memory.ReadBytes(physical, _bytes.AsSpan(_byteCount, size));
        _byteCount += size;
    }

    /// <summary>Judges the pending instruction and any pending page-walk write (called before each new observation and before results are read).</summary>
    private void Settle()
    {
        SettleWalkWrite();
        if (!_pending) return;
        _pending = false;
        var set = _set!;
        DecodedInstruction decoded = default;
        int length = _byteCount;
        if (_where is not (Where.Trampoline or Where.Padding))
        {
            decoded = _decoder.Decode(_bytes.AsSpan(0, _byteCount));
            if (length == 0) length = decoded.Length;
            Judge(set, in decoded, length);
        }
        _prevSet = set;
        _prevWhere = _where;
        _prevEnd = _linear + (ulong)length;
        _prevOffset = _offset;
        _prevDecoded = decoded;
    }

    private void Judge(InstanceAllowedSet set, in DecodedInstruction d, int length)
    {
        string? problem = d.Kind switch
        {
            InstructionKind.Invalid => "no valid instruction decodes here",
            InstructionKind.Forbidden => ExecutedInstructionDecoder.Reason(in d),
            InstructionKind.Int => d.Value == ServiceRegisters.GateVector ? null : $"int 0x{d.Value:x} is not the runtime gate",
            InstructionKind.JmpReg or InstructionKind.CallReg =>
                d.Reg == 4 ? "indirect branch through rsp"
                : !FollowsFirstHalf(InstructionKind.AndMask, d.Reg) ? "indirect branch not immediately after 'and rX, -32' on the same register in its bundle" : null,
            InstructionKind.Vmread or InstructionKind.Vmwrite => VmcsProblem(in d),
            _ => null,
        };
        if (problem == null && _where == Where.Image)
        {
            if (_offset / Bundle != (_offset + length - 1) / Bundle) problem = "instruction crosses a bundle boundary";
            else if (d.Kind is InstructionKind.CallRel or InstructionKind.CallReg && (_offset + length) % Bundle != 0)
                problem = "call does not end at a bundle boundary";
        }
        if (problem != null)
            Record(MonitorViolationKind.ForbiddenInstruction, set, _linear, _physical,
                $"{ExecutedInstructionDecoder.Text(_bytes.AsSpan(0, _byteCount), _linear)}: {problem}");
    }

    private string? VmcsProblem(in DecodedInstruction d)
    {
        bool read = d.Kind == InstructionKind.Vmread;
        if (!FollowsFirstHalf(InstructionKind.MovR32Imm, d.Reg))
            return $"{(read ? "vmread" : "vmwrite")} not immediately after 'mov r32, imm32' naming its field register in its bundle";
        uint field = (uint)_prevDecoded.Value;
        bool allowed = read ? VmcsFieldTable.MayRead(field) : VmcsFieldTable.MayWrite(field);
        return allowed ? null : $"VMCS field 0x{field:x4} may not be {(read ? "read" : "written")} by confined code";
    }

    /// <summary>True when the previous instruction ran just before this one, in the same bundle of the image, and is the first half <paramref name="kind"/> on <paramref name="reg"/>.</summary>
    private bool FollowsFirstHalf(InstructionKind kind, byte reg) =>
        _where == Where.Image && _prevWhere == Where.Image && ReferenceEquals(_prevSet, _set) && _prevEnd == _linear
        && _prevOffset / Bundle == _offset / Bundle && _prevDecoded.Kind == kind && _prevDecoded.Reg == reg;

    private void SettleWalkWrite()
    {
        if (!_walkWritePending) return;
        _walkWritePending = false;
        ulong now = _memory.Read(_walkPhysical, _walkSize);
        if (((now ^ _walkOld) & ~AccessedDirty) != 0)
            Record(MonitorViolationKind.WriteOutsideAllowed, _walkSet!, _walkLinear, _walkPhysical,
                $"page-walk write changed more than the accessed/dirty flags (0x{_walkOld:x} -> 0x{now:x})", _walkRip);
    }

    private void Record(MonitorViolationKind kind, InstanceAllowedSet set, ulong linear, ulong physical, string description, ulong? rip = null)
    {
        TotalViolations++;
        if (_violations.Count < MaxRecorded)
            _violations.Add(new MonitorViolation(kind, set.Instance.Id, rip ?? _linear, linear, physical, description));
    }

    /// <summary>Every instruction start of trusted code laid out in bundles (decoded linearly, as it was assembled).</summary>
    private static bool[] InstructionStarts(byte[] code)
    {
        var starts = new bool[code.Length];
        var decoder = Decoder.Create(64, new ByteArrayCodeReader(code));
        while (decoder.IP < (ulong)code.Length)
        {
            ulong at = decoder.IP;
            decoder.Decode(out var instruction);
            if (instruction.Length == 0) break;
            starts[at] = true;
        }
        return starts;
    }
}
