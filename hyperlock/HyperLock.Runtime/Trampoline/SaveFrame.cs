using HyperLock.Abi;

namespace HyperLock.Runtime.Trampoline;

/// <summary>
/// The trampoline's save area at the top of the IST stack, lowest address first: the 15 general
/// registers it pushed (R15 … RAX, no RSP), the vector, the error code (0 when the vector has
/// none), then the CPU's interrupt frame (RIP, CS, RFLAGS, RSP, SS). The exit stub leaves the
/// guest's registers on the host stack in the same 15-register order.
/// </summary>
public static class SaveFrame
{
    public const int Registers = 15;
    public const ulong Size = 22 * 8;
    public const ulong VectorOffset = 15 * 8, ErrorOffset = 16 * 8, RipOffset = 17 * 8, CsOffset = 18 * 8,
        RflagsOffset = 19 * 8, RspOffset = 20 * 8, SsOffset = 21 * 8;

    /// <summary>The linear address of the IST1 frame (the same in every space): gates, exceptions, interrupts, and the frame a VM exit's dispatch builds.</summary>
    public const ulong Linear = ConfinedLayout.IstTop - Size;

    /// <summary>The frame at the top of IST stack <paramref name="ist"/>.</summary>
    public static ulong LinearOf(int ist) => ConfinedLayout.IstStackTop(ist) - Size;

    /// <summary>Register numbers (RAX = 0 … R15 = 15) in push order; the one pushed first sits highest.</summary>
    public static readonly int[] PushOrder = [0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

    /// <summary>Byte offset of register <paramref name="reg"/> (RSP has none) in a 15-register block.</summary>
    public static ulong RegisterOffset(int reg)
    {
        int k = Array.IndexOf(PushOrder, reg);
        if (k < 0) throw new ArgumentOutOfRangeException(nameof(reg), "RSP is not saved by the trampoline.");
        return (ulong)(Registers - 1 - k) * 8;
    }
}
