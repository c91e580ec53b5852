using HyperLock.Emulator.Builders;
using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Devices;
using HyperLock.Emulator.Machine;
using HyperLock.Emulator.Tests.Vmx;
using HyperLock.Emulator.Vmx;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using F = HyperLock.Emulator.Vmx.VmcsField;

namespace HyperLock.Emulator.Tests.Devices;

/// <summary>
/// The host seam: trusted CPL0 code in VMX root reaches C# through the host-call port; a guest
/// (unconditional I/O exiting) and CPL3 code (IOPL 0, no I/O bitmap) cannot, by the architecture.
/// </summary>
public class HostCallPortTests
{
    private const uint AddCall = 7;

    private static VmxMachine HostMachine(out HostCallPort port)
    {
        var board = new BoardBuilder().WithMemory(64 << 20).WithHostCallPort().Build();
        port = board.Device<HostCallPort>();
        return new VmxMachine(board);
    }

    /// <summary>Call 7: RAX = RDI + RSI, and the sum is stored at physical RDX.</summary>
    private static List<HostCallContext> RegisterAdd(HostCallPort port)
    {
        var calls = new List<HostCallContext>();
        port.Register(AddCall, ctx =>
        {
            calls.Add(ctx);
            ulong sum = ctx.Cpu.R(Reg.Rdi) + ctx.Cpu.R(Reg.Rsi);
            ctx.Cpu.R(Reg.Rax) = sum;
            ctx.Memory.Write(ctx.Cpu.R(Reg.Rdx), 8, sum);
        });
        return calls;
    }

    private static void CallStub(Assembler a, uint number)
    {
        a.mov(eax, number);
        a.@out((byte)HostCallPort.DefaultPort, eax);
    }

    [Fact]
    public void RootCodeAtCpl0ReachesTheHandlerAndItsStubContinues()
    {
        using var m = HostMachine(out var port);
        var calls = RegisterAdd(port);
        m.Load(VmxMachine.HostCode, a =>
        {
            a.mov(edi, 40);
            a.mov(esi, 2);
            a.mov(edx, (uint)VmxMachine.Data);
            CallStub(a, AddCall);
            a.mov(rbx, rax);
            a.int3();
        });
        Assert.Equal("int3", m.Run().ToString());
        Assert.Single(calls);
        Assert.Equal(AddCall, calls[0].Number);
        Assert.Equal(42UL, m.Cpu.R(Reg.Rbx));
        Assert.Equal(42UL, m.Memory.Read(VmxMachine.Data, 8));
        Assert.Equal(1, port.Calls);
    }

    [Fact]
    public void AnUnregisteredNumberReturnsMinusOne()
    {
        using var m = HostMachine(out var port);
        RegisterAdd(port);
        m.Load(VmxMachine.HostCode, a => { CallStub(a, 99); a.mov(rbx, rax); a.int3(); });
        Assert.Equal("int3", m.Run().ToString());
        Assert.Equal(HostCallPort.UnknownCall, m.Cpu.R(Reg.Rbx));
    }

    [Fact]
    public void Cpl3CodeGetsGeneralProtectionInsteadOfTheHandler()
    {
        using var m = HostMachine(out var port);
        var calls = RegisterAdd(port);
        // A TSS whose I/O-map base lies past its limit (no I/O bitmap), IOPL 0, CPL 3.
        new TssBuilder(m.Memory, VmxMachine.Tss);
        new PageTableBuilder(m.Memory, new FrameAllocator(m.Memory, 0x20000, 0x30000), VmxMachine.Pml4)
            .Map2M(VmxMachine.GuestCode, VmxMachine.GuestCode, PageFlags.User);
        m.Load(VmxMachine.GuestCode, a => CallStub(a, AddCall));
        m.Cpu.Segs[Seg.Cs] = SegmentRegister.FlatCode64(0x2B, 3);
        m.Cpu.ForceCpl(3);
        m.Cpu.UpdateMode();
        m.Cpu.Rip = VmxMachine.GuestCode;
        Assert.Equal("#GP(0)", m.Run().ToString());
        Assert.Empty(calls);
        Assert.Equal(0, port.Calls);
    }

