namespace HyperLock.Runtime.Containment;

/// <summary>Why an instance was stopped, as the trampoline saw it.</summary>
public sealed record ContainmentReport(int InstanceId, string Reason, int Vector, ulong Rip, ulong ErrorCode, ulong Cr2)
{
    public override string ToString() =>
        $"instance {InstanceId} contained: {Reason} (vector {Vector}, rip 0x{Rip:x}, error 0x{ErrorCode:x}, cr2 0x{Cr2:x})";
}
