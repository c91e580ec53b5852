namespace HyperLock.Abi;

/// <summary>
/// Register conventions of the <c>int GATE</c> services (SPEC §5): the service number in R11D,
/// arguments in RDI, RSI, RDX, R10, the status (<see cref="RuntimeStatus"/>) in RAX. Services
/// that replace one instruction keep that instruction's registers (CPUID: EAX/ECX in, EAX-EDX
/// out; RDMSR/WRMSR: ECX, EDX:EAX). Every other register is preserved.
/// </summary>
public static class ServiceRegisters
{
    public const string Number = "r11d";
    public const string Argument0 = "rdi", Argument1 = "rsi", Argument2 = "rdx", Argument3 = "r10";
    public const string Status = "rax";

    /// <summary>The gate vector (the verifier's default, <c>int 0x82</c>).</summary>
    public const byte GateVector = 0x82;
}