    /// <summary>A guest's OUT to the port, and the host's own call from its exit handler at HOST_RIP.</summary>
    private static (VmxMachine M, HostCallPort Port, List<HostCallContext> Calls) GuestOut(bool ioExiting)
    {
        var m = HostMachine(out var port);
        var calls = RegisterAdd(port);
        var t = new HvTest
        {
            Guest = g => { g.mov(edi, 1); g.mov(esi, 2); g.mov(edx, (uint)VmxMachine.Data + 0x800); CallStub(g, AddCall); g.vmcall(); },
            OnExit = a =>
            {
                HvTest.Vmr(a, r12, F.ExitReason);
                HvTest.Vmr(a, r13, F.ExitQualification);
                // The exit arrived at HOST_RIP as on hardware; now the host asks C# for help.
                a.mov(edi, 100);
                a.mov(esi, 20);
                a.mov(edx, (uint)VmxMachine.Data + 0x808);
                CallStub(a, AddCall);
                a.int3();
            },
        };
        if (ioExiting) t.Fields.SetBits(F.ProcControls, VmxControls.ProcUncondIo);
        Assert.Equal("int3", t.Run(m).ToString());
        return (m, port, calls);
    }

    [Fact]
    public void AGuestWithUnconditionalIoExitingExitsInsteadOfReachingThePort()
    {
        var (m, port, calls) = GuestOut(ioExiting: true);
        using (m)
        {
            Assert.Equal((ulong)ExitReason.Io, m.Cpu.R(Reg.R12));
            ulong q = m.Cpu.R(Reg.R13);
            Assert.Equal(3UL, q & 7);                                  // 4-byte access
            Assert.Equal(0UL, q & 8);                                  // OUT
            Assert.Equal(64UL, q & 64);                                // immediate port operand
            Assert.Equal((ulong)HostCallPort.DefaultPort, q >> 16);
            Assert.Equal(0UL, m.Memory.Read(VmxMachine.Data + 0x800, 8));  // the guest's call never ran
            Assert.Single(calls);                                      // only the host's, from HOST_RIP code
            Assert.Equal(120UL, m.Memory.Read(VmxMachine.Data + 0x808, 8));
            Assert.False(m.Cpu.InNonRoot);
            Assert.Equal(1, port.Calls);
        }
    }

    [Fact]
    public void WithoutIoExitingTheGuestWouldReachIt_SoTheControlIsWhatKeepsItOut()
    {
        // The negative control: the architecture, not the device, keeps guests out.
        var (m, _, calls) = GuestOut(ioExiting: false);
        using (m)
        {
            Assert.Equal((ulong)ExitReason.Vmcall, m.Cpu.R(Reg.R12));
            Assert.Equal(2, calls.Count);
            Assert.Equal(3UL, m.Memory.Read(VmxMachine.Data + 0x800, 8));
        }
    }

    [Fact]
    public void HostCSharpCodeSetsUpTheVmcsThroughTheSeamAndInspectsTheExit()
    {
        using var m = HostMachine(out var port);
        const uint SetupVmcs = 1, InspectExit = 2;
        ulong seenReason = 0, seenGuestRip = 0;
        port.Register(SetupVmcs, ctx =>
        {
            var vmcs = HvTest.StandardFields();
            ctx.Cpu.R(Reg.Rax) = vmcs.ApplyTo(ctx.Cpu) ? 0UL : 1UL;
        });
        port.Register(InspectExit, ctx =>
        {
            seenReason = ctx.Cpu.ReadVmcsField(F.ExitReason);
            seenGuestRip = ctx.Cpu.ReadVmcsField(F.GuestRip);
        });
        m.Load(VmxMachine.GuestCode, g => { g.nop(); g.cpuid(); });
        m.Load(VmxMachine.HostCode, a =>
        {
            var exit = a.CreateLabel();
            a.vmxon(__qword_ptr[VmxMachine.PtrVmxon]);
            a.vmclear(__qword_ptr[VmxMachine.PtrVmcs]);
            a.vmptrld(__qword_ptr[VmxMachine.PtrVmcs]);
            CallStub(a, SetupVmcs);
            a.mov(r14, rax);
            a.lea(rax, __[exit]);
            a.mov(rdx, (long)F.HostRip);
            a.vmwrite(rdx, rax);
            a.vmlaunch();
            a.int3();
            a.Label(ref exit);
            CallStub(a, InspectExit);
            a.int3();
        });
        Assert.Equal("int3", m.Run().ToString());
        Assert.Equal(0UL, m.Cpu.R(Reg.R14));
        Assert.Equal((ulong)ExitReason.Cpuid, seenReason);
        Assert.Equal(VmxMachine.GuestCode + 1, seenGuestRip);
    }

    [Fact]
    public void WriteVmcsFieldRefusesWithoutACurrentVmcsAndForReadOnlyFields()
    {
        using var m = HostMachine(out _);
        Assert.False(m.Cpu.WriteVmcsField(F.GuestRip, 1));                 // no current VMCS
        Assert.False(new VmcsBuilder().Set(F.GuestRip, 1).ApplyTo(m.Cpu));
    }
}
