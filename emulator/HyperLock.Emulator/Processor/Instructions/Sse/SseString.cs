using HyperLock.Emulator.Processor.Decode;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>
/// SSE4.2 string compares PCMPESTRI/PCMPESTRM/PCMPISTRI/PCMPISTRM, all imm8 modes: element
/// format (imm8[1:0]), aggregation (equal any, ranges, equal each, equal ordered; imm8[3:2]),
/// polarity (imm8[5:4]) and output selection (imm8[6]). Memory operands need no alignment.
/// </summary>
internal static unsafe partial class Sse
{
    private static void RegisterString()
    {
        OpTable.Set(Code.Pcmpestri_xmm_xmmm128_imm8, &PcmpStr<Explicit, Index>);
        OpTable.Set(Code.Pcmpestri64_xmm_xmmm128_imm8, &PcmpStr<Explicit64, Index>);
        OpTable.Set(Code.Pcmpestrm_xmm_xmmm128_imm8, &PcmpStr<Explicit, Mask>);
        OpTable.Set(Code.Pcmpestrm64_xmm_xmmm128_imm8, &PcmpStr<Explicit64, Mask>);
        OpTable.Set(Code.Pcmpistri_xmm_xmmm128_imm8, &PcmpStr<Implicit, Index>);
        OpTable.Set(Code.Pcmpistrm_xmm_xmmm128_imm8, &PcmpStr<Implicit, Mask>);
    }

    private interface ILenMode { static abstract int Kind { get; } }
    private struct Implicit : ILenMode { public static int Kind => 0; }
    private struct Explicit : ILenMode { public static int Kind => 1; }
    private struct Explicit64 : ILenMode { public static int Kind => 2; }
    private interface IOutMode { static abstract bool IsMask { get; } }
    private struct Index : IOutMode { public static bool IsMask => false; }
    private struct Mask : IOutMode { public static bool IsMask => true; }

    private static int ExplicitLength(long v, int n)
    {
        if (v < 0) v = v == long.MinValue ? long.MaxValue : -v;
        return v > n ? n : (int)v;
    }

    private static int ImplicitLength(Xmm x, int n, bool words)
    {
        for (int k = 0; k < n; k++)
            if (Get(x, k, words ? 2 : 1) == 0) return k;
        return n;
    }

    private static int Element(Xmm x, int k, int fmt) => fmt switch
    {
        0 => (int)Get(x, k, 1),
        1 => (int)Get(x, k, 2),
        2 => (sbyte)Get(x, k, 1),
        _ => (short)Get(x, k, 2),
    };

    private static void PcmpStr<TLen, TOut>(Cpu c, ref Insn i) where TLen : struct, ILenMode where TOut : struct, IOutMode
    {
        if (!c.SseAvailable()) return;
        Xmm b = c.XmmSrcUnaligned(ref i, 1);
        if (c.Faulted) return;
        Xmm a = c.X(i.R0);
        int imm = (byte)i.Imm;
        int fmt = imm & 3;
        bool words = (fmt & 1) != 0;
        int n = words ? 8 : 16;
        int la, lb;
        if (TLen.Kind == 0)
        {
            la = ImplicitLength(a, n, words);
            lb = ImplicitLength(b, n, words);
        }
        else if (TLen.Kind == 1)
        {
            la = ExplicitLength((int)c.R(Reg.Rax), n);
            lb = ExplicitLength((int)c.R(Reg.Rdx), n);
        }
        else
        {
            la = ExplicitLength((long)c.R(Reg.Rax), n);
            lb = ExplicitLength((long)c.R(Reg.Rdx), n);
        }

        int agg = (imm >> 2) & 3;
        int res1 = 0;
        for (int j = 0; j < n; j++)
        {
            bool r;
            switch (agg)
            {
                case 0: // equal any: b[j] is one of a[0..la)
                    r = false;
                    if (j < lb)
                    {
                        int bj = Element(b, j, fmt);
                        for (int k = 0; k < la && !r; k++) r = Element(a, k, fmt) == bj;
                    }
                    break;
                case 1: // ranges: a holds (low, high) pairs
                    r = false;
                    if (j < lb)
                    {
                        int bj = Element(b, j, fmt);
                        for (int k = 0; k < la && !r; k += 2)
                        {
                            bool ge = Element(a, k, fmt) <= bj;
                            bool le = k + 1 < la && bj <= Element(a, k + 1, fmt);
                            r = ge && le;
                        }
                    }
                    break;
                case 2: // equal each
                    r = j >= la && j >= lb || (j < la && j < lb && Element(a, j, fmt) == Element(b, j, fmt));
                    break;
                default: // equal ordered: a occurs in b at position j
                    r = true;
                    for (int k = 0; k < n - j && r; k++)
                    {
                        if (k >= la) break;                 // needle ended: match
                        if (j + k >= lb) { r = false; break; } // haystack ended first
                        r = Element(a, k, fmt) == Element(b, j + k, fmt);
                    }
                    break;
            }
            if (r) res1 |= 1 << j;
        }

        int all = (1 << n) - 1;
        int res2 = ((imm >> 4) & 3) switch
        {
            1 => ~res1 & all,
            3 => (res1 ^ ((1 << lb) - 1)) & all,
            _ => res1,
        };

        if (TOut.IsMask)
        {
            Xmm m;
            if ((imm & 0x40) == 0) m = new Xmm((ulong)res2, 0);
            else
            {
                m = default;
                for (int k = 0; k < n; k++)
                    if ((res2 & (1 << k)) != 0) Put(ref m, k, words ? 2 : 1, words ? 0xFFFFUL : 0xFFUL);
            }
            c.X(0) = m;
        }
        else
        {
            int idx = res2 == 0 ? n : (imm & 0x40) != 0 ? 31 - int.LeadingZeroCount(res2) : int.TrailingZeroCount(res2);
            c.R(Reg.Rcx) = (uint)idx;
        }
        ulong f = 0;
        if (res2 != 0) f |= Bits.Cf;
        if (lb < n) f |= Bits.Zf;
        if (la < n) f |= Bits.Sf;
        if ((res2 & 1) != 0) f |= Bits.Of;
        c.SetArithFlags(f);
    }
}
