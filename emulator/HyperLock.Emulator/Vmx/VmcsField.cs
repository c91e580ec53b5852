using System.Runtime.CompilerServices;

namespace HyperLock.Emulator.Vmx;

/// <summary>Width of a VMCS field (encoding bits 14:13).</summary>
public enum VmcsWidth : byte { Bits16 = 0, Bits64 = 1, Bits32 = 2, Natural = 3 }

/// <summary>Field group (encoding bits 11:10).</summary>
public enum VmcsType : byte { Control = 0, ExitInfo = 1, Guest = 2, Host = 3 }

/// <summary>
/// VMCS field encodings (SDM Vol. 3 Appendix B). Encoding layout: bit 0 access type
/// (1 = high half of a 64-bit field), bits 9:1 index, 11:10 type, 14:13 width; bit 12 and
/// bits 31:15 are reserved.
/// </summary>
public static class VmcsField
{
    // 16-bit control
    public const uint Vpid = 0x0000;
    // 16-bit guest state
    public const uint GuestEsSel = 0x0800, GuestCsSel = 0x0802, GuestSsSel = 0x0804, GuestDsSel = 0x0806,
        GuestFsSel = 0x0808, GuestGsSel = 0x080A, GuestLdtrSel = 0x080C, GuestTrSel = 0x080E;
    // 16-bit host state
    public const uint HostEsSel = 0x0C00, HostCsSel = 0x0C02, HostSsSel = 0x0C04, HostDsSel = 0x0C06,
        HostFsSel = 0x0C08, HostGsSel = 0x0C0A, HostTrSel = 0x0C0C;
    // 64-bit control
    public const uint IoBitmapA = 0x2000, IoBitmapB = 0x2002, MsrBitmap = 0x2004, ExitMsrStoreAddr = 0x2006,
        ExitMsrLoadAddr = 0x2008, EntryMsrLoadAddr = 0x200A, ExecutiveVmcsPtr = 0x200C, TscOffset = 0x2010,
        VirtualApicAddr = 0x2012, ApicAccessAddr = 0x2014, EptPointer = 0x201A;
    // 64-bit read-only
    public const uint GuestPhysicalAddress = 0x2400;
    // 64-bit guest state
    public const uint VmcsLinkPointer = 0x2800, GuestDebugCtl = 0x2802, GuestPat = 0x2804, GuestEfer = 0x2806,
        GuestPerfGlobalCtrl = 0x2808, GuestPdpte0 = 0x280A, GuestPdpte1 = 0x280C, GuestPdpte2 = 0x280E, GuestPdpte3 = 0x2810;
    // 64-bit host state
    public const uint HostPat = 0x2C00, HostEfer = 0x2C02, HostPerfGlobalCtrl = 0x2C04;
    // 32-bit control
    public const uint PinControls = 0x4000, ProcControls = 0x4002, ExceptionBitmap = 0x4004, PfErrorMask = 0x4006,
        PfErrorMatch = 0x4008, Cr3TargetCount = 0x400A, ExitControls = 0x400C, ExitMsrStoreCount = 0x400E,
        ExitMsrLoadCount = 0x4010, EntryControls = 0x4012, EntryMsrLoadCount = 0x4014, EntryInterruptionInfo = 0x4016,
        EntryExceptionErrorCode = 0x4018, EntryInstructionLength = 0x401A, TprThreshold = 0x401C, ProcControls2 = 0x401E;
    // 32-bit read-only
    public const uint InstructionError = 0x4400, ExitReason = 0x4402, ExitInterruptionInfo = 0x4404,
        ExitInterruptionErrorCode = 0x4406, IdtVectoringInfo = 0x4408, IdtVectoringErrorCode = 0x440A,
        ExitInstructionLength = 0x440C, ExitInstructionInfo = 0x440E;
    // 32-bit guest state
    public const uint GuestEsLimit = 0x4800, GuestCsLimit = 0x4802, GuestSsLimit = 0x4804, GuestDsLimit = 0x4806,
        GuestFsLimit = 0x4808, GuestGsLimit = 0x480A, GuestLdtrLimit = 0x480C, GuestTrLimit = 0x480E,
        GuestGdtrLimit = 0x4810, GuestIdtrLimit = 0x4812, GuestEsAr = 0x4814, GuestCsAr = 0x4816, GuestSsAr = 0x4818,
        GuestDsAr = 0x481A, GuestFsAr = 0x481C, GuestGsAr = 0x481E, GuestLdtrAr = 0x4820, GuestTrAr = 0x4822,
        GuestInterruptibility = 0x4824, GuestActivityState = 0x4826, GuestSmbase = 0x4828, GuestSysenterCs = 0x482A,
        PreemptionTimerValue = 0x482E;
    // 32-bit host state
    public const uint HostSysenterCs = 0x4C00;
    // natural-width control
    public const uint Cr0GuestHostMask = 0x6000, Cr4GuestHostMask = 0x6002, Cr0ReadShadow = 0x6004,
        Cr4ReadShadow = 0x6006, Cr3Target0 = 0x6008, Cr3Target1 = 0x600A, Cr3Target2 = 0x600C, Cr3Target3 = 0x600E;
    // natural-width read-only
    public const uint ExitQualification = 0x6400, IoRcx = 0x6402, IoRsi = 0x6404, IoRdi = 0x6406, IoRip = 0x6408,
        GuestLinearAddress = 0x640A;
    // natural-width guest state
    public const uint GuestCr0 = 0x6800, GuestCr3 = 0x6802, GuestCr4 = 0x6804, GuestEsBase = 0x6806,
        GuestCsBase = 0x6808, GuestSsBase = 0x680A, GuestDsBase = 0x680C, GuestFsBase = 0x680E, GuestGsBase = 0x6810,
        GuestLdtrBase = 0x6812, GuestTrBase = 0x6814, GuestGdtrBase = 0x6816, GuestIdtrBase = 0x6818, GuestDr7 = 0x681A,
        GuestRsp = 0x681C, GuestRip = 0x681E, GuestRflags = 0x6820, GuestPendingDebug = 0x6822,
        GuestSysenterEsp = 0x6824, GuestSysenterEip = 0x6826;
    // natural-width host state
    public const uint HostCr0 = 0x6C00, HostCr3 = 0x6C02, HostCr4 = 0x6C04, HostFsBase = 0x6C06, HostGsBase = 0x6C08,
        HostTrBase = 0x6C0A, HostGdtrBase = 0x6C0C, HostIdtrBase = 0x6C0E, HostSysenterEsp = 0x6C10,
        HostSysenterEip = 0x6C12, HostRsp = 0x6C14, HostRip = 0x6C16;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VmcsWidth Width(uint encoding) => (VmcsWidth)((encoding >> 13) & 3);
    public static VmcsType Type(uint encoding) => (VmcsType)((encoding >> 10) & 3);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Index(uint encoding) => (int)((encoding >> 1) & 0x1FF);
    public static bool IsHighAccess(uint encoding) => (encoding & 1) != 0;

