using System.Globalization;
using HyperLock.Emulator.Processor;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using static HyperLock.Emulator.Tests.Processor.X87.X87Kit;

namespace HyperLock.Emulator.Tests.Processor.X87;

/// <summary>
/// Runs each host-derived vector (<see cref="HostVectors"/>) as real instructions in the
/// emulator — the same instruction sequence the host executed — and compares the stored result
/// bits, the exception flags and the condition codes the operation defines.
/// </summary>
public class HostVectorTests
{
    public static IEnumerable<object[]> Cases()
    {
        foreach (var line in HostVectors.Lines.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            yield return [line];
    }

    private static ulong H(string s) => ulong.Parse(s, NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    // Scratch layout: 0 control word, 16 b, 32 a, 48 result, 64 second result, 80 memory source.
    private const int OffCw = 0, OffB = 16, OffA = 32, OffR = 48, OffSrc = 80;

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesHost(string line)
    {
        var p = line.Split(' ');
        string op = p[0];
        ushort cw = (ushort)H(p[1]);
        var a = F((ushort)H(p[2]), H(p[3]));
        var b = F((ushort)H(p[4]), H(p[5]));
        var r = F((ushort)H(p[6]), H(p[7]));
        ushort sw = (ushort)H(p[8]);
        ulong extra = H(p[9]);

        // The condition-code bits each operation defines (C0-C3 undefined elsewhere).
        int ccMask = op switch
        {
            "prem" or "prem1" or "com" or "ucom" => 0x4700,
            "comi" or "ucomi" or "xtract" or "fld32" or "fld64" => 0,
            _ => 0x0200,
        };
        int storeBits = op switch { "fist16" or "fisttp16" => 16, "fist32" or "fisttp32" or "fst32" => 32, "fist64" or "fisttp64" or "fst64" => 64, _ => 0 };

        var (env, stop) = Run(asm =>
        {
            asm.fldcw(__word_ptr[rbx + OffCw]);
            switch (op)
            {
                case "fld32": asm.fld(__dword_ptr[rbx + OffSrc]); break;
                case "fld64": asm.fld(__qword_ptr[rbx + OffSrc]); break;
                default:
                    asm.fld(__tword_ptr[rbx + OffB]);
                    asm.fld(__tword_ptr[rbx + OffA]);
                    break;
            }
            switch (op)
            {
                case "add": asm.fadd(st0, st1); break;
                case "sub": asm.fsub(st0, st1); break;
                case "subr": asm.fsubr(st0, st1); break;
                case "mul": asm.fmul(st0, st1); break;
                case "div": asm.fdiv(st0, st1); break;
                case "divr": asm.fdivr(st0, st1); break;
                case "sqrt": asm.fsqrt(); break;
                case "prem": asm.fprem(); break;
                case "prem1": asm.fprem1(); break;
                case "rndint": asm.frndint(); break;
                case "scale": asm.fscale(); break;
                case "com": asm.fcom(st0, st1); break;
                case "ucom": asm.fucom(st0, st1); break;
                case "comi": asm.fcomi(st0, st1); break;
                case "ucomi": asm.fucomi(st0, st1); break;
                case "xtract": asm.fxtract(); break;
                case "fist16": asm.fistp(__word_ptr[rbx + OffR]); break;
                case "fist32": asm.fistp(__dword_ptr[rbx + OffR]); break;
                case "fist64": asm.fistp(__qword_ptr[rbx + OffR]); break;
                case "fisttp16": asm.fisttp(__word_ptr[rbx + OffR]); break;
                case "fisttp32": asm.fisttp(__dword_ptr[rbx + OffR]); break;
                case "fisttp64": asm.fisttp(__qword_ptr[rbx + OffR]); break;
                case "fst32": asm.fstp(__dword_ptr[rbx + OffR]); break;
                case "fst64": asm.fstp(__qword_ptr[rbx + OffR]); break;
                case "fbstp": asm.fbstp(__tword_ptr[rbx + OffR]); break;
                case "fadd32": asm.fadd(__dword_ptr[rbx + OffSrc]); break;
                case "fmul64": asm.fmul(__qword_ptr[rbx + OffSrc]); break;
                case "fidiv32": asm.fidiv(__dword_ptr[rbx + OffSrc]); break;
                case "fld32": case "fld64": break;
                default: throw new InvalidOperationException(op);
            }
            asm.fnstsw(ax);
            if (storeBits == 0 && op is not ("fbstp" or "comi" or "ucomi" or "com" or "ucom")) asm.fstp(__tword_ptr[rbx + OffR]);
        }, env =>
        {
            Write16(env, OffCw, cw);
            WriteF80(env, OffA, a);
            WriteF80(env, OffB, b);
            Write64(env, OffSrc, b.Mantissa);
        });
        using var _ = env;
        AssertStop("int3", stop);
        var c = env.Cpu;
        ushort gotSw = (ushort)c.R(Reg.Rax);
        Assert.Equal(sw & 0x7F, gotSw & 0x7F);
        Assert.Equal(sw & ccMask, gotSw & ccMask);
        switch (op)
        {
            case "comi":
            case "ucomi":
                Assert.Equal(extra, c.GetRflags() & 0x8D5);
                break;
            case "com":
            case "ucom":
                break;
            case "fbstp":
                Assert.Equal(r, ReadF80(env, OffR));
                break;
            default:
                if (storeBits != 0)
                    Assert.Equal(r.Mantissa, Read64(env, OffR) & (storeBits == 64 ? ulong.MaxValue : (1UL << storeBits) - 1));
                else
                    Assert.Equal(r, ReadF80(env, OffR));
                break;
        }
    }
}
