using HyperLock.Abi;
using HyperLock.Emulator.Builders;
using HyperLock.Runtime;

namespace HyperLock.Attacks;

/// <summary>One value a case's {target} takes, with the name it was given.</summary>
public sealed record AttackTarget(string Name, ulong Value);

/// <summary>
/// The symbolic targets of case files (docs/security.md), resolved against a machine laid out
/// exactly as the case's runs are (same images, same order), so physical addresses are the real
/// ones: numbers, <c>host-page-tables</c>, <c>host-gdt</c>, <c>host-idt</c>, <c>host-stack</c>,
/// <c>runtime-pool</c>, <c>own-page-tables</c>, <c>own-ept</c>, <c>other-data</c>,
/// <c>other-page-tables</c>, <c>other-vmcs</c>, <c>other-guest</c> (physical addresses),
/// <c>guest-window</c>, <c>trampoline</c>, <c>trampoline+1</c>, <c>host-idt-linear</c>, and
/// <c>scan</c>: every 32-byte-aligned address of every page mapped in the attacker's space outside
/// its code, plus the first address of every unmapped gap between them.
/// </summary>
public static class AttackTargets
{
    public static readonly string[] Symbols =
    [
        "host-page-tables", "host-gdt", "host-idt", "host-stack", "runtime-pool", "own-page-tables", "own-ept",
        "other-data", "other-page-tables", "other-vmcs", "other-guest", "guest-window", "trampoline", "trampoline+1",
        "host-idt-linear", "scan",
    ];

    public static IEnumerable<AttackTarget> Resolve(string name, IsolationRuntime rt, Instance attacker, Instance other, string where)
    {
        // NAME@gpa: the guest-physical address at which the attacker's guest would reach host-physical
        // NAME if a service added the guest's base without checking the range (it wraps below the base).
        if (name.EndsWith("@gpa", StringComparison.Ordinal))
            return Resolve(name[..^4], rt, attacker, other, where).Select(t => new AttackTarget(name, unchecked(t.Value - attacker.GuestBase)));
        ulong? one = name switch
        {
            "host-page-tables" => rt.HostSpace.Root,
            "host-gdt" => HostLayout.HostGdt,
            "host-idt" => HostLayout.HostIdt,
            "host-stack" => HostLayout.HostStackTop - 8,
            "runtime-pool" => HostLayout.PoolStart,
            "own-page-tables" => attacker.Cr3,
            "own-ept" => attacker.Ept.Root,
            "other-data" => other.DataFrames[0],
            "other-page-tables" => other.Cr3,
            "other-vmcs" => other.VmcsFrame,
            "other-guest" => other.GuestBase,
            "guest-window" => ConfinedLayout.GuestWindow + GuestSpec.CodeAddress,
            "trampoline" => ConfinedLayout.Trampoline,
            "trampoline+1" => ConfinedLayout.Trampoline + 1,
            "host-idt-linear" => ConfinedLayout.Idt,
            "scan" => null,
            _ => HexCode.Number(name, where),
        };
        if (one is ulong v) return [new AttackTarget(name, v)];
        return Scan(rt, attacker);
    }

    /// <summary>Every 32-byte-aligned address the attacker's space maps outside its code, and the first address of each gap.</summary>
    private static IEnumerable<AttackTarget> Scan(IsolationRuntime rt, Instance attacker)
    {
        ulong codeEnd = ConfinedLayout.Code + (ulong)attacker.Image.CodeFrames.Count * 0x1000;
        ulong imageEnd = ConfinedLayout.Code + ((ulong)attacker.Image.Image.Code.Length + 31) / 32 * 32;
        var mapped = PageTableBuilder.Mappings(rt.Board.Memory, attacker.Cr3).OrderBy(m => m.Linear).ToList();
        var list = new List<AttackTarget>();
        ulong gapStart = 0;
        foreach (var m in mapped)
        {
            if (m.Linear >= ConfinedLayout.Code && m.Linear < codeEnd)
            {
                // The image itself is the verifier's business; the rest of its last page is not the image.
                for (ulong a = Math.Max(m.Linear, imageEnd); a < m.Linear + m.Size; a += 32) list.Add(new AttackTarget("past the image", a));
                if (m.Linear > gapStart) list.Add(new AttackTarget("gap", gapStart));
                gapStart = m.Linear + m.Size;
                continue;
            }
            if (m.Linear > gapStart && !(gapStart < 0xFFFF_8000_0000_0000 && gapStart >= 0x0000_8000_0000_0000))
                list.Add(new AttackTarget("gap", gapStart));
            for (ulong a = m.Linear; a < m.Linear + m.Size; a += 32) list.Add(new AttackTarget("mapped", a));
            gapStart = m.Linear + m.Size;
        }
        if (gapStart != 0) list.Add(new AttackTarget("gap", gapStart));
        return list;
    }
}
