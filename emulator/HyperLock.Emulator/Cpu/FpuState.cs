namespace HyperLock.Emulator.Cpu;

/// <summary>x87 FPU register state (the x87 family implements the instructions).</summary>
public sealed partial class Cpu
{
    public ushort FpuControl = 0x37F;
    public ushort FpuStatus;
    public ushort FpuTag = 0xFFFF;

    private void ResetFpu()
    {
        FpuControl = 0x37F;
        FpuStatus = 0;
        FpuTag = 0xFFFF;
    }
}
