using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using static HyperLock.Emulator.Tests.Processor.SystemInstructions.BareMetal;

namespace HyperLock.Emulator.Tests.Processor.SystemInstructions;

/// <summary>Real mode, 32-bit protected mode (segment checks, privilege changes through a TSS) and the switch into long mode.</summary>
public class LegacyModeTests
{
    private const int RVector = 0, RError = 1, REip = 2;

    /// <summary>A 32-bit handler that reloads DS flat, records vector, error code and EIP, and halts.</summary>
    private static void Recorder32(BareMetal m, int vector, bool hasError)
    {
        uint at = (uint)(HandlerCode + (ulong)vector * 0x100);
        m.Asm(at, 32, a =>
        {
            a.mov(bx, 0x10);
            a.mov(ds, bx);
            a.mov(__dword_ptr[Results + RVector * 8], vector);
            int o = 0;
            if (hasError)
            {
                a.mov(eax, __dword_ptr[esp]);
                o = 4;
            }
            else a.mov(eax, 0xDEAD);
            a.mov(__dword_ptr[Results + RError * 8], eax);
            a.mov(eax, __dword_ptr[esp + o]);
            a.mov(__dword_ptr[Results + REip * 8], eax);
            a.hlt();
        });
        m.Gate32(vector, at);
    }

    private static void SegmentTestDescriptors(BareMetal m)
    {
        m.SetGdtEntry(0x18, Descriptor(0x10000, 0xFFF, 0x3, 0, g: false));            // small data segment
        m.SetGdtEntry(0x20, Descriptor(0, 0xFFFFFFFF, 0x3, 0, present: false));        // not present
        m.SetGdtEntry(0x28, Descriptor(0, 0xFFF, 0x7, 0, g: false));                   // expand-down, B = 1
        m.SetGdtEntry(0x30, Descriptor(0, 0xFFFFFFFF, 0x8, 0));                        // execute-only code
        m.SetGdtEntry(0x38, Descriptor(0, 0xFFFFFFFF, 0x3, 3));                        // DPL 3 data
        m.SetGdtEntry(0x40, Descriptor(0x10000, 0xFFFF, 0x3, 0, g: false));            // 64 KiB stack
    }

    public static TheoryData<string, int, uint> SegmentCases => new()
    {
        { "data-limit", Vector.GP, 0 },
        { "not-present", Vector.NP, 0x20 },
        { "stack-limit", Vector.SS, 0 },
        { "expand-down", Vector.GP, 0 },
        { "execute-only-into-ds", Vector.GP, 0x30 },
        { "dpl3-into-ss", Vector.GP, 0x38 },
        { "null-ds-access", Vector.GP, 0 },
        { "rpl-above-dpl", Vector.GP, 0x18 },
    };