    /// <summary>Guest segment fields: selector, base, limit, access rights for ES..GS (Seg order), LDTR, TR.</summary>
    public static uint GuestSel(int seg) => GuestEsSel + (uint)seg * 2;
    public static uint GuestBase(int seg) => GuestEsBase + (uint)seg * 2;
    public static uint GuestLimit(int seg) => GuestEsLimit + (uint)seg * 2;
    public static uint GuestAr(int seg) => GuestEsAr + (uint)seg * 2;

    /// <summary>Segment index used by the guest-segment helpers for LDTR and TR.</summary>
    public const int SegLdtr = 6, SegTr = 7;
}

/// <summary>One supported VMCS field: its encoding (always the "full" access type) and storage slot.</summary>
public readonly record struct VmcsFieldInfo(uint Encoding, string Name, int Slot)
{
    public VmcsWidth Width => VmcsField.Width(Encoding);
    public VmcsType Type => VmcsField.Type(Encoding);
    /// <summary>Read-only fields (the VM-exit information group); VMWRITE to them fails with error 13.</summary>
    public bool ReadOnly => Type == VmcsType.ExitInfo;
}

/// <summary>
/// The table of every VMCS field the model supports (Bochs's <c>vmcs.cc</c> idea: data, not
/// scattered constants). VMREAD/VMWRITE of an encoding not in this table fail with
/// VMfailValid(12). Each field has a storage slot; the current VMCS is held in a slot array and
/// written to its region in guest-physical memory at offset <see cref="Vmcs.DataOffset"/> + 8 × slot.
/// </summary>
public static class VmcsFields
{
    /// <summary>All supported fields, in slot order.</summary>
    public static readonly VmcsFieldInfo[] All;

