using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Vmx;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using F = HyperLock.Emulator.Vmx.VmcsField;
using C = HyperLock.Emulator.Vmx.VmxControls;

namespace HyperLock.Emulator.Tests.Vmx;

/// <summary>VM-entry checks per field group, MSR lists, host-state load, EPT and unrestricted guest.</summary>
public class VmEntryAndEptTests
{
    private static VmxMachine Launch(Action<HvTest> setup, Action<Assembler>? guest = null)
    {
        var m = new VmxMachine();
        var t = new HvTest { Guest = guest ?? (g => g.vmcall()) };
        setup(t);
        Assert.Equal("int3", t.Run(m).ToString());
        return m;
    }

    private static void AssertVmFailValid(VmxMachine m, int error)
    {
        Assert.True(m.Cpu.ZF, m.Cpu.LastVmxCheckFailure);
        Assert.Equal((ulong)error, m.Vmcs(F.InstructionError));
        Assert.Equal(0UL, m.Cpu.VmEntries);
    }

    [Theory]
    [InlineData("pin default1 clear")]
    [InlineData("unsupported secondary")]
    [InlineData("virtual NMIs without NMI exiting")]
    [InlineData("bad EPTP")]
    [InlineData("bad injection type")]
    [InlineData("unaligned MSR bitmap")]
    [InlineData("save timer without timer")]
    public void InvalidControlsFailWithError7(string which)
    {
        using var m = Launch(t =>
        {
            switch (which)
            {
                case "pin default1 clear": t.Fields[F.PinControls] = 0; break;
                case "unsupported secondary": t.Set(F.ProcControls, C.ProcSecondary); t.Fields[F.ProcControls2] = C.Proc2VmcsShadowing; break;
                case "virtual NMIs without NMI exiting": t.Set(F.PinControls, C.PinVirtualNmis); break;
                case "bad EPTP": t.Set(F.ProcControls, C.ProcSecondary); t.Fields[F.ProcControls2] = C.Proc2Ept; t.Fields[F.EptPointer] = 0x40000 | 6 | (2 << 3); break;
                case "bad injection type": t.Fields[F.EntryInterruptionInfo] = Interruption.Valid | (1u << 8) | 32; break;
                case "unaligned MSR bitmap": t.Set(F.ProcControls, C.ProcMsrBitmaps); t.Fields[F.MsrBitmap] = 0x13008; break;
                case "save timer without timer": t.Set(F.ExitControls, C.ExitSaveTimer); break;
            }
        });
        AssertVmFailValid(m, VmxError.EntryInvalidControls);
    }

    [Theory]
    [InlineData("CR4 without VMXE")]
    [InlineData("CS selector 0")]
    [InlineData("TR selector with RPL")]
    [InlineData("RIP non-canonical")]
    [InlineData("host not 64-bit")]
    public void InvalidHostStateFailsWithError8(string which)
    {
        using var m = Launch(t =>
        {
            switch (which)
            {
                case "CR4 without VMXE": t.Fields[F.HostCr4] = VmxMachine.HostCr4 & ~Bits.Cr4Vmxe; break;
                case "CS selector 0": t.Fields[F.HostCsSel] = 0; break;
                case "TR selector with RPL": t.Fields[F.HostTrSel] = 0x1B; break;
                case "RIP non-canonical": t.BeforeLaunch = a => HvTest.Vmw(a, F.HostRip, 0x0000800000000000); break;
                case "host not 64-bit": t.Fields[F.ExitControls] = VmxCapabilities.ExitTrueDefault1; break;
            }
        });
        AssertVmFailValid(m, VmxError.EntryInvalidHostState);
    }

