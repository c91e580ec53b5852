using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Vmx;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using F = HyperLock.Emulator.Vmx.VmcsField;

namespace HyperLock.Emulator.Tests.Vmx;

/// <summary>Each VMX instruction's success and failure paths (VMsucceed, VMfailInvalid, VMfailValid(n), #UD, #GP).</summary>
public class VmxInstructionTests
{
    private static (VmxMachine M, string Stop) RunHost(Action<Assembler> code, Action<VmxMachine>? setup = null)
    {
        var m = new VmxMachine();
        setup?.Invoke(m);
        m.Load(VmxMachine.HostCode, code);
        var stop = m.Run(10_000);
        return (m, stop.ToString());
    }

    private static void Prologue(Assembler a)
    {
        a.vmxon(__qword_ptr[VmxMachine.PtrVmxon]);
        a.vmclear(__qword_ptr[VmxMachine.PtrVmcs]);
        a.vmptrld(__qword_ptr[VmxMachine.PtrVmcs]);
    }

    private static bool Succeeded(HyperLock.Emulator.Processor.Cpu c) => !c.CF && !c.ZF;

    [Fact]
    public void VmxonVmptrldVmptrstSucceed()
    {
        var (m, stop) = RunHost(a =>
        {
            Prologue(a);
            a.vmptrst(__qword_ptr[VmxMachine.PtrScratch]);
            a.int3();
        });
        using var _ = m;
        Assert.Equal("int3", stop);
        Assert.True(Succeeded(m.Cpu));
        Assert.True(m.Cpu.InVmxOperation);
        Assert.Equal(VmxMachine.VmcsRegion, m.Cpu.CurrentVmcsPointer);
        Assert.Equal(VmxMachine.VmcsRegion, m.Memory.Read(VmxMachine.PtrScratch, 8));
    }

    [Fact]
    public void VmxonWithoutCr4VmxeIsUd()
    {
        var (m, stop) = RunHost(a => { a.vmxon(__qword_ptr[VmxMachine.PtrVmxon]); a.int3(); },
            m => m.Cpu.Cr4 &= ~Bits.Cr4Vmxe);
        using var _ = m;
        Assert.Equal("#UD", stop);
        Assert.False(m.Cpu.InVmxOperation);
    }

    [Fact]
    public void VmxonWithUnlockedFeatureControlIsGp()
    {
        var (m, stop) = RunHost(a => { a.vmxon(__qword_ptr[VmxMachine.PtrVmxon]); a.int3(); }, m => m.Cpu.FeatureControl = 4);
        using var _ = m;
        Assert.Equal("#GP(0)", stop);
    }

    [Fact]
    public void VmxonWithVmxDisabledOutsideSmxIsGp()
    {
        var (m, stop) = RunHost(a => { a.vmxon(__qword_ptr[VmxMachine.PtrVmxon]); a.int3(); }, m => m.Cpu.FeatureControl = 1);
        using var _ = m;
        Assert.Equal("#GP(0)", stop);
    }

    [Fact]
    public void VmxonWithCr4PcideSucceeds()
    {
        // Linux sets CR4.PCIDE when PCID is offered; KVM's VMXON then has to succeed.
        var (m, stop) = RunHost(a => { a.vmxon(__qword_ptr[VmxMachine.PtrVmxon]); a.int3(); }, m => m.Cpu.Cr4 |= Bits.Cr4Pcide);
        using var _ = m;
        Assert.Equal("int3", stop);
        Assert.True(Succeeded(m.Cpu));
        Assert.True(m.Cpu.InVmxOperation);
    }

    [Fact]
    public void Cr4Fixed1AllowsEveryCr4BitTheCoreAccepts()
    {
        using var m = new VmxMachine();
        ulong notAllowed = m.Cpu.Cr4Supported & ~VmxCapabilities.Cr4Fixed1;
        Assert.True(notAllowed == 0, $"CR4 bits the core accepts but IA32_VMX_CR4_FIXED1 forbids: 0x{notAllowed:X}");
    }

    [Fact]
    public void VmxonWithCr0FixedBitClearIsGp()
    {
        var (m, stop) = RunHost(a => { a.vmxon(__qword_ptr[VmxMachine.PtrVmxon]); a.int3(); }, m => m.Cpu.Cr0 &= ~Bits.Cr0Ne);
        using var _ = m;
        Assert.Equal("#GP(0)", stop);
    }

    [Fact]
    public void VmxonBadRevisionFailsInvalid()
    {
        var (m, stop) = RunHost(a => { a.vmxon(__qword_ptr[VmxMachine.PtrVmxon]); a.int3(); },
            m => m.Memory.Write(VmxMachine.VmxonRegion, 4, 0x1234));
        using var _ = m;
        Assert.Equal("int3", stop);
        Assert.True(m.Cpu.CF);
        Assert.False(m.Cpu.InVmxOperation);
    }

