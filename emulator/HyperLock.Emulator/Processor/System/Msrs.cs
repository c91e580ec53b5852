namespace HyperLock.Emulator.Processor;

/// <summary>MSR numbers the model implements.</summary>
public static class Msr
{
    public const uint Tsc = 0x10, ApicBase = 0x1B, FeatureControl = 0x3A, TscAdjust = 0x3B, SpecCtrl = 0x48,
        BiosSignId = 0x8B, MtrrCap = 0xFE, SysenterCs = 0x174, SysenterEsp = 0x175, SysenterEip = 0x176,
        McgCap = 0x179, McgStatus = 0x17A, MiscEnable = 0x1A0, Pat = 0x277, MtrrDefType = 0x2FF,
        TscDeadline = 0x6E0, Efer = 0xC0000080, Star = 0xC0000081, Lstar = 0xC0000082, Cstar = 0xC0000083,
        DebugCtl = 0x1D9, Fmask = 0xC0000084, FsBase = 0xC0000100, GsBase = 0xC0000101, KernelGsBase = 0xC0000102, TscAux = 0xC0000103;
}

/// <summary>
/// Model-specific registers: the architectural ones every x86-64 OS touches. Unknown MSRs
/// raise #GP, as on hardware; devices (local APIC x2APIC range) and VMX add their own through
/// <see cref="Cpu.MsrHook"/>.
/// </summary>
public sealed partial class Cpu
{
    public ulong SysenterCs, SysenterEsp, SysenterEip, Star, Lstar, Cstar, Fmask, KernelGsBase, TscAux;
    public ulong Pat = 0x0007040600070406UL, MiscEnable = 1, ApicBaseMsr = 0xFEE00900, FeatureControl, TscDeadline;
    public ulong MtrrDefType;

    /// <summary>Offset added to virtual time to form the TSC (written through IA32_TSC).</summary>
    public long TscOffset;

    /// <summary>
    /// Extra MSR handlers consulted first (local APIC, VMX capability MSRs). Return true when
    /// the MSR is theirs; set <c>fault</c> to raise #GP.
    /// </summary>
    public IMsrHandler? MsrHook { get; set; }

    /// <summary>The time-stamp counter: virtual time plus the offset software wrote.</summary>
    public ulong Tsc => (ulong)((long)Now + TscOffset);

    private void ResetMsrs()
    {
        SysenterCs = SysenterEsp = SysenterEip = Star = Lstar = Cstar = Fmask = KernelGsBase = TscAux = 0;
        Pat = 0x0007040600070406UL;
        MiscEnable = 1;
        ApicBaseMsr = 0xFEE00900;
        TscDeadline = 0;
        SpecCtrl = 0;
        ResetMtrrs();
    }

    /// <summary>RDMSR semantics: returns false when the MSR does not exist (caller raises #GP).</summary>
    public bool TryReadMsr(uint index, out ulong value)
    {
        if (MsrHook != null && MsrHook.TryRead(this, index, out value, out bool fault)) return !fault;
        switch (index)
        {
            case Msr.Tsc: value = Tsc; return true;
            case Msr.ApicBase: value = ApicBaseMsr; return true;
            case Msr.FeatureControl: value = FeatureControl; return true;
            case Msr.TscAdjust: value = (ulong)TscOffset; return true;
            case Msr.SysenterCs: value = SysenterCs; return true;
            case Msr.SysenterEsp: value = SysenterEsp; return true;
            case Msr.SysenterEip: value = SysenterEip; return true;
            case Msr.McgCap: value = 0; return true;
            case Msr.McgStatus: value = 0; return true;
            case Msr.MiscEnable: value = MiscEnable; return true;
            case Msr.Pat: value = Pat; return true;
            case Msr.DebugCtl: value = DebugCtl; return true;
            case Msr.TscDeadline: value = TscDeadline; return true;
            case Msr.Efer: value = Efer; return true;
            case Msr.Star: value = Star; return true;
            case Msr.Lstar: value = Lstar; return true;
            case Msr.Cstar: value = Cstar; return true;
            case Msr.Fmask: value = Fmask; return true;
            case Msr.FsBase: value = Segs[Seg.Fs].Base; return true;
            case Msr.GsBase: value = Segs[Seg.Gs].Base; return true;
            case Msr.KernelGsBase: value = KernelGsBase; return true;
            case Msr.TscAux: value = TscAux; return true;
            default:
                if (TryReadSpeculationMsr(index, out value, out bool specOk)) return specOk;
                return TryReadMtrr(index, out value);
        }
    }

