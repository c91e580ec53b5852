using HyperLock.Emulator.Builders;
using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Processor.Execution;
using HyperLock.Emulator.Machine;
using HyperLock.Emulator.Memory;
using HyperLock.Emulator.Vmx;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using F = HyperLock.Emulator.Vmx.VmcsField;

namespace HyperLock.Emulator.Tests.Vmx;

/// <summary>
/// A bare-metal 64-bit CPL0 machine for hypervisor test programs, built with the emulator's
/// builders: identity-mapped first GiB (2 MiB pages), a GDT (code 0x08, data 0x10, 64-bit TSS
/// 0x18), a TSS, CR4.VMXE set and IA32_FEATURE_CONTROL locked with VMX enabled (as firmware
/// leaves it), VMXON and VMCS regions with the revision identifier. Host exceptions stop the run
/// (intercepted); guest exceptions belong to the guest (its IDT or the exception bitmap).
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

    public const ulong HostCr0 = LongModeState.DefaultCr0;
    public const ulong HostCr4 = LongModeState.DefaultCr4 | Bits.Cr4Vmxe;

    /// <summary>The host's system state (also the standard guest's, with its own IDT).</summary>
    public static readonly LongModeState Host = new() { Cr3 = Pml4, Cr4 = HostCr4, GdtBase = Gdt, IdtBase = Idt, TssBase = Tss };

    public PhysicalMemory Memory { get; }
    public Cpu Cpu { get; }

    /// <summary>The EPT of the last <see cref="BuildIdentityEpt"/>.</summary>
    public EptBuilder? Ept { get; private set; }

    /// <summary>The board this machine was set up on, when it was given one (devices, host-call port).</summary>
    public Board? Board { get; }

    public VmxMachine(ulong ramSize = 64 << 20) : this(new PhysicalMemory(ramSize), null) { }

    /// <summary>Sets up the same layout on a board built from parts (its memory must hold at least 16 MiB).</summary>
    public VmxMachine(Board board) : this(board.Memory, board) { }

    private VmxMachine(PhysicalMemory memory, Board? board)
    {
        Memory = memory;
        Board = board;
        Cpu = board?.Cpu ?? new Cpu(Memory);
        // PML4, PDPT and PD land at 0x1000, 0x2000, 0x3000.
        var paging = new PageTableBuilder(Memory, new FrameAllocator(Memory, Pml4, Pd + 0x1000));
        paging.IdentityMap2M(1UL << 30, PageFlags.Writable);

        var gdt = new GdtBuilder(Memory, Gdt, entries: 5);
        gdt.Code64(0x08);
        gdt.Data(0x10);
        gdt.Tss64(0x18, Tss, busy: true);
        new TssBuilder(Memory, Tss).Rsp(0, HostStack);

        Memory.Write(VmxonRegion, 4, VmxCapabilities.RevisionId);
        Memory.Write(VmcsRegion, 4, VmxCapabilities.RevisionId);
        Memory.Write(Vmcs2Region, 4, VmxCapabilities.RevisionId);
        Memory.Write(PtrVmxon, 8, VmxonRegion);
        Memory.Write(PtrVmcs, 8, VmcsRegion);
        Memory.Write(PtrVmcs2, 8, Vmcs2Region);

        Host.Enter(Cpu, HostCode, HostStack);
        Cpu.FeatureControl = 5; // locked, VMX outside SMX enabled
        Cpu.InterceptExceptions = true;
    }

    public static byte[] Assemble(ulong address, Action<Assembler> build)
    {
        return AssembledCode.Bytes(64, address, build);
    }

    public void Load(ulong address, Action<Assembler> build) => Memory.WriteBytes(address, Assemble(address, build));

    public StopReason Run(ulong max = 1_000_000) => Cpu.Run(max);

    public ulong Vmcs(uint field) => Cpu.ReadVmcsField(field);

    // ---- EPT ------------------------------------------------------------------------------

    /// <summary>EPTP of an identity EPT over the first <paramref name="size"/> bytes with 4 KiB pages, WB, RWX (tables from <see cref="EptBase"/>).</summary>
    public ulong BuildIdentityEpt(ulong size = 16 << 20, bool accessedDirty = false)
    {
        Ept = new EptBuilder(Memory, new FrameAllocator(Memory, EptBase, HostStack));
        Ept.IdentityMap(size);
        return Ept.Pointer(accessedDirty);
    }

    private EptBuilder EptAt(ulong pml4) =>
        Ept != null && Ept.Root == pml4 ? Ept : throw new InvalidOperationException("not the EPT this machine built");

    /// <summary>Maps one 4 KiB guest page in the EPT rooted at <paramref name="pml4"/> with permissions (bits 2:0) and WB type.</summary>
    public void MapEpt(ulong pml4, ulong gpa, ulong hpa, ulong perms) => EptAt(pml4).Map(gpa, hpa, (EptPermissions)perms);

    /// <summary>Address of the leaf EPT entry for a guest page (for tests that corrupt it).</summary>
    public ulong EptLeafAddress(ulong pml4, ulong gpa) => EptAt(pml4).LeafAddress(gpa);

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
    public readonly VmcsBuilder Fields = StandardFields();
    public Action<Assembler>? Guest;
    /// <summary>Extra host code just before VMLAUNCH.</summary>
    public Action<Assembler>? BeforeLaunch { get; set; }
    /// <summary>Custom exit handler (host code at HOST_RIP); default: VMREAD reason → R12, qualification → R13, INT3.</summary>
    public Action<Assembler>? OnExit;

    /// <summary>The standard 64-bit guest: the host's state with the guest's own IDT, guest code and stack.</summary>
    public static VmcsBuilder StandardFields() =>
        VmcsBuilder.Standard64BitGuest(VmxMachine.Host, VmxMachine.HostStack, VmxMachine.Host with { IdtBase = VmxMachine.GuestIdt },
            VmxMachine.GuestCode, VmxMachine.GuestStack);

    /// <summary>Sets bits in a control field.</summary>
    public HvTest Set(uint field, ulong bits)
    {
        Fields.SetBits(field, bits);
        return this;
    }

    public static void Vmw(Assembler a, uint field, ulong value) => VmcsBuilder.EmitVmwrite(a, field, value);

    public static void Vmr(Assembler a, AssemblerRegister64 dst, uint field) => VmcsBuilder.EmitVmread(a, dst, field);

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
            Fields.EmitVmwrites(a);
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