    [Fact]
    public void VmxonUnalignedFailsInvalid()
    {
        var (m, stop) = RunHost(a => { a.vmxon(__qword_ptr[VmxMachine.PtrVmxon]); a.int3(); },
            m => m.Memory.Write(VmxMachine.PtrVmxon, 8, VmxMachine.VmxonRegion + 8));
        using var _ = m;
        Assert.True(m.Cpu.CF);
    }

    [Fact]
    public void VmxonInRootFailsValid15()
    {
        var (m, _) = RunHost(a =>
        {
            Prologue(a);
            a.vmxon(__qword_ptr[VmxMachine.PtrVmxon]);
            a.int3();
        });
        using var owner = m;
        Assert.True(m.Cpu.ZF);
        Assert.Equal((ulong)VmxError.VmxonInRoot, m.Vmcs(F.InstructionError));
    }

    [Fact]
    public void VmxonInRootWithoutCurrentVmcsFailsInvalid()
    {
        var (m, _) = RunHost(a =>
        {
            a.vmxon(__qword_ptr[VmxMachine.PtrVmxon]);
            a.vmxon(__qword_ptr[VmxMachine.PtrVmxon]);
            a.int3();
        });
        using var owner = m;
        Assert.True(m.Cpu.CF);
    }

    [Fact]
    public void VmxoffLeavesVmxOperationAndSecondVmxoffIsUd()
    {
        var (m, stop) = RunHost(a =>
        {
            Prologue(a);
            a.vmxoff();
            a.mov(rbx, 1);
            a.vmxoff();
            a.int3();
        });
        using var _ = m;
        Assert.Equal("#UD", stop);
        Assert.Equal(1UL, m.Cpu.R(Reg.Rbx));
        Assert.False(m.Cpu.InVmxOperation);
    }

    [Fact]
    public void VmxInstructionsOutsideVmxOperationAreUd()
    {
        foreach (var build in new Action<Assembler>[]
        {
            a => a.vmclear(__qword_ptr[VmxMachine.PtrVmcs]),
            a => a.vmptrld(__qword_ptr[VmxMachine.PtrVmcs]),
            a => a.vmptrst(__qword_ptr[VmxMachine.PtrScratch]),
            a => a.vmread(rax, rdx),
            a => a.vmwrite(rdx, rax),
            a => a.vmlaunch(),
            a => a.vmresume(),
            a => a.vmcall(),
        })
        {
            var (m, stop) = RunHost(a => { build(a); a.int3(); });
            using var _ = m;
            Assert.Equal("#UD", stop);
        }
    }

    [Fact]
    public void VmxInstructionsAtCpl3AreGp()
    {
        // VMXON at CPL0, then drop to CPL3 (2 MiB pages are supervisor: user code would fault on
        // fetch, so the page tables get the U bit first) and try VMPTRST.
        var (m, stop) = RunHost(a => { a.vmxon(__qword_ptr[VmxMachine.PtrVmxon]); a.int3(); });
        using var _ = m;
        Assert.True(m.Cpu.InVmxOperation);
        for (ulong k = 0; k < 512; k++) m.Memory.Write(VmxMachine.Pd + k * 8, 8, (k << 21) | 0x87);
        m.Memory.Write(VmxMachine.Pml4, 8, VmxMachine.Pdpt | 7);
        m.Memory.Write(VmxMachine.Pdpt, 8, VmxMachine.Pd | 7);
        m.Load(VmxMachine.HostCode + 0x1000, a => { a.vmptrst(__qword_ptr[VmxMachine.PtrScratch]); a.int3(); });
        m.Cpu.Segs[Seg.Cs] = SegmentRegister.FlatCode64(0x2B, 3);
        m.Cpu.Segs[Seg.Ss] = SegmentRegister.FlatData(0x23, 3);
        m.Cpu.ForceCpl(3);
        m.Cpu.UpdateMode();
        m.Cpu.FlushTlb(includeGlobal: true);
        m.Cpu.Rip = VmxMachine.HostCode + 0x1000;
        Assert.Equal("#GP(0)", m.Run(100).ToString());
    }

    [Fact]
    public void VmclearOfVmxonPointerFailsValid3AndUnalignedFails2()
    {
        var (m, _) = RunHost(a =>
        {
            Prologue(a);
            a.vmclear(__qword_ptr[VmxMachine.PtrVmxon]);
            a.mov(rdx, (long)F.InstructionError);
            a.vmread(rbx, rdx);
            a.mov(__qword_ptr[VmxMachine.PtrScratch], 0x11004);
            a.vmclear(__qword_ptr[VmxMachine.PtrScratch]);
            a.vmread(rcx, rdx);
            a.int3();
        });
        using var owner = m;
        Assert.Equal(3UL, m.Cpu.R(Reg.Rbx));
        Assert.Equal(2UL, m.Cpu.R(Reg.Rcx));
    }

