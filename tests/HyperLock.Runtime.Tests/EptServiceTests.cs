using HyperLock.Abi;
using Iced.Intel;
using Label = Iced.Intel.Label;
using static Iced.Intel.AssemblerRegisters;
using F = HyperLock.Emulator.Vmx.VmcsField;

namespace HyperLock.Runtime.Tests;

/// <summary>EptUpdate end to end: a write-protected guest page turns the guest's next write into an EPT violation.</summary>
public class EptServiceTests
{
    private const ulong Protected = 0x100000;

    /// <summary>At the CPUID exit: make <see cref="Protected"/> read+execute only, resume. At the EPT violation: record the GPA and end with status 48.</summary>
    private static Loading.HypervisorImage WriteProtector() => TestHypervisors.Build(a =>
    {
        Label violation = a.CreateLabel();
        a.mov(r15, rsi);
        a.cmp(edi, 48);
        a.je(violation);
        a.mov(edi, (uint)Protected);
        a.mov(esi, 5); // R + X
        a.mov(edx, 1);
        a.mov(r11d, (uint)RuntimeService.EptUpdate);
        a.@int(ServiceRegisters.GateVector);
        a.mov(__qword_ptr[r15 + 0x300], rax);
        a.mov(edx, F.ExitInstructionLength);
        a.vmread(rax, rdx);
        a.mov(edx, F.GuestRip);
        a.vmread(rbx, rdx);
        a.add(rbx, rax);
        a.mov(edx, F.GuestRip);
        a.vmwrite(rdx, rbx);
        a.vmresume();
        TestHypervisors.Hang(a);

        a.Label(ref violation);
        a.mov(edx, F.GuestPhysicalAddress);
        a.vmread(rax, rdx);
        a.mov(__qword_ptr[r15 + 0x308], rax);
        a.mov(edx, F.ExitQualification);
        a.vmread(rax, rdx);
        a.mov(__qword_ptr[r15 + 0x310], rax);
        a.mov(edi, 48);
        a.mov(r11d, (uint)RuntimeService.Exit);
        a.@int(ServiceRegisters.GateVector);
        TestHypervisors.Hang(a);
    });

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AWriteToAPageTheHypervisorProtectedIsAnEptViolation(bool confined)
    {
        using var rt = new IsolationRuntime();
        var guest = new GuestSpec("g", TestGuests.Assemble(GuestSpec.CodeAddress, a =>
        {
            a.mov(__qword_ptr[Protected], 0x11);   // before: allowed
            a.xor(eax, eax);
            a.cpuid();                              // the hypervisor write-protects the page
            a.mov(rax, __qword_ptr[Protected]);     // reading is still fine
            a.mov(__qword_ptr[Protected + 8], rax); // writing is not
            a.mov(al, 1);
            a.@out(0xF4, al);
        }));
        var inst = rt.AddGuest(guest, rt.Load(WriteProtector()), confined);
        rt.Run(2_000_000);
        Assert.True(inst.ExitStatus == 48, inst.Report?.ToString() ?? $"status {inst.ExitStatus}");
        var mem = rt.Board.Memory;
        ulong slots = inst.DataFrames[0] + 0x300;
        Assert.Equal(0UL, mem.Read(slots, 8));                       // EptUpdate succeeded
        Assert.Equal(Protected + 8, mem.Read(slots + 8, 8));         // the faulting guest-physical address
        ulong qualification = mem.Read(slots + 16, 8);
        Assert.Equal(2UL, qualification & 7);                        // a data write
        Assert.Equal(5UL, (qualification >> 3) & 7);                 // the page was readable and executable, not writable
        Assert.Equal(0x11UL, mem.Read(inst.GuestBase + Protected, 8));
        Assert.Equal(0UL, mem.Read(inst.GuestBase + Protected + 8, 8)); // the write did not happen
    }
}
