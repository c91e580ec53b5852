using HyperLock.Emulator.Processor.Execution;
using HyperLock.Emulator.Loaders;
using Iced.Intel;

namespace HyperLock.Emulator.Tests.Processor;

/// <summary>Assembles a snippet with Iced and runs it in the flat 64-bit environment.</summary>
internal static class SnippetRunner
{
    public static byte[] Assemble(Action<Assembler> build)
    {
        return AssembledCode.Bytes(64, SnippetEnvironment.CodeBase, build);
    }

    public static (SnippetEnvironment Env, StopReason Stop) Run(Action<Assembler> build, bool user = true, ulong maxSteps = 10_000_000,
        Action<SnippetEnvironment>? setup = null)
    {
        var env = new SnippetEnvironment(Assemble(build), user);
        setup?.Invoke(env);
        var stop = env.Cpu.Run(maxSteps);
        return (env, stop);
    }

}