    [Fact]
    public void VmptrldFailures()
    {
        var (m, _) = RunHost(a =>
        {
            Prologue(a);
            a.mov(rdx, (long)F.InstructionError);
            a.vmptrld(__qword_ptr[VmxMachine.PtrVmxon]);
            a.vmread(rbx, rdx);
            a.mov(__qword_ptr[VmxMachine.PtrScratch], 0x11010);
            a.vmptrld(__qword_ptr[VmxMachine.PtrScratch]);
            a.vmread(rcx, rdx);
            a.mov(__qword_ptr[VmxMachine.PtrScratch], 0x20000); // no revision id there
            a.vmptrld(__qword_ptr[VmxMachine.PtrScratch]);
            a.vmread(rsi, rdx);
            a.int3();
        });
        using var owner = m;
        Assert.Equal(10UL, m.Cpu.R(Reg.Rbx));
        Assert.Equal(9UL, m.Cpu.R(Reg.Rcx));
        Assert.Equal(11UL, m.Cpu.R(Reg.Rsi));
        Assert.Equal(VmxMachine.VmcsRegion, m.Cpu.CurrentVmcsPointer);
    }

    [Fact]
    public void VmreadVmwriteRoundTripWidthsAndHighAccess()
    {
        var (m, _) = RunHost(a =>
        {
            Prologue(a);
            HvTest.Vmw(a, F.GuestCsSel, 0x123456789);       // 16-bit: truncated
            HvTest.Vmr(a, rbx, F.GuestCsSel);
            HvTest.Vmw(a, F.GuestCsLimit, 0xAABBCCDD11223344); // 32-bit
            HvTest.Vmr(a, rcx, F.GuestCsLimit);
            HvTest.Vmw(a, F.TscOffset, 0x1122334455667788);  // 64-bit
            HvTest.Vmw(a, F.TscOffset + 1, 0xCAFEBABE);      // high half
            HvTest.Vmr(a, rsi, F.TscOffset);
            HvTest.Vmr(a, rdi, F.TscOffset + 1);
            HvTest.Vmw(a, F.GuestRip, 0xFFFF800000001234);   // natural width
            HvTest.Vmr(a, r8, F.GuestRip);
            // Memory operands.
            a.mov(rdx, (long)F.GuestRsp);
            a.mov(__qword_ptr[VmxMachine.PtrScratch], 0x5555);
            a.vmwrite(rdx, __qword_ptr[VmxMachine.PtrScratch]);
            a.vmread(__qword_ptr[VmxMachine.PtrScratch + 8], rdx);
            a.mov(r9, __qword_ptr[VmxMachine.PtrScratch + 8]);
            a.int3();
        });
        using var owner = m;
        Assert.True(!m.Cpu.CF && !m.Cpu.ZF);
        Assert.Equal(0x6789UL, m.Cpu.R(Reg.Rbx));
        Assert.Equal(0x11223344UL, m.Cpu.R(Reg.Rcx));
        Assert.Equal(0xCAFEBABE55667788UL, m.Cpu.R(Reg.Rsi));
        Assert.Equal(0xCAFEBABEUL, m.Cpu.R(Reg.Rdi));
        Assert.Equal(0xFFFF800000001234UL, m.Cpu.R(Reg.R8));
        Assert.Equal(0x5555UL, m.Cpu.R(Reg.R9));
    }

    [Fact]
    public void VmreadUnsupportedFieldFailsValid12AndVmwriteReadOnlyFails13()
    {
        var (m, _) = RunHost(a =>
        {
            Prologue(a);
            a.mov(rdx, 0x6C40); // unsupported host field index
            a.vmread(rax, rdx);
            HvTest.Vmr(a, rbx, F.InstructionError);
            a.mov(rdx, 0x1_0000_4402L); // reserved bits set
            a.vmread(rax, rdx);
            HvTest.Vmr(a, rsi, F.InstructionError);
            HvTest.Vmw(a, F.ExitReason, 5);
            HvTest.Vmr(a, rcx, F.InstructionError);
            a.mov(rdx, (long)F.GuestRip + 1); // high access of a natural-width field
            a.vmread(rax, rdx);
            HvTest.Vmr(a, rdi, F.InstructionError);
            a.int3();
        });
        using var owner = m;
        Assert.Equal(12UL, m.Cpu.R(Reg.Rbx));
        Assert.Equal(12UL, m.Cpu.R(Reg.Rsi));
        Assert.Equal(13UL, m.Cpu.R(Reg.Rcx));
        Assert.Equal(12UL, m.Cpu.R(Reg.Rdi));
    }

