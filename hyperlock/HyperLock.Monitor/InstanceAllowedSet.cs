using HyperLock.Abi;
using HyperLock.Emulator.Builders;
using HyperLock.Emulator.Memory;
using HyperLock.Runtime;

namespace HyperLock.Monitor;

/// <summary>
/// The physical frames one confined instance may touch, by kind of access (SPEC §5, docs/runtime.md
/// "Address-space layout"): fetch — the shared hypervisor code and the trampoline; read — those,
/// its data and stack, its guest's memory, its GDT/IDT/TSS and IST stacks; write — its data, stack,
/// guest memory and IST stacks; page walks — only its own page-table frames. Built from what the
/// runtime allocated, not from the page tables, so an extra mapping shows up as a violation.
/// </summary>
internal sealed class InstanceAllowedSet
{
    private readonly PhysicalMemory _memory;
    private readonly HashSet<ulong> _exec = new();
    private readonly HashSet<ulong> _readOnly = new();
    private readonly HashSet<ulong> _readWrite = new();
    private readonly HashSet<ulong> _tables = new();
    private readonly Dictionary<ulong, int> _codePages = new();
    private readonly ulong _guestFirst, _guestEnd;

    public InstanceAllowedSet(IsolationRuntime runtime, Instance instance)
    {
        _memory = runtime.Board.Memory;
        Instance = instance;
        Root = instance.Cr3;
        for (int k = 0; k < instance.Image.CodeFrames.Count; k++)
        {
            _exec.Add(instance.Image.CodeFrames[k] >> 12);
            _codePages[instance.Image.CodeFrames[k] >> 12] = k;
        }
        foreach (ulong f in runtime.TrampolineFrames) _exec.Add(f >> 12);
        foreach (ulong f in instance.DataFrames) _readWrite.Add(f >> 12);
        foreach (ulong f in instance.StackFrames) _readWrite.Add(f >> 12);
        for (ulong o = 0; o < ConfinedLayout.IstAreaSize; o += FrameAllocator.FrameSize)
            if (ConfinedLayout.IsIstStackPage(o)) _readWrite.Add((instance.IstFrames + o) >> 12); // the IST stacks, not their guard pages
        _readOnly.Add(instance.GdtFrame >> 12);
        _readOnly.Add(instance.IdtFrame >> 12);
        _readOnly.Add(instance.TssFrame >> 12);
        _guestFirst = instance.GuestBase >> 12;
        _guestEnd = (instance.GuestBase + instance.GuestSize) >> 12;
        RefreshTables();
    }

    public Instance Instance { get; }

    /// <summary>The PML4 frame that identifies the instance's space.</summary>
    public ulong Root { get; }

    /// <summary>The image page held by <paramref name="frame"/>, or -1 when it holds none of the image's code.</summary>
    public int CodePage(ulong frame) => _codePages.TryGetValue(frame, out int k) ? k : -1;

    public bool MayFetch(ulong frame) => _exec.Contains(frame);

    public bool MayRead(ulong frame) => MayWrite(frame) || _exec.Contains(frame) || _readOnly.Contains(frame);

    public bool MayWrite(ulong frame) => _readWrite.Contains(frame) || (frame >= _guestFirst && frame < _guestEnd);

    /// <summary>True when <paramref name="frame"/> is one of the instance's page-table frames (the tree grows when guest pages are mapped, so a miss re-reads it).</summary>
    public bool IsPageTable(ulong frame)
    {
        if (_tables.Contains(frame)) return true;
        RefreshTables();
        return _tables.Contains(frame);
    }

    private void RefreshTables()
    {
        _tables.Clear();
        foreach (ulong f in PageTableBuilder.TableFrames(_memory, Root)) _tables.Add(f >> 12);
    }
}
