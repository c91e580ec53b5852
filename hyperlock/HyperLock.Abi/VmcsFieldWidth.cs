namespace HyperLock.Abi;

/// <summary>The width of a VMCS field: encoding bits 14:13 (SDM Vol. 3 App. B).</summary>
public enum VmcsFieldWidth : byte
{
    Bits16 = 0,
    Bits64 = 1,
    Bits32 = 2,
    /// <summary>Natural width: 64 bits on a processor that supports Intel 64.</summary>
    Natural = 3,
}
