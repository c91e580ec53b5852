using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Processor.Decode;

namespace HyperLock.Emulator.Vmx;

/// <summary>
/// The VM-exit instruction-information field (SDM Table 28-8..28-14) built from a decoded
/// instruction: scaling 1:0, reg1 6:3, address size 9:7, mem/reg 10, segment 17:15,
/// index 21:18 (+ invalid 22), base 26:23 (+ invalid 27), reg2 31:28.
/// </summary>
public static class VmxOpsInfo
{
    /// <summary>Memory-operand description (fields common to all formats).</summary>
    public static uint Memory(ref Insn i)
    {
        uint asz = i.AddrSize == 8 ? 2u : i.AddrSize == 4 ? 1u : 0u;
        uint info = i.Scale | (asz << 7) | ((uint)i.Segment << 15);
        if (i.Index == Reg.None) info |= 1u << 22; else info |= (uint)(i.Index & 0xF) << 18;
        if (i.Base == Reg.None || i.Base == Reg.Rip) info |= 1u << 27; else info |= (uint)(i.Base & 0xF) << 23;
        return info;
    }

    /// <summary>VMREAD/VMWRITE: operand <paramref name="rmOperand"/> is r/m (reg1 or memory), the other is reg2.</summary>
    public static uint ReadWrite(ref Insn i, int rmOperand, int regOperand, int opSizeBytes)
    {
        uint info;
        if (i.Kind(rmOperand) == OperandKind.Memory) info = Memory(ref i);
        else info = (1u << 10) | ((uint)(rmOperand == 0 ? i.R0 : i.R1) & 0xF) << 3;
        info |= ((uint)(regOperand == 0 ? i.R0 : i.R1) & 0xF) << 28;
        // Operand size in bits 12:11 is not part of this format; the address size is.
        _ = opSizeBytes;
        return info;
    }

    /// <summary>INVEPT/INVVPID: reg2 = the type register, memory operand described as usual.</summary>
    public static uint Invalidate(ref Insn i) => Memory(ref i) | ((uint)(i.R0 & 0xF) << 28);

    /// <summary>
    /// Displacement for the exit qualification of instructions with a memory operand: the
    /// SDM stores the operand's displacement there.
    /// </summary>
    public static ulong Displacement(ref Insn i) => (ulong)i.Disp;
}
