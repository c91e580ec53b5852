using System.Security.Cryptography;
using System.Text;
using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Processor.Execution;
using HyperLock.Emulator.Loaders;
using HyperLock.Verifier.Cli;
using Vectors = HyperLock.Emulator.Processor.Vector;

namespace HyperLock.Cli.Commands;

/// <summary>
/// <c>hyperlock exec CODE.bin [--state STATE.json] [--max-steps N]</c>: runs a raw code snippet
/// in the flat 64-bit CPL3 environment and prints the final state as JSON.
/// </summary>
public static class ExecCommand
{
    public const ulong DefaultMaxSteps = 10_000_000;

    public static int Run(string codePath, string? statePath, string? maxSteps, TextWriter stdout)
    {
        byte[] code = CliInput.Read(codePath, "code file", SnippetEnvironment.MaxCodeSize);
        if (code.Length == 0) throw new UsageException($"{codePath}: the code file is empty");
        ulong steps = maxSteps == null ? DefaultMaxSteps : NumberParser.Parse(maxSteps, "--max-steps");

        using var env = new SnippetEnvironment(code, user: true);
        if (statePath != null) ExecStateFile.Apply(env, statePath);
        var stop = env.Cpu.Run(steps);
        stdout.WriteLine(FormatState(env, stop));
        return stop.Kind == StopKind.InstructionLimit ? 124 : 0;
    }

    /// <summary>
    /// The stop as exec prints it: <c>int3</c>, <c>max-steps</c>, or the exception's mnemonic
    /// with its error code in hex, always with 0x (<c>#GP(0x0)</c>, <c>#PF(0x6)</c>, <c>#UD</c>).
    /// </summary>
    public static string FormatStop(StopReason stop) =>
        stop.Kind == StopKind.Exception && stop.HasErrorCode && stop.Vector != Vectors.BP
            ? $"{Vectors.Name(stop.Vector)}(0x{stop.ErrorCode:x})"
            : stop.ToString();

    /// <summary>The final state as JSON, keys in a fixed order.</summary>
    public static string FormatState(SnippetEnvironment env, StopReason stop)
    {
        var cpu = env.Cpu;
        var sb = new StringBuilder();
        sb.Append("{\n");
        for (int i = 0; i < 16; i++) sb.Append($"  \"{Reg.Names64[i]}\": \"0x{cpu.R(i):x}\",\n");
        sb.Append($"  \"rip\": \"0x{cpu.Rip:x}\",\n");
        sb.Append($"  \"rflags\": \"0x{cpu.GetRflags():x}\",\n");
        for (int i = 0; i < 16; i++)
        {
            UInt128 v = ((UInt128)cpu.X(i).Hi << 64) | cpu.X(i).Lo;
            sb.Append($"  \"xmm{i}\": \"0x{v:x32}\",\n");
        }
        sb.Append($"  \"steps\": {cpu.Retired},\n");
        sb.Append($"  \"stop\": \"{FormatStop(stop)}\",\n");
        string sha = Convert.ToHexStringLower(SHA256.HashData(env.ReadScratch()));
        sb.Append($"  \"scratch_sha256\": \"{sha}\"\n");
        sb.Append('}');
        return sb.ToString();
    }
}