    [Theory]
    [InlineData("CS type 3", 0)]
    [InlineData("RFLAGS reserved bit", 0)]
    [InlineData("activity shutdown", 0)]
    [InlineData("STI blocking with IF=0", 0)]
    [InlineData("CR0.PG without PE", 0)]
    [InlineData("TR type", 0)]
    [InlineData("RIP high bits in 32-bit guest", 0)]
    [InlineData("link pointer", 4)]
    [InlineData("IA-32e without PAE", 0)]
    public void InvalidGuestStateFailsEntryWithReason33(string which, int qualification)
    {
        using var m = Launch(t =>
        {
            switch (which)
            {
                case "CS type 3": t.Fields[F.GuestCsAr] = 0xA093; break;
                case "RFLAGS reserved bit": t.Fields[F.GuestRflags] = 0x8002; break;
                case "activity shutdown": t.Fields[F.GuestActivityState] = 2; break;
                case "STI blocking with IF=0": t.Fields[F.GuestInterruptibility] = 1; break;
                case "CR0.PG without PE": t.Fields[F.GuestCr0] = VmxMachine.HostCr0 & ~Bits.Cr0Pe; break;
                case "TR type": t.Fields[F.GuestTrAr] = 0x89; break;
                case "RIP high bits in 32-bit guest": t.Fields[F.GuestCsAr] = 0xC09B; t.Fields[F.GuestRip] = 0x1_0000_0000; break;
                case "link pointer": t.Fields[F.VmcsLinkPointer] = 0x20000; break;
                case "IA-32e without PAE": t.Fields[F.GuestCr4] = VmxMachine.HostCr4 & ~Bits.Cr4Pae; break;
            }
        });
        Assert.Equal(ExitReason.EntryFailure | ExitReason.InvalidGuestState, m.Cpu.R(Reg.R12));
        Assert.Equal((ulong)qualification, m.Cpu.R(Reg.R13));
        Assert.Equal(0UL, m.Cpu.VmEntries);
        Assert.False(m.Cpu.InNonRoot);
        Assert.Equal(VmxMachine.HostStack, m.Cpu.R(Reg.Rsp)); // host state loaded
        Assert.NotNull(m.Cpu.LastVmxCheckFailure);
    }

    [Fact]
    public void EntryMsrLoadFailureIsReason34WithEntryIndex()
    {
        using var m = Launch(t =>
        {
            t.Fields[F.EntryMsrLoadAddr] = VmxMachine.MsrArea;
            t.Fields[F.EntryMsrLoadCount] = 2;
            t.BeforeLaunch = a =>
            {
                a.mov(rax, VmxMachine.MsrArea);
                a.mov(__qword_ptr[rax], 0x174);          // SYSENTER_CS: fine
                a.mov(__qword_ptr[rax + 8], 0x77);
                a.mov(__dword_ptr[rax + 16], unchecked((int)Msr.FsBase)); // FS base may not be in the list
                a.mov(__dword_ptr[rax + 20], 0);
            };
        });
        Assert.Equal(ExitReason.EntryFailure | ExitReason.MsrLoading, m.Cpu.R(Reg.R12));
        Assert.Equal(2UL, m.Cpu.R(Reg.R13));
    }

    [Fact]
    public void MsrListsLoadOnEntryStoreAndLoadOnExit()
    {
        const ulong entryList = VmxMachine.MsrArea, storeList = VmxMachine.MsrArea + 0x100, loadList = VmxMachine.MsrArea + 0x200;
        using var m = new VmxMachine();
        m.Memory.Write(entryList, 8, 0x174); m.Memory.Write(entryList + 8, 8, 0x77);
        m.Memory.Write(storeList, 8, 0x174);
        m.Memory.Write(loadList, 8, 0x174); m.Memory.Write(loadList + 8, 8, 0x10);
        var t = new HvTest { Guest = g => g.vmcall() };
        t.Fields[F.EntryMsrLoadAddr] = entryList; t.Fields[F.EntryMsrLoadCount] = 1;
        t.Fields[F.ExitMsrStoreAddr] = storeList; t.Fields[F.ExitMsrStoreCount] = 1;
        t.Fields[F.ExitMsrLoadAddr] = loadList; t.Fields[F.ExitMsrLoadCount] = 1;
        t.Fields[F.HostSysenterCs] = 0x99;
        Assert.Equal("int3", t.Run(m).ToString());
        Assert.Equal((ulong)ExitReason.Vmcall, m.Cpu.R(Reg.R12));
        Assert.Equal(0x77UL, m.Memory.Read(storeList + 8, 8)); // guest value stored
        Assert.Equal(0x77UL, m.Vmcs(F.GuestSysenterCs));
        Assert.Equal(0x10UL, m.Cpu.SysenterCs);                // host list applied after host state (0x99)
    }

    [Fact]
    public void VmExitLoadsHostStateAndSavesGuestState()
    {
        using var m = Launch(t =>
        {
            t.Fields[F.GuestRsp] = 0x91230;
            t.Fields[F.HostFsBase] = 0x7000_0000;
            t.Fields[F.HostSysenterEip] = 0xFFFF_8000_0000_1000;
        }, g => { g.mov(rsp, 0x95550); g.vmcall(); });
        var c = m.Cpu;
        Assert.Equal(0x95550UL, m.Vmcs(F.GuestRsp));
        Assert.Equal(VmxMachine.HostStack, c.R(Reg.Rsp));
        Assert.Equal((ushort)0x08, c.Segs[Seg.Cs].Selector);
        Assert.True(c.Segs[Seg.Cs].Long);
        Assert.Equal(0x7000_0000UL, c.Segs[Seg.Fs].Base);
        Assert.Equal(VmxMachine.Tss, c.Tr.Base);
        Assert.Equal(0x67u, c.Tr.Limit);
        Assert.Equal(0xFFFF_8000_0000_1000UL, c.SysenterEip);
        Assert.Equal(0x400UL, c.Dr[7]);
        Assert.Equal(0, c.Cpl);
        Assert.Equal(0xA09BUL, m.Vmcs(F.GuestCsAr));
        Assert.Equal(VmxControls.EntryIa32eGuest, m.Vmcs(F.EntryControls) & VmxControls.EntryIa32eGuest);
    }

