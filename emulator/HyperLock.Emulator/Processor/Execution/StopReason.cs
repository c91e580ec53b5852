using Vectors = HyperLock.Emulator.Processor.Vector;

namespace HyperLock.Emulator.Processor.Execution;

/// <summary>Why <see cref="Cpu.Run"/> returned.</summary>
public enum StopKind
{
    /// <summary>Still running (not a stop).</summary>
    None,
    /// <summary>The instruction budget was used up.</summary>
    InstructionLimit,
    /// <summary>An exception was intercepted by the environment (<see cref="Cpu.InterceptExceptions"/>).</summary>
    Exception,
    /// <summary>HLT with nothing that could wake the processor.</summary>
    Halted,
    /// <summary>Triple fault: the processor shut down.</summary>
    Shutdown,
    /// <summary>Something outside the CPU asked the run to end (debug-exit port, reset, a VM exit to the host).</summary>
    Requested,
}

/// <summary>The outcome of a run: what stopped it and, for exceptions, which one.</summary>
public readonly record struct StopReason(StopKind Kind, int Vector = -1, uint ErrorCode = 0, bool HasErrorCode = false)
{
    /// <summary>"int3", "#GP(0)", "#PF(0x6)", "#UD", "max-steps", "hlt", "shutdown", "requested".</summary>
    public override string ToString() => Kind switch
    {
        StopKind.Exception when Vector == Vectors.BP => "int3",
        StopKind.Exception when HasErrorCode => Vectors.Name(Vector) + "(" + (ErrorCode < 10 ? ErrorCode.ToString() : "0x" + ErrorCode.ToString("x")) + ")",
        StopKind.Exception => Vectors.Name(Vector),
        StopKind.InstructionLimit => "max-steps",
        StopKind.Halted => "hlt",
        StopKind.Shutdown => "shutdown",
        StopKind.Requested => "requested",
        _ => "running",
    };
}
