using HyperLock.Differential.Tests.Harness;
using HyperLock.Differential.Tests.Harness.Native;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.OracleGen;

/// <summary>
/// The table of SseHostOracleTests: scalar SSE arithmetic (kind S: ADDSS SUBSS MULSS DIVSS
/// SQRTSS, ops 0-4; kind D: the SD forms) and conversions (kind C, ops 0-10, the list in the
/// test's summary), each run natively under seven MXCSR settings (the four rounding modes,
/// DAZ, FTZ, DAZ+FTZ; every exception masked) over operands that include zeros, denormals,
/// min/max normals, infinities, QNaN/SNaN and inexact cases, then sampled deterministically.
/// Row: kind op mxcsr-before A B result mxcsr-after (hex).
///
/// Vendor-independence: the result of an S/D operation with a NaN operand is which NaN the
/// processor propagates. For these scalar forms the SDM's rule decides it (a NaN in the first
/// source, quieted, else the one in the second); the generator writes the rule's value and
/// counts the rows where the host chose otherwise (zero on the Intel and AMD hosts this was run
/// on). Everything else — rounding, flags, DAZ/FTZ, conversions' integer indefinite — is IEEE
/// 754 plus the SDM and the same on every vendor, so the host's result is written.
/// </summary>
public static class ScalarSseTable
{
    public static readonly uint[] Singles =
    [
        0x00000000, 0x80000000, 0x00000001, 0x80000003, 0x007FFFFF, 0x00800000, 0x0C000000, 0x33800000, 0x3EAAAAAB,
        0x3F7FFFFF, 0x3F800000, 0xBF800001, 0x40400000, 0x40490FDB, 0x4B000001, 0x4EFFFFFF, 0x5F000000, 0xCF000000,
        0x7F7FFFFF, 0xFF7FFFFF, 0x7F800000, 0xFF800000, 0x7FC00001, 0x7F800005,
    ];

    public static readonly ulong[] Doubles =
    [
        0x0000000000000000, 0x8000000000000000, 0x0000000000000001, 0x8000000000000003, 0x000FFFFFFFFFFFFF,
        0x0010000000000000, 0x2000000000000000, 0x3CA0000000000000, 0x3FD5555555555555, 0x3FF0000000000000,
        0xBFF0000000000001, 0x4008000000000000, 0x400921FB54442D18, 0x41DFFFFFFFC00000, 0x4330000000000001,
        0x43E0000000000000, 0xC3E0000000000000, 0x7FEFFFFFFFFFFFFF, 0x7FF0000000000000, 0xFFF0000000000000,
        0x7FF8000000000001, 0x7FF0000000000005,
    ];

    public static readonly ulong[] Integers =
    [
        0, 1, 0x1000001, 123456789, 0x7FFFFFFF, 0x20000000000001, 0x4330000000000001, 0x7FFFFFFFFFFFFFFF,
        0x8000000000000000, 0xFFFFFFFF80000000, 0xFFFFFFFFFEFFFFFF, 0xFFFFFFFFFFFFFFFF,
    ];

    /// <summary>Round to nearest, down, up, toward zero; DAZ; FTZ; both (every exception masked).</summary>
    public static readonly uint[] Mxcsrs = [0x1F80, 0x3F80, 0x5F80, 0x7F80, 0x1FC0, 0x9F80, 0x9FC0];

    private static Action<Assembler> Scalar(bool single, int op) => (single, op) switch
    {
        (true, 0) => a => a.addss(xmm0, xmm1),
        (true, 1) => a => a.subss(xmm0, xmm1),
        (true, 2) => a => a.mulss(xmm0, xmm1),
        (true, 3) => a => a.divss(xmm0, xmm1),
        (true, _) => a => a.sqrtss(xmm0, xmm1),
        (false, 0) => a => a.addsd(xmm0, xmm1),
        (false, 1) => a => a.subsd(xmm0, xmm1),
        (false, 2) => a => a.mulsd(xmm0, xmm1),
        (false, 3) => a => a.divsd(xmm0, xmm1),
        (false, _) => a => a.sqrtsd(xmm0, xmm1),
    };

    private static Action<Assembler> Conversion(int op) => op switch
    {
        0 => a => a.cvtss2si(eax, xmm1),
        1 => a => a.cvttss2si(eax, xmm1),
        2 => a => a.cvtss2si(rax, xmm1),
        3 => a => a.cvtss2sd(xmm0, xmm1),
        4 => a => a.roundss(xmm0, xmm1, 4),
        5 => a => a.cvtsd2si(eax, xmm1),
        6 => a => a.cvttsd2si(rax, xmm1),
        7 => a => a.cvtsd2ss(xmm0, xmm1),
        8 => a => a.cvtsi2ss(xmm0, rax),
        9 => a => a.cvtsi2sd(xmm0, rax),
        _ => a => a.cvtsi2ss(xmm0, eax),
    };

