using HyperLock.Emulator.Memory;
using HyperLock.Runtime.Trampoline;

namespace HyperLock.Runtime.Services;

/// <summary>The registers the trampoline saved for a gate call, read and written in the save frame (physical memory).</summary>
public readonly struct FrameRegisters(PhysicalMemory memory, ulong frame)
{
    public ulong this[int reg]
    {
        get => memory.Read(frame + SaveFrame.RegisterOffset(reg), 8);
        set => memory.Write(frame + SaveFrame.RegisterOffset(reg), 8, value);
    }
}
