using System.Runtime.CompilerServices;
using HyperLock.Emulator.Memory;

namespace HyperLock.Emulator.Processor;

/// <summary>
/// The x86-64 processor: architectural state plus the machinery that runs it (decode cache,
/// TLB, lazy flags). Its parts live in partial files by concern: flags, memory access,
/// paging, exceptions, the run loop, MSRs, CPUID. One instance is one logical processor.
/// </summary>
public sealed unsafe partial class Cpu
{
    public readonly PhysicalMemory Memory;

    /// <summary>General-purpose registers, encoding order.</summary>
    public GprFile Gpr;

    /// <summary>Address of the current instruction while it executes; of the next one between instructions.</summary>
    public ulong Rip;

    public XmmFile XmmRegs;
    public uint Mxcsr = 0x1F80;

    public SegmentFile Segs;
    public TableRegister Gdtr, Idtr;
    public SegmentRegister Ldtr, Tr;

    public ulong Cr0 = Bits.Cr0Et | Bits.Cr0Cd | Bits.Cr0Nw;
    public ulong Cr2, Cr3, Cr4, Cr8;
    public ulong Efer;
    public ulong Xcr0 = 1;
    public DebugRegisterFile Dr;

    /// <summary>Current privilege level (CS.DPL outside real mode).</summary>
    public int Cpl { get; private set; }

    /// <summary>Code size of the current mode: 16, 32 or 64.</summary>
    public int Bitness { get; private set; } = 16;

    /// <summary>Instructions retired since reset: the machine's clock.</summary>
    public ulong Retired;

    /// <summary>Receives diagnostics such as the first use of an unimplemented instruction.</summary>
    public Action<string>? Log { get; set; }

    public CpuidProfile Cpuid { get; }

    /// <summary>The I/O-port space; null means every port reads as all ones and writes are dropped.</summary>
    public Execution.IIoBus? Io { get; set; }

    public Cpu(PhysicalMemory memory, CpuidProfile? cpuid = null)
    {
        Memory = memory;
        Cpuid = cpuid ?? CpuidProfile.Default();
        memory.CodeWritten = OnCodeWritten;
        InitTlb();
        InitVmx();
        Reset();
    }

    /// <summary>Power-on state: real mode at F000:FFF0 (the reset vector).</summary>
    public void Reset()
    {
        for (int i = 0; i < 16; i++) R(i) = 0;
        R(Reg.Rdx) = 0x600 | Cpuid.FamilyModelStepping;
        for (int s = 0; s < Seg.Count; s++) Segs[s] = SegmentRegister.RealMode(0, s == Seg.Cs);
        Segs[Seg.Cs] = new SegmentRegister { Selector = 0xF000, Base = 0xFFFF0000, Limit = 0xFFFF, Attributes = 0x9B };
        Rip = 0xFFF0;
        Cr0 = Bits.Cr0Et | Bits.Cr0Cd | Bits.Cr0Nw;
        Cr2 = Cr3 = Cr4 = Cr8 = Efer = 0;
        Xcr0 = 1;
        Gdtr = new TableRegister { Limit = 0xFFFF };
        Idtr = new TableRegister { Limit = 0xFFFF };
        Ldtr = new SegmentRegister { Limit = 0xFFFF, Attributes = 0x82 };
        Tr = new SegmentRegister { Limit = 0xFFFF, Attributes = 0x8B };
        SetRflags(Bits.Fixed1);
        Mxcsr = 0x1F80;
        ResetMsrs();
        ResetFpu();
        Dr = default;
        Dr[6] = DebugBits.Dr6Fixed1;
        Dr[7] = DebugBits.Dr7Fixed1;
        DebugCtl = 0;
        DbTrapPending = DbTrapHeld = 0;
        NmiPending = NmiBlocked = false;
        UpdateMode();
        UpdateDebugState();
        FlushTlb(includeGlobal: true);
    }

    /// <summary>A 64-bit GPR by number.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref ulong R(int index) => ref Unsafe.Add(ref Unsafe.As<GprFile, ulong>(ref Gpr), index);

    /// <summary>An XMM register by number.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref Xmm X(int index) => ref Unsafe.Add(ref Unsafe.As<XmmFile, Xmm>(ref XmmRegs), index);

    /// <summary>Reads an 8-bit register operand (0-15 low bytes, 16-19 AH/CH/DH/BH).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte Read8(int index) => index < 16 ? (byte)R(index) : (byte)(R(index - Reg.HighByteBase) >> 8);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write8(int index, byte value)
    {
        if (index < 16) R(index) = (R(index) & ~0xFFUL) | value;
        else
        {
            ref ulong r = ref R(index - Reg.HighByteBase);
            r = (r & ~0xFF00UL) | ((ulong)value << 8);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write16(int index, ushort value) { ref ulong r = ref R(index); r = (r & ~0xFFFFUL) | value; }

    /// <summary>32-bit register writes zero the upper half, as in 64-bit mode.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write32(int index, uint value) => R(index) = value;

    /// <summary>Reads a GPR operand of the given size in bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong ReadGpr(int index, int size) => size switch
    {
        8 => R(index),
        4 => (uint)R(index),
        2 => (ushort)R(index),
        _ => Read8(index),
    };

    /// <summary>Writes a GPR operand of the given size with x86-64 merge/zero-extend rules.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteGpr(int index, int size, ulong value)
    {
        switch (size)
        {
            case 8: R(index) = value; break;
            case 4: R(index) = (uint)value; break;
            case 2: Write16(index, (ushort)value); break;
            default: Write8(index, (byte)value); break;
        }
    }

    /// <summary>
    /// Recomputes CPL and code size after CS, CR0 or EFER change. The jump cache needs no flush:
    /// it is keyed by linear address, split by privilege, and checks the code size on every hit.
    /// </summary>
    public void UpdateMode()
    {
        ref SegmentRegister cs = ref Segs[Seg.Cs];
        bool protectedMode = (Cr0 & Bits.Cr0Pe) != 0;
        bool v86 = (RflagsRest & Bits.Vm) != 0;
        int newCpl = !protectedMode ? 0 : v86 ? 3 : cs.Dpl;
        if ((Efer & Bits.EferLma) != 0 && cs.Long) Bitness = 64;
        else if (protectedMode && !v86 && cs.DefaultBig) Bitness = 32;
        else Bitness = 16;
        if (newCpl != Cpl)
        {
            Cpl = newCpl;
            SelectTlbSet();
        }
    }

    /// <summary>True in 64-bit mode (IA-32e with CS.L = 1).</summary>
    public bool In64BitMode => Bitness == 64;

    /// <summary>Sets CPL directly (environments that build machine state, VM entry and exit).</summary>
    public void ForceCpl(int cpl)
    {
        if (cpl == Cpl) return;
        Cpl = cpl;
        SelectTlbSet();
    }
}

[InlineArray(8)]
public struct DebugRegisterFile
{
    private ulong _element;
}
