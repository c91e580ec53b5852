namespace HyperLock.Attacks;

/// <summary>Where a case's hypervisor comes from.</summary>
public enum HypervisorKind { Hex, MiniKvm, MiniKvmVulnerable, File }

/// <summary>Where a case's (attacker's) guest comes from.</summary>
public enum GuestKind { Exits, Hex }

/// <summary>
/// One attack, as a case file describes it (docs/security.md, "Case files"): what it tries, what
/// must happen, the hypervisor it runs (hand-written bytes, the mini-KVM or its vulnerable build,
/// or an image file), the guest paired with it, and the targets it is run against (one run each).
/// </summary>
public sealed record AttackCase(
    string Name, string File, string Tries, string Must, Expectation Expect,
    HypervisorKind Hypervisor, IReadOnlyList<HexCode.Line> HypervisorCode, string? HypervisorPath, string ManifestText,
    GuestKind Guest, IReadOnlyList<HexCode.Line> GuestCode, IReadOnlyList<string> Targets);
