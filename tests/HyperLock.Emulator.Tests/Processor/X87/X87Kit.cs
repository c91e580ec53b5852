using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Processor.Execution;
using HyperLock.Emulator.Loaders;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.Emulator.Tests.Processor.X87;

/// <summary>
/// Runs x87 snippets in the flat 64-bit environment with RBX pointing at the scratch area, and
/// reads and writes operands there.
/// </summary>
internal static class X87Kit
{
    public const ulong Scratch = SnippetEnvironment.ScratchBase;

    /// <summary>Assembles mov rbx, scratch; body; int3 and runs it.</summary>
    public static (SnippetEnvironment Env, StopReason Stop) Run(Action<Assembler> body, Action<SnippetEnvironment>? setup = null,
        bool user = true)
    {
        return SnippetRunner.Run(a =>
        {
            a.mov(rbx, (long)Scratch);
            body(a);
            a.int3();
        }, user, setup: setup);
    }

    public static void Write16(SnippetEnvironment env, ulong off, ushort v) => env.Memory.Write(Scratch + off, 2, v);
    public static void Write32(SnippetEnvironment env, ulong off, uint v) => env.Memory.Write(Scratch + off, 4, v);
    public static void Write64(SnippetEnvironment env, ulong off, ulong v) => env.Memory.Write(Scratch + off, 8, v);

    public static void WriteF80(SnippetEnvironment env, ulong off, Float80 v)
    {
        env.Memory.Write(Scratch + off, 8, v.Mantissa);
        env.Memory.Write(Scratch + off + 8, 2, v.SignExp);
    }

    public static ulong Read64(SnippetEnvironment env, ulong off) => env.Memory.Read(Scratch + off, 8);
    public static uint Read32(SnippetEnvironment env, ulong off) => (uint)env.Memory.Read(Scratch + off, 4);
    public static ushort Read16(SnippetEnvironment env, ulong off) => (ushort)env.Memory.Read(Scratch + off, 2);

    public static Float80 ReadF80(SnippetEnvironment env, ulong off) =>
        new((ushort)env.Memory.Read(Scratch + off + 8, 2), env.Memory.Read(Scratch + off, 8));

    public static byte[] ReadBytes(SnippetEnvironment env, ulong off, int n)
    {
        var b = new byte[n];
        env.Memory.ReadBytes(Scratch + off, b);
        return b;
    }

    public static Float80 F(ushort se, ulong m) => new(se, m);

    public static void AssertStop(string expected, StopReason stop) => Assert.Equal(expected, stop.ToString());
}
