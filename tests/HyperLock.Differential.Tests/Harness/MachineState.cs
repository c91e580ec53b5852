using System.Runtime.CompilerServices;
using System.Text;

namespace HyperLock.Differential.Tests.Harness;

/// <summary>
/// The architectural state a differential case sets up and compares: the 16 GPRs, RIP,
/// RFLAGS, XMM0-15 and MXCSR, plus the two compared windows of scratch memory (the data
/// window that memory operands land in and the stack window around RSP).
/// </summary>
public sealed class MachineState
{
    public readonly ulong[] Gpr = new ulong[16];
    public ulong Rip;
    public ulong Rflags;

    /// <summary>Native runs only: the signal the instruction raised on the host (0: it completed). Not compared, not cloned.</summary>
    public int HostSignal;
    public uint Mxcsr;

    /// <summary>XMM registers as (low, high) quadword pairs: Xmm[2*i] low, Xmm[2*i+1] high.</summary>
    public readonly ulong[] Xmm = new ulong[32];

    /// <summary>x87 control word.</summary>
    public ushort Fcw = 0x037F;

    /// <summary>x87 status word, TOP included.</summary>
    public ushort Fsw;

    /// <summary>Abridged tag word as FXSAVE stores it: bit p set = physical register p is not empty.</summary>
    public byte Ftw;

    /// <summary>x87 data registers in stack order, ST(0) first (as FXSAVE stores them): 64-bit significand and sign+exponent.</summary>
    public readonly ulong[] StMantissa = new ulong[8];
    public readonly ushort[] StSignExp = new ushort[8];

    /// <summary>TOP, from the status word.</summary>
    public int Top => (Fsw >> 11) & 7;

    /// <summary>True when ST(i) is not empty.</summary>
    public bool StValid(int i) => (Ftw >> ((Top + i) & 7) & 1) != 0;

    /// <summary>Bytes of the data window at <see cref="ScratchLayout.DataBase"/>.</summary>
    public readonly byte[] Data = new byte[ScratchLayout.DataSize];

    /// <summary>Bytes of the stack window at <see cref="ScratchLayout.StackWindowBase"/>.</summary>
    public readonly byte[] Stack = new byte[ScratchLayout.StackWindowSize];

    public MachineState Clone()
    {
        var s = new MachineState { Rip = Rip, Rflags = Rflags, Mxcsr = Mxcsr, Fcw = Fcw, Fsw = Fsw, Ftw = Ftw };
        StMantissa.CopyTo(s.StMantissa, 0);
        StSignExp.CopyTo(s.StSignExp, 0);
        Gpr.CopyTo(s.Gpr, 0);
        Xmm.CopyTo(s.Xmm, 0);
        Data.CopyTo(s.Data, 0);
        Stack.CopyTo(s.Stack, 0);
        return s;
    }

    /// <summary>Reads <paramref name="size"/> bytes (1-8) of scratch memory at a linear address in a compared window.</summary>
    public ulong ReadMemory(ulong address, int size)
    {
        var span = Window(address, size);
        ulong v = 0;
        for (int k = size - 1; k >= 0; k--) v = (v << 8) | span[k];
        return v;
    }

    /// <summary>Writes <paramref name="size"/> bytes (1-8) of scratch memory at a linear address in a compared window.</summary>
    public void WriteMemory(ulong address, int size, ulong value)
    {
        var span = Window(address, size);
        for (int k = 0; k < size; k++) { span[k] = (byte)value; value >>= 8; }
    }

    private Span<byte> Window(ulong address, int size)
    {
        if (address >= ScratchLayout.DataBase && address + (ulong)size <= ScratchLayout.DataBase + ScratchLayout.DataSize)
            return Data.AsSpan((int)(address - ScratchLayout.DataBase), size);
        if (address >= ScratchLayout.StackWindowBase && address + (ulong)size <= ScratchLayout.StackWindowBase + ScratchLayout.StackWindowSize)
            return Stack.AsSpan((int)(address - ScratchLayout.StackWindowBase), size);
        throw new ArgumentOutOfRangeException(nameof(address), $"0x{address:x} is outside the compared scratch windows.");
    }

    /// <summary>A compact text form (registers only; memory is summarized by a hash).</summary>
    public string Describe()
    {
        var sb = new StringBuilder();
        for (int i = 0; i < 16; i++)
            sb.Append(GprNames[i]).Append('=').Append(Gpr[i].ToString("x16")).Append(i % 4 == 3 ? '\n' : ' ');
        sb.Append("rflags=").Append(Rflags.ToString("x")).Append(" mxcsr=").Append(Mxcsr.ToString("x")).Append('\n');
        for (int i = 0; i < 16; i++)
            sb.Append("xmm").Append(i).Append('=').Append(Xmm[2 * i + 1].ToString("x16")).Append(Xmm[2 * i].ToString("x16"))
              .Append(i % 2 == 1 ? '\n' : ' ');
        sb.Append("fcw=").Append(Fcw.ToString("x4")).Append(" fsw=").Append(Fsw.ToString("x4")).Append(" ftw=").Append(Ftw.ToString("x2")).Append('\n');
        for (int i = 0; i < 8; i++)
            sb.Append("st").Append(i).Append('=').Append(StSignExp[i].ToString("x4")).Append(':').Append(StMantissa[i].ToString("x16"))
              .Append(StValid(i) ? "" : "(empty)").Append(i % 4 == 3 ? '\n' : ' ');
        return sb.ToString();
    }

    public static readonly string[] GprNames =
        ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"];
}

/// <summary>
/// Fixed virtual addresses shared by the native run and the emulated run. The emulator's
/// <see cref="HyperLock.Emulator.Loaders.SnippetEnvironment"/> puts code at 0x400000 and scratch at
/// 0x10000000; the native side maps the same addresses with MAP_FIXED_NOREPLACE, so
/// every effective address (including RIP-relative ones) is identical in both runs.
/// </summary>
public static class ScratchLayout
{
    /// <summary>Where the instruction under test sits (one page).</summary>
    public const ulong CodeBase = 0x400000;

    /// <summary>The near-branch target used by branch forms: a second exit point in the code page.</summary>
    public const ulong BranchTarget = CodeBase + 0x40;

    public const ulong ScratchBase = 0x10000000;
    public const ulong ScratchSize = 0x10000;

    /// <summary>Memory operands land in this window; it is randomized and compared in full.</summary>
    public const ulong DataBase = ScratchBase;
    public const int DataSize = 0x1000;

    /// <summary>Effective addresses of generated memory operands stay in [DataBase + Margin, DataBase + DataSize - Margin).</summary>
    public const int Margin = 0x200;

    /// <summary>
    /// Initial RSP (before a small random offset). Everything below it down to the start of scratch
    /// is free, so a signal delivered while the case runs natively writes its frame into scratch.
    /// </summary>
    public const ulong StackTop = ScratchBase + 0xE000;

    /// <summary>The compared stack window: 64 bytes either side of the initial RSP range.</summary>
    public const ulong StackWindowBase = StackTop - 0x60;
    public const int StackWindowSize = 0xC0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool InData(ulong address, int size) =>
        address >= DataBase && address + (ulong)size <= DataBase + DataSize;
}
