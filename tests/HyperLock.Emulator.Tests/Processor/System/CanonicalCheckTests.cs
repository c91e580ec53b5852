using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using static HyperLock.Emulator.Tests.Processor.SystemInstructions.BareMetal;

namespace HyperLock.Emulator.Tests.Processor.SystemInstructions;

/// <summary>
/// Non-canonical addresses in 64-bit mode (SDM Vol. 3 §6.15, Vol. 2 "64-Bit Mode Exceptions"):
/// a memory reference through SS (base RSP/RBP, an SS override, or an implicit stack access)
/// raises #SS(0), every other one #GP(0); LGDT/LIDT of a non-canonical base raise #GP(0), and
/// LLDT/LTR of a descriptor with a non-canonical base #GP(selector); WRMSR of a non-canonical
/// base or entry point raises #GP.
/// </summary>
public class CanonicalCheckTests
{
    private const ulong NonCanonical = 0x0000_8000_0000_0000UL;

    private static StopReason RunIntercepted(Action<Assembler> code, Action<BareMetal>? setup = null)
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        m.Cpu.InterceptExceptions = true;
        setup?.Invoke(m);
        m.Asm(KernelCode, 64, code);
        return m.Run();
    }

    public static TheoryData<string, int> Accesses => new()
    {
        { "mov rax, [rsp]", Vector.SS },
        { "mov [rbp+8], rax", Vector.SS },
        { "mov rax, ss:[rbx]", Vector.SS },
        { "mov rax, [rbx]", Vector.GP },
        { "mov rax, ds:[rbp]", Vector.GP },
        { "push rax", Vector.SS },
        { "pop rax", Vector.SS },
        { "call", Vector.SS },
        { "ret", Vector.SS },
        { "leave", Vector.SS },
        { "enter", Vector.SS },
        { "push [rbx]", Vector.GP },
        { "push [rbx] with bad rsp", Vector.SS },
    };

    [Theory]
    [MemberData(nameof(Accesses))]
    public void NonCanonicalStackReferencesRaiseSsOthersGp(string form, int vector) =>
        CheckNonCanonicalReference(form, vector, observed: false);

    /// <summary>The same with an execution observer attached: the observed block loop must turn #GP into #SS alike.</summary>
    [Theory]
    [MemberData(nameof(Accesses))]
    public void NonCanonicalStackReferencesRaiseSsAlsoWhenObserved(string form, int vector) =>
        CheckNonCanonicalReference(form, vector, observed: true);

    private sealed class NullObserver : IExecutionObserver
    {
        public void InstructionStarted(in InstructionObservation i) { }
        public void MemoryAccessed(in AccessObservation a) { }
    }

    private static void CheckNonCanonicalReference(string form, int vector, bool observed)
    {
        var stop = RunIntercepted(a =>
        {
            var target = a.CreateLabel();
            bool badRsp = form is not ("mov rax, [rbx]" or "mov rax, ss:[rbx]" or "push [rbx]");
            a.mov(rbx, form.Contains("rbx") && form != "push [rbx] with bad rsp" ? NonCanonical : Results);
            a.mov(rax, NonCanonical + 0x100);
            if (form is "mov [rbp+8], rax" or "mov rax, ds:[rbp]" or "leave") a.mov(rbp, rax);
            else if (badRsp) a.mov(rsp, rax);
            switch (form)
            {
                case "mov rax, [rsp]": a.mov(rax, __[rsp]); break;
                case "mov [rbp+8], rax": a.mov(__[rbp + 8], rax); break;
                case "mov rax, ss:[rbx]": a.mov(rax, __qword_ptr.ss[rbx]); break;
                case "mov rax, [rbx]": a.mov(rax, __[rbx]); break;
                case "mov rax, ds:[rbp]": a.mov(rax, __qword_ptr.ds[rbp]); break;
                case "push rax": a.push(rax); break;
                case "pop rax": a.pop(rax); break;
                case "call": a.call(target); break;
                case "ret": a.ret(); break;
                case "leave": a.leave(); break;
                case "enter": a.enter(16, 0); break;
                case "push [rbx]": a.push(__qword_ptr[rbx]); break;
                case "push [rbx] with bad rsp": a.push(__qword_ptr[rbx]); break;
            }
            a.Label(ref target);
            a.hlt();
        }, observed ? m => m.Cpu.Observer = new NullObserver() : null);
        Assert.Equal(StopKind.Exception, stop.Kind);
        Assert.Equal(vector, stop.Vector);
        Assert.Equal(0u, stop.ErrorCode);
    }

    [Fact]
    public void LgdtAndLidtOfANonCanonicalBaseRaiseGp0AndKeepTheTable()
    {
        foreach (bool idt in new[] { false, true })
        {
            using var m = new BareMetal();
            m.EnterLongMode();
            m.Cpu.InterceptExceptions = true;
            m.Write(Results, 2, 0xFFF);
            m.Write(Results + 2, 8, NonCanonical);
            m.Asm(KernelCode, 64, a =>
            {
                if (idt) a.lidt(__[Results]); else a.lgdt(__[Results]);
                a.hlt();
            });
            var stop = m.Run();
            Assert.Equal(new StopReason(StopKind.Exception, Vector.GP, 0, true), stop);
            Assert.Equal(idt ? IdtBase : GdtBase, idt ? m.Cpu.Idtr.Base : m.Cpu.Gdtr.Base);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void LldtAndLtrOfADescriptorWithANonCanonicalBaseRaiseGpSelector(bool ltr)
    {
        const ushort sel = 0x50;
        var stop = RunIntercepted(a =>
        {
            a.mov(ax, sel);
            if (ltr) a.ltr(ax); else a.lldt(ax);
            a.hlt();
        }, m =>
        {
            // A 16-byte system descriptor whose upper base half makes the base 0x0000_8000_0000_0000.
            m.SetGdtEntry(sel, Descriptor(0, 0x67, ltr ? 0x9 : 0x2, 0, s: false, db: false, g: false));
            m.Write(GdtBase + sel + 8, 8, NonCanonical >> 32);
            m.Cpu.Gdtr.Limit = 0x5F;
        });
        Assert.Equal(new StopReason(StopKind.Exception, Vector.GP, sel, true), stop);
    }

    [Theory]
    [InlineData(Msr.FsBase)]
    [InlineData(Msr.GsBase)]
    [InlineData(Msr.KernelGsBase)]
    [InlineData(Msr.Lstar)]
    [InlineData(Msr.Cstar)]
    [InlineData(Msr.SysenterEip)]
    [InlineData(Msr.SysenterEsp)]
    public void WrmsrOfANonCanonicalAddressRaisesGp(uint msr)
    {
        var stop = RunIntercepted(a =>
        {
            a.mov(ecx, msr);
            a.mov(eax, 0);
            a.mov(edx, 0x8000);
            a.wrmsr();
            a.hlt();
        });
        Assert.Equal(new StopReason(StopKind.Exception, Vector.GP, 0, true), stop);
    }

    /// <summary>SDM IRET: returning to CPL 3 makes DS/ES/FS/GS that hold DPL-0 data null; DPL-3 data and conforming code stay.</summary>
    [Fact]
    public void IretToOuterPrivilegeNullsMorePrivilegedDataSegments()
    {
        using var m = new BareMetal();
        m.EnterLongMode();
        m.Cpu.InterceptExceptions = true;
        const ushort conforming = 0x58;
        m.SetGdtEntry(conforming, Descriptor(0, 0xFFFFFFFF, 0xF, 0)); // conforming, readable code, DPL 0
        m.Cpu.Gdtr.Limit = 0x5F;
        m.Asm(KernelCode, 64, a =>
        {
            a.mov(ax, KernelDs);
            a.mov(es, ax);
            a.mov(ax, UserDs);
            a.mov(fs, ax);
            a.mov(ax, conforming);
            a.mov(gs, ax);
            a.mov(rax, (ulong)UserDs);
            a.push(rax);
            a.mov(rax, UserStack);
            a.push(rax);
            a.push(0x202);
            a.mov(rax, (ulong)UserCs);
            a.push(rax);
            a.mov(rax, UserCode);
            a.push(rax);
            a.iretq();
        });
        m.Asm(UserCode, 64, a => a.ud2());
        var stop = m.Run();
        Assert.Equal(Vector.UD, stop.Vector);
        Assert.Equal(3, m.Cpu.Cpl);
        Assert.Equal(0, m.Cpu.Segs[Seg.Ds].Selector); // KernelDs, DPL 0 → null
        Assert.Equal(0, m.Cpu.Segs[Seg.Es].Selector);
        Assert.Equal(UserDs, m.Cpu.Segs[Seg.Fs].Selector);
        Assert.Equal(conforming, m.Cpu.Segs[Seg.Gs].Selector);
    }
}