    // ---- EPT ------------------------------------------------------------------------------

    private static VmxMachine RunEpt(Action<Assembler> guest, Action<VmxMachine, ulong> tweak, bool ad = false, Action<HvTest>? extra = null)
    {
        var m = new VmxMachine();
        ulong eptp = m.BuildIdentityEpt(16 << 20, ad);
        tweak(m, eptp & ~0xFFFUL);
        var t = new HvTest { Guest = guest };
        t.Set(F.ProcControls, C.ProcSecondary);
        t.Fields[F.ProcControls2] = C.Proc2Ept;
        t.Fields[F.EptPointer] = eptp;
        extra?.Invoke(t);
        Assert.Equal("int3", t.Run(m).ToString());
        return m;
    }

    [Fact]
    public void GuestRunsUnderIdentityEpt()
    {
        using var m = RunEpt(g => { g.mov(rax, 0x500000); g.mov(__qword_ptr[rax], 0x1234); g.mov(rbx, __qword_ptr[rax]); g.vmcall(); }, (_, _) => { });
        Assert.Equal((ulong)ExitReason.Vmcall, m.Cpu.R(Reg.R12));
        Assert.Equal(0x1234UL, m.Cpu.R(Reg.Rbx));
        Assert.True(m.Cpu.EptWalks > 0);
    }

    [Fact]
    public void EptRemapsGuestPhysicalToDifferentHostFrame()
    {
        using var m = RunEpt(g => { g.mov(rax, 0x500000); g.mov(__qword_ptr[rax], 0x4321); g.vmcall(); },
            (mm, pml4) => mm.MapEpt(pml4, 0x500000, 0x700000, 7));
        Assert.Equal(0x4321UL, m.Memory.Read(0x700000, 8));
        Assert.Equal(0UL, m.Memory.Read(0x500000, 8));
    }

    [Theory]
    [InlineData("read", 0UL, 0x181UL)]
    [InlineData("write", 1UL, 0x18AUL)]
    [InlineData("fetch", 3UL, 0x19CUL)]
    public void EptViolationQualifications(string access, ulong perms, ulong qualification)
    {
        using var m = RunEpt(g =>
        {
            g.mov(rax, 0x500010);
            if (access == "read") g.mov(rbx, __qword_ptr[rax]);
            else if (access == "write") g.mov(__qword_ptr[rax], rbx);
            else g.jmp(0x500010UL);
            g.vmcall();
        }, (mm, pml4) => mm.MapEpt(pml4, 0x500000, 0x500000, perms));
        Assert.Equal((ulong)ExitReason.EptViolation, m.Cpu.R(Reg.R12));
        Assert.Equal(qualification, m.Cpu.R(Reg.R13));
        Assert.Equal(0x500010UL, m.Vmcs(F.GuestPhysicalAddress));
        Assert.Equal(0x500010UL, m.Vmcs(F.GuestLinearAddress));
        Assert.Equal(access == "fetch" ? 0x500010UL : VmxMachine.GuestCode + 10, m.Vmcs(F.GuestRip));
    }

    [Fact]
    public void EptViolationOnGuestPagingStructureHasBit8Clear()
    {
        // The guest page table (PD at 0x3000) is not readable in the EPT.
        using var m = RunEpt(g => { g.mov(rax, 0x500000); g.mov(rbx, __qword_ptr[rax]); g.vmcall(); },
            (mm, pml4) => mm.MapEpt(pml4, VmxMachine.Pd, VmxMachine.Pd, 0));
        Assert.Equal((ulong)ExitReason.EptViolation, m.Cpu.R(Reg.R12));
        Assert.Equal(0x81UL, m.Cpu.R(Reg.R13) & 0x187);
        Assert.Equal(VmxMachine.Pd + 8, m.Vmcs(F.GuestPhysicalAddress)); // PDE of the first guest fetch (0x200000)
    }