    [Theory]
    [MemberData(nameof(SegmentCases))]
    public void ProtectedModeSegmentChecksFault(string name, int vector, uint error)
    {
        using var m = new BareMetal();
        m.EnterProtectedMode32();
        SegmentTestDescriptors(m);
        foreach (int v in new[] { Vector.GP, Vector.NP, Vector.SS }) Recorder32(m, v, hasError: true);
        var faulting = default(Label);
        var r = m.Asm(KernelCode, 32, a =>
        {
            faulting = a.CreateLabel();
            switch (name)
            {
                case "data-limit":
                    a.mov(ax, 0x18);
                    a.mov(ds, ax);
                    a.mov(ebx, __dword_ptr[0xFFC]); // last dword inside the limit
                    a.Label(ref faulting);
                    a.mov(ebx, __dword_ptr[0x1000]);
                    break;
                case "not-present":
                    a.mov(ax, 0x20);
                    a.Label(ref faulting);
                    a.mov(ds, ax);
                    break;
                case "stack-limit":
                    a.mov(ax, 0x40);
                    a.mov(ss, ax);
                    a.mov(esp, 0x8000);
                    a.mov(ebp, 0x10000);
                    a.Label(ref faulting);
                    a.mov(eax, __dword_ptr[ebp]);
                    break;
                case "expand-down":
                    a.mov(ax, 0x28);
                    a.mov(ds, ax);
                    a.mov(ebx, __dword_ptr[0x2000]); // above the limit: valid for expand-down
                    a.Label(ref faulting);
                    a.mov(ebx, __dword_ptr[0x800]);
                    break;
                case "execute-only-into-ds":
                    a.mov(ax, 0x30);
                    a.Label(ref faulting);
                    a.mov(ds, ax);
                    break;
                case "dpl3-into-ss":
                    a.mov(ax, 0x38);
                    a.Label(ref faulting);
                    a.mov(ss, ax);
                    break;
                case "null-ds-access":
                    a.xor(eax, eax);
                    a.mov(ds, ax);
                    a.Label(ref faulting);
                    a.mov(ebx, __dword_ptr[0]);
                    break;
                case "rpl-above-dpl":
                    a.mov(ax, 0x1B);
                    a.Label(ref faulting);
                    a.mov(ds, ax);
                    break;
            }
            a.mov(__dword_ptr[Results + 0x40], 1); // must not run
            a.hlt();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal((ulong)vector, m.Result(RVector));
        Assert.Equal(error, (uint)m.Result(RError));
        Assert.Equal(r.GetLabelRIP(faulting), m.Result(REip));
        Assert.Equal(0UL, m.Read(Results + 0x40, 4));
    }

    [Fact]
    public void WriteBeyondSegmentLimitDoesNotReachMemory()
    {
        using var m = new BareMetal();
        m.EnterProtectedMode32();
        SegmentTestDescriptors(m);
        Recorder32(m, Vector.GP, hasError: true);
        m.Asm(KernelCode, 32, a =>
        {
            a.mov(ax, 0x18);
            a.mov(ds, ax);
            a.mov(__dword_ptr[0x1000], 0x12345678); // base 0x10000: would land at 0x11000
            a.hlt();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal((ulong)Vector.GP, m.Result(RVector));
        Assert.Equal(0UL, m.Read(0x11000, 4));
    }

    [Fact]
    public void InterruptFromCpl3UsesTssStackAndIretdReturnsToOuterLevel()
    {
        using var m = new BareMetal();
        m.EnterProtectedMode32();
        m.SetGdtEntry(0x18, Descriptor(0, 0xFFFFFFFF, 0xB, 3));          // user code 0x1B
        m.SetGdtEntry(0x20, Descriptor(0, 0xFFFFFFFF, 0x3, 3));          // user data 0x23
        m.SetGdtEntry(0x28, Descriptor(TssBase, 0x67, 0x9, 0, s: false, db: false, g: false)); // available 32-bit TSS
        m.Write(TssBase + 4, 4, Rsp0);
        m.Write(TssBase + 8, 2, 0x10);
        Recorder32(m, Vector.GP, hasError: true);
        const uint intHandler = (uint)HandlerCode + 0x3000;
        m.Asm(intHandler, 32, a =>
        {
            for (int k = 0; k < 5; k++)
            {
                a.mov(eax, __dword_ptr[esp + 4 * k]);
                a.mov(__dword_ptr[Results + 0x80 + (ulong)(4 * k)], eax);
            }
            a.mov(__dword_ptr[Results + 0x98], esp);
            a.iretd();
        });
        m.Gate32(0x30, intHandler, dpl: 3);
        m.Asm(KernelCode, 32, a =>
        {
            a.mov(ax, 0x28);
            a.ltr(ax);
            a.sub(esp, 20);
            a.mov(__dword_ptr[esp], (uint)UserCode);
            a.mov(__dword_ptr[esp + 4], 0x1B);
            a.mov(__dword_ptr[esp + 8], 2);
            a.mov(__dword_ptr[esp + 12], (uint)UserStack);
            a.mov(__dword_ptr[esp + 16], 0x23);
            a.iretd();
        });
        var afterInt = default(Label);
        var hlt = default(Label);
        var r = m.Asm(UserCode, 32, a =>
        {
            afterInt = a.CreateLabel();
            hlt = a.CreateLabel();
            a.mov(ax, 0x23);
            a.mov(ds, ax);
            a.mov(__dword_ptr[Results + 0x40], 1);
            a.@int(0x30);
            a.Label(ref afterInt);
            a.mov(__dword_ptr[Results + 0x44], 2);
            a.Label(ref hlt);
            a.hlt();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(1UL, m.Read(Results + 0x40, 4));
        Assert.Equal(2UL, m.Read(Results + 0x44, 4));
        Assert.Equal(r.GetLabelRIP(afterInt), m.Read(Results + 0x80, 4));
        Assert.Equal(0x1BUL, m.Read(Results + 0x84, 4));
        Assert.Equal(UserStack, m.Read(Results + 0x8C, 4));
        Assert.Equal(0x23UL, m.Read(Results + 0x90, 4));
        Assert.Equal(Rsp0 - 20, m.Read(Results + 0x98, 4));
        // The final HLT at CPL 3 faulted into the kernel.
        Assert.Equal((ulong)Vector.GP, m.Result(RVector));
        Assert.Equal(r.GetLabelRIP(hlt), m.Result(REip));
        // LTR marked the TSS descriptor busy.
        Assert.Equal(0xBUL, (m.Read(GdtBase + 0x28, 8) >> 40) & 0xF);
    }

    [Fact]
    public void RealModeIntAndIretGoThroughTheIvt()
    {
        using var m = new BareMetal();
        var c = m.Cpu;
        c.Segs[Seg.Cs] = SegmentRegister.RealMode(0, code: true);
        c.UpdateMode();
        c.Rip = 0x7C00;
        c.R(Reg.Rsp) = 0x7000;
        m.Write(0x21 * 4, 2, 0x0100); // IVT[0x21] = 0x07C0:0x0100 = linear 0x7D00
        m.Write(0x21 * 4 + 2, 2, 0x07C0);
        m.Asm(0x7D00, 16, a =>
        {
            a.mov(ax, 0x1234);
            a.mov(__word_ptr[0x604], cs);
            a.iret();
        });
        m.Asm(0x7C00, 16, a =>
        {
            a.@int(0x21);
            a.mov(__word_ptr[0x600], ax);
            a.mov(__word_ptr[0x602], sp);
            a.hlt();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(0x1234UL, m.Read(0x600, 2));
        Assert.Equal(0x7000UL, m.Read(0x602, 2));
        Assert.Equal(0x07C0UL, m.Read(0x604, 2));
        Assert.Equal(16, c.Bitness);
    }

    /// <summary>
    /// The boot path of a multiboot kernel: real mode loads a GDT, sets CR0.PE and far-jumps to
    /// 32-bit code, which enables PAE, loads CR3, sets EFER.LME, turns on paging (IA-32e mode
    /// becomes active in compatibility mode) and far-jumps to a 64-bit code segment.
    /// </summary>
    [Fact]
    public void BootsFromRealModeThroughProtectedModeIntoLongMode()
    {
        using var m = new BareMetal();
        m.BuildIdentityPaging();
        m.SetGdtEntry(0x08, Descriptor(0, 0xFFFFFFFF, 0xB, 0));
        m.SetGdtEntry(0x10, Descriptor(0, 0xFFFFFFFF, 0x3, 0));
        m.SetGdtEntry(0x18, Descriptor(0, 0xFFFFFFFF, 0xB, 0, l: true, db: false));
        m.Write(0x7F00, 2, 0x1F);
        m.Write(0x7F02, 4, GdtBase);
        var c = m.Cpu;
        c.Segs[Seg.Cs] = SegmentRegister.RealMode(0, code: true);
        c.UpdateMode();
        c.Rip = 0x7C00;
        const uint pm32 = 0x7D00, lm64 = 0x7E80;
        m.Asm(0x7C00, 16, a =>
        {
            a.cli();
            a.lgdt(__[0x7F00]);
            a.mov(eax, cr0);
            a.or(eax, 1);
            a.mov(cr0, eax);
            a.jmp(0x08, pm32);
        });
        m.Asm(pm32, 32, a =>
        {
            a.mov(ax, 0x10);
            a.mov(ds, ax);
            a.mov(es, ax);
            a.mov(ss, ax);
            a.mov(esp, (uint)KernelStack);
            a.mov(__dword_ptr[Results], 0x32);
            a.mov(eax, cr4);
            a.or(eax, 0x20);
            a.mov(cr4, eax);
            a.mov(eax, (uint)Pml4);
            a.mov(cr3, eax);
            a.mov(ecx, Msr.Efer);
            a.rdmsr();
            a.or(eax, 0x100);
            a.wrmsr();
            a.mov(eax, cr0);
            a.or(eax, unchecked((int)0x80000000));
            a.mov(cr0, eax);
            a.mov(ecx, Msr.Efer);
            a.rdmsr();
            a.mov(__dword_ptr[Results + 8], eax); // EFER in compatibility mode
            a.jmp(0x18, lm64);
        });
        m.Asm(lm64, 64, a =>
        {
            a.mov(rax, 0x6464_6464_6464UL);
            a.mov(__qword_ptr[Results + 16], rax);
            a.hlt();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(0x32UL, m.Result(0));
        Assert.Equal(Bits.EferLme | Bits.EferLma, m.Result(1));
        Assert.Equal(0x6464_6464_6464UL, m.Result(2));
        Assert.Equal(64, c.Bitness);
        Assert.Equal(0, c.Cpl);
        Assert.Equal((ushort)0x18, c.Segs[Seg.Cs].Selector);
    }

    /// <summary>32-bit protected mode turns on 2-level paging with CR0.PG (no LME): a remapped page reads from its new frame.</summary>
    [Fact]
    public void LegacyTwoLevelPagingCanBeEnabledAndDisabled()
    {
        using var m = new BareMetal();
        m.EnterProtectedMode32();
        const uint pd = 0x10000, pt0 = 0x11000, pt1 = 0x12000;
        for (uint k = 0; k < 1024; k++)
        {
            m.Write(pt0 + k * 4, 4, (k << 12) | 3);                  // identity 0-4 MiB
            m.Write(pt1 + k * 4, 4, (0x500000 + (k << 12)) | 3);     // 4-8 MiB -> 5-9 MiB
        }
        m.Write(pd, 4, pt0 | 3);
        m.Write(pd + 4, 4, pt1 | 3);
        m.Write(0x400000, 4, 0x1111);
        m.Write(0x500000, 4, 0x2222);
        m.Asm(KernelCode, 32, a =>
        {
            a.mov(eax, pd);
            a.mov(cr3, eax);
            a.mov(eax, cr0);
            a.or(eax, unchecked((int)0x80000000));
            a.mov(cr0, eax);
            a.mov(ebx, __dword_ptr[0x400000]);
            a.mov(__dword_ptr[Results], ebx);
            a.and(eax, 0x7FFFFFFF);
            a.mov(cr0, eax);
            a.mov(ebx, __dword_ptr[0x400000]);
            a.mov(__dword_ptr[Results + 8], ebx);
            a.hlt();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(0x2222UL, m.Result(0));
        Assert.Equal(0x1111UL, m.Result(1));
        Assert.Equal(0UL, m.Cpu.Efer & Bits.EferLma);
    }

    /// <summary>32-bit protected mode with PAE paging (no LME): a 4 KiB page and a 2 MiB page remap to their new frames.</summary>
    [Fact]
    public void LegacyPaePagingMapsSmallAndLargePages()
    {
        using var m = new BareMetal();
        m.EnterProtectedMode32();
        const uint pdpt = 0x10000, pd = 0x11000, pt0 = 0x12000;
        m.Write(pdpt, 8, pd | 1);                                    // PDPTE 0: present (no R/W, U/S in a PDPTE)
        for (uint k = 0; k < 512; k++) m.Write(pt0 + k * 8, 8, (k << 12) | 3); // 0-2 MiB identity, 4 KiB pages
        m.Write(pt0 + 0x1C0 * 8, 8, 0x700000 | 3);                  // except 0x1C0000 -> 0x700000
        m.Write(pd, 8, pt0 | 3);
        m.Write(pd + 8, 8, 0x600000 | 0x83);                        // 2-4 MiB -> 6-8 MiB, one 2 MiB page
        m.Write(0x700000, 4, 0x3333);
        m.Write(0x600010, 4, 0x4444);
        m.Asm(KernelCode, 32, a =>
        {
            a.mov(eax, cr4);
            a.or(eax, (int)Bits.Cr4Pae);
            a.mov(cr4, eax);
            a.mov(eax, pdpt);
            a.mov(cr3, eax);
            a.mov(eax, cr0);
            a.or(eax, unchecked((int)0x80000000));
            a.mov(cr0, eax);
            a.mov(ebx, __dword_ptr[0x1C0000]);
            a.mov(__dword_ptr[Results], ebx);
            a.mov(ebx, __dword_ptr[0x200010]);
            a.mov(__dword_ptr[Results + 8], ebx);
            a.hlt();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal(0x3333UL, m.Result(0));
        Assert.Equal(0x4444UL, m.Result(1));
        Assert.Equal(0UL, m.Cpu.Efer & Bits.EferLma);
    }

    [Fact]
    public void EnablingPagingWithLmeButWithoutPaeFaults()
    {
        using var m = new BareMetal();
        m.EnterProtectedMode32();
        m.BuildIdentityPaging();
        Recorder32(m, Vector.GP, hasError: true);
        m.Asm(KernelCode, 32, a =>
        {
            a.mov(ecx, Msr.Efer);
            a.rdmsr();
            a.or(eax, 0x100);
            a.wrmsr();
            a.mov(eax, (uint)Pml4);
            a.mov(cr3, eax);
            a.mov(eax, cr0);
            a.or(eax, unchecked((int)0x80000000));
            a.mov(cr0, eax);
            a.hlt();
        });
        Assert.Equal(StopKind.Halted, m.Run().Kind);
        Assert.Equal((ulong)Vector.GP, m.Result(RVector));
        Assert.Equal(0UL, m.Cpu.Efer & Bits.EferLma);
        Assert.Equal(0UL, m.Cpu.Cr0 & Bits.Cr0Pg);
    }
}
