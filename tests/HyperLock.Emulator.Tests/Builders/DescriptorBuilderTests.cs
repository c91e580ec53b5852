using HyperLock.Emulator.Builders;
using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Memory;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.Emulator.Tests.Builders;

/// <summary>GDT, IDT and TSS builders: the processor delivers through what they wrote, and they read it back.</summary>
public class DescriptorBuilderTests
{
    private const ulong Gdt = 0x5000, Idt = 0x6000, Tss = 0x7000, Results = 0x8000, Code = 0x100000, Handler = 0x180000;
    private const ulong Rsp0 = 0xA0000, Ist3 = 0xC0000, Stack = 0x90000;

    [Fact]
    public void FlatDescriptorsHaveTheSdmEncodings()
    {
        using var memory = new PhysicalMemory(1 << 20);
        var gdt = new GdtBuilder(memory, Gdt, entries: 6);
        gdt.Code64(0x08);
        gdt.Data(0x10);
        gdt.Code64(0x2B, dpl: 3);
        gdt.Tss64(0x18, 0x12345678_9ABC0UL);
        Assert.Equal(0x00AF9B000000FFFFUL, gdt.Get(0x08));   // L = 1, D = 0, G = 1, P, DPL 0, execute/read, accessed
        Assert.Equal(0x00CF93000000FFFFUL, gdt.Get(0x10));   // D/B = 1, G = 1, P, read/write, accessed
        Assert.Equal(3, (int)((gdt.Get(0x2B) >> 45) & 3));
        Assert.Equal(0x12345678_9ABC0UL, gdt.TssBase(0x18));
        Assert.Equal(0x89UL, (gdt.Get(0x18) >> 40) & 0xFF); // present, available 64-bit TSS
        Assert.Equal(0x2FUL, gdt.Register.Limit);
    }

    [Fact]
    public void AnExceptionThroughAnIstGateRunsOnTheIstStack()
    {
        using var memory = new PhysicalMemory(16 << 20);
        var cpu = new Cpu(memory) { InterceptExceptions = false };
        var tables = new PageTableBuilder(memory, new FrameAllocator(memory, 0x1000, 0x5000));
        tables.IdentityMap2M(16 << 20, PageFlags.Writable);
        var gdt = new GdtBuilder(memory, Gdt, entries: 5);
        gdt.Code64(0x08);
        gdt.Data(0x10);
        gdt.Tss64(0x18, Tss, busy: true);
        var tss = new TssBuilder(memory, Tss).Rsp(0, Rsp0).Ist(3, Ist3);
        var idt = new IdtBuilder(memory, Idt);
        idt.Gate64(Vector.UD, Handler, 0x08, ist: 3);
        Assert.Equal(new IdtGate(Handler, 0x08, 3, IdtBuilder.InterruptGate, 0, true), idt.ReadGate64(Vector.UD));
        Assert.Equal((Rsp0, Ist3), (tss.ReadRsp(0), tss.ReadIst(3)));

        memory.WriteBytes(Code, AssembledCode.Bytes(64, Code, a => { a.nop(); a.ud2(); }));
        memory.WriteBytes(Handler, AssembledCode.Bytes(64, Handler, a =>
        {
            a.mov(__qword_ptr[Results], rsp);
            a.mov(rax, __qword_ptr[rsp]);
            a.mov(__qword_ptr[Results + 8], rax);
            a.hlt();
        }));
        new LongModeState { Cr3 = tables.Root, GdtBase = Gdt, IdtBase = Idt, IdtLimit = idt.Limit, TssBase = Tss }.Enter(cpu, Code, Stack);
        Assert.Equal("hlt", cpu.Run(100).ToString());
        Assert.Equal(Ist3 - 5 * 8, memory.Read(Results, 8));     // SS, RSP, RFLAGS, CS, RIP on the IST3 stack
        Assert.Equal(Code + 1, memory.Read(Results + 8, 8));     // the faulting UD2
    }
}
