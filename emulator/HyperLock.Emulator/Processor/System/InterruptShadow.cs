namespace HyperLock.Emulator.Processor;

public sealed partial class Cpu
{
    /// <summary>
    /// Value of <see cref="InterruptShadowUntil"/> that STI and MOV SS/POP SS store: "block
    /// interrupts until one more instruction has retired". Those instructions end their block,
    /// and the run loop turns the marker into <c>Retired + 1</c> once the block's count is exact
    /// (inside a block, <see cref="Retired"/> still holds the count at the block's start).
    /// </summary>
    public const ulong ShadowAfterThisInstruction = ulong.MaxValue;
}