    /// <summary>WRMSR semantics: returns false for unknown MSRs and reserved-bit violations (caller raises #GP).</summary>
    public bool TryWriteMsr(uint index, ulong value)
    {
        if (MsrHook != null && MsrHook.TryWrite(this, index, value, out bool fault)) return !fault;
        switch (index)
        {
            case Msr.Tsc: TscOffset = (long)(value - Now); return true;
            case Msr.TscAdjust: TscOffset = (long)value; return true;
            case Msr.ApicBase: ApicBaseMsr = value; return true;
            case Msr.FeatureControl:
                if ((FeatureControl & 1) != 0) return false; // locked
                FeatureControl = value;
                return true;
            case Msr.McgStatus: return true;
            case Msr.SysenterCs: SysenterCs = value & 0xFFFF; return true;
            case Msr.SysenterEsp: if (!IsCanonical(value)) return false; SysenterEsp = value; return true;
            case Msr.SysenterEip: if (!IsCanonical(value)) return false; SysenterEip = value; return true;
            case Msr.MiscEnable: MiscEnable = value; return true;
            case Msr.Pat:
                for (int i = 0; i < 8; i++)
                {
                    ulong t = (value >> (i * 8)) & 0xFF;
                    if (t is 2 or 3 or > 7) return false;
                }
                Pat = value;
                return true;
            case Msr.DebugCtl: return WriteDebugCtl(value);
            case Msr.TscDeadline: TscDeadline = value; return true;
            case Msr.Efer: return WriteEfer(value);
            case Msr.Star: Star = value; return true;
            case Msr.Lstar: if (!IsCanonical(value)) return false; Lstar = value; return true;
            case Msr.Cstar: if (!IsCanonical(value)) return false; Cstar = value; return true;
            case Msr.Fmask: Fmask = value & 0xFFFFFFFF; return true;
            case Msr.FsBase: if (!IsCanonical(value)) return false; Segs[Seg.Fs].Base = value; return true;
            case Msr.GsBase: if (!IsCanonical(value)) return false; Segs[Seg.Gs].Base = value; return true;
            case Msr.KernelGsBase: if (!IsCanonical(value)) return false; KernelGsBase = value; return true;
            case Msr.TscAux: TscAux = value & 0xFFFFFFFF; return true;
            default:
                if (TryWriteSpeculationMsr(index, value, out bool specOk)) return specOk;
                return TryWriteMtrr(index, value, out bool mtrrOk) && mtrrOk;
        }
    }

    /// <summary>EFER write rules: reserved bits fault; LME cannot change while paging is on; LMA is read-only.</summary>
    public bool WriteEfer(ulong value)
    {
        const ulong writable = Bits.EferSce | Bits.EferLme | Bits.EferNxe;
        if ((value & ~(writable | Bits.EferLma)) != 0) return false;
        if ((Cr0 & Bits.Cr0Pg) != 0 && ((value ^ Efer) & Bits.EferLme) != 0) return false;
        Efer = (value & writable) | (Efer & Bits.EferLma);
        FlushTlb(includeGlobal: true);
        UpdateMode();
        return true;
    }
}

/// <summary>MSRs owned by something other than the core (APIC, VMX).</summary>
public interface IMsrHandler
{
    bool TryRead(Cpu cpu, uint index, out ulong value, out bool fault);
    bool TryWrite(Cpu cpu, uint index, ulong value, out bool fault);
}
