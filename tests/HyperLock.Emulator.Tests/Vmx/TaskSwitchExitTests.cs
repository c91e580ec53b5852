using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Vmx;
using F = HyperLock.Emulator.Vmx.VmcsField;
using C = HyperLock.Emulator.Vmx.VmxControls;

namespace HyperLock.Emulator.Tests.Vmx;

/// <summary>
/// Task switches exit unconditionally in VMX non-root operation (SDM 25.1.2): a 32-bit
/// unrestricted guest (protected mode, no paging, under EPT) jumps or calls to a TSS, or
/// returns with IRET while NT = 1.
/// </summary>
public class TaskSwitchExitTests
{
    private const ulong GuestGdt = 0x30000, GuestTss = 0x31000, CodeAt = 0x20000;
    private const ushort TssSelector = 0x28;

    private static HvTest Guest32(VmxMachine m, byte[] code, ulong rflags = 2)
    {
        ulong eptp = m.BuildIdentityEpt(16 << 20);
        m.Memory.WriteBytes(CodeAt, code);
        // GDT: null, flat 32-bit code (0x08), flat data (0x10), ..., available 32-bit TSS at 0x28.
        m.Memory.Write(GuestGdt + 0x08, 8, 0x00CF9B000000FFFFUL);
        m.Memory.Write(GuestGdt + 0x10, 8, 0x00CF93000000FFFFUL);
        m.Memory.Write(GuestGdt + TssSelector, 8, 0x0000_8903_1000_0067UL); // base 0x31000, limit 0x67, type 9
        m.Memory.Write(GuestTss, 2, 0x0030);                                 // back link of the current task
        var t = new HvTest();
        t.Set(F.ProcControls, C.ProcSecondary);
        t.Fields[F.ProcControls2] = C.Proc2Ept | C.Proc2Unrestricted;
        t.Fields[F.EptPointer] = eptp;
        t.Fields[F.EntryControls] = VmxCapabilities.EntryTrueDefault1;
        t.Fields[F.GuestCr0] = Bits.Cr0Pe | Bits.Cr0Et | Bits.Cr0Ne;
        t.Fields[F.GuestCr4] = Bits.Cr4Vmxe;
        t.Fields[F.GuestEfer] = 0;
        t.Fields[F.GuestRflags] = rflags;
        t.Fields[F.GuestRip] = CodeAt;
        t.Fields[F.GuestRsp] = 0x7000;
        t.Fields[F.GuestGdtrBase] = GuestGdt;
        t.Fields[F.GuestGdtrLimit] = 0x2F;
        foreach (int s in new[] { Seg.Es, Seg.Cs, Seg.Ss, Seg.Ds, Seg.Fs, Seg.Gs })
        {
            t.Fields[F.GuestSel(s)] = s == Seg.Cs ? 0x08UL : 0x10UL;
            t.Fields[F.GuestBase(s)] = 0;
            t.Fields[F.GuestLimit(s)] = 0xFFFFFFFF;
            t.Fields[F.GuestAr(s)] = s == Seg.Cs ? 0xC09BUL : 0xC093UL;
        }
        t.Fields[F.GuestTrSel] = 0x20; t.Fields[F.GuestTrAr] = 0x8B; t.Fields[F.GuestTrBase] = GuestTss; t.Fields[F.GuestTrLimit] = 0x67;
        return t;
    }

    [Theory]
    [InlineData(0xEA, 2UL)] // jmp far 0x28:0 -> source JMP
    [InlineData(0x9A, 0UL)] // call far 0x28:0 -> source CALL
    public void FarTransferToTssExits(byte opcode, ulong source)
    {
        using var m = new VmxMachine();
        byte[] code = [opcode, 0x00, 0x00, 0x00, 0x00, (byte)TssSelector, 0x00];
        var t = Guest32(m, code);
        Assert.Equal("int3", t.Run(m).ToString());
        Assert.Equal((ulong)ExitReason.TaskSwitch, m.Cpu.R(Reg.R12));
        Assert.Equal(TssSelector | (source << 30), m.Cpu.R(Reg.R13));
        Assert.Equal(CodeAt, m.Vmcs(F.GuestRip));
    }

    [Fact]
    public void IretWithNestedTaskExitsWithTheBackLink()
    {
        using var m = new VmxMachine();
        byte[] code = [0xCF]; // iretd with RFLAGS.NT = 1
        var t = Guest32(m, code, rflags: 2 | Bits.Nt);
        Assert.Equal("int3", t.Run(m).ToString());
        Assert.Equal((ulong)ExitReason.TaskSwitch, m.Cpu.R(Reg.R12));
        Assert.Equal(0x30UL | (1UL << 30), m.Cpu.R(Reg.R13));
    }
}
