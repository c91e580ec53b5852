using F = HyperLock.Emulator.Vmx.VmcsField;
using C = HyperLock.Emulator.Vmx.VmxControls;

namespace HyperLock.Runtime.Services;

/// <summary>
/// The ControlWrite service's per-field masks: the bits of a VM-execution control a hypervisor
/// may change. A request whose value differs from the current one outside the mask is refused
/// whole. Never covered: I/O and external-interrupt exiting, EPTP, bitmaps, MSR-list pointers,
/// host state (the runtime owns them).
/// </summary>
public static class ControlWritePolicy
{
    private static readonly Dictionary<uint, ulong> Masks = new()
    {
        [F.ProcControls] = C.ProcIntWindow | C.ProcNmiWindow | C.ProcHlt,
        [F.PinControls] = C.PinPreemptionTimer,
        [F.ExceptionBitmap] = uint.MaxValue,
        [F.Cr0GuestHostMask] = ulong.MaxValue,
        [F.Cr4GuestHostMask] = ulong.MaxValue,
        [F.Cr0ReadShadow] = ulong.MaxValue,
        [F.Cr4ReadShadow] = ulong.MaxValue,
        [F.PreemptionTimerValue] = uint.MaxValue,
    };

    /// <summary>The fields the service covers.</summary>
    public static IEnumerable<uint> Fields => Masks.Keys;

    /// <summary>The mask of <paramref name="field"/>, or null when the field is not covered.</summary>
    public static ulong? MaskOf(uint field) => Masks.TryGetValue(field, out ulong m) ? m : null;
}
