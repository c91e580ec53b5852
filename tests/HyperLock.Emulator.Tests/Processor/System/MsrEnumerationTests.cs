using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Memory;

namespace HyperLock.Emulator.Tests.Processor.SystemInstructions;

/// <summary>
/// MSRs exist exactly when CPUID enumerates them (SDM Vol. 4 ch. 2, "Architectural MSRs"):
/// the MTRRs (CPUID.1:EDX.MTRR), IA32_TSC_ADJUST (CPUID.(7,0):EBX[1]), IA32_SPEC_CTRL and
/// IA32_PRED_CMD (CPUID.(7,0):EDX[26]), IA32_FLUSH_CMD (EDX[28]) and IA32_ARCH_CAPABILITIES
/// (EDX[29]); they accept only their defined bits. MSRs nothing enumerates raise #GP.
/// </summary>
public class MsrEnumerationTests
{
    private const uint MtrrCap = 0xFE, MtrrDefType = 0x2FF, MtrrPhysBase0 = 0x200, MtrrPhysMask0 = 0x201, MtrrFix64K = 0x250,
        MtrrFix4KF8000 = 0x26F, SpecCtrl = 0x48, PredCmd = 0x49, ArchCapabilities = 0x10A, FlushCmd = 0x10B, BiosSignId = 0x8B, TscAdjust = 0x3B;

    private static (PhysicalMemory, Cpu) NewCpu()
    {
        var mem = new PhysicalMemory(1 << 20);
        return (mem, new Cpu(mem));
    }

    private static bool Cpuid(Cpu c, uint leaf, int register, int bit) => c.Cpuid.HasBit(leaf, 0, register, bit);

    [Fact]
    public void EnumeratedMsrsExistAndUnenumeratedOnesRaiseGp()
    {
        var (mem, c) = NewCpu();
        using var memory = mem;
        (uint Msr, uint Leaf, int Register, int Bit)[] enumerated =
        [
            (MtrrCap, 1, CpuidProfile.Edx, 12), (MtrrDefType, 1, CpuidProfile.Edx, 12), (MtrrPhysBase0, 1, CpuidProfile.Edx, 12),
            (TscAdjust, 7, CpuidProfile.Ebx, 1), (SpecCtrl, 7, CpuidProfile.Edx, 26), (ArchCapabilities, 7, CpuidProfile.Edx, 29),
        ];
        foreach (var (msr, leaf, register, bit) in enumerated)
        {
            Assert.True(Cpuid(c, leaf, register, bit), $"MSR {msr:X} is implemented but CPUID.{leaf:X} does not enumerate it");
            Assert.True(c.TryReadMsr(msr, out _), $"RDMSR {msr:X}");
        }
        Assert.True(Cpuid(c, 7, CpuidProfile.Edx, 28));           // L1D_FLUSH → IA32_FLUSH_CMD
        Assert.True(c.TryWriteMsr(FlushCmd, 1));
        // Not enumerated by this profile: TSX_CTRL (ARCH_CAPABILITIES bit 7), MCU_OPT_CTRL (CPUID.(7,0):EDX[9]), PKRS, UMWAIT_CONTROL.
        foreach (uint msr in new uint[] { 0x122, 0x123, 0x6E1, 0xE1 })
        {
            Assert.False(c.TryReadMsr(msr, out _), $"RDMSR {msr:X}");
            Assert.False(c.TryWriteMsr(msr, 0), $"WRMSR {msr:X}");
        }
        Assert.Equal(0UL, c.TryReadMsr(ArchCapabilities, out ulong caps) ? caps & (1UL << 7) : 1); // no TSX_CTRL
    }

