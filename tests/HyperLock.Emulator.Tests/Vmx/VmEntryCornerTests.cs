using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Vmx;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using F = HyperLock.Emulator.Vmx.VmcsField;
using C = HyperLock.Emulator.Vmx.VmxControls;

namespace HyperLock.Emulator.Tests.Vmx;

/// <summary>
/// VM-entry checks and EPT details from the SDM that conformance suites exercise: the
/// deliver-error-code rule of event injection (§27.2.1.3), MSR-list addresses (§27.2.1.2-3),
/// the guest PDPTEs of a PAE guest under EPT (§27.3.2.4, §28.3.4), and the EPT-violation
/// qualification of guest paging-structure accesses (§28.2.1, §29.3.3.2).
/// </summary>
public class VmEntryCornerTests
{
    private static VmxMachine Launch(Action<HvTest> setup)
    {
        var m = new VmxMachine();
        var t = new HvTest { Guest = g => g.vmcall() };
        setup(t);
        Assert.Equal("int3", t.Run(m).ToString());
        return m;
    }

    [Theory]
    [InlineData("#GP without error code", Vector.GP, false)]
    [InlineData("#PF without error code", Vector.PF, false)]
    [InlineData("#DF without error code", Vector.DF, false)]
    [InlineData("#AC without error code", Vector.AC, false)]
    [InlineData("#UD with error code", Vector.UD, true)]
    [InlineData("#BP with error code", Vector.BP, true)]
    public void HardwareExceptionInjectionNeedsTheErrorCodeBitExactlyForErrorCodeVectors(string which, int vector, bool errorCode)
    {
        _ = which;
        using var m = Launch(t => t.Fields[F.EntryInterruptionInfo] = Interruption.Make(vector, Interruption.TypeHardwareException, errorCode));
        Assert.True(m.Cpu.ZF, m.Cpu.LastVmxCheckFailure);
        Assert.Equal((ulong)VmxError.EntryInvalidControls, m.Vmcs(F.InstructionError));
        Assert.Equal(0UL, m.Cpu.VmEntries);
    }

    [Fact]
    public void InjectedGpWithItsErrorCodeEnters()
    {
        using var m = Launch(t =>
        {
            t.Fields[F.EntryInterruptionInfo] = Interruption.Make(Vector.GP, Interruption.TypeHardwareException, true);
            t.Fields[F.EntryExceptionErrorCode] = 0x10;
        });
        Assert.Equal(1UL, m.Cpu.VmEntries);
    }

    [Theory]
    [InlineData("exit MSR-store list ends beyond the address width")]
    [InlineData("exit MSR-load list ends beyond the address width")]
    [InlineData("entry MSR-load list ends beyond the address width")]
    [InlineData("exit MSR-store list starts beyond the address width")]
    [InlineData("entry MSR-load list not 16-byte aligned")]
    public void MsrListsOutsideThePhysicalAddressWidthFailEntry(string which)
    {
        ulong top = 1UL << Cpu.MaxPhysAddrBits;
        using var m = Launch(t =>
        {
            (uint addr, uint count) = which.StartsWith("exit MSR-store", StringComparison.Ordinal) ? (F.ExitMsrStoreAddr, F.ExitMsrStoreCount)
                : which.StartsWith("exit MSR-load", StringComparison.Ordinal) ? (F.ExitMsrLoadAddr, F.ExitMsrLoadCount)
                : (F.EntryMsrLoadAddr, F.EntryMsrLoadCount);
            if (which.Contains("ends beyond", StringComparison.Ordinal)) { t.Fields[addr] = top - 16; t.Fields[count] = 2; }
            else if (which.Contains("starts beyond", StringComparison.Ordinal)) { t.Fields[addr] = top; t.Fields[count] = 1; }
            else { t.Fields[addr] = VmxMachine.MsrArea + 8; t.Fields[count] = 1; }
        });
        Assert.True(m.Cpu.ZF, m.Cpu.LastVmxCheckFailure);
        Assert.Equal((ulong)VmxError.EntryInvalidControls, m.Vmcs(F.InstructionError));
    }

