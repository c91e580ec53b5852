using HyperLock.Emulator.Cpu;
using HyperLock.Emulator.Cpu.Execution;
using HyperLock.Emulator.Memory;
using HyperLock.Emulator.Vmx;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using CpuCore = HyperLock.Emulator.Cpu.Cpu;
using F = HyperLock.Emulator.Vmx.VmcsField;

namespace HyperLock.Emulator.Tests.Vmx;

/// <summary>
/// A bare-metal 64-bit CPL0 machine for hypervisor test programs: identity-mapped first GiB
/// (2 MiB pages), a GDT (code 0x08, data 0x10, 64-bit TSS 0x18), a TSS, CR4.VMXE set and
/// IA32_FEATURE_CONTROL locked with VMX enabled (as firmware leaves it), VMXON and VMCS
/// regions with the revision identifier. Host exceptions stop the run (intercepted); guest
/// exceptions belong to the guest (its IDT or the exception bitmap).
/// </summary>
internal sealed class VmxMachine : IDisposable
{
    public const ulong Pml4 = 0x1000, Pdpt = 0x2000, Pd = 0x3000, Gdt = 0x5000, Idt = 0x6000, GuestIdt = 0x7000, Tss = 0x8000;
    public const ulong VmxonRegion = 0x10000, VmcsRegion = 0x11000, Vmcs2Region = 0x12000, MsrBitmap = 0x13000,
        IoBitmapA = 0x14000, IoBitmapB = 0x15000, MsrArea = 0x16000, EptBase = 0x40000;
    public const ulong HostStack = 0x80000, GuestStack = 0x90000, HostCode = 0x100000, GuestCode = 0x200000,
        GuestHandler = 0x280000, Data = 0x300000;

    /// <summary>Data area slots: pointers used as VMX instruction memory operands.</summary>
    public const ulong PtrVmxon = Data, PtrVmcs = Data + 8, PtrVmcs2 = Data + 16, PtrScratch = Data + 24, Desc = Data + 0x40;

    public const ulong HostCr0 = Bits.Cr0Pe | Bits.Cr0Mp | Bits.Cr0Et | Bits.Cr0Ne | Bits.Cr0Wp | Bits.Cr0Pg;
    public const ulong HostCr4 = Bits.Cr4Pae | Bits.Cr4Osfxsr | Bits.Cr4Osxmmexcpt | Bits.Cr4Vmxe;

    public PhysicalMemory Memory { get; }
    public CpuCore Cpu { get; }

    private ulong _eptNext = EptBase;

    public VmxMachine(ulong ramSize = 64 << 20)
    {
        Memory = new PhysicalMemory(ramSize);
        Cpu = new CpuCore(Memory);
        Memory.Write(Pml4, 8, Pdpt | 3);
        Memory.Write(Pdpt, 8, Pd | 3);
        for (ulong k = 0; k < 512; k++) Memory.Write(Pd + k * 8, 8, (k << 21) | 0x83);

        // GDT: null, code64, data, TSS (16 bytes).
        Memory.Write(Gdt + 0x08, 8, 0x00AF9B000000FFFFUL);
        Memory.Write(Gdt + 0x10, 8, 0x00CF93000000FFFFUL);
        ulong tssLo = 0x67 | ((Tss & 0xFFFFFF) << 16) | (0x8BUL << 40) | (((Tss >> 24) & 0xFF) << 56);
        Memory.Write(Gdt + 0x18, 8, tssLo);
        Memory.Write(Gdt + 0x20, 8, Tss >> 32);
        Memory.Write(Tss + 4, 8, HostStack); // RSP0

        Memory.Write(VmxonRegion, 4, VmxCapabilities.RevisionId);
        Memory.Write(VmcsRegion, 4, VmxCapabilities.RevisionId);
        Memory.Write(Vmcs2Region, 4, VmxCapabilities.RevisionId);
        Memory.Write(PtrVmxon, 8, VmxonRegion);
        Memory.Write(PtrVmcs, 8, VmcsRegion);
        Memory.Write(PtrVmcs2, 8, Vmcs2Region);

        var c = Cpu;
        c.Cr3 = Pml4;
        c.Cr4 = HostCr4;
        c.Efer = Bits.EferLme | Bits.EferLma | Bits.EferNxe | Bits.EferSce;
        c.Cr0 = HostCr0;
        for (int s = 0; s < Seg.Count; s++) c.Segs[s] = SegmentRegister.FlatData(0x10, 0);
        c.Segs[Seg.Cs] = SegmentRegister.FlatCode64(0x08, 0);
        c.Gdtr = new TableRegister { Base = Gdt, Limit = 0x27 };
        c.Idtr = new TableRegister { Base = Idt, Limit = 0xFFF };
        c.Tr = new SegmentRegister { Selector = 0x18, Base = Tss, Limit = 0x67, Attributes = 0x8B };
        c.Ldtr = new SegmentRegister { Attributes = SegmentRegister.AttrUnusable };
        c.ForceCpl(0);
        c.UpdateMode();
        c.FlushTlb(includeGlobal: true);
        c.FeatureControl = 5; // locked, VMX outside SMX enabled
        c.R(Reg.Rsp) = HostStack;
        c.Rip = HostCode;
        c.SetRflags(2);
        c.InterceptExceptions = true;
    }

