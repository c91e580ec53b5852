using HyperLock.Verifier;
using Iced.Intel;

namespace HyperLock.Toolchain;

/// <summary>Options shared by the bundling assembler and the rewriter.</summary>
public sealed record ToolchainOptions
{
    /// <summary>
    /// The toolchain's scratch register, r11: rewritten returns (<c>pop r11; and r11,-32;
    /// jmp r11</c>), memory-indirect branches, VMCS helpers and runtime-service calls clobber
    /// it. It is caller-saved in the System V ABI and already clobbered by <c>syscall</c>, so
    /// compiled code does not keep values in it across calls or returns.
    /// </summary>
    public const Register Scratch = Register.R11;

    /// <summary>The gate vector service calls use (must match the verifier's).</summary>
    public byte GateVector { get; init; } = VerifierOptions.DefaultGateVector;

    /// <summary>The defaults.</summary>
    public static ToolchainOptions Default { get; } = new();
}
