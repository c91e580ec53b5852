using System.Runtime.CompilerServices;
using HyperLock.Emulator.Vmx;

namespace HyperLock.Emulator.Processor;

/// <summary>
/// VMX operation state of the logical processor: VMX root/non-root, the VMXON region, the
/// current-VMCS pointer and the current VMCS's contents (held in a slot array while current,
/// written back to its region in guest-physical memory on VMCLEAR and when another VMCS
/// becomes current, as the SDM permits), and the controls cached at VM entry for the
/// non-root hot paths.
/// </summary>
public sealed partial class Cpu
{
    /// <summary>True between VMXON and VMXOFF (root or non-root).</summary>
    public bool InVmxOperation { get; internal set; }

    /// <summary>True while a guest runs (VMX non-root operation). Handlers test it before calling an intercept.</summary>
    public bool InNonRoot;

    /// <summary>Physical address of the VMXON region.</summary>
    public ulong VmxonPointer { get; internal set; } = ulong.MaxValue;

    /// <summary>Current-VMCS pointer; all ones when there is none.</summary>
    public ulong CurrentVmcsPointer { get; internal set; } = ulong.MaxValue;

    /// <summary>The current VMCS's fields by slot (<see cref="VmcsFields"/>).</summary>
    internal readonly ulong[] Vmcs = new ulong[VmcsFields.Count];

    /// <summary>Launch state of the current VMCS (true = launched).</summary>
    internal bool VmcsLaunched;

    /// <summary>Counts of VM entries and exits (tests, benchmarks).</summary>
    public ulong VmEntries, VmExits;

    /// <summary>VM exits by basic exit reason (<see cref="ExitReason"/>; index = reason), counted at the exit only.</summary>
    public readonly ulong[] VmExitsByReason = new ulong[ExitReason.Count];

    // Controls cached at VM entry (the VMCS cannot change while the guest runs).
    internal uint VPin, VProc, VProc2, VExitCtl, VEntryCtl, VExceptionBitmap, VPfMask, VPfMatch;
    internal ulong VCr0Mask, VCr4Mask, VCr0Shadow, VCr4Shadow;
    internal bool EptActive;
    internal ulong EptRoot;
    internal bool EptAd;
    internal ushort CurrentVpid;

    /// <summary>Virtual-NMI blocking of a guest run with "virtual NMIs" (physical blocking is <see cref="NmiBlocked"/>).</summary>
    internal bool VirtualNmiBlocked;

    /// <summary>The guest's blocking by NMI as the interruptibility state reports it: virtual or physical.</summary>
    internal bool GuestNmiBlocked => (VPin & VmxControls.PinVirtualNmis) != 0 ? VirtualNmiBlocked : NmiBlocked;

    /// <summary>Non-root events need checking at instruction boundaries (windows, timer, external-interrupt exiting, entry shadow).</summary>
    internal bool VmxEventWatch;

    /// <summary>Virtual time at which the VMX-preemption timer expires; ulong.MaxValue when inactive.</summary>
    public ulong VmxTimerDeadline = ulong.MaxValue;

    /// <summary>An STI/MOV-SS shadow loaded at entry, resolved at the next instruction boundary.</summary>
    private bool _entryShadowPending;

    internal const int VmExitPendingVector = 0x100;

    /// <summary>Installs the VMX capability MSRs; called from the constructor.</summary>
    private void InitVmx()
    {
        MsrHook = new CompositeMsrHandler(new VmxMsrHandler());
    }

    /// <summary>Adds an MSR handler (e.g. the local APIC's x2APIC range) in front of the existing ones.</summary>
    public void AddMsrHandler(IMsrHandler handler) =>
        MsrHook = MsrHook == null ? handler : new CompositeMsrHandler(handler, MsrHook);

    // ---- VMCS access by encoding (the model's own accesses) ----------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ref ulong VmcsRef(uint encoding) => ref Vmcs[VmcsFields.SlotOf(encoding)];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ulong VmRead(uint encoding) => Vmcs[VmcsFields.SlotOf(encoding)];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void VmWrite(uint encoding, ulong value) => Vmcs[VmcsFields.SlotOf(encoding)] = TruncateField(encoding, value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong TruncateField(uint encoding, ulong value) => VmcsField.Width(encoding) switch
    {
        VmcsWidth.Bits16 => value & 0xFFFF,
        VmcsWidth.Bits32 => value & 0xFFFFFFFF,
        _ => value,
    };

    /// <summary>Reads a VMCS field of the current VMCS for tests and debuggers (full encodings; NaN-safe: unsupported → 0).</summary>
    public ulong ReadVmcsField(uint encoding)
    {
        int slot = VmcsFields.Lookup(encoding);
        return slot < 0 ? 0 : Vmcs[slot];
    }

    /// <summary>
    /// Writes a field of the current VMCS as a VMWRITE from VMX root would (truncated to the
    /// field's width), for trusted host code reached through the host-call port. False, and
    /// nothing written, when there is no current VMCS or the field is unsupported or read-only.
    /// </summary>
    public bool WriteVmcsField(uint encoding, ulong value)
    {
        int slot = VmcsFields.Lookup(encoding);
        if (slot < 0 || CurrentVmcsPointer == ulong.MaxValue || VmcsFields.All[slot].ReadOnly) return false;
        if (VmcsField.IsHighAccess(encoding)) Vmcs[slot] = (Vmcs[slot] & 0xFFFFFFFFUL) | (value << 32);
        else Vmcs[slot] = TruncateField(encoding, value);
        return true;
    }

    // ---- VMCS regions in guest-physical memory -------------------------------------------

    /// <summary>Writes the cached current VMCS back to its region.</summary>
    internal void FlushCurrentVmcs()
    {
        if (CurrentVmcsPointer == ulong.MaxValue) return;
        Vmx.Vmcs.Store(Memory, CurrentVmcsPointer, Vmcs, VmcsLaunched);
    }

    internal void LoadCurrentVmcs(ulong address)
    {
        if (address == CurrentVmcsPointer) return;
        FlushCurrentVmcs();
        CurrentVmcsPointer = address;
        VmcsLaunched = Vmx.Vmcs.Load(Memory, address, Vmcs);
    }

    // ---- deferred VM exits from instruction handlers and the MMU -------------------------

    private uint _xReason;
    private ulong _xQual, _xGuestLinear, _xGuestPhys;
    private uint _xInstrLen, _xInstrInfo, _xIntInfo, _xIntError;
    private bool _xHasPhys, _xHasLinear;

    /// <summary>
    /// Raises a VM exit caused by the current instruction: like a fault, the instruction is not
    /// committed (handlers return at once) and RIP stays at it; the run loop performs the exit.
    /// Always returns true so intercepts can <c>return c.RaiseVmExit(...)</c>.
    /// </summary>
    public bool RaiseVmExit(int reason, ulong qualification, ref Decode.Insn i, uint instrInfo = 0)
    {
        return RaiseVmExitRaw(reason, qualification, i.Len, instrInfo);
    }

    internal bool RaiseVmExitRaw(int reason, ulong qualification, uint instrLen, uint instrInfo)
    {
        if (Faulted) return true;
        _xReason = (uint)reason;
        _xQual = qualification;
        _xInstrLen = instrLen;
        _xInstrInfo = instrInfo;
        _xIntInfo = 0;
        _xIntError = 0;
        _xHasPhys = _xHasLinear = false;
        Faulted = true;
        PendingVector = VmExitPendingVector;
        PendingHasError = false;
        PendingIsPageFault = false;
        PendingSoftware = SoftwareEventKind.None;
        ExitRequest |= ExitFault;
        return true;
    }
}