    public static byte[] Assemble(ulong address, Action<Assembler> build)
    {
        return AssembledCode.Bytes(64, address, build);
    }

    public void Load(ulong address, Action<Assembler> build) => Memory.WriteBytes(address, Assemble(address, build));

    public StopReason Run(ulong max = 1_000_000) => Cpu.Run(max);

    public ulong Vmcs(uint field) => Cpu.ReadVmcsField(field);

    // ---- EPT ------------------------------------------------------------------------------

    private ulong NewEptTable()
    {
        ulong t = _eptNext;
        _eptNext += 0x1000;
        for (ulong k = 0; k < 512; k++) Memory.Write(t + k * 8, 8, 0);
        return t;
    }

    /// <summary>EPTP of an identity EPT over the first <paramref name="size"/> bytes with 4 KiB pages, WB, RWX.</summary>
    public ulong BuildIdentityEpt(ulong size = 16 << 20, bool accessedDirty = false)
    {
        _eptNext = EptBase;
        ulong pml4 = NewEptTable();
        for (ulong gpa = 0; gpa < size; gpa += 0x1000) MapEpt(pml4, gpa, gpa, 7);
        return pml4 | 6 | (3 << 3) | (accessedDirty ? 1UL << 6 : 0);
    }

    /// <summary>Maps one 4 KiB guest page in the EPT rooted at <paramref name="pml4"/> with permissions (bits 2:0) and WB type.</summary>
    public void MapEpt(ulong pml4, ulong gpa, ulong hpa, ulong perms)
    {
        ulong table = pml4;
        for (int shift = 39; shift > 12; shift -= 9)
        {
            ulong ea = table + (((gpa >> shift) & 0x1FF) << 3);
            ulong e = Memory.Read(ea, 8);
            if ((e & 7) == 0)
            {
                e = NewEptTable() | 7;
                Memory.Write(ea, 8, e);
            }
            table = e & 0xFFFFFFFFFF000UL;
        }
        Memory.Write(table + (((gpa >> 12) & 0x1FF) << 3), 8, hpa | perms | (6 << 3));
    }

    /// <summary>Address of the leaf EPT entry for a guest page (for tests that corrupt it).</summary>
    public ulong EptLeafAddress(ulong pml4, ulong gpa)
    {
        ulong table = pml4;
        for (int shift = 39; shift > 12; shift -= 9)
            table = Memory.Read(table + (((gpa >> shift) & 0x1FF) << 3), 8) & 0xFFFFFFFFFF000UL;
        return table + (((gpa >> 12) & 0x1FF) << 3);
    }

    public void Dispose() => Memory.Dispose();

}

/// <summary>
/// A hypervisor test program: VMXON, VMCLEAR, VMPTRLD, VMWRITE of a complete 64-bit guest and
/// host state (overridable per field), VMLAUNCH of guest code; at the exit the default handler
/// reads the exit reason into R12 and the qualification into R13 with VMREAD and stops (INT3).
/// A VMLAUNCH that fails falls through to an INT3 with the VMfail flags.
/// </summary>
internal sealed class HvTest
{
    public readonly Dictionary<uint, ulong> Fields = StandardFields();
    public Action<Assembler>? Guest;
    /// <summary>Extra host code just before VMLAUNCH.</summary>
    public Action<Assembler>? BeforeLaunch { get; set; }
    /// <summary>Custom exit handler (host code at HOST_RIP); default: VMREAD reason → R12, qualification → R13, INT3.</summary>
    public Action<Assembler>? OnExit;