    /// <summary>Slot of a field by (width, type, index); -1 if unsupported.</summary>
    private static readonly short[] SlotByKey = new short[4 * 4 * 512];

    public static int Count => All.Length;

    static VmcsFields()
    {
        var list = new List<(uint, string)>
        {
            (VmcsField.Vpid, "VPID"),
            (VmcsField.GuestEsSel, "GUEST_ES_SELECTOR"), (VmcsField.GuestCsSel, "GUEST_CS_SELECTOR"),
            (VmcsField.GuestSsSel, "GUEST_SS_SELECTOR"), (VmcsField.GuestDsSel, "GUEST_DS_SELECTOR"),
            (VmcsField.GuestFsSel, "GUEST_FS_SELECTOR"), (VmcsField.GuestGsSel, "GUEST_GS_SELECTOR"),
            (VmcsField.GuestLdtrSel, "GUEST_LDTR_SELECTOR"), (VmcsField.GuestTrSel, "GUEST_TR_SELECTOR"),
            (VmcsField.HostEsSel, "HOST_ES_SELECTOR"), (VmcsField.HostCsSel, "HOST_CS_SELECTOR"),
            (VmcsField.HostSsSel, "HOST_SS_SELECTOR"), (VmcsField.HostDsSel, "HOST_DS_SELECTOR"),
            (VmcsField.HostFsSel, "HOST_FS_SELECTOR"), (VmcsField.HostGsSel, "HOST_GS_SELECTOR"),
            (VmcsField.HostTrSel, "HOST_TR_SELECTOR"),
            (VmcsField.IoBitmapA, "IO_BITMAP_A"), (VmcsField.IoBitmapB, "IO_BITMAP_B"), (VmcsField.MsrBitmap, "MSR_BITMAP"),
            (VmcsField.ExitMsrStoreAddr, "VM_EXIT_MSR_STORE_ADDR"), (VmcsField.ExitMsrLoadAddr, "VM_EXIT_MSR_LOAD_ADDR"),
            (VmcsField.EntryMsrLoadAddr, "VM_ENTRY_MSR_LOAD_ADDR"), (VmcsField.ExecutiveVmcsPtr, "EXECUTIVE_VMCS_POINTER"),
            (VmcsField.TscOffset, "TSC_OFFSET"), (VmcsField.EptPointer, "EPT_POINTER"),
            (VmcsField.GuestPhysicalAddress, "GUEST_PHYSICAL_ADDRESS"),
            (VmcsField.VmcsLinkPointer, "VMCS_LINK_POINTER"), (VmcsField.GuestDebugCtl, "GUEST_IA32_DEBUGCTL"),
            (VmcsField.GuestPat, "GUEST_IA32_PAT"), (VmcsField.GuestEfer, "GUEST_IA32_EFER"),
            (VmcsField.GuestPdpte0, "GUEST_PDPTE0"), (VmcsField.GuestPdpte1, "GUEST_PDPTE1"),
            (VmcsField.GuestPdpte2, "GUEST_PDPTE2"), (VmcsField.GuestPdpte3, "GUEST_PDPTE3"),
            (VmcsField.HostPat, "HOST_IA32_PAT"), (VmcsField.HostEfer, "HOST_IA32_EFER"),
            (VmcsField.PinControls, "PIN_BASED_VM_EXEC_CONTROL"), (VmcsField.ProcControls, "CPU_BASED_VM_EXEC_CONTROL"),
            (VmcsField.ExceptionBitmap, "EXCEPTION_BITMAP"), (VmcsField.PfErrorMask, "PAGE_FAULT_ERROR_CODE_MASK"),
            (VmcsField.PfErrorMatch, "PAGE_FAULT_ERROR_CODE_MATCH"), (VmcsField.Cr3TargetCount, "CR3_TARGET_COUNT"),
            (VmcsField.ExitControls, "VM_EXIT_CONTROLS"), (VmcsField.ExitMsrStoreCount, "VM_EXIT_MSR_STORE_COUNT"),
            (VmcsField.ExitMsrLoadCount, "VM_EXIT_MSR_LOAD_COUNT"), (VmcsField.EntryControls, "VM_ENTRY_CONTROLS"),
            (VmcsField.EntryMsrLoadCount, "VM_ENTRY_MSR_LOAD_COUNT"), (VmcsField.EntryInterruptionInfo, "VM_ENTRY_INTR_INFO"),
            (VmcsField.EntryExceptionErrorCode, "VM_ENTRY_EXCEPTION_ERROR_CODE"),
            (VmcsField.EntryInstructionLength, "VM_ENTRY_INSTRUCTION_LEN"), (VmcsField.TprThreshold, "TPR_THRESHOLD"),
            (VmcsField.ProcControls2, "SECONDARY_VM_EXEC_CONTROL"),
            (VmcsField.InstructionError, "VM_INSTRUCTION_ERROR"), (VmcsField.ExitReason, "VM_EXIT_REASON"),
            (VmcsField.ExitInterruptionInfo, "VM_EXIT_INTR_INFO"), (VmcsField.ExitInterruptionErrorCode, "VM_EXIT_INTR_ERROR_CODE"),
            (VmcsField.IdtVectoringInfo, "IDT_VECTORING_INFO"), (VmcsField.IdtVectoringErrorCode, "IDT_VECTORING_ERROR_CODE"),
            (VmcsField.ExitInstructionLength, "VM_EXIT_INSTRUCTION_LEN"), (VmcsField.ExitInstructionInfo, "VMX_INSTRUCTION_INFO"),
            (VmcsField.GuestEsLimit, "GUEST_ES_LIMIT"), (VmcsField.GuestCsLimit, "GUEST_CS_LIMIT"),
            (VmcsField.GuestSsLimit, "GUEST_SS_LIMIT"), (VmcsField.GuestDsLimit, "GUEST_DS_LIMIT"),
            (VmcsField.GuestFsLimit, "GUEST_FS_LIMIT"), (VmcsField.GuestGsLimit, "GUEST_GS_LIMIT"),
            (VmcsField.GuestLdtrLimit, "GUEST_LDTR_LIMIT"), (VmcsField.GuestTrLimit, "GUEST_TR_LIMIT"),
            (VmcsField.GuestGdtrLimit, "GUEST_GDTR_LIMIT"), (VmcsField.GuestIdtrLimit, "GUEST_IDTR_LIMIT"),
            (VmcsField.GuestEsAr, "GUEST_ES_AR_BYTES"), (VmcsField.GuestCsAr, "GUEST_CS_AR_BYTES"),
            (VmcsField.GuestSsAr, "GUEST_SS_AR_BYTES"), (VmcsField.GuestDsAr, "GUEST_DS_AR_BYTES"),
            (VmcsField.GuestFsAr, "GUEST_FS_AR_BYTES"), (VmcsField.GuestGsAr, "GUEST_GS_AR_BYTES"),
            (VmcsField.GuestLdtrAr, "GUEST_LDTR_AR_BYTES"), (VmcsField.GuestTrAr, "GUEST_TR_AR_BYTES"),
            (VmcsField.GuestInterruptibility, "GUEST_INTERRUPTIBILITY_INFO"), (VmcsField.GuestActivityState, "GUEST_ACTIVITY_STATE"),
            (VmcsField.GuestSmbase, "GUEST_SMBASE"), (VmcsField.GuestSysenterCs, "GUEST_SYSENTER_CS"),
            (VmcsField.PreemptionTimerValue, "VMX_PREEMPTION_TIMER_VALUE"),
            (VmcsField.HostSysenterCs, "HOST_IA32_SYSENTER_CS"),
            (VmcsField.Cr0GuestHostMask, "CR0_GUEST_HOST_MASK"), (VmcsField.Cr4GuestHostMask, "CR4_GUEST_HOST_MASK"),
            (VmcsField.Cr0ReadShadow, "CR0_READ_SHADOW"), (VmcsField.Cr4ReadShadow, "CR4_READ_SHADOW"),
            (VmcsField.Cr3Target0, "CR3_TARGET_VALUE0"), (VmcsField.Cr3Target1, "CR3_TARGET_VALUE1"),
            (VmcsField.Cr3Target2, "CR3_TARGET_VALUE2"), (VmcsField.Cr3Target3, "CR3_TARGET_VALUE3"),
            (VmcsField.ExitQualification, "EXIT_QUALIFICATION"), (VmcsField.IoRcx, "IO_RCX"), (VmcsField.IoRsi, "IO_RSI"),
            (VmcsField.IoRdi, "IO_RDI"), (VmcsField.IoRip, "IO_RIP"), (VmcsField.GuestLinearAddress, "GUEST_LINEAR_ADDRESS"),
            (VmcsField.GuestCr0, "GUEST_CR0"), (VmcsField.GuestCr3, "GUEST_CR3"), (VmcsField.GuestCr4, "GUEST_CR4"),
            (VmcsField.GuestEsBase, "GUEST_ES_BASE"), (VmcsField.GuestCsBase, "GUEST_CS_BASE"),
            (VmcsField.GuestSsBase, "GUEST_SS_BASE"), (VmcsField.GuestDsBase, "GUEST_DS_BASE"),
            (VmcsField.GuestFsBase, "GUEST_FS_BASE"), (VmcsField.GuestGsBase, "GUEST_GS_BASE"),
            (VmcsField.GuestLdtrBase, "GUEST_LDTR_BASE"), (VmcsField.GuestTrBase, "GUEST_TR_BASE"),
            (VmcsField.GuestGdtrBase, "GUEST_GDTR_BASE"), (VmcsField.GuestIdtrBase, "GUEST_IDTR_BASE"),
            (VmcsField.GuestDr7, "GUEST_DR7"), (VmcsField.GuestRsp, "GUEST_RSP"), (VmcsField.GuestRip, "GUEST_RIP"),
            (VmcsField.GuestRflags, "GUEST_RFLAGS"), (VmcsField.GuestPendingDebug, "GUEST_PENDING_DBG_EXCEPTIONS"),
            (VmcsField.GuestSysenterEsp, "GUEST_SYSENTER_ESP"), (VmcsField.GuestSysenterEip, "GUEST_SYSENTER_EIP"),
            (VmcsField.HostCr0, "HOST_CR0"), (VmcsField.HostCr3, "HOST_CR3"), (VmcsField.HostCr4, "HOST_CR4"),
            (VmcsField.HostFsBase, "HOST_FS_BASE"), (VmcsField.HostGsBase, "HOST_GS_BASE"), (VmcsField.HostTrBase, "HOST_TR_BASE"),
            (VmcsField.HostGdtrBase, "HOST_GDTR_BASE"), (VmcsField.HostIdtrBase, "HOST_IDTR_BASE"),
            (VmcsField.HostSysenterEsp, "HOST_IA32_SYSENTER_ESP"), (VmcsField.HostSysenterEip, "HOST_IA32_SYSENTER_EIP"),
            (VmcsField.HostRsp, "HOST_RSP"), (VmcsField.HostRip, "HOST_RIP"),
        };
        Array.Fill(SlotByKey, (short)-1);
        All = new VmcsFieldInfo[list.Count];
        for (int i = 0; i < list.Count; i++)
        {
            if (SlotByKey[Key(list[i].Item1)] >= 0) throw new InvalidOperationException($"duplicate VMCS field {list[i].Item2}");
            All[i] = new VmcsFieldInfo(list[i].Item1, list[i].Item2, i);
            SlotByKey[Key(list[i].Item1)] = (short)i;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Key(uint encoding) =>
        (int)((((encoding >> 13) & 3) << 2 | ((encoding >> 10) & 3)) << 9) | VmcsField.Index(encoding);

    /// <summary>
    /// Slot of an encoding as VMREAD/VMWRITE see it, or -1 when unsupported (reserved bits set,
    /// unknown field, or the high-access form of a field that is not 64-bit).
    /// </summary>
    public static int Lookup(ulong encoding)
    {
        if ((encoding & ~0x6FFFUL) != 0) return -1; // bits 63:15 and 12 reserved
        uint e = (uint)encoding;
        if ((e & 1) != 0 && VmcsField.Width(e) != VmcsWidth.Bits64) return -1;
        return SlotByKey[Key(e)];
    }

    /// <summary>Slot of a supported field's full encoding (for the model's own accesses).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int SlotOf(uint encoding) => SlotByKey[Key(encoding)];

    /// <summary>Highest index among supported fields (IA32_VMX_VMCS_ENUM bits 9:1).</summary>
    public static int HighestIndex()
    {
        int max = 0;
        foreach (var f in All) max = Math.Max(max, VmcsField.Index(f.Encoding));
        return max;
    }
}
