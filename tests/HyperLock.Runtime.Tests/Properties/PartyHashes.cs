using HyperLock.Emulator.Builders;
using HyperLock.Emulator.Memory;

namespace HyperLock.Runtime.Tests.Properties;

/// <summary>
/// Hashes of every party an instance must not change: the host (its page tables without the
/// accessed/dirty flags the CPU's walks set, its GDT/IDT/TSS, the trampoline), the instance's own
/// code (shared, read-only), and every other instance (data, stack, IST, system tables, FXSAVE
/// image, page tables, EPT mappings) and its guest's memory. Not the host stack and slots, which
/// the runtime itself uses, nor VMCS frames (the CPU writes its cached VMCS back at VMPTRLD).
/// </summary>
internal static class PartyHashes
{
    public static Dictionary<string, string> Of(IsolationRuntime rt, Instance self)
    {
        var mem = rt.Board.Memory;
        var parties = new Dictionary<string, string>
        {
            ["host page tables"] = Hash(mem, [(HostLayout.HostTables, HostLayout.HostTablesEnd - HostLayout.HostTables)], pageTables: true),
            ["host system tables"] = Hash(mem, [(HostLayout.HostGdt, 0x3000)]),
            ["trampoline"] = Hash(mem, rt.TrampolineFrames.Select(f => (f, 0x1000UL))),
            ["own code"] = Hash(mem, self.Image.CodeFrames.Select(f => (f, 0x1000UL))),
        };
        foreach (var other in rt.Instances)
        {
            if (other == self) continue;
            var frames = other.DataFrames.Concat(other.StackFrames)
                .Concat(Enumerable.Range(0, (int)(Abi.ConfinedLayout.IstAreaSize / 0x1000)).Select(k => other.IstFrames + (ulong)k * 0x1000))
                .Concat([other.GdtFrame, other.IdtFrame, other.TssFrame, other.FxFrame, other.MsrBitmapFrame]);
            parties[$"instance {other.Id}"] = Hash(mem, frames.Select(f => (f, 0x1000UL)));
            parties[$"instance {other.Id} page tables"] = Hash(mem, PageTableBuilder.TableFrames(mem, other.Cr3).Select(f => (f, 0x1000UL)), pageTables: true);
            parties[$"instance {other.Id} EPT"] = string.Join(";", other.Ept.Mappings());
            parties[$"guest {other.Id}"] = Hash(mem, [(other.GuestBase, other.GuestSize)]);
        }
        return parties;
    }

    /// <summary>The parties whose hash differs between <paramref name="before"/> and <paramref name="after"/>.</summary>
    public static List<string> Changed(Dictionary<string, string> before, Dictionary<string, string> after) =>
        before.Where(p => after[p.Key] != p.Value).Select(p => p.Key).ToList();

    private static string Hash(PhysicalMemory mem, IEnumerable<(ulong Base, ulong Size)> ranges, bool pageTables = false) =>
        Convert.ToHexString(MemoryDigest.Of(mem, ranges, pageTables));
}