    /// <summary>A list whose last byte is the last address below the width passes the control checks (the load itself then fails on the entry's contents).</summary>
    [Fact]
    public void MsrListEndingAtTheLastAddressPassesTheControlChecks()
    {
        using var m = Launch(t => { t.Fields[F.EntryMsrLoadAddr] = (1UL << Cpu.MaxPhysAddrBits) - 16; t.Fields[F.EntryMsrLoadCount] = 1; });
        Assert.False(m.Cpu.ZF, m.Cpu.LastVmxCheckFailure);
        Assert.Equal(0x8000_0000UL | (ulong)ExitReason.MsrLoading, m.Cpu.R(Reg.R12));
    }

    /// <summary>
    /// A 32-bit PAE guest under EPT: VM entry loads the PDPTEs from the VMCS (here they point to
    /// a different page directory than the guest's CR3 page does); after the guest reloads CR3
    /// it uses its memory PDPTEs; VM exit stores the PDPTEs in use.
    /// </summary>
    [Fact]
    public void PaeGuestUnderEptTakesItsPdptesFromTheVmcs()
    {
        const ulong pdpt = 0x20000, pdMemory = 0x21000, pdVmcs = 0x22000;
        using var m = new VmxMachine();
        ulong eptp = m.BuildIdentityEpt(16 << 20);
        m.Memory.Write(pdpt, 8, pdMemory | 1);
        for (ulong k = 0; k < 512; k++)
        {
            m.Memory.Write(pdMemory + k * 8, 8, (k << 21) | 0x83);
            m.Memory.Write(pdVmcs + k * 8, 8, ((k == 2 ? 3UL : k) << 21) | 0x83); // 0x400000 → 0x600000
        }
        m.Memory.Write(0x400000, 4, 0x1111);
        m.Memory.Write(0x600000, 4, 0x2222);
        m.Memory.WriteBytes(VmxMachine.GuestCode, AssembledCode.Bytes(32, VmxMachine.GuestCode, g =>
        {
            g.mov(ebx, __dword_ptr[0x400000]);      // through the VMCS PDPTEs
            g.mov(eax, cr3);
            g.mov(cr3, eax);                         // reloads the PDPTEs from memory
            g.mov(ecx, __dword_ptr[0x400000]);
            g.vmcall();
        }));
        var t = new HvTest();
        t.Set(F.ProcControls, C.ProcSecondary);
        t.Fields[F.ProcControls2] = C.Proc2Ept;
        t.Fields[F.EptPointer] = eptp;
        t.Fields[F.EntryControls] = VmxCapabilities.EntryTrueDefault1;
        t.Fields[F.GuestCr3] = pdpt;
        t.Fields[F.GuestEfer] = 0;
        t.Fields[F.GuestCsAr] = 0xC09B;
        t.Fields[F.GuestPdpte0] = pdVmcs | 1;
        Assert.Equal("int3", t.Run(m).ToString());
        Assert.Equal((ulong)ExitReason.Vmcall, m.Cpu.R(Reg.R12));
        Assert.Equal(0x2222UL, m.Cpu.R(Reg.Rbx) & 0xFFFFFFFF);
        Assert.Equal(0x1111UL, m.Cpu.R(Reg.Rcx) & 0xFFFFFFFF);
        Assert.Equal(pdMemory | 1, m.Vmcs(F.GuestPdpte0));
    }

    [Fact]
    public void PaeGuestPdptesAreStoredAtExit()
    {
        const ulong pdpt = 0x20000, pd = 0x21000;
        using var m = new VmxMachine();
        ulong eptp = m.BuildIdentityEpt(16 << 20);
        m.Memory.Write(pdpt, 8, 0x7_0000 | 1);  // what the guest's CR3 page holds: ignored at entry
        for (ulong k = 0; k < 512; k++) m.Memory.Write(pd + k * 8, 8, (k << 21) | 0x83);
        m.Memory.WriteBytes(VmxMachine.GuestCode, AssembledCode.Bytes(32, VmxMachine.GuestCode, g => g.vmcall()));
        var t = new HvTest();
        t.Set(F.ProcControls, C.ProcSecondary);
        t.Fields[F.ProcControls2] = C.Proc2Ept;
        t.Fields[F.EptPointer] = eptp;
        t.Fields[F.EntryControls] = VmxCapabilities.EntryTrueDefault1;
        t.Fields[F.GuestCr3] = pdpt;
        t.Fields[F.GuestEfer] = 0;
        t.Fields[F.GuestCsAr] = 0xC09B;
        t.Fields[F.GuestPdpte0] = pd | 1;
        t.Fields[F.GuestPdpte3] = 0x123000 | 1;
        Assert.Equal("int3", t.Run(m).ToString());
        Assert.Equal((ulong)ExitReason.Vmcall, m.Cpu.R(Reg.R12));
        Assert.Equal(pd | 1, m.Vmcs(F.GuestPdpte0));
        Assert.Equal(0x123000UL | 1, m.Vmcs(F.GuestPdpte3));
    }

