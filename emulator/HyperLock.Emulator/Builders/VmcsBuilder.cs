using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Vmx;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using F = HyperLock.Emulator.Vmx.VmcsField;

namespace HyperLock.Emulator.Builders;

/// <summary>
/// The field values of a VMCS, in the order they are set: the standard 64-bit guest
/// (<see cref="Standard64BitGuest"/>) or anything else. Host x86 code applies them with
/// VMWRITE (<see cref="EmitVmwrites"/>); trusted host C# code reached through the host-call
/// port applies them to the current VMCS (<see cref="ApplyTo"/>). HOST_RIP is normally left to
/// the host code that knows where its exit handler is.
/// </summary>
public sealed class VmcsBuilder
{
    private readonly List<uint> _order = new();
    private readonly Dictionary<uint, ulong> _values = new();

    /// <summary>The fields and values, in the order they were first set.</summary>
    public IEnumerable<KeyValuePair<uint, ulong>> Fields
    {
        get
        {
            foreach (uint f in _order) yield return new KeyValuePair<uint, ulong>(f, _values[f]);
        }
    }

    public int Count => _order.Count;

    /// <summary>The value set for <paramref name="field"/> (0 if none).</summary>
    public ulong this[uint field]
    {
        get => _values.GetValueOrDefault(field);
        set => Set(field, value);
    }

    public bool Contains(uint field) => _values.ContainsKey(field);

    /// <summary>Sets a field (keeps its first position if it was set before).</summary>
    public VmcsBuilder Set(uint field, ulong value)
    {
        if (!_values.ContainsKey(field)) _order.Add(field);
        _values[field] = value;
        return this;
    }

    /// <summary>ORs bits into a field (a control, typically).</summary>
    public VmcsBuilder SetBits(uint field, ulong bits) => Set(field, this[field] | bits);

    /// <summary>Clears bits of a field.</summary>
    public VmcsBuilder ClearBits(uint field, ulong bits) => Set(field, this[field] & ~bits);

    /// <summary>
    /// A complete, valid VMCS for a 64-bit guest at CPL0 under a 64-bit host: the controls'
    /// default-1 bits, host-address-space size and IA-32e-mode guest; host state from
    /// <paramref name="host"/> and <paramref name="hostRsp"/> (HOST_RIP not set); guest state from
    /// <paramref name="guest"/> (flat segments, TR the 64-bit TSS, LDTR unusable, RFLAGS = 2,
    /// DR7 = 0x400), the VMCS link pointer all ones.
    /// </summary>
    public static VmcsBuilder Standard64BitGuest(LongModeState host, ulong hostRsp, LongModeState guest, ulong guestRip, ulong guestRsp)
    {
        var b = new VmcsBuilder()
            .Set(F.PinControls, VmxCapabilities.PinDefault1)
            .Set(F.ProcControls, VmxCapabilities.ProcTrueDefault1)
            .Set(F.ExitControls, VmxCapabilities.ExitTrueDefault1 | VmxControls.ExitHostLongMode)
            .Set(F.EntryControls, VmxCapabilities.EntryTrueDefault1 | VmxControls.EntryIa32eGuest)
            .Set(F.HostCr0, host.Cr0).Set(F.HostCr3, host.Cr3).Set(F.HostCr4, host.Cr4)
            .Set(F.HostCsSel, host.CodeSelector).Set(F.HostSsSel, host.DataSelector).Set(F.HostDsSel, host.DataSelector)
            .Set(F.HostEsSel, host.DataSelector).Set(F.HostFsSel, host.DataSelector).Set(F.HostGsSel, host.DataSelector)
            .Set(F.HostTrSel, host.TssSelector)
            .Set(F.HostTrBase, host.TssBase).Set(F.HostGdtrBase, host.GdtBase).Set(F.HostIdtrBase, host.IdtBase)
            .Set(F.HostRsp, hostRsp)
            .Set(F.GuestCr0, guest.Cr0).Set(F.GuestCr3, guest.Cr3).Set(F.GuestCr4, guest.Cr4)
            .Set(F.GuestDr7, 0x400).Set(F.GuestRflags, 2).Set(F.GuestRip, guestRip).Set(F.GuestRsp, guestRsp)
            .Set(F.GuestCsSel, guest.CodeSelector).Set(F.GuestCsLimit, 0xFFFFFFFF).Set(F.GuestCsAr, 0xA09B)
            .Set(F.GuestTrSel, guest.TssSelector).Set(F.GuestTrBase, guest.TssBase).Set(F.GuestTrLimit, guest.TssLimit)
            .Set(F.GuestTrAr, 0x8B)
            .Set(F.GuestLdtrAr, SegmentRegister.AttrUnusable)
            .Set(F.GuestGdtrBase, guest.GdtBase).Set(F.GuestGdtrLimit, guest.GdtLimit)
            .Set(F.GuestIdtrBase, guest.IdtBase).Set(F.GuestIdtrLimit, guest.IdtLimit)
            .Set(F.VmcsLinkPointer, ulong.MaxValue)
            .Set(F.GuestEfer, guest.Efer);
        foreach (int s in new[] { Seg.Es, Seg.Ss, Seg.Ds, Seg.Fs, Seg.Gs })
        {
            b.Set(F.GuestSel(s), guest.DataSelector);
            b.Set(F.GuestLimit(s), 0xFFFFFFFF);
            b.Set(F.GuestAr(s), 0xC093);
        }
        return b;
    }

    /// <summary>Turns on EPT (and VPID when <paramref name="vpid"/> ≠ 0) with <paramref name="eptPointer"/>.</summary>
    public VmcsBuilder WithEpt(ulong eptPointer, ushort vpid = 0)
    {
        SetBits(F.ProcControls, VmxControls.ProcSecondary);
        SetBits(F.ProcControls2, VmxControls.Proc2Ept | (vpid != 0 ? VmxControls.Proc2Vpid : 0));
        if (vpid != 0) Set(F.Vpid, vpid);
        return Set(F.EptPointer, eptPointer);
    }

    /// <summary>Makes every IN/OUT/INS/OUTS of the guest a VM exit (what the HyperLock runtime always sets).</summary>
    public VmcsBuilder WithUnconditionalIoExiting() => SetBits(F.ProcControls, VmxControls.ProcUncondIo);

    /// <summary>Emits <c>mov rax, value; mov rdx, field; vmwrite rdx, rax</c> for every field (clobbers RAX and RDX).</summary>
    public void EmitVmwrites(Assembler a)
    {
        foreach (var (field, value) in Fields) EmitVmwrite(a, field, value);
    }

    /// <summary>One VMWRITE of an immediate value (clobbers RAX and RDX).</summary>
    public static void EmitVmwrite(Assembler a, uint field, ulong value)
    {
        a.mov(rax, (long)value);
        a.mov(rdx, (long)field);
        a.vmwrite(rdx, rax);
    }

    /// <summary>One VMREAD into <paramref name="destination"/> (clobbers RDX).</summary>
    public static void EmitVmread(Assembler a, AssemblerRegister64 destination, uint field)
    {
        a.mov(rdx, (long)field);
        a.vmread(destination, rdx);
    }

    /// <summary>
    /// Writes every field into <paramref name="cpu"/>'s current VMCS (<see cref="Cpu.WriteVmcsField"/>);
    /// false when there is no current VMCS or a field is unsupported or read-only (fields before it are written).
    /// </summary>
    public bool ApplyTo(Cpu cpu)
    {
        foreach (var (field, value) in Fields)
            if (!cpu.WriteVmcsField(field, value)) return false;
        return true;
    }
}
