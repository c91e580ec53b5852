using System.Reflection;
using HyperLock.Differential.Tests.Harness;
using HyperLock.Differential.Tests.Harness.Native;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.OracleGen;

/// <summary>
/// The table of SseMmxHostOracleTests: MMX register forms (mm0, mm1[, imm8]) run natively over
/// edge and random 64-bit operands, sampled deterministically. Row: mnemonic imm8 (0 if none)
/// mm0-before mm1 mm0-after (hex). Integer SIMD: the same on every vendor.
/// </summary>
public static class MmxTable
{
    public static readonly (string Mnemonic, byte Imm)[] Forms =
    [
        ("paddb", 0), ("paddw", 0), ("paddd", 0), ("paddq", 0), ("psubb", 0), ("psubw", 0), ("psubd", 0), ("psubq", 0),
        ("paddsb", 0), ("paddsw", 0), ("paddusb", 0), ("paddusw", 0), ("psubsb", 0), ("psubsw", 0), ("psubusb", 0), ("psubusw", 0),
        ("pmullw", 0), ("pmulhw", 0), ("pmulhuw", 0), ("pmuludq", 0), ("pmaddwd", 0), ("pmaddubsw", 0), ("pmulhrsw", 0),
        ("pavgb", 0), ("pavgw", 0), ("pminub", 0), ("pmaxub", 0), ("pminsw", 0), ("pmaxsw", 0),
        ("pabsb", 0), ("pabsw", 0), ("pabsd", 0), ("psignb", 0), ("psignw", 0), ("psignd", 0), ("psadbw", 0),
        ("pcmpeqb", 0), ("pcmpeqw", 0), ("pcmpeqd", 0), ("pcmpgtb", 0), ("pcmpgtw", 0), ("pcmpgtd", 0),
        ("pand", 0), ("pandn", 0), ("por", 0), ("pxor", 0),
        ("psllw", 0), ("pslld", 0), ("psllq", 0), ("psrlw", 0), ("psrld", 0), ("psrlq", 0), ("psraw", 0), ("psrad", 0),
        ("punpcklbw", 0), ("punpcklwd", 0), ("punpckldq", 0), ("punpckhbw", 0), ("punpckhwd", 0), ("punpckhdq", 0),
        ("packsswb", 0), ("packssdw", 0), ("packuswb", 0),
        ("phaddw", 0), ("phaddd", 0), ("phaddsw", 0), ("phsubw", 0), ("phsubd", 0), ("phsubsw", 0), ("pshufb", 0),
        ("palignr", 3), ("palignr", 9), ("pshufw", 27), ("pshufw", 228), ("psllw", 5), ("psrad", 33), ("psrlq", 12), ("psraw", 15),
    ];

    /// <summary>First operands: edges, small values (shift counts), byte/word boundaries and random patterns.</summary>
    public static readonly ulong[] Destinations =
    [
        0, 4, 0xC, 0x17, 0x4C, 0x53, 0x76, 0xFFFFFFFFFFFFFFFF, 0x80808080807F7F7F, 0x17362F25244CAF9C,
        0x1B1B1F2B0F0D3E27, 0x4DABB4817253EDC6, 0x656ABD72FB710734, 0x73F778AAF6FA5DB8, 0x7734D7C1C7FDE805,
        0x8201E2BD73AB4876, 0x830C71C2CDCC6929, 0x998092253DEFFA38, 0x9F8558A628518867, 0xA13FFE7979CB9E86,
        0xD4EA65D003D71684, 0xE12B2B8F30B17D0B,
    ];

    /// <summary>Second operands: zero, small shift counts (in and out of range) and random patterns.</summary>
    public static readonly ulong[] Sources =
    [
        0, 4, 0xC, 0x17, 0x1B1B1F2B0F0D3E27, 0x4DABB4817253EDC6, 0x73F778AAF6FA5DB8, 0x8201E2BD73AB4876,
        0x830C71C2CDCC6929, 0x9F8558A628518867,
    ];

    private static Action<Assembler> Build(string mnemonic, byte imm)
    {
        var t = typeof(Assembler);
        var mm = typeof(AssemblerRegisterMM);
        if (mnemonic is "palignr" or "pshufw")
        {
            var m3 = t.GetMethod(mnemonic, [mm, mm, typeof(byte)])!;
            return a => m3.Invoke(a, [mm0, mm1, imm]);
        }
        if (imm != 0)
        {
            var m2i = t.GetMethod(mnemonic, [mm, typeof(byte)])!;
            return a => m2i.Invoke(a, [mm0, imm]);
        }
        MethodInfo m2 = t.GetMethod(mnemonic, [mm, mm])!;
        return a => m2.Invoke(a, [mm0, mm1]);
    }

    public static List<string> Generate(NativeExecutor native)
    {
        var rows = new List<string>();
        foreach (var (mnemonic, imm) in Forms)
        {
            byte[] code = ScalarSseTable.Assemble(Build(mnemonic, imm));
            foreach (ulong a in Destinations)
                foreach (ulong b in Sources)
                {
                    if (!Sample.Keep($"{mnemonic}{imm}{a:x}{b:x}", 7)) continue;
                    // MM0/MM1 are x87 physical registers 0/1: TOP = 0, both tagged valid.
                    var s = new MachineState { Rflags = 0x202, Mxcsr = 0x1F80, Ftw = 0xFF };
                    s.Gpr[4] = ScratchLayout.StackTop;
                    s.StMantissa[0] = a; s.StSignExp[0] = 0xFFFF;
                    s.StMantissa[1] = b; s.StSignExp[1] = 0xFFFF;
                    MachineState r;
                    lock (NativeExecutor.Lock) r = native.Run(code, s);
                    if (r.HostSignal != 0) throw new InvalidOperationException($"{mnemonic} {imm}: the host raised signal {r.HostSignal}");
                    rows.Add($"{mnemonic} {imm} {a:x16} {b:x16} {r.StMantissa[0]:x16}");
                }
        }
        return rows;
    }
}