    private static VmxMachine RunEpt(Action<Assembler> guest, Action<VmxMachine, ulong> tweak, bool ad)
    {
        var m = new VmxMachine();
        ulong eptp = m.BuildIdentityEpt(16 << 20, ad);
        tweak(m, eptp & ~0xFFFUL);
        var t = new HvTest { Guest = guest };
        t.Set(F.ProcControls, C.ProcSecondary);
        t.Fields[F.ProcControls2] = C.Proc2Ept;
        t.Fields[F.EptPointer] = eptp;
        Assert.Equal("int3", t.Run(m).ToString());
        return m;
    }

    /// <summary>
    /// The guest's page directory (PD at 0x3000) is read-only in the EPT. Without EPT A/D flags the
    /// walk for 0x500000 reads its PDE, then writes the accessed flag (the host never touched that
    /// 2 MiB page): that write is the violation, reported as a read and a write (bits 0 and 1),
    /// linear address valid (bit 7), not the final translation (bit 8 clear). With EPT A/D flags
    /// every paging-structure access counts as a write: the first walk (the fetch at the guest's
    /// RIP) already exits, with the same qualification.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void EptViolationOnAGuestPagingStructureWriteReportsReadAndWrite(bool ad)
    {
        using var m = RunEpt(g => { g.mov(rax, 0x500000); g.mov(rbx, __qword_ptr[rax]); g.vmcall(); },
            (mm, pml4) => mm.MapEpt(pml4, VmxMachine.Pd, VmxMachine.Pd, 1), ad);
        Assert.Equal((ulong)ExitReason.EptViolation, m.Cpu.R(Reg.R12));
        Assert.Equal(0x83UL, m.Cpu.R(Reg.R13) & 0x187);
        Assert.Equal(0x8UL, m.Cpu.R(Reg.R13) & 0x38);          // the page was readable only
        Assert.Equal(ad ? VmxMachine.Pd + 8 : VmxMachine.Pd + 16, m.Vmcs(F.GuestPhysicalAddress));
        Assert.Equal(ad ? VmxMachine.GuestCode : 0x500000UL, m.Vmcs(F.GuestLinearAddress));
    }

    [Fact]
    public void EptViolationOnAGuestPagingStructureReadReportsReadOnly()
    {
        using var m = RunEpt(g => g.vmcall(), (mm, pml4) => mm.MapEpt(pml4, VmxMachine.Pd, VmxMachine.Pd, 0), ad: false);
        Assert.Equal((ulong)ExitReason.EptViolation, m.Cpu.R(Reg.R12));
        Assert.Equal(0x81UL, m.Cpu.R(Reg.R13) & 0x187);
    }

    /// <summary>With EPT A/D flags, the walk's accesses to guest paging structures set accessed and dirty in the EPT entries that map them.</summary>
    [Fact]
    public void EptAccessedAndDirtyFlagsOnGuestPagingStructures()
    {
        ulong pdLeaf = 0, pml4Leaf = 0, dataLeaf = 0;
        using var m = RunEpt(g => { g.mov(rax, 0x500000); g.mov(rbx, __qword_ptr[rax]); g.vmcall(); },
            (mm, pml4) =>
            {
                pdLeaf = mm.EptLeafAddress(pml4, VmxMachine.Pd);
                pml4Leaf = mm.EptLeafAddress(pml4, VmxMachine.Pml4);
                dataLeaf = mm.EptLeafAddress(pml4, 0x500000);
            }, ad: true);
        Assert.Equal((ulong)ExitReason.Vmcall, m.Cpu.R(Reg.R12));
        Assert.Equal(0x300UL, m.Memory.Read(pdLeaf, 8) & 0x300);
        Assert.Equal(0x300UL, m.Memory.Read(pml4Leaf, 8) & 0x300);
        Assert.Equal(0x100UL, m.Memory.Read(dataLeaf, 8) & 0x300); // the data page was only read
    }
}
