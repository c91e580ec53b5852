using HyperLock.Emulator.Memory;
using HyperLock.Emulator.Processor;

namespace HyperLock.Runtime.Services;

/// <summary>
/// An instance's MSR bitmap (SDM 25.6.9): one 4 KiB runtime frame, never mapped into a confined
/// space, whose address and "use MSR bitmaps" control only the runtime writes. A set bit makes
/// the guest's RDMSR/WRMSR of that MSR exit to the hypervisor; the bits of
/// <see cref="PassedThrough"/> are clear, so the guest reads and writes those in the processor.
/// </summary>
public static class MsrBitmap
{
    /// <summary>
    /// MSRs whose guest value is switched at every exit and entry without the hypervisor's help, so
    /// a guest access that does not exit still touches only the guest's own value: the ones the
    /// runtime saves at exit and loads at entry (<see cref="MsrAllowList.SwitchedAtEntry"/>), the
    /// SYSENTER MSRs and FS/GS base, which every exit saves to the guest-state area and every entry
    /// loads from it. The processor's own checks (canonical addresses, reserved bits) raise #GP in
    /// the guest as they would on hardware. Not EFER (the entry controls and CR0 must stay
    /// consistent with it), not PAT (the processor keeps the host's), not anything a device model answers.
    /// </summary>
    public static readonly uint[] PassedThrough =
        [.. MsrAllowList.SwitchedAtEntry, .. MsrAllowList.SwitchedByVmcs, Msr.FsBase, Msr.GsBase];

    private const ulong HighMsrs = 0xC0000000;

    /// <summary>Fills the frame: every MSR exits but <see cref="PassedThrough"/>.</summary>
    public static void Write(PhysicalMemory memory, ulong frame)
    {
        Span<byte> bits = stackalloc byte[4096];
        bits.Fill(0xFF);
        foreach (uint msr in PassedThrough)
        {
            int bit = (int)(msr & 0x1FFF);
            int low = msr >= HighMsrs ? 1024 : 0; // read-low, read-high, write-low, write-high: 1 KiB each
            bits[low + (bit >> 3)] &= (byte)~(1 << (bit & 7));
            bits[2048 + low + (bit >> 3)] &= (byte)~(1 << (bit & 7));
        }
        memory.WriteBytes(frame, bits);
    }
}
