using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Processor.Execution;
using HyperLock.Emulator.Loaders;
using Iced.Intel;

namespace HyperLock.Emulator.Tests.Processor.Sse;

/// <summary>
/// Runs a short SSE snippet (followed by int3) repeatedly in one flat 64-bit environment:
/// each <see cref="Exec"/> resets RIP, lets the caller set registers, and runs to the stop.
/// RBX points at a 64-byte aligned scratch buffer (<see cref="Data"/>) for memory operands.
/// </summary>
internal sealed class SseHarness : IDisposable
{
    public const ulong Data = SnippetEnvironment.ScratchBase + 0x1000;
    public readonly SnippetEnvironment Env;
    public Cpu Cpu => Env.Cpu;

    public SseHarness(Action<Assembler> body, bool user = true)
    {
        var code = SnippetRunner.Assemble(a =>
        {
            body(a);
            a.int3();
        });
        Env = new SnippetEnvironment(code, user);
    }

    public StopReason Exec(Action<Cpu>? setup = null)
    {
        var c = Env.Cpu;
        c.Rip = SnippetEnvironment.CodeBase;
        c.R(Reg.Rbx) = Data;
        setup?.Invoke(c);
        return c.Run(1000);
    }

    public void WriteData(ulong offset, params byte[] bytes) => Env.Memory.WriteBytes(Data + offset, bytes);

    public void WriteData64(ulong offset, ulong v) => Env.Memory.Write(Data + offset, 8, v);

    public ulong ReadData64(ulong offset) => Env.Memory.Read(Data + offset, 8);

    public void Dispose() => Env.Dispose();

    /// <summary>Runs once and asserts it reached the trailing int3.</summary>
    public static SseHarness RunOnce(Action<Assembler> body, Action<Cpu>? setup = null)
    {
        var h = new SseHarness(body);
        var stop = h.Exec(setup);
        Assert.Equal("int3", stop.ToString());
        return h;
    }
}
