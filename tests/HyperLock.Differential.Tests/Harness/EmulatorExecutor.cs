using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Processor.Execution;
using HyperLock.Emulator.Loaders;

namespace HyperLock.Differential.Tests.Harness;

/// <summary>
/// Runs one instruction followed by <c>int3</c> in the emulator: a flat 64-bit CPL3
/// <see cref="SnippetEnvironment"/> with code at 0x400000 and scratch at 0x10000000, the same
/// addresses the native run uses. The code page is filled with <c>int3</c>, so a branch form
/// stops either right after the instruction or at <see cref="ScratchLayout.BranchTarget"/>.
/// One environment is reused across cases (rewriting the code page exercises the decode
/// cache's self-modifying-code invalidation); it is rebuilt every <see cref="RebuildEvery"/> cases.
/// </summary>
public sealed class EmulatorExecutor : IDisposable
{
    private const int RebuildEvery = 2000;
    private static readonly byte[] ZeroScratch = new byte[ScratchLayout.ScratchSize];
    private readonly byte[] _page = new byte[0x1000];
    private SnippetEnvironment _env;
    private int _uses;

    public EmulatorExecutor() => _env = Create();

    private SnippetEnvironment Create()
    {
        Array.Fill(_page, (byte)0xCC);
        var env = new SnippetEnvironment(_page, user: true, scratchSize: ScratchLayout.ScratchSize);
        var added = AdvertiseHostFeatures(env.Cpu.Cpuid);
        if (AdvertisedExtra.Count == 0) AdvertisedExtra = added;
        return env;
    }

    /// <summary>
    /// The emulator gates some forms (MOVBE, ADX, ...) on its CPUID profile. The comparison is
    /// about semantics, so the emulated CPU advertises every in-scope feature the host has.
    /// </summary>
    /// <summary>Features the harness added to the emulator's default CPUID profile (for the report).</summary>
    public static IReadOnlyList<string> AdvertisedExtra { get; private set; } = [];

    public static IReadOnlyList<string> AdvertiseHostFeatures(CpuidProfile profile)
    {
        var added = new List<string>();
        foreach (var (feature, b) in HostFeatures.CpuidBits)
        {
            if (!HostFeatures.HostHas(feature) || profile.HasBit(b.Leaf, b.Subleaf, b.Register, b.Bit)) continue;
            profile.SetBit(b.Leaf, b.Subleaf, b.Register, b.Bit);
            added.Add(feature.ToString());
        }
        return added;
    }

    /// <summary>The outcome of an emulated run: the final state and what stopped it.</summary>
    /// <param name="StrayWrite">Address of a byte the emulator changed outside the compared windows, if any.</param>
    public readonly record struct Outcome(MachineState State, StopReason Stop, bool ReachedInt3, ulong? StrayWrite);

    /// <summary>
    /// Scratch outside the compared windows starts zeroed and no generated case touches it, so
    /// any non-zero byte there after the run is a stray emulated write. (Natively that area is
    /// not checked: a signal frame may land below RSP.)
    /// </summary>
    private readonly byte[] _rest = new byte[ScratchLayout.ScratchSize];

    public Outcome Run(ReadOnlySpan<byte> code, MachineState initial)
    {
        if (++_uses >= RebuildEvery)
        {
            _env.Dispose();
            _env = Create();
            _uses = 0;
        }
        Array.Fill(_page, (byte)0xCC, 0, 0x60);
        code.CopyTo(_page);
        _env.Memory.WriteBytes(ScratchLayout.CodeBase, _page.AsSpan(0, 0x60));
        _env.WriteScratch(0, ZeroScratch);
        _env.WriteScratch(ScratchLayout.DataBase - ScratchLayout.ScratchBase, initial.Data);
        _env.WriteScratch(ScratchLayout.StackWindowBase - ScratchLayout.ScratchBase, initial.Stack);

        var c = _env.Cpu;
        for (int i = 0; i < 16; i++) c.R(i) = initial.Gpr[i];
        for (int i = 0; i < 16; i++) c.X(i) = new Xmm(initial.Xmm[2 * i], initial.Xmm[2 * i + 1]);
        c.Mxcsr = initial.Mxcsr;
        c.FpuControl = initial.Fcw;
        c.FpuStatus = initial.Fsw;
        c.FpuAbridgedTag = initial.Ftw;
        for (int i = 0; i < 8; i++) c.FpuRegs[(initial.Top + i) & 7] = new Float80(initial.StSignExp[i], initial.StMantissa[i]);
        c.SetRflags(initial.Rflags);
        c.Rip = ScratchLayout.CodeBase;
        c.Halted = false;

        var stop = c.Run(1000);
        var r = new MachineState();
        for (int i = 0; i < 16; i++) r.Gpr[i] = c.R(i);
        for (int i = 0; i < 16; i++) { r.Xmm[2 * i] = c.X(i).Lo; r.Xmm[2 * i + 1] = c.X(i).Hi; }
        r.Mxcsr = c.Mxcsr;
        r.Fcw = c.FpuControl;
        r.Fsw = c.FpuStatus;
        r.Ftw = c.FpuAbridgedTag;
        for (int i = 0; i < 8; i++)
        {
            var v = c.FpuRegs[(r.Top + i) & 7];
            r.StMantissa[i] = v.Mantissa;
            r.StSignExp[i] = v.SignExp;
        }
        r.Rflags = c.GetRflags();
        bool int3 = stop.Kind == StopKind.Exception && stop.Vector == HyperLock.Emulator.Processor.Vector.BP;
        // INT3 is a trap: the intercepted stop leaves RIP after the 0xCC byte.
        r.Rip = int3 ? c.Rip - 1 : c.Rip;
        _env.Memory.ReadBytes(ScratchLayout.DataBase, r.Data);
        _env.Memory.ReadBytes(ScratchLayout.StackWindowBase, r.Stack);
        _env.Memory.ReadBytes(ScratchLayout.ScratchBase, _rest);
        ulong? stray = null;
        ulong dataEnd = ScratchLayout.DataBase + ScratchLayout.DataSize - ScratchLayout.ScratchBase;
        ulong stackStart = ScratchLayout.StackWindowBase - ScratchLayout.ScratchBase;
        ulong stackEnd = stackStart + ScratchLayout.StackWindowSize;
        int at = _rest.AsSpan((int)dataEnd, (int)(stackStart - dataEnd)).IndexOfAnyExcept((byte)0);
        if (at >= 0) stray = ScratchLayout.ScratchBase + dataEnd + (ulong)at;
        else
        {
            at = _rest.AsSpan((int)stackEnd).IndexOfAnyExcept((byte)0);
            if (at >= 0) stray = ScratchLayout.ScratchBase + stackEnd + (ulong)at;
        }
        return new Outcome(r, stop, int3, stray);
    }

    public void Dispose() => _env.Dispose();
}