    public static Dictionary<uint, ulong> StandardFields()
    {
        var f = new Dictionary<uint, ulong>
        {
            [F.PinControls] = VmxCapabilities.PinDefault1,
            [F.ProcControls] = VmxCapabilities.ProcTrueDefault1,
            [F.ExitControls] = VmxCapabilities.ExitTrueDefault1 | VmxControls.ExitHostLongMode,
            [F.EntryControls] = VmxCapabilities.EntryTrueDefault1 | VmxControls.EntryIa32eGuest,
            [F.HostCr0] = VmxMachine.HostCr0, [F.HostCr3] = VmxMachine.Pml4, [F.HostCr4] = VmxMachine.HostCr4,
            [F.HostCsSel] = 0x08, [F.HostSsSel] = 0x10, [F.HostDsSel] = 0x10, [F.HostEsSel] = 0x10,
            [F.HostFsSel] = 0x10, [F.HostGsSel] = 0x10, [F.HostTrSel] = 0x18,
            [F.HostTrBase] = VmxMachine.Tss, [F.HostGdtrBase] = VmxMachine.Gdt, [F.HostIdtrBase] = VmxMachine.Idt,
            [F.HostRsp] = VmxMachine.HostStack,
            [F.GuestCr0] = VmxMachine.HostCr0, [F.GuestCr3] = VmxMachine.Pml4, [F.GuestCr4] = VmxMachine.HostCr4,
            [F.GuestDr7] = 0x400, [F.GuestRflags] = 2, [F.GuestRip] = VmxMachine.GuestCode, [F.GuestRsp] = VmxMachine.GuestStack,
            [F.GuestCsSel] = 0x08, [F.GuestCsLimit] = 0xFFFFFFFF, [F.GuestCsAr] = 0xA09B,
            [F.GuestTrSel] = 0x18, [F.GuestTrBase] = VmxMachine.Tss, [F.GuestTrLimit] = 0x67, [F.GuestTrAr] = 0x8B,
            [F.GuestLdtrAr] = 0x10000,
            [F.GuestGdtrBase] = VmxMachine.Gdt, [F.GuestGdtrLimit] = 0x27,
            [F.GuestIdtrBase] = VmxMachine.GuestIdt, [F.GuestIdtrLimit] = 0xFFF,
            [F.VmcsLinkPointer] = ulong.MaxValue,
            [F.GuestEfer] = Bits.EferLme | Bits.EferLma | Bits.EferNxe | Bits.EferSce,
        };
        foreach (int s in new[] { Seg.Es, Seg.Ss, Seg.Ds, Seg.Fs, Seg.Gs })
        {
            f[F.GuestSel(s)] = 0x10;
            f[F.GuestLimit(s)] = 0xFFFFFFFF;
            f[F.GuestAr(s)] = 0xC093;
        }
        return f;
    }

    /// <summary>Sets bits in a control field.</summary>
    public HvTest Set(uint field, ulong bits)
    {
        Fields[field] = Fields.GetValueOrDefault(field) | bits;
        return this;
    }

    public static void Vmw(Assembler a, uint field, ulong value)
    {
        a.mov(rax, (long)value);
        a.mov(rdx, (long)field);
        a.vmwrite(rdx, rax);
    }

    public static void Vmr(Assembler a, AssemblerRegister64 dst, uint field)
    {
        a.mov(rdx, (long)field);
        a.vmread(dst, rdx);
    }

    /// <summary>Host code: advance guest RIP past the exiting instruction and VMRESUME.</summary>
    public static void SkipAndResume(Assembler a)
    {
        Vmr(a, rax, F.ExitInstructionLength);
        Vmr(a, rbx, F.GuestRip);
        a.add(rbx, rax);
        a.mov(rdx, (long)F.GuestRip);
        a.vmwrite(rdx, rbx);
        a.vmresume();
        a.int3();
    }

    public StopReason Run(VmxMachine m, ulong max = 1_000_000)
    {
        if (Guest != null) m.Load(VmxMachine.GuestCode, Guest);
        m.Load(VmxMachine.HostCode, a =>
        {
            var exit = a.CreateLabel();
            a.vmxon(__qword_ptr[VmxMachine.PtrVmxon]);
            a.vmclear(__qword_ptr[VmxMachine.PtrVmcs]);
            a.vmptrld(__qword_ptr[VmxMachine.PtrVmcs]);
            foreach (var (field, value) in Fields) Vmw(a, field, value);
            a.lea(rax, __[exit]);
            a.mov(rdx, (long)F.HostRip);
            a.vmwrite(rdx, rax);
            BeforeLaunch?.Invoke(a);
            a.vmlaunch();
            a.int3();
            a.Label(ref exit);
            if (OnExit != null) OnExit(a);
            else
            {
                Vmr(a, r12, F.ExitReason);
                Vmr(a, r13, F.ExitQualification);
                a.int3();
            }
        });
        return m.Run(max);
    }
}
