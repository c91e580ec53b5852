using HyperLock.Emulator.Builders;
using HyperLock.Emulator.Loaders;
using HyperLock.Emulator.Machine;
using HyperLock.Emulator.Memory;
using HyperLock.Emulator.Processor;
using HyperLock.Runtime;

namespace HyperLock.DeviceModel;

/// <summary>
/// Loads a kernel (bzImage with initrd and command line, or any format the machine's loader takes)
/// into a guest's memory as QEMU does for KVM: untrusted code, given only the guest's memory. The
/// machine's own <see cref="KernelLoader"/> runs on a scratch board of the guest's size; the pages
/// it wrote are copied into the guest, and its processor state becomes the guest's entry state.
/// </summary>
public static class LinuxGuestLoader
{
    public static GuestEntry Load(BootImage boot, GuestMemory guest)
    {
        var map = E820Map.ForMemory(guest.Size);
        using var board = new BoardBuilder().WithMemory(map.PhysicalTop).Build();
        KernelLoader.Load(boot, board.Memory, board.Cpu, map);
        var page = new byte[PhysicalMemory.PageSize];
        for (ulong frame = 0; frame < guest.Size / PhysicalMemory.PageSize; frame++)
        {
            if (!board.Memory.IsAllocated(frame)) continue;
            board.Memory.ReadBytes(frame * PhysicalMemory.PageSize, page);
            guest.Write(frame * PhysicalMemory.PageSize, page);
        }
        var cpu = board.Cpu;
        if ((cpu.Efer & Bits.EferLma) == 0) throw new MachineConfigException("kernel: only kernels entered in 64-bit mode can run as HyperLock guests");
        var state = new LongModeState
        {
            Cr0 = cpu.Cr0 | Bits.Cr0Ne,               // VMX requires CR0.NE; the kernel sets it itself
            Cr3 = cpu.Cr3,
            Cr4 = cpu.Cr4 | Bits.Cr4Vmxe,             // the host's bit: the guest reads it as 0 (read shadow)
            Efer = cpu.Efer,
            GdtBase = cpu.Gdtr.Base,
            GdtLimit = (ushort)cpu.Gdtr.Limit,
            IdtBase = cpu.Idtr.Base,
            IdtLimit = (ushort)cpu.Idtr.Limit,
            CodeSelector = cpu.Segs[Seg.Cs].Selector,
            DataSelector = cpu.Segs[Seg.Ds].Selector,
            TssSelector = 0,                           // no TSS yet: the kernel loads its own
            TssBase = 0,
            TssLimit = 0x67,
        };
        return new GuestEntry(state, cpu.Rip, cpu.R(Reg.Rsp), cpu.R(Reg.Rsi));
    }
}
