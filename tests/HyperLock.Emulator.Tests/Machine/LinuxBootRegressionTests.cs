using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Machine;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.Emulator.Tests.Machine;

/// <summary>Processor behaviour the Linux boot depends on, pinned down as small guest programs.</summary>
public class LinuxBootRegressionTests
{
    /// <summary>
    /// Linux loads TR with a 64-bit TSS whose base is in the cpu_entry_area (0xfffffe00_00001000):
    /// the upper half of the 16-byte descriptor holds base bits 63:32, and only bits 12:8 of its
    /// second dword must be zero. LTR must accept it and mark the descriptor busy.
    /// </summary>
    [Fact]
    public void LtrAcceptsA64BitTssWithAHighBase()
    {
        const ulong gdt = 0x31000;
        using var g = new GuestHarness((a, _) =>
        {
            a.mov(ax, 0x40);
            a.ltr(ax);
            a.str(bx);
            a.mov(__word_ptr[GuestHarness.DataAddress], bx);
            Asm.Exit(a, 0);
        });
        var mem = g.Machine.Memory;
        mem.Write(gdt + 0x08, 8, BootCpuStateCode64);
        mem.Write(gdt + 0x10, 8, 0x00CF93000000FFFFUL);
        // TSS at 0xfffffe0000001000, limit 0x206F, type 9 (available 64-bit TSS), present.
        ulong low = 0x206FUL | (0x1000UL << 16) | (0x89UL << 40) | (0x00UL << 56);
        mem.Write(gdt + 0x40, 8, low);
        mem.Write(gdt + 0x48, 8, 0xFFFFFE00UL);
        g.Machine.Cpu.Gdtr = new TableRegister { Base = gdt, Limit = 0x4F };
        var r = g.Run();
        Assert.Equal(MachineOutcome.DebugExit, r.Outcome);
        Assert.Equal(0x40UL, g.Data(0) & 0xFFFF);
        Assert.Equal(0xFFFFFE0000001000UL, g.Machine.Cpu.Tr.Base);
        Assert.Equal(0x8BUL, (mem.Read(gdt + 0x40, 8) >> 40) & 0xFF); // busy
    }

    private const ulong BootCpuStateCode64 = 0x00AF9B000000FFFFUL;
}