    [Fact]
    public void VmreadWithoutCurrentVmcsFailsInvalid()
    {
        var (m, _) = RunHost(a =>
        {
            a.vmxon(__qword_ptr[VmxMachine.PtrVmxon]);
            a.mov(rdx, (long)F.GuestRip);
            a.vmread(rax, rdx);
            a.int3();
        });
        using var owner = m;
        Assert.True(m.Cpu.CF);
        Assert.False(m.Cpu.ZF);
    }

    [Fact]
    public void VmclearWritesBackAndVmptrldReloads()
    {
        var (m, _) = RunHost(a =>
        {
            Prologue(a);
            HvTest.Vmw(a, F.GuestRip, 0x4242);
            a.vmptrld(__qword_ptr[VmxMachine.PtrVmcs2]);   // switch: first VMCS written back
            HvTest.Vmw(a, F.GuestRip, 0x9999);
            a.vmptrld(__qword_ptr[VmxMachine.PtrVmcs]);
            HvTest.Vmr(a, rbx, F.GuestRip);
            a.vmclear(__qword_ptr[VmxMachine.PtrVmcs]);
            a.vmptrst(__qword_ptr[VmxMachine.PtrScratch]);
            a.int3();
        });
        using var owner = m;
        Assert.Equal(0x4242UL, m.Cpu.R(Reg.Rbx));
        Assert.Equal(ulong.MaxValue, m.Memory.Read(VmxMachine.PtrScratch, 8));
        Assert.Equal(ulong.MaxValue, m.Cpu.CurrentVmcsPointer);
    }

    [Fact]
    public void VmcallInRootFailsValid1()
    {
        var (m, _) = RunHost(a => { Prologue(a); a.vmcall(); HvTest.Vmr(a, rbx, F.InstructionError); a.int3(); });
        using var owner = m;
        Assert.Equal(1UL, m.Cpu.R(Reg.Rbx));
    }

    [Fact]
    public void VmresumeOfClearVmcsFails5AndVmlaunchOfLaunchedFails4()
    {
        using var m = new VmxMachine();
        var t = new HvTest
        {
            Guest = g => { g.vmcall(); },
            OnExit = a =>
            {
                a.vmlaunch();                           // launched VMCS: error 4
                HvTest.Vmr(a, rbx, F.InstructionError);
                a.vmclear(__qword_ptr[VmxMachine.PtrVmcs]);
                a.vmptrld(__qword_ptr[VmxMachine.PtrVmcs]);
                a.vmresume();                           // clear VMCS: error 5
                HvTest.Vmr(a, rcx, F.InstructionError);
                a.int3();
            },
        };
        t.Run(m);
        Assert.Equal(4UL, m.Cpu.R(Reg.Rbx));
        Assert.Equal(5UL, m.Cpu.R(Reg.Rcx));
    }

    [Fact]
    public void VmlaunchWithoutCurrentVmcsFailsInvalid()
    {
        var (m, _) = RunHost(a => { a.vmxon(__qword_ptr[VmxMachine.PtrVmxon]); a.vmlaunch(); a.int3(); });
        using var owner = m;
        Assert.True(m.Cpu.CF);
    }

    [Fact]
    public void InveptAndInvvpidTypesAndOperands()
    {
        var (m, _) = RunHost(a =>
        {
            Prologue(a);
            a.mov(__qword_ptr[VmxMachine.Desc], 0);
            a.mov(__qword_ptr[VmxMachine.Desc + 8], 0);
            a.mov(rax, 2);
            a.invept(rax, __[VmxMachine.Desc]);       // global: succeeds
            a.mov(rax, 1);
            a.invept(rax, __[VmxMachine.Desc]);       // single context, EPTP 0 invalid: fail 28
            HvTest.Vmr(a, rcx, F.InstructionError);
            a.mov(rax, 7);
            a.invept(rax, __[VmxMachine.Desc]);       // unsupported type
            HvTest.Vmr(a, rsi, F.InstructionError);
            a.mov(__qword_ptr[VmxMachine.Desc], 5);   // VPID 5
            a.mov(rax, 1);
            a.invvpid(rax, __[VmxMachine.Desc]);      // single context: succeeds
            a.mov(rdi, 0);
            a.mov(__qword_ptr[VmxMachine.Desc], 0);
            a.invvpid(rax, __[VmxMachine.Desc]);      // VPID 0: fail 28
            HvTest.Vmr(a, rdi, F.InstructionError);
            a.int3();
        });
        using var owner = m;
        Assert.Equal(28UL, m.Cpu.R(Reg.Rcx));
        Assert.Equal(28UL, m.Cpu.R(Reg.Rsi));
        Assert.Equal(28UL, m.Cpu.R(Reg.Rdi));
    }
}
