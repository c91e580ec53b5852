using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace HyperLock.Emulator.Processor;

/// <summary>General-purpose register numbers in encoding order (REX.B/R/X extend to 8-15).</summary>
public static class Reg
{
    public const int Rax = 0, Rcx = 1, Rdx = 2, Rbx = 3, Rsp = 4, Rbp = 5, Rsi = 6, Rdi = 7;
    public const int R8 = 8, R9 = 9, R10 = 10, R11 = 11, R12 = 12, R13 = 13, R14 = 14, R15 = 15;

    /// <summary>Decoded operand index for AH/CH/DH/BH: 16 + register whose bits 15:8 are meant.</summary>
    public const int HighByteBase = 16;

    /// <summary>Memory base meaning "RIP of this instruction" (RIP-relative addressing).</summary>
    public const int Rip = 0xFE;

    /// <summary>No register (absent base or index).</summary>
    public const int None = 0xFF;

    public static readonly string[] Names64 =
        ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"];
}

/// <summary>Segment register numbers in encoding order.</summary>
public static class Seg
{
    public const int Es = 0, Cs = 1, Ss = 2, Ds = 3, Fs = 4, Gs = 5;
    public const int Count = 6;
    public static readonly string[] Names = ["es", "cs", "ss", "ds", "fs", "gs"];
}

[InlineArray(16)]
public struct GprFile
{
    private ulong _element;
}

/// <summary>One 128-bit XMM register, low quadword first (the in-memory byte order).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct Xmm
{
    public ulong Lo;
    public ulong Hi;

    public Xmm(ulong lo, ulong hi) { Lo = lo; Hi = hi; }

    public override readonly string ToString() => $"0x{Hi:x16}{Lo:x16}";
}

[InlineArray(16)]
public struct XmmFile
{
    private Xmm _element;
}

[InlineArray(Seg.Count)]
public struct SegmentFile
{
    private SegmentRegister _element;
}

/// <summary>
/// A segment register with its hidden descriptor cache. <see cref="Attributes"/> uses the VMCS
/// access-rights layout: type 3:0, S 4, DPL 6:5, P 7, AVL 12, L 13, D/B 14, G 15, unusable 16.
/// </summary>
public struct SegmentRegister
{
    public ushort Selector;
    public ulong Base;
    public uint Limit;
    public uint Attributes;

    public const uint AttrAccessed = 1 << 0;
    public const uint AttrS = 1 << 4;
    public const uint AttrPresent = 1 << 7;
    public const uint AttrLong = 1 << 13;
    public const uint AttrDefaultBig = 1 << 14;
    public const uint AttrGranularity = 1 << 15;
    public const uint AttrUnusable = 1 << 16;

    public readonly int Dpl => (int)((Attributes >> 5) & 3);
    public readonly int Type => (int)(Attributes & 0xF);
    public readonly bool Present => (Attributes & AttrPresent) != 0;
    public readonly bool Long => (Attributes & AttrLong) != 0;
    public readonly bool DefaultBig => (Attributes & AttrDefaultBig) != 0;

    /// <summary>A flat 64-bit code segment at the given privilege level.</summary>
    public static SegmentRegister FlatCode64(ushort selector, int dpl) => new()
    {
        Selector = selector, Base = 0, Limit = 0xFFFFFFFF,
        Attributes = 0xB | AttrS | ((uint)dpl << 5) | AttrPresent | AttrLong | AttrGranularity,
    };

    /// <summary>A flat read/write data segment at the given privilege level.</summary>
    public static SegmentRegister FlatData(ushort selector, int dpl) => new()
    {
        Selector = selector, Base = 0, Limit = 0xFFFFFFFF,
        Attributes = 0x3 | AttrS | ((uint)dpl << 5) | AttrPresent | AttrDefaultBig | AttrGranularity,
    };

    /// <summary>A real-mode segment: base = selector * 16, 64 KiB limit.</summary>
    public static SegmentRegister RealMode(ushort selector, bool code) => new()
    {
        Selector = selector, Base = (ulong)selector << 4, Limit = 0xFFFF,
        Attributes = (code ? 0xBu : 0x3u) | AttrS | AttrPresent,
    };
}

/// <summary>A descriptor-table register (GDTR, IDTR).</summary>
public struct TableRegister
{
    public ulong Base;
    public ushort Limit;
}

/// <summary>Bits of CR0, CR4, EFER and RFLAGS by name.</summary>
public static class Bits
{
    public const ulong Cr0Pe = 1UL << 0, Cr0Mp = 1UL << 1, Cr0Em = 1UL << 2, Cr0Ts = 1UL << 3, Cr0Et = 1UL << 4,
        Cr0Ne = 1UL << 5, Cr0Wp = 1UL << 16, Cr0Am = 1UL << 18, Cr0Nw = 1UL << 29, Cr0Cd = 1UL << 30, Cr0Pg = 1UL << 31;

    public const ulong Cr4Vme = 1UL << 0, Cr4Pvi = 1UL << 1, Cr4Tsd = 1UL << 2, Cr4De = 1UL << 3, Cr4Pse = 1UL << 4,
        Cr4Pae = 1UL << 5, Cr4Mce = 1UL << 6, Cr4Pge = 1UL << 7, Cr4Pce = 1UL << 8, Cr4Osfxsr = 1UL << 9,
        Cr4Osxmmexcpt = 1UL << 10, Cr4Umip = 1UL << 11, Cr4La57 = 1UL << 12, Cr4Vmxe = 1UL << 13, Cr4Smxe = 1UL << 14,
        Cr4Fsgsbase = 1UL << 16, Cr4Pcide = 1UL << 17, Cr4Osxsave = 1UL << 18, Cr4Smep = 1UL << 20, Cr4Smap = 1UL << 21;

    public const ulong EferSce = 1UL << 0, EferLme = 1UL << 8, EferLma = 1UL << 10, EferNxe = 1UL << 11;

    public const ulong Cf = 1UL << 0, Pf = 1UL << 2, Af = 1UL << 4, Zf = 1UL << 6, Sf = 1UL << 7, Tf = 1UL << 8,
        If = 1UL << 9, Df = 1UL << 10, Of = 1UL << 11, Iopl = 3UL << 12, Nt = 1UL << 14, Rf = 1UL << 16, Vm = 1UL << 17,
        Ac = 1UL << 18, Vif = 1UL << 19, Vip = 1UL << 20, Id = 1UL << 21;

    /// <summary>The six arithmetic status flags.</summary>
    public const ulong Arith = Cf | Pf | Af | Zf | Sf | Of;

    /// <summary>RFLAGS bit 1 always reads as 1.</summary>
    public const ulong Fixed1 = 1UL << 1;
}