    [Fact]
    public void SpeculationControlMsrsAcceptOnlyDefinedBits()
    {
        var (mem, c) = NewCpu();
        using var memory = mem;
        Assert.True(c.TryWriteMsr(SpecCtrl, 0x7));                 // IBRS, STIBP, SSBD
        Assert.True(c.TryReadMsr(SpecCtrl, out ulong spec));
        Assert.Equal(0x7UL, spec);
        Assert.False(c.TryWriteMsr(SpecCtrl, 0x8));                // bit 3 is not enumerated
        Assert.False(c.TryWriteMsr(SpecCtrl, 1UL << 32));
        Assert.True(c.TryReadMsr(SpecCtrl, out spec));
        Assert.Equal(0x7UL, spec);                                 // the refused write changed nothing
        Assert.True(c.TryWriteMsr(PredCmd, 1));                    // IBPB
        Assert.False(c.TryWriteMsr(PredCmd, 2));
        Assert.False(c.TryReadMsr(PredCmd, out _));                // command registers are write-only
        Assert.False(c.TryWriteMsr(FlushCmd, 2));
        Assert.False(c.TryReadMsr(FlushCmd, out _));
        Assert.False(c.TryWriteMsr(ArchCapabilities, 0));          // read-only
        Assert.True(c.TryReadMsr(ArchCapabilities, out ulong caps));
        // RDCL_NO, IBRS_ALL, SKIP_L1DFL_VMENTRY, MDS_NO: the core is not affected by Meltdown, L1TF or MDS.
        Assert.Equal(0x2BUL, caps & 0x2B);
    }

    [Fact]
    public void MtrrsAreStoredAndCheckedAsTheSdmDefines()
    {
        var (mem, c) = NewCpu();
        using var memory = mem;
        Assert.True(c.TryReadMsr(MtrrCap, out ulong cap));
        Assert.InRange(cap & 0xFF, 1UL, 255UL);                    // VCNT variable ranges
        Assert.Equal(1UL << 8, cap & (1UL << 8));                  // FIX
        Assert.False(c.TryWriteMsr(MtrrCap, cap));                 // read-only
        ulong vcnt = cap & 0xFF;

        Assert.True(c.TryWriteMsr(MtrrDefType, (1UL << 11) | (1UL << 10) | 6));
        Assert.True(c.TryReadMsr(MtrrDefType, out ulong def));
        Assert.Equal(0xC06UL, def);
        Assert.False(c.TryWriteMsr(MtrrDefType, (1UL << 11) | 2)); // type 2 is reserved
        Assert.False(c.TryWriteMsr(MtrrDefType, 1UL << 12));       // reserved bit

        Assert.True(c.TryWriteMsr(MtrrFix64K, 0x0606060606060606));
        Assert.True(c.TryWriteMsr(MtrrFix4KF8000, 0x0000000005040100));
        Assert.True(c.TryReadMsr(MtrrFix4KF8000, out ulong fix));
        Assert.Equal(0x0000000005040100UL, fix);
        Assert.False(c.TryWriteMsr(MtrrFix64K, 0x0700000000000000)); // type 7 is reserved

        ulong top = 1UL << Cpu.MaxPhysAddrBits;
        Assert.True(c.TryWriteMsr(MtrrPhysBase0 + 2 * (uint)(vcnt - 1), 0x8000_0000 | 0));
        Assert.True(c.TryWriteMsr(MtrrPhysMask0 + 2 * (uint)(vcnt - 1), ((top - 1) & ~0x7FFF_FFFUL) | (1UL << 11)));
        Assert.True(c.TryReadMsr(MtrrPhysBase0 + 2 * (uint)(vcnt - 1), out ulong vbase));
        Assert.Equal(0x8000_0000UL, vbase);
        Assert.False(c.TryWriteMsr(MtrrPhysBase0, top | 6));      // beyond the physical-address width
        Assert.False(c.TryWriteMsr(MtrrPhysBase0, 0x100 | 6));    // bits 11:8 reserved
        Assert.False(c.TryWriteMsr(MtrrPhysMask0, 0x400));        // bits 10:0 reserved
        Assert.False(c.TryReadMsr(MtrrPhysBase0 + 2 * (uint)vcnt, out _)); // past VCNT
    }

    /// <summary>SDM Vol. 3 §10.11.7.1: write 0 to IA32_BIOS_SIGN_ID, execute CPUID(1), read the revision from bits 63:32.</summary>
    [Fact]
    public void MicrocodeRevisionIsReported()
    {
        var (mem, c) = NewCpu();
        using var memory = mem;
        Assert.True(c.TryWriteMsr(BiosSignId, 0));
        Assert.True(c.TryReadMsr(BiosSignId, out ulong sign));
        Assert.NotEqual(0UL, sign >> 32);
        Assert.Equal(0UL, sign & 0xFFFFFFFF);
    }
}
