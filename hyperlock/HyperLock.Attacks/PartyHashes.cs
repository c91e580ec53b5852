using System.Security.Cryptography;
using System.Text;
using HyperLock.DeviceModel;
using HyperLock.Emulator.Builders;
using HyperLock.Emulator.Memory;
using HyperLock.Runtime;

namespace HyperLock.Attacks;

/// <summary>
/// Hashes of everything the attacker's instance must not change, taken at the start and end of
/// every slice in which it had the CPU: the host's page tables, system tables and trampoline; the
/// shared hypervisor code; the attacker's own page tables and EPT (runtime memory); the other
/// instance's frames, page tables and EPT; the other guest's memory and device model. A party is
/// changed if any attacker slice changed it. (The other instance's VMCS frame is left out: the CPU
/// writes its cached copy back when the runtime loads the next VMCS.)
/// </summary>
public sealed class PartyHashes
{
    private readonly IsolationRuntime _rt;
    private readonly Instance _attacker, _victim;
    private readonly GuestDeviceModel _victimDevices;
    private Dictionary<string, string>? _sliceStart;
    private readonly SortedSet<string> _changed = new(StringComparer.Ordinal);

    public PartyHashes(IsolationRuntime rt, Instance attacker, Instance victim, GuestDeviceModel victimDevices)
    {
        _rt = rt;
        _attacker = attacker;
        _victim = victim;
        _victimDevices = victimDevices;
        rt.InstanceScheduled += Scheduled;
    }

    public int Parties { get; private set; }
    public int AttackerSlices { get; private set; }
    public IReadOnlyCollection<string> Changed => _changed;

    private void Scheduled(Instance inst)
    {
        EndSlice();
        if (inst == _attacker)
        {
            _sliceStart = Snapshot();
            AttackerSlices++;
        }
    }

    /// <summary>Closes the attacker's last slice (call after the run).</summary>
    public void Finish() => EndSlice();

    private void EndSlice()
    {
        if (_sliceStart is null) return;
        var end = Snapshot();
        foreach (var (party, before) in _sliceStart)
            if (end[party] != before) _changed.Add(party);
        _sliceStart = null;
    }

    private Dictionary<string, string> Snapshot()
    {
        var mem = _rt.Board.Memory;
        var p = new Dictionary<string, string>
        {
            ["host page tables"] = Hash(mem, [(HostLayout.HostTables, HostLayout.HostTablesEnd - HostLayout.HostTables)], pageTables: true),
            ["host GDT/IDT/TSS"] = Hash(mem, [(HostLayout.HostGdt, 0x3000)]),
            ["trampoline"] = Hash(mem, _rt.TrampolineFrames.Select(f => (f, Page))),
            ["hypervisor code"] = Hash(mem, _attacker.Image.CodeFrames.Concat(_victim.Image.CodeFrames).Distinct().Select(f => (f, Page))),
            ["attacker's page tables"] = Text(string.Join('\n', PageTableBuilder.Mappings(mem, _attacker.Cr3))),
            ["attacker's EPT"] = Text(string.Join('\n', _attacker.Ept.Mappings())),
            ["other instance"] = Hash(mem, _victim.DataFrames.Concat(_victim.StackFrames)
                .Concat([_victim.GdtFrame, _victim.IdtFrame, _victim.TssFrame, _victim.FxFrame, _victim.IstFrames, _victim.IstFrames + Page])
                .Select(f => (f, Page))),
            ["other instance's page tables"] = Hash(mem, PageTableBuilder.TableFrames(mem, _victim.Cr3).Select(f => (f, Page)), pageTables: true),
            ["other guest's EPT"] = Text(string.Join('\n', _victim.Ept.Mappings())),
            ["other guest"] = Hash(mem, [(_victim.GuestBase, _victim.GuestSize)]),
            ["other guest's devices"] = Text($"{_victimDevices.Requests} {Convert.ToHexString(_victimDevices.Serial.Output.ToArray())}"),
        };
        Parties = p.Count;
        return p;
    }

    private const ulong Page = 0x1000;

    private static string Text(string s) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(s)))[..16];

    private static string Hash(PhysicalMemory mem, IEnumerable<(ulong Base, ulong Size)> ranges, bool pageTables = false) =>
        Convert.ToHexString(MemoryDigest.Of(mem, ranges, pageTables))[..16];
}
