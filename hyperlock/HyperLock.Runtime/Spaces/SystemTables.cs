using HyperLock.Abi;
using HyperLock.Emulator.Builders;
using HyperLock.Emulator.Memory;
using HyperLock.Runtime.Trampoline;

namespace HyperLock.Runtime.Spaces;

/// <summary>
/// Writes a GDT, IDT and TSS into three frames. The host and every confined space have their own
/// set, mapped at the same linear addresses (<see cref="ConfinedLayout.SystemTables"/>), so a CR3
/// load switches the tables the CPU will read and GDTR, IDTR and TR never change (no LTR, whose
/// busy-bit write would need the GDT writable). Every IDT gate points into the trampoline on an IST stack: NMI, #DF and #MC on their own.
/// </summary>
public static class SystemTables
{
    public static void Write(PhysicalMemory memory, ulong gdtFrame, ulong idtFrame, ulong tssFrame)
    {
        var gdt = new GdtBuilder(memory, gdtFrame, entries: 5);
        gdt.Code64(ConfinedLayout.CodeSelector);
        gdt.Data(ConfinedLayout.DataSelector);
        gdt.Tss64(ConfinedLayout.TssSelector, ConfinedLayout.Tss, busy: true);
        var tss = new TssBuilder(memory, tssFrame);
        for (int ist = 1; ist <= 4; ist++) tss.Ist(ist, ConfinedLayout.IstStackTop(ist));
        tss.IoMapBase((ushort)TssBuilder.Size);
        var idt = new IdtBuilder(memory, idtFrame);
        for (int v = 0; v < 256; v++) idt.Gate64(v, TrampolineCode.GateTarget(v), ConfinedLayout.CodeSelector, ist: ConfinedLayout.IstOf(v));
    }
}
