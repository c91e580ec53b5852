using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using static HyperLock.Emulator.Tests.Processor.SystemInstructions.BareMetal;

namespace HyperLock.Emulator.Tests.Processor.SystemInstructions;

/// <summary>Descriptor-table instructions, far transfers, SYSENTER/SYSEXIT and the privilege checks of system instructions.</summary>
public class SystemInstructionTests
{
    [Fact]
    public void StoreAndProbeInstructionsReportTablesAndDescriptors()
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        m.Asm(KernelCode, 64, a =>
        {
            a.sgdt(__[Results + 0x00]);
            a.sidt(__[Results + 0x10]);
            a.str(ax);
            a.mov(__word_ptr[Results + 0x20], ax);
            a.mov(ecx, UserCs);
            a.lar(eax, ecx);
            a.mov(__dword_ptr[Results + 0x28], eax);
            a.lsl(eax, ecx);
            a.mov(__dword_ptr[Results + 0x30], eax);
            a.mov(ecx, KernelDs);
            a.verw(cx);
            a.setz(al);
            a.mov(__byte_ptr[Results + 0x38], al);
            a.mov(ecx, KernelCs);
            a.verw(cx); // code segments are never writable
            a.setz(al);
            a.mov(__byte_ptr[Results + 0x39], al);
            a.verr(cx);
            a.setz(al);
            a.mov(__byte_ptr[Results + 0x3A], al);
            a.mov(ecx, 0x1238); // beyond the GDT limit
            a.lsl(eax, ecx);
            a.setz(al);
            a.mov(__byte_ptr[Results + 0x3B], al);
            a.hlt();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(0x4FUL, m.Read(Results, 2));
        Assert.Equal(GdtBase, m.Read(Results + 2, 8));
        Assert.Equal(256UL * 16 - 1, m.Read(Results + 0x10, 2));
        Assert.Equal(IdtBase, m.Read(Results + 0x12, 8));
        Assert.Equal((ulong)TssSel, m.Read(Results + 0x20, 2));
        Assert.Equal(0x00A0FB00UL, m.Read(Results + 0x28, 4)); // G, L, P, DPL 3, code, accessed
        Assert.Equal(0xFFFFFFFFUL, m.Read(Results + 0x30, 4));
        Assert.Equal(1UL, m.Read(Results + 0x38, 1));
        Assert.Equal(0UL, m.Read(Results + 0x39, 1));
        Assert.Equal(1UL, m.Read(Results + 0x3A, 1));
        Assert.Equal(0UL, m.Read(Results + 0x3B, 1));
    }

    [Fact]
    public void LtrLoadsA16ByteTssDescriptorAndMarksItBusy()
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        const ushort sel = 0x50;
        const ulong tss = 0x1_2345_6000; // upper base half lives in the second 8 bytes
        m.SetGdtEntry(sel, Descriptor(tss & 0xFFFFFFFF, 0x67, 0x9, 0, s: false, db: false, g: false));
        m.Write(GdtBase + sel + 8, 8, tss >> 32);
        m.Cpu.Gdtr.Limit = 0x5F;
        m.Asm(KernelCode, 64, a =>
        {
            a.mov(ax, sel);
            a.ltr(ax);
            a.hlt();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(tss, m.Cpu.Tr.Base);
        Assert.Equal(0x67u, m.Cpu.Tr.Limit);
        Assert.Equal(0xB, m.Cpu.Tr.Type);
        Assert.Equal(0xBUL, (m.Read(GdtBase + sel, 8) >> 40) & 0xF);
    }

    [Fact]
    public void LtrOfABusyTssFaults()
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        LongModeTests.Recorder(m, Vector.GP, hasError: true);
        m.Asm(KernelCode, 64, a =>
        {
            a.mov(ax, TssSel); // already busy
            a.ltr(ax);
            a.hlt();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal((ulong)Vector.GP, m.Result(0));
        Assert.Equal((ulong)TssSel, m.Result(1));
    }

    [Fact]
    public void FarCallAndFarReturnBetween64BitAndCompatibilityMode()
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        const ulong compat = 0x120000;
        m.Write(Results + 0x100, 4, compat);  // m16:32 far pointer to 32-bit code
        m.Write(Results + 0x104, 2, KernelCs32);
        m.Asm(compat, 32, a =>
        {
            a.mov(eax, 0x3232);
            a.mov(__dword_ptr[Results + 0x40], eax);
            a.mov(ax, cs);
            a.mov(__word_ptr[Results + 0x48], ax);
            a.retf(); // 32-bit far return: pops EIP, CS
        });
        var back = default(Label);
        var r = m.Asm(KernelCode, 64, a =>
        {
            back = a.CreateLabel();
            a.call(__fword_ptr[Results + 0x100]); // call m16:32
            a.Label(ref back);
            a.mov(ax, cs);
            a.mov(__word_ptr[Results + 0x50], ax);
            a.mov(__qword_ptr[Results + 0x58], rsp);
            a.hlt();
        });
        _ = r;
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(0x3232UL, m.Read(Results + 0x40, 4));
        Assert.Equal((ulong)KernelCs32, m.Read(Results + 0x48, 2));
        Assert.Equal((ulong)KernelCs, m.Read(Results + 0x50, 2));
        Assert.Equal(KernelStack, m.Read(Results + 0x58, 8));
        Assert.Equal(64, m.Cpu.Bitness);
    }

    [Fact]
    public void FarReturnToOuterPrivilegeLoadsStackAndNullsKernelDataSegments()
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        LongModeTests.Recorder(m, Vector.UD, hasError: false);
        m.Asm(KernelCode, 64, a =>
        {
            a.mov(rax, (ulong)UserDs);
            a.push(rax);
            a.mov(rax, UserStack);
            a.push(rax);
            a.mov(rax, (ulong)UserCs);
            a.push(rax);
            a.mov(rax, UserCode);
            a.push(rax);
            a.db(0x48, 0xCB); // retfq
        });
        m.Asm(UserCode, 64, a =>
        {
            a.mov(ax, ds);
            a.mov(__word_ptr[Results + 0x40], ax);
            a.mov(__qword_ptr[Results + 0x48], rsp);
            a.ud2();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(0UL, m.Read(Results + 0x40, 2)); // DS (DPL 0) became null
        Assert.Equal(UserStack, m.Read(Results + 0x48, 8));
        Assert.Equal((ulong)UserCs, m.Result(3));
    }

    [Fact]
    public void SysenterAndSysexitSwitchBetweenCpl3AndCpl0()
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        LongModeTests.Recorder(m, Vector.UD, hasError: false);
        const ulong entry = KernelCode + 0x800;
        // SYSENTER_CS = 0x10: CS 0x10, SS 0x18; SYSEXIT (64-bit) returns to CS 0x30|3 = 0x33, SS 0x2B.
        m.Cpu.SysenterCs = KernelCs;
        m.Cpu.SysenterEip = entry;
        m.Cpu.SysenterEsp = Rsp0;
        m.Asm(KernelCode, 64, a => LongModeTests.IretToUser(a));
        m.Asm(entry, 64, a =>
        {
            a.mov(__qword_ptr[Results + 0x40], rsp);
            a.mov(ax, cs);
            a.mov(__word_ptr[Results + 0x48], ax);
            a.mov(rdx, UserCode + 0x100);
            a.mov(rcx, UserStack - 0x100);
            a.sysexitq();
        });
        m.Asm(UserCode, 64, a => a.sysenter());
        m.Asm(UserCode + 0x100, 64, a =>
        {
            a.mov(__qword_ptr[Results + 0x50], rsp);
            a.ud2();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(Rsp0, m.Read(Results + 0x40, 8));
        Assert.Equal((ulong)KernelCs, m.Read(Results + 0x48, 2));
        Assert.Equal(UserStack - 0x100, m.Read(Results + 0x50, 8));
        Assert.Equal((ulong)UserCs, m.Result(3));
        Assert.Equal(0x3BUL, m.Result(5)); // SS = SYSENTER_CS + 40, RPL 3 (not the Linux user SS)
    }

    public static TheoryData<string, int> Cpl3Privileged => new()
    {
        { "mov-cr3", Vector.GP }, { "rdmsr", Vector.GP }, { "wrmsr", Vector.GP }, { "lgdt", Vector.GP },
        { "invlpg", Vector.GP }, { "swapgs", Vector.GP }, { "sysret", Vector.GP }, { "in", Vector.GP },
        { "rdpmc", Vector.GP }, { "clts", Vector.GP }, { "mov-dr7", Vector.GP }, { "ltr", Vector.GP },
    };

    [Theory]
    [MemberData(nameof(Cpl3Privileged))]
    public void PrivilegedInstructionsFaultAtCpl3(string name, int vector)
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        m.Cpu.Efer |= Bits.EferSce;
        LongModeTests.Recorder(m, Vector.GP, hasError: true);
        LongModeTests.Recorder(m, Vector.UD, hasError: false);
        m.Asm(KernelCode, 64, a => LongModeTests.IretToUser(a));
        m.Asm(UserCode, 64, a =>
        {
            switch (name)
            {
                case "mov-cr3": a.mov(rax, cr3); break;
                case "rdmsr": a.rdmsr(); break;
                case "wrmsr": a.wrmsr(); break;
                case "lgdt": a.lgdt(__[Results]); break;
                case "invlpg": a.invlpg(__byte_ptr[Results]); break;
                case "swapgs": a.swapgs(); break;
                case "sysret": a.sysretq(); break;
                case "in": a.@in(al, 0x80); break;
                case "rdpmc": a.rdpmc(); break;
                case "clts": a.clts(); break;
                case "mov-dr7": a.mov(rax, dr7); break;
                case "ltr": a.ltr(ax); break;
            }
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal((ulong)vector, m.Result(0));
        Assert.Equal(UserCode, m.Result(2));
        Assert.Equal((ulong)UserCs, m.Result(3));
    }

    [Fact]
    public void DebugRegisters4And5AliasOnlyWhileCr4DeIsClear()
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        LongModeTests.Recorder(m, Vector.UD, hasError: false);
        var ud = default(Label);
        var r = m.Asm(KernelCode, 64, a =>
        {
            ud = a.CreateLabel();
            a.mov(eax, 0x401);
            a.mov(dr5, rax);   // DR7 alias
            a.mov(rbx, dr7);
            a.mov(__qword_ptr[Results + 0x40], rbx);
            a.mov(rax, cr4);
            a.or(eax, 8);      // CR4.DE
            a.mov(cr4, rax);
            a.Label(ref ud);
            a.mov(rbx, dr4);
            a.hlt();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(0x401UL, m.Read(Results + 0x40, 8));
        Assert.Equal((ulong)Vector.UD, m.Result(0));
        Assert.Equal(r.GetLabelRIP(ud), m.Result(2));
    }

    [Fact]
    public void Cr4ReservedBitRaisesGeneralProtection()
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        LongModeTests.Recorder(m, Vector.GP, hasError: true);
        m.Asm(KernelCode, 64, a =>
        {
            a.mov(rax, cr4);
            a.or(eax, 1 << 12); // LA57: not supported
            a.mov(cr4, rax);
            a.hlt();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal((ulong)Vector.GP, m.Result(0));
    }

    [Fact]
    public void MovSsBlocksInterruptsForOneInstruction()
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        LongModeTests.Recorder(m, 0x30, hasError: false);
        m.Cpu.SetRflags(0x202);
        var pending = new Pending(0x30);
        m.Cpu.Interrupts = pending;
        var third = default(Label);
        var r = m.Asm(KernelCode, 64, a =>
        {
            third = a.CreateLabel();
            a.mov(eax, KernelDs);
            a.nop();
            a.mov(ss, ax);
            a.mov(__qword_ptr[Results + 0x40], 1); // runs inside the shadow
            a.Label(ref third);
            a.mov(__qword_ptr[Results + 0x48], 2);
            a.hlt();
        });
        pending.ArmAfter = 2; // raise the line once mov eax and nop have retired
        pending.Cpu = m.Cpu;
        m.Cpu.Rip = KernelCode;
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(0x30UL, m.Result(0));
        Assert.Equal(r.GetLabelRIP(third), m.Result(2));
        Assert.Equal(1UL, m.Read(Results + 0x40, 8));
        Assert.Equal(0UL, m.Read(Results + 0x48, 8));
    }

    [Fact]
    public void CpuidProfileReadMirrorsCr4OsxsaveAndBitsAreConfigurable()
    {
        using var m = new BareMetal();
        var p = m.Cpu.Cpuid;
        Assert.Equal(0u, p.Read(1, 0, m.Cpu).Ecx & (1u << 27));
        m.Cpu.Cr4 |= Bits.Cr4Osxsave;
        Assert.NotEqual(0u, p.Read(1, 0, m.Cpu).Ecx & (1u << 27));
        Assert.Equal(0u, p.Get(1, 0).Ecx & (1u << 27)); // the table itself is static

        Assert.True(p.HasBit(1, 0, CpuidProfile.Ecx, 5)); // VMX
        p.ClearBit(1, 0, CpuidProfile.Ecx, 5);
        Assert.False(p.HasBit(1, 0, CpuidProfile.Ecx, 5));
        Assert.Equal(0UL, m.Cpu.Cr4Supported & Bits.Cr4Vmxe);
        p.SetBit(7, 0, CpuidProfile.Ebx, 0); // FSGSBASE
        Assert.NotEqual(0UL, m.Cpu.Cr4Supported & Bits.Cr4Fsgsbase);
        Assert.Equal("GenuineIntel", Vendor(p));
    }

    private static string Vendor(CpuidProfile p)
    {
        var l = p.Get(0, 0);
        var bytes = new byte[12];
        BitConverter.GetBytes(l.Ebx).CopyTo(bytes, 0);
        BitConverter.GetBytes(l.Edx).CopyTo(bytes, 4);
        BitConverter.GetBytes(l.Ecx).CopyTo(bytes, 8);
        return global::System.Text.Encoding.ASCII.GetString(bytes);
    }

    /// <summary>An interrupt line that rises once a given number of instructions have retired.</summary>
    private sealed class Pending(int vector) : IInterruptController
    {
        public ulong ArmAfter;
        public Cpu? Cpu;
        private bool _done;
        public bool HasInterrupt => !_done && Cpu != null && Cpu.Retired >= ArmAfter;
        public int Acknowledge() { _done = true; return vector; }
    }
}
