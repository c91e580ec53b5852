using HyperLock.Emulator.Processor;

namespace HyperLock.Emulator.Builders;

/// <summary>
/// The system state of 64-bit code at CPL0 with flat segments: control registers, EFER, the
/// descriptor tables and the selectors. <see cref="Enter"/> puts a processor in it (as firmware
/// or a boot loader leaves it); <see cref="VmcsBuilder"/> uses it for the host and guest areas.
/// </summary>
public sealed record LongModeState
{
    public const ulong DefaultCr0 = Bits.Cr0Pe | Bits.Cr0Mp | Bits.Cr0Et | Bits.Cr0Ne | Bits.Cr0Wp | Bits.Cr0Pg;
    public const ulong DefaultCr4 = Bits.Cr4Pae | Bits.Cr4Osfxsr | Bits.Cr4Osxmmexcpt;
    public const ulong DefaultEfer = Bits.EferLme | Bits.EferLma | Bits.EferNxe | Bits.EferSce;

    public ulong Cr0 { get; init; } = DefaultCr0;
    /// <summary>CR3: the PML4 (<see cref="PageTableBuilder.Root"/>).</summary>
    public required ulong Cr3 { get; init; }
    public ulong Cr4 { get; init; } = DefaultCr4;
    public ulong Efer { get; init; } = DefaultEfer;
    public required ulong GdtBase { get; init; }
    public ushort GdtLimit { get; init; } = 0x27;
    public ulong IdtBase { get; init; }
    public ushort IdtLimit { get; init; } = 0xFFF;
    public ushort CodeSelector { get; init; } = 0x08;
    public ushort DataSelector { get; init; } = 0x10;
    public ushort TssSelector { get; init; } = 0x18;
    public required ulong TssBase { get; init; }
    public uint TssLimit { get; init; } = TssBuilder.Size - 1;

    /// <summary>
    /// Loads this state into <paramref name="cpu"/> at CPL0 (flat code and data segments, TR busy
    /// 64-bit TSS, LDTR unusable), flushes its TLB and sets RIP, RSP and RFLAGS = 2.
    /// </summary>
    public void Enter(Cpu cpu, ulong rip, ulong rsp)
    {
        cpu.Cr3 = Cr3;
        cpu.Cr4 = Cr4;
        cpu.Efer = Efer;
        cpu.Cr0 = Cr0;
        for (int s = 0; s < Seg.Count; s++) cpu.Segs[s] = SegmentRegister.FlatData(DataSelector, 0);
        cpu.Segs[Seg.Cs] = SegmentRegister.FlatCode64(CodeSelector, 0);
        cpu.Gdtr = new TableRegister { Base = GdtBase, Limit = GdtLimit };
        cpu.Idtr = new TableRegister { Base = IdtBase, Limit = IdtLimit };
        cpu.Tr = new SegmentRegister { Selector = TssSelector, Base = TssBase, Limit = TssLimit, Attributes = 0x8B };
        cpu.Ldtr = new SegmentRegister { Attributes = SegmentRegister.AttrUnusable };
        cpu.ForceCpl(0);
        cpu.UpdateMode();
        cpu.FlushTlb(includeGlobal: true);
        cpu.R(Reg.Rsp) = rsp;
        cpu.Rip = rip;
        cpu.SetRflags(2);
    }
}