    [Theory]
    [InlineData("write-only", 2UL)]
    [InlineData("memory type 2", 7UL | (2 << 3))]
    [InlineData("reserved bit", 7UL | (6 << 3) | (1UL << 45))]
    public void EptMisconfigurations(string which, ulong entry)
    {
        using var m = RunEpt(g => { g.mov(rax, 0x500000); g.mov(rbx, __qword_ptr[rax]); g.vmcall(); },
            (mm, pml4) => mm.Memory.Write(mm.EptLeafAddress(pml4, 0x500000), 8, 0x500000 | (entry & ~(6UL << 3) & ~0x38UL) | (entry & 0x38) | (which == "write-only" ? 6UL << 3 : 0)));
        Assert.Equal((ulong)ExitReason.EptMisconfig, m.Cpu.R(Reg.R12));
        Assert.Equal(0x500000UL, m.Vmcs(F.GuestPhysicalAddress));
    }

    [Fact]
    public void EptAccessedAndDirtyFlags()
    {
        ulong leaf = 0;
        using var m = RunEpt(g => { g.mov(rax, 0x500000); g.mov(__qword_ptr[rax], rbx); g.vmcall(); },
            (mm, pml4) => leaf = mm.EptLeafAddress(pml4, 0x500000), ad: true);
        ulong e = m.Memory.Read(leaf, 8);
        Assert.Equal(0x300UL, e & 0x300);
        ulong other = m.Memory.Read(leaf + 8, 8); // 0x501000: untouched
        Assert.Equal(0UL, other & 0x300);
    }

    [Fact]
    public void EptTablesOutsideMemoryAreMisconfiguration()
    {
        using var m = RunEpt(g => { g.mov(rax, 0x500000); g.mov(rbx, __qword_ptr[rax]); g.vmcall(); },
            (mm, pml4) =>
            {
                ulong pdpt = mm.Memory.Read(pml4, 8) & ~0xFFFUL;
                ulong pd = mm.Memory.Read(pdpt, 8) & ~0xFFFUL;
                mm.Memory.Write(pd + 2 * 8, 8, 0xFF_FFFF_F000UL | 7); // PT beyond RAM: reads as all ones
            });
        Assert.Equal((ulong)ExitReason.EptMisconfig, m.Cpu.R(Reg.R12));
    }

    [Fact]
    public void UnrestrictedGuestRunsRealModeCodeUnderEpt()
    {
        using var m = new VmxMachine();
        ulong eptp = m.BuildIdentityEpt(16 << 20);
        m.Load(0x20000, _ => { });
        var code = Assemble16(a => { a.mov(ax, 0x1234); a.add(ax, ax); a.mov(bx, 0x10); a.vmcall(); });
        m.Memory.WriteBytes(0x20000, code);
        var t = new HvTest();
        t.Set(F.ProcControls, C.ProcSecondary);
        t.Fields[F.ProcControls2] = C.Proc2Ept | C.Proc2Unrestricted;
        t.Fields[F.EptPointer] = eptp;
        t.Fields[F.EntryControls] = VmxCapabilities.EntryTrueDefault1;
        t.Fields[F.GuestCr0] = Bits.Cr0Et | Bits.Cr0Ne;
        t.Fields[F.GuestCr4] = Bits.Cr4Vmxe;
        t.Fields[F.GuestRip] = 0;
        foreach (int s in new[] { Seg.Es, Seg.Cs, Seg.Ss, Seg.Ds, Seg.Fs, Seg.Gs })
        {
            t.Fields[F.GuestSel(s)] = s == Seg.Cs ? 0x2000UL : 0;
            t.Fields[F.GuestBase(s)] = s == Seg.Cs ? 0x20000UL : 0;
            t.Fields[F.GuestLimit(s)] = 0xFFFF;
            t.Fields[F.GuestAr(s)] = s == Seg.Cs ? 0x9BUL : 0x93UL;
        }
        t.Fields[F.GuestTrSel] = 0; t.Fields[F.GuestTrAr] = 0x8B; t.Fields[F.GuestTrBase] = 0; t.Fields[F.GuestTrLimit] = 0xFFFF;
        t.Fields[F.GuestRsp] = 0x7000;
        Assert.Equal("int3", t.Run(m).ToString());
        Assert.Equal((ulong)ExitReason.Vmcall, m.Cpu.R(Reg.R12));
        Assert.Equal(0x2468UL, m.Cpu.R(Reg.Rax) & 0xFFFF);
        Assert.Equal(8UL, m.Vmcs(F.GuestRip));
        Assert.Equal(0UL, m.Vmcs(F.EntryControls) & VmxControls.EntryIa32eGuest);
    }

    private static byte[] Assemble16(Action<Assembler> build)
    {
        return AssembledCode.Bytes(16, 0, build);
    }

}