    public static byte[] Assemble(Action<Assembler> build)
    {
        var a = new Assembler(64);
        build(a);
        var w = new ByteWriter();
        a.Assemble(w, ScratchLayout.CodeBase);
        return w.ToArray();
    }

    private static MachineState State(uint mxcsr)
    {
        var s = new MachineState { Rflags = 0x202, Mxcsr = mxcsr };
        s.Gpr[4] = ScratchLayout.StackTop;
        return s;
    }

    public sealed record Result(List<string> Rows, string Notes);

    public static Result Generate(NativeExecutor native)
    {
        var rows = new List<string>();
        int nanRows = 0, hostDisagreed = 0;
        foreach (bool single in new[] { true, false })
        {
            string kind = single ? "S" : "D";
            int digits = single ? 8 : 16;
            int count = single ? Singles.Length : Doubles.Length;
            for (int op = 0; op < 5; op++)
            {
                byte[] code = Assemble(Scalar(single, op));
                foreach (uint csr in Mxcsrs)
                    for (int i = 0; i < count; i++)
                        for (int j = 0; j < count; j++)
                        {
                            ulong a = single ? Singles[i] : Doubles[i], b = single ? Singles[j] : Doubles[j];
                            string key = $"{kind}{op}{csr:x}{a:x}{b:x}";
                            if (!Sample.Keep(key, 21)) continue;
                            var s = State(csr);
                            s.Xmm[0] = a; s.Xmm[2] = b;
                            MachineState r;
                            lock (NativeExecutor.Lock) r = native.Run(code, s);
                            Check(r, key);
                            ulong result = single ? r.Xmm[0] & 0xFFFFFFFF : r.Xmm[0];
                            if (SdmNan(single, op, a, b) is ulong rule)
                            {
                                nanRows++;
                                if (rule != result) { hostDisagreed++; result = rule; }
                            }
                            rows.Add($"{kind} {op} {csr:x4} {Hex(a, digits)} {Hex(b, digits)} {Hex(result, digits)} {r.Mxcsr:x4}");
                        }
            }
        }

        for (int op = 0; op <= 10; op++)
        {
            byte[] code = Assemble(Conversion(op));
            ulong[] inputs = op <= 4 ? Array.ConvertAll(Singles, v => (ulong)v) : op <= 7 ? Doubles : Integers;
            int inDigits = op <= 4 ? 8 : 16;
            int outDigits = op is 2 or 3 or 6 or 9 ? 16 : 8;
            foreach (uint csr in Mxcsrs)
                foreach (ulong a in inputs)
                {
                    string key = $"C{op}{csr:x}{a:x}";
                    if (!Sample.Keep(key, 3)) continue;
                    var s = State(csr);
                    s.Gpr[0] = op >= 8 ? a : ulong.MaxValue;
                    s.Xmm[2] = a;
                    MachineState r;
                    lock (NativeExecutor.Lock) r = native.Run(code, s);
                    Check(r, key);
                    ulong result = op is 0 or 1 or 2 or 5 or 6 ? r.Gpr[0] : r.Xmm[0];
                    rows.Add($"C {op} {csr:x4} {Hex(a, inDigits)} 0 {Hex(result, outDigits)} {r.Mxcsr:x4}");
                }
        }
        return new Result(rows, $"{nanRows} S/D rows with a NaN operand take the SDM's NaN rule; the host chose otherwise in {hostDisagreed}.");
    }

    private static void Check(MachineState r, string key)
    {
        if (r.HostSignal != 0) throw new InvalidOperationException($"{key}: the host raised signal {r.HostSignal}");
    }

    /// <summary>The SDM's NaN result for S/D op (0-3 binary, 4 sqrt of B), or null when no operand is a NaN.</summary>
    public static ulong? SdmNan(bool single, int op, ulong a, ulong b)
    {
        ulong quiet = single ? 0x00400000UL : 0x0008000000000000UL;
        bool aNan = IsNan(single, a), bNan = IsNan(single, b);
        if (op == 4) return bNan ? b | quiet : null;
        if (aNan) return a | quiet;
        if (bNan) return b | quiet;
        return null;
    }

    private static bool IsNan(bool single, ulong v) => single
        ? (v & 0x7F800000) == 0x7F800000 && (v & 0x007FFFFF) != 0
        : (v & 0x7FF0000000000000) == 0x7FF0000000000000 && (v & 0x000FFFFFFFFFFFFF) != 0;

    private static string Hex(ulong v, int digits) => v.ToString(digits == 8 ? "x8" : "x16", System.Globalization.CultureInfo.InvariantCulture);
}
