using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Processor.Execution;
using HyperLock.Emulator.Loaders;
using Iced.Intel;

namespace HyperLock.Emulator.Tests.Processor.Integer;

/// <summary>Runs integer snippets in the flat environment and reads results back.</summary>
internal sealed class Snip : IDisposable
{
    public const ulong Scratch = SnippetEnvironment.ScratchBase;
    public const ulong ArithMask = 0x8D5;

    public SnippetEnvironment Env { get; }
    public StopReason Stop { get; private set; }
    public Cpu Cpu => Env.Cpu;

    private Snip(SnippetEnvironment env) { Env = env; }

    /// <summary>Assembles (64-bit unless told), sets up state, runs to int3 or a fault.</summary>
    public static Snip Run(Action<Assembler> build, Action<Cpu>? setup = null, bool user = true, int bitness = 64,
        ulong maxSteps = 10_000_000)
    {
        var env = new SnippetEnvironment(AssembledCode.Bytes(bitness, SnippetEnvironment.CodeBase, build), user);
        if (bitness == 32) MakeCompatibilityMode(env.Cpu);
        var s = new Snip(env);
        setup?.Invoke(env.Cpu);
        s.Stop = env.Cpu.Run(maxSteps);
        return s;
    }

    /// <summary>Turns the flat 64-bit environment into 32-bit compatibility mode (CS.L = 0, CS.D = 1, SS.B = 1).</summary>
    private static void MakeCompatibilityMode(Cpu c)
    {
        ref var cs = ref c.Segs[Seg.Cs];
        cs.Attributes = (cs.Attributes & ~SegmentRegister.AttrLong) | SegmentRegister.AttrDefaultBig;
        c.UpdateMode();
        Assert.Equal(32, c.Bitness);
    }

    public ulong R(int r) => Cpu.R(r);
    public ulong Flags => Cpu.GetRflags() & ArithMask;
    public string StopText => Stop.ToString();
    public ulong Rip => Cpu.Rip;

    public ulong Mem64(ulong lin) => Env.Memory.Read(lin, 8);
    public ulong Mem(ulong lin, int size) => Env.Memory.Read(lin, size);
    public void AssertInt3() => Assert.Equal("int3", StopText);

    public void Dispose() => Env.Dispose();

}

/// <summary>RFLAGS bit values for expectations.</summary>
internal static class F
{
    public const ulong CF = 1, PF = 4, AF = 0x10, ZF = 0x40, SF = 0x80, OF = 0x800;
}
