namespace HyperLock.Emulator.Processor;

/// <summary>
/// Memory-type range registers (SDM Vol. 3 §12.11), advertised by CPUID.1:EDX.MTRR: IA32_MTRRCAP
/// (10 variable ranges, fixed ranges, write combining), IA32_MTRR_DEF_TYPE, the eleven
/// fixed-range and the variable-range base/mask pairs. The values are stored and checked
/// (reserved bits and undefined memory types raise #GP) but do not change how memory
/// behaves: the emulator has no caches, so every type acts as write-back.
/// </summary>
public sealed partial class Cpu
{
    public const uint MtrrVariableRanges = 10;
    /// <summary>IA32_MTRRCAP: VCNT (bits 7:0), FIX (bit 8), WC (bit 10); no SMRR.</summary>
    public const ulong MtrrCapValue = MtrrVariableRanges | (1UL << 8) | (1UL << 10);
    /// <summary>IA32_MTRR_DEF_TYPE as firmware leaves it: MTRRs enabled (E, bit 11), default type write-back.</summary>
    public const ulong MtrrDefTypeFirmware = (1UL << 11) | 6;

    private const uint MtrrPhysBase0 = 0x200, MtrrFix64K = 0x250, MtrrFix16K80000 = 0x258, MtrrFix16KA0000 = 0x259,
        MtrrFix4KC0000 = 0x268, MtrrFix4KF8000 = 0x26F;

    private readonly ulong[] _mtrrFixed = new ulong[11];
    private readonly ulong[] _mtrrVariable = new ulong[2 * MtrrVariableRanges];

    private void ResetMtrrs()
    {
        Array.Clear(_mtrrFixed);
        Array.Clear(_mtrrVariable);
        MtrrDefType = 0;
    }

    /// <summary>Memory types an MTRR may hold: UC, WC, WT, WP, WB.</summary>
    private static bool ValidMemoryType(ulong t) => t is 0 or 1 or 4 or 5 or 6;

    /// <summary>Index into <see cref="_mtrrFixed"/> of a fixed-range MSR, or -1.</summary>
    private static int FixedMtrrSlot(uint index) => index switch
    {
        MtrrFix64K => 0,
        MtrrFix16K80000 => 1,
        MtrrFix16KA0000 => 2,
        >= MtrrFix4KC0000 and <= MtrrFix4KF8000 => 3 + (int)(index - MtrrFix4KC0000),
        _ => -1,
    };

    /// <summary>RDMSR of an MTRR; false when <paramref name="index"/> is not one.</summary>
    private bool TryReadMtrr(uint index, out ulong value)
    {
        value = 0;
        if (index == Msr.MtrrCap) { value = MtrrCapValue; return true; }
        if (index == Msr.MtrrDefType) { value = MtrrDefType; return true; }
        int slot = FixedMtrrSlot(index);
        if (slot >= 0) { value = _mtrrFixed[slot]; return true; }
        if (index >= MtrrPhysBase0 && index < MtrrPhysBase0 + 2 * MtrrVariableRanges)
        {
            value = _mtrrVariable[index - MtrrPhysBase0];
            return true;
        }
        return false;
    }

    /// <summary>WRMSR of an MTRR. <paramref name="ok"/> is false for a #GP (read-only MTRRCAP, reserved bits, bad type).</summary>
    private bool TryWriteMtrr(uint index, ulong value, out bool ok)
    {
        ok = false;
        if (index == Msr.MtrrCap) return true;
        if (index == Msr.MtrrDefType)
        {
            // Type (7:0), FE (10), E (11); everything else is reserved.
            if ((value & ~0xCFFUL) != 0 || !ValidMemoryType(value & 0xFF)) return true;
            MtrrDefType = value;
            ok = true;
            return true;
        }
        int slot = FixedMtrrSlot(index);
        if (slot >= 0)
        {
            for (int i = 0; i < 8; i++)
                if (!ValidMemoryType((value >> (i * 8)) & 0xFF)) return true;
            _mtrrFixed[slot] = value;
            ok = true;
            return true;
        }
        if (index >= MtrrPhysBase0 && index < MtrrPhysBase0 + 2 * MtrrVariableRanges)
        {
            const ulong addressBits = ((1UL << MaxPhysAddrBits) - 1) & ~0xFFFUL;
            bool isMask = ((index - MtrrPhysBase0) & 1) != 0;
            // PHYSBASE: type (7:0) and base; PHYSMASK: valid (11) and mask.
            ulong allowed = addressBits | (isMask ? 1UL << 11 : 0xFFUL);
            if ((value & ~allowed) != 0 || (!isMask && !ValidMemoryType(value & 0xFF))) return true;
            _mtrrVariable[index - MtrrPhysBase0] = value;
            ok = true;
            return true;
        }
        return false;
    }
}
