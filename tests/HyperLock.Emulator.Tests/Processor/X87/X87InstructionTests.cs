using HyperLock.Emulator.Processor;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using static HyperLock.Emulator.Tests.Processor.X87.X87Kit;

namespace HyperLock.Emulator.Tests.Processor.X87;

/// <summary>x87 instruction semantics: precision, rounding, stack faults, condition codes, integer stores, control.</summary>
public class X87InstructionTests
{
    private static readonly Float80 One = F(0x3FFF, 0x8000000000000000);
    private static readonly Float80 Three = F(0x4000, 0xC000000000000000);

    // ---- precision and rounding control -------------------------------------------------------

    /// <summary>
    /// 1/3 = 1.0101…b × 2^-2, significand AAAA… repeating. Hand-rounded: PC=64 keeps 64 bits and
    /// the rest (1010…) is above one half → …AAAB (C1 = 1); PC=53 drops 11 bits 010 1010 1010…
    /// (below half) → …A800 (C1 = 0); PC=24 drops 40 bits AAAAAAAAAA… (above half) → AAAAAB…
    /// (C1 = 1). All inexact (PE).
    /// </summary>
    [Theory]
    [InlineData(0x037F, 0xAAAAAAAAAAAAAAABUL, true)]
    [InlineData(0x027F, 0xAAAAAAAAAAAAA800UL, false)]
    [InlineData(0x007F, 0xAAAAAB0000000000UL, true)]
    public void DivisionHonoursPrecisionControl(int cw, ulong mantissa, bool roundedUp)
    {
        var (env, stop) = Run(a =>
        {
            a.fldcw(__word_ptr[rbx]);
            a.fld(__tword_ptr[rbx + 16]);
            a.fld(__tword_ptr[rbx + 32]);
            a.fdivrp(st1, st0); // ST1 = ST0 / ST1 = 1 / 3, pop
            a.fnstsw(ax);
            a.fstp(__tword_ptr[rbx + 48]);
        }, env =>
        {
            Write16(env, 0, (ushort)cw);
            WriteF80(env, 16, Three);
            WriteF80(env, 32, One);
        });
        using var _ = env;
        AssertStop("int3", stop);
        Assert.Equal(F(0x3FFD, mantissa), ReadF80(env, 48));
        ushort sw = (ushort)env.Cpu.R(Reg.Rax);
        Assert.Equal(Cpu.FswPe, sw & 0x3F);
        Assert.Equal(roundedUp, (sw & Cpu.FswC1) != 0);
    }

    /// <summary>1 + 2^-64 at PC=64: exactly halfway between 1 and 1 + 2^-63. Nearest-even gives 1;
    /// up gives 1 + 2^-63; down and toward zero give 1.</summary>
    [Theory]
    [InlineData(0, 0x8000000000000000UL)]
    [InlineData(1, 0x8000000000000000UL)]
    [InlineData(2, 0x8000000000000001UL)]
    [InlineData(3, 0x8000000000000000UL)]
    public void AdditionTieRoundsPerRoundingControl(int rc, ulong mantissa)
    {
        var (env, stop) = Run(a =>
        {
            a.fldcw(__word_ptr[rbx]);
            a.fld(__tword_ptr[rbx + 16]);
            a.fld(__tword_ptr[rbx + 32]);
            a.faddp(st1, st0);
            a.fstp(__tword_ptr[rbx + 48]);
        }, env =>
        {
            Write16(env, 0, (ushort)(0x037F | (rc << 10)));
            WriteF80(env, 16, One);
            WriteF80(env, 32, F(0x3FFF - 64, 0x8000000000000000));
        });
        using var _ = env;
        AssertStop("int3", stop);
        Assert.Equal(F(0x3FFF, mantissa), ReadF80(env, 48));
        Assert.NotEqual(0, env.Cpu.FpuStatus & Cpu.FswPe);
    }

    [Fact]
    public void SqrtOfTwoAndFsqrtOfNegativeGivesIndefinite()
    {
        // sqrt(2) to 64 bits, nearest: B504F333F9DE6484 (rest 0x597D89B3… below half) — the
        // well-known extended-precision value of M_SQRT2, also what the host's fsqrt returns.
        var (env, stop) = Run(a =>
        {
            a.fld(__tword_ptr[rbx + 16]);
            a.fsqrt();
            a.fstp(__tword_ptr[rbx + 48]);
            a.fld(__tword_ptr[rbx + 32]);
            a.fsqrt();
            a.fnstsw(ax);
            a.fstp(__tword_ptr[rbx + 64]);
        }, env =>
        {
            WriteF80(env, 16, F(0x4000, 0x8000000000000000));
            WriteF80(env, 32, F(0xBFFF, 0x8000000000000000));
        });
        using var _ = env;
        AssertStop("int3", stop);
        Assert.Equal(F(0x3FFF, 0xB504F333F9DE6484), ReadF80(env, 48));
        Assert.Equal(Float80.Indefinite, ReadF80(env, 64));
        Assert.Equal((ulong)(Cpu.FswIe | Cpu.FswPe), env.Cpu.R(Reg.Rax) & 0x7F); // PE is sticky from sqrt(2)
    }

    // ---- m80 round trips ----------------------------------------------------------------------

    public static IEnumerable<object[]> Extended80Encodings() =>
    [
        [(ushort)0x3FFF, 0x8000000000000000UL], // 1.0
        [(ushort)0x0000, 0x0000000000000001UL], // smallest denormal
        [(ushort)0x8000, 0x7FFFFFFFFFFFFFFFUL], // largest negative denormal
        [(ushort)0x0000, 0x8000000000000123UL], // pseudo-denormal
        [(ushort)0x4000, 0x4000000000000000UL], // unnormal
        [(ushort)0x7FFF, 0x8000000000000000UL], // +infinity
        [(ushort)0xFFFF, 0x0000000000000000UL], // pseudo-infinity
        [(ushort)0x7FFF, 0x4000000000000001UL], // pseudo-NaN
        [(ushort)0x7FFF, 0x8000000000000001UL], // SNaN
        [(ushort)0xFFFF, 0xC000000000000000UL], // QNaN indefinite
        [(ushort)0x7FFE, 0xFFFFFFFFFFFFFFFFUL], // largest finite
        [(ushort)0x8000, 0x0000000000000000UL], // -0
    ];

    /// <summary>FLD m80 → FLD ST(0) → FXCH → FSTP ST(1) → FSTP m80 keeps every encoding bit-exact, without exceptions.</summary>
    [Theory]
    [MemberData(nameof(Extended80Encodings))]
    public void Extended80RoundTripsBitExact(ushort signExp, ulong mantissa)
    {
        var v = F(signExp, mantissa);
        var (env, stop) = Run(a =>
        {
            a.fld(__tword_ptr[rbx + 16]);
            a.fld(st0);
            a.fxch(st0, st1);
            a.fstp(st1);
            a.fstp(__tword_ptr[rbx + 48]);
            a.fnstsw(ax);
        }, env => WriteF80(env, 16, v));
        using var _ = env;
        AssertStop("int3", stop);
        Assert.Equal(v, ReadF80(env, 48));
        Assert.Equal(0UL, env.Cpu.R(Reg.Rax) & 0x7F);
        Assert.Equal(0, env.Cpu.FpuValid);
    }

    [Fact]
    public void DoubleDenormalLoadRaisesDenormalAndWidensExactly()
    {
        var (env, stop) = Run(a =>
        {
            a.fld(__qword_ptr[rbx + 16]);
            a.fnstsw(ax);
            a.fstp(__tword_ptr[rbx + 48]);
            a.fld(__tword_ptr[rbx + 48]);
            a.fstp(__qword_ptr[rbx + 64]);
        }, env => Write64(env, 16, 1)); // smallest double denormal, 2^-1074
        using var _ = env;
        AssertStop("int3", stop);
        Assert.Equal(F(0x3FFF - 1074, 0x8000000000000000), ReadF80(env, 48));
        Assert.Equal(Cpu.FswDe, env.Cpu.R(Reg.Rax) & 0x7F);
        Assert.Equal(1UL, Read64(env, 64));
    }

    // ---- stack faults -------------------------------------------------------------------------

    /// <summary>Host: nine FLD1 → FSW 3A41 (TOP 7, C1 = 1, SF, IE); the ninth push stores the indefinite.</summary>
    [Fact]
    public void StackOverflowSetsC1AndPushesIndefinite()
    {
        var (env, stop) = Run(a =>
        {
            for (int k = 0; k < 9; k++) a.fld1();
            a.fnstsw(ax);
            a.fstp(__tword_ptr[rbx + 48]);
        });
        using var _ = env;
        AssertStop("int3", stop);
        Assert.Equal(0x3A41UL, env.Cpu.R(Reg.Rax) & 0xFFFF);
        Assert.Equal(Float80.Indefinite, ReadF80(env, 48));
    }

    /// <summary>Host: FLD1; FADD ST(0), ST(3) with ST(3) empty → FSW 3841 (C1 = 0, SF, IE); ST(0) becomes the indefinite.</summary>
    [Fact]
    public void StackUnderflowClearsC1AndWritesIndefinite()
    {
        var (env, stop) = Run(a =>
        {
            a.fld1();
            a.fadd(st0, st3);
            a.fnstsw(ax);
            a.fstp(__tword_ptr[rbx + 48]);
        });
        using var _ = env;
        AssertStop("int3", stop);
        Assert.Equal(0x3841UL, env.Cpu.R(Reg.Rax) & 0xFFFF);
        Assert.Equal(Float80.Indefinite, ReadF80(env, 48));
    }

    [Fact]
    public void UnmaskedStackFaultLeavesStateAndRaisesMfAtNextWaitingInstruction()
    {
        var (env, stop) = Run(a =>
        {
            a.fldcw(__word_ptr[rbx]);
            a.fstp(__qword_ptr[rbx + 48]); // empty ST(0): #IS, unmasked → nothing stored
            a.fnstsw(ax);                  // non-waiting: no #MF
            a.mov(ecx, 1);
            a.fnop();                      // waiting: #MF here
            a.mov(ecx, 2);
        }, env =>
        {
            Write16(env, 0, 0x037E); // IM = 0
            Write64(env, 48, 0x1122334455667788);
        });
        using var _ = env;
        Assert.Equal("#MF", stop.ToString());
        Assert.Equal(1UL, env.Cpu.R(Reg.Rcx));
        ushort sw = (ushort)env.Cpu.R(Reg.Rax);
        Assert.Equal(Cpu.FswIe | Cpu.FswSf | Cpu.FswEs | Cpu.FswB, sw & 0x80FF);
        Assert.Equal(0x1122334455667788UL, Read64(env, 48));
        Assert.Equal(0, env.Cpu.FpuTop);
    }

    // ---- condition codes ----------------------------------------------------------------------

    /// <summary>FCOM: greater → C3 C2 C0 = 000, less → 001, equal → 100, unordered (NaN) → 111; C1 = 0.</summary>
    [Theory]
    [InlineData((ushort)0x4000, 0x8000000000000000UL, 0x0000)]                // 2 vs 1: greater
    [InlineData((ushort)0x3FFE, 0x8000000000000000UL, 0x0100)]                // 0.5 vs 1: less
    [InlineData((ushort)0x3FFF, 0x8000000000000000UL, 0x4000)]                // equal
    [InlineData((ushort)0x7FFF, 0xC000000000000000UL, 0x4500)]                // QNaN: unordered (+ IE for FCOM)
    public void FcomSetsConditionCodes(ushort se, ulong m, int cc)
    {
        var (env, stop) = Run(a =>
        {
            a.fld1();
            a.fld(__tword_ptr[rbx + 16]);
            a.fcom(st0, st1);
            a.fnstsw(ax);
        }, env => WriteF80(env, 16, F(se, m)));
        using var _ = env;
        AssertStop("int3", stop);
        ushort sw = (ushort)env.Cpu.R(Reg.Rax);
        Assert.Equal(cc, sw & 0x4700);
        Assert.Equal(cc == 0x4500 ? Cpu.FswIe : 0, sw & 0x3F);
    }

    [Fact]
    public void FucomppQuietNaNIsUnorderedWithoutInvalidAndPopsTwice()
    {
        var (env, stop) = Run(a =>
        {
            a.fld1();
            a.fld(__tword_ptr[rbx + 16]);
            a.fucompp();
            a.fnstsw(ax);
        }, env => WriteF80(env, 16, F(0x7FFF, 0xC000000000000000)));
        using var _ = env;
        AssertStop("int3", stop);
        ushort sw = (ushort)env.Cpu.R(Reg.Rax);
        Assert.Equal(0x4500, sw & 0x4700);
        Assert.Equal(0, sw & 0x3F);
        Assert.Equal(0, (sw >> 11) & 7);
        Assert.Equal(0, env.Cpu.FpuValid);
    }

    /// <summary>FCOMI/FUCOMIP: ZF, PF, CF = 000 greater, 001 less, 100 equal, 111 unordered; OF, SF, AF cleared.</summary>
    [Theory]
    [InlineData((ushort)0x4000, 0x8000000000000000UL, 0x000UL)]
    [InlineData((ushort)0xBFFF, 0x8000000000000000UL, 0x001UL)]
    [InlineData((ushort)0x3FFF, 0x8000000000000000UL, 0x040UL)]
    [InlineData((ushort)0x7FFF, 0xC000000000000001UL, 0x045UL)]
    public void FucomipSetsEflags(ushort se, ulong m, ulong flags)
    {
        var (env, stop) = Run(a =>
        {
            a.mov(eax, 0xFFFFFFFF);
            a.add(eax, 1);              // sets CF, ZF, AF, PF; clears SF, OF
            a.sub(eax, 0x7FFFFFFF);     // sets SF, OF? (0 - 0x7FFFFFFF): leaves mixed flags
            a.fld1();
            a.fld(__tword_ptr[rbx + 16]);
            a.fucomip(st0, st1);
        }, env => WriteF80(env, 16, F(se, m)));
        using var _ = env;
        AssertStop("int3", stop);
        Assert.Equal(flags, env.Cpu.GetRflags() & 0x8D5);
        Assert.Equal(0, env.Cpu.FpuStatus & 0x3F);
        Assert.Equal(7, env.Cpu.FpuTop);
    }

    [Theory]
    [InlineData((ushort)0x0000, 0x0000000000000000UL, false, 0x4000)] // zero: C3
    [InlineData((ushort)0x8000, 0x0000000000000001UL, false, 0x4600)] // -denormal: C3 C2, C1 = sign
    [InlineData((ushort)0x3FFF, 0x8000000000000000UL, false, 0x0400)] // normal: C2
    [InlineData((ushort)0xFFFF, 0x8000000000000000UL, false, 0x0700)] // -infinity: C2 C0, C1
    [InlineData((ushort)0x7FFF, 0xC000000000000000UL, false, 0x0100)] // NaN: C0
    [InlineData((ushort)0x4000, 0x4000000000000000UL, false, 0x0000)] // unnormal: unsupported
    [InlineData((ushort)0x0000, 0x0000000000000000UL, true, 0x4100)]  // empty: C3 C0 (host: 4100)
    public void FxamClassifies(ushort se, ulong m, bool empty, int cc)
    {
        var (env, stop) = Run(a =>
        {
            if (!empty) a.fld(__tword_ptr[rbx + 16]);
            a.fxam();
            a.fnstsw(ax);
        }, env => WriteF80(env, 16, F(se, m)));
        using var _ = env;
        AssertStop("int3", stop);
        Assert.Equal(cc, (int)(env.Cpu.R(Reg.Rax) & 0x4700));
    }

    // ---- integer conversions ------------------------------------------------------------------

    [Theory]
    [InlineData(0, 2.5, 2L)]
    [InlineData(1, 2.5, 2L)]
    [InlineData(2, 2.5, 3L)]
    [InlineData(3, 2.5, 2L)]
    [InlineData(0, -2.5, -2L)]
    [InlineData(1, -2.5, -3L)]
    [InlineData(2, -2.5, -2L)]
    [InlineData(3, -2.5, -2L)]
    [InlineData(0, 3.5, 4L)]
    [InlineData(0, -0.5, 0L)]
    [InlineData(1, -0.25, -1L)]
    [InlineData(2, 0.25, 1L)]
    public void FistpRoundsPerRoundingControl(int rc, double value, long expected)
    {
        var (env, stop) = Run(a =>
        {
            a.fldcw(__word_ptr[rbx]);
            a.fld(__qword_ptr[rbx + 16]);
            a.fistp(__qword_ptr[rbx + 48]);
            a.fnstsw(ax);
        }, env =>
        {
            Write16(env, 0, (ushort)(0x037F | (rc << 10)));
            Write64(env, 16, BitConverter.DoubleToUInt64Bits(value));
        });
        using var _ = env;
        AssertStop("int3", stop);
        Assert.Equal(expected, (long)Read64(env, 48));
        ushort sw = (ushort)env.Cpu.R(Reg.Rax);
        Assert.Equal(Cpu.FswPe, sw & 0x3F);
        Assert.Equal(Math.Abs((double)expected) > Math.Abs(value), (sw & Cpu.FswC1) != 0);
    }

    [Fact]
    public void FisttpTruncatesRegardlessOfRoundingControl()
    {
        var (env, stop) = Run(a =>
        {
            a.fldcw(__word_ptr[rbx]);
            a.fld(__qword_ptr[rbx + 16]);
            a.fisttp(__dword_ptr[rbx + 48]);
        }, env =>
        {
            Write16(env, 0, 0x0B7F); // round up
            Write64(env, 16, BitConverter.DoubleToUInt64Bits(-2.7));
        });
        using var _ = env;
        AssertStop("int3", stop);
        Assert.Equal(unchecked((uint)-2), Read32(env, 48));
    }

    /// <summary>Out-of-range integer stores give the integer indefinite (most negative value) with #IA;
    /// the most negative value itself converts exactly.</summary>
    [Theory]
    [InlineData(2, 32768.0, 0x8000UL, true)]
    [InlineData(2, -32768.0, 0x8000UL, false)]
    [InlineData(2, -32769.0, 0x8000UL, true)]
    [InlineData(4, 2147483648.0, 0x80000000UL, true)]
    [InlineData(4, -2147483648.0, 0x80000000UL, false)]
    [InlineData(8, 9223372036854775808.0, 0x8000000000000000UL, true)]
    [InlineData(8, -9223372036854775808.0, 0x8000000000000000UL, false)]
    [InlineData(8, double.NaN, 0x8000000000000000UL, true)]
    [InlineData(4, double.NegativeInfinity, 0x80000000UL, true)]
    public void FistpOverflowGivesIntegerIndefinite(int size, double value, ulong stored, bool invalid)
    {
        var (env, stop) = Run(a =>
        {
            a.fld(__qword_ptr[rbx + 16]);
            switch (size)
            {
                case 2: a.fistp(__word_ptr[rbx + 48]); break;
                case 4: a.fistp(__dword_ptr[rbx + 48]); break;
                default: a.fistp(__qword_ptr[rbx + 48]); break;
            }
            a.fnstsw(ax);
        }, env =>
        {
            Write64(env, 16, BitConverter.DoubleToUInt64Bits(value));
            Write64(env, 48, 0x5555555555555555);
        });
        using var _ = env;
        AssertStop("int3", stop);
        ulong mask = size == 8 ? ulong.MaxValue : (1UL << (size * 8)) - 1;
        Assert.Equal(stored, Read64(env, 48) & mask);
        Assert.Equal(invalid ? Cpu.FswIe : 0, (int)(env.Cpu.R(Reg.Rax) & 0x3F));
        Assert.Equal(0, env.Cpu.FpuValid); // popped either way (masked response)
    }

    [Fact]
    public void FildAndIntegerArithmeticAreExact()
    {
        var (env, stop) = Run(a =>
        {
            a.fild(__qword_ptr[rbx + 16]);  // -(2^63 - 1)
            a.fiadd(__word_ptr[rbx + 32]);  // + (-1)
            a.fistp(__qword_ptr[rbx + 48]);
            a.fild(__dword_ptr[rbx + 40]);  // 7
            a.fidivr(__dword_ptr[rbx + 44]); // 22 / 7
            a.fstp(__tword_ptr[rbx + 64]);
        }, env =>
        {
            Write64(env, 16, unchecked((ulong)-long.MaxValue));
            Write16(env, 32, 0xFFFF);
            Write32(env, 40, 7);
            Write32(env, 44, 22);
        });
        using var _ = env;
        AssertStop("int3", stop);
        Assert.Equal(unchecked((ulong)long.MinValue), Read64(env, 48));
        // 22/7 = 3.142857… = 1.1001001001…b × 2^1: significand C924924924924924|9249… → rounds to …925? The
        // pattern repeats 1001 0010 0100 (0x924): after 64 bits the rest starts with 1001… (> half) → …4925.
        Assert.Equal(F(0x4000, 0xC924924924924925), ReadF80(env, 64));
    }

    // ---- constants ----------------------------------------------------------------------------

    /// <summary>Host values (fldpi … fldln2 under RC = nearest / down / up / zero, printed with FSTP m80).</summary>
    [Theory]
    [InlineData(0, 0xC90FDAA22168C235UL, 0xD49A784BCD1B8AFEUL, 0xB8AA3B295C17F0BCUL, 0x9A209A84FBCFF799UL, 0xB17217F7D1CF79ACUL)]
    [InlineData(1, 0xC90FDAA22168C234UL, 0xD49A784BCD1B8AFEUL, 0xB8AA3B295C17F0BBUL, 0x9A209A84FBCFF798UL, 0xB17217F7D1CF79ABUL)]
    [InlineData(2, 0xC90FDAA22168C235UL, 0xD49A784BCD1B8AFFUL, 0xB8AA3B295C17F0BCUL, 0x9A209A84FBCFF799UL, 0xB17217F7D1CF79ACUL)]
    [InlineData(3, 0xC90FDAA22168C234UL, 0xD49A784BCD1B8AFEUL, 0xB8AA3B295C17F0BBUL, 0x9A209A84FBCFF798UL, 0xB17217F7D1CF79ABUL)]
    public void ConstantsRoundPerRoundingControl(int rc, ulong pi, ulong l2t, ulong l2e, ulong lg2, ulong ln2)
    {
        var (env, stop) = Run(a =>
        {
            a.fldcw(__word_ptr[rbx]);
            a.fldpi(); a.fstp(__tword_ptr[rbx + 16]);
            a.fldl2t(); a.fstp(__tword_ptr[rbx + 32]);
            a.fldl2e(); a.fstp(__tword_ptr[rbx + 48]);
            a.fldlg2(); a.fstp(__tword_ptr[rbx + 64]);
            a.fldln2(); a.fstp(__tword_ptr[rbx + 80]);
            a.fld1(); a.fstp(__tword_ptr[rbx + 96]);
            a.fldz(); a.fstp(__tword_ptr[rbx + 112]);
        }, env => Write16(env, 0, (ushort)(0x037F | (rc << 10))));
        using var _ = env;
        AssertStop("int3", stop);
        Assert.Equal(F(0x4000, pi), ReadF80(env, 16));
        Assert.Equal(F(0x4000, l2t), ReadF80(env, 32));
        Assert.Equal(F(0x3FFF, l2e), ReadF80(env, 48));
        Assert.Equal(F(0x3FFD, lg2), ReadF80(env, 64));
        Assert.Equal(F(0x3FFE, ln2), ReadF80(env, 80));
        Assert.Equal(One, ReadF80(env, 96));
        Assert.Equal(Float80.Zero, ReadF80(env, 112));
    }

    // ---- control -----------------------------------------------------------------------------

    /// <summary>Host: FLDCW FFFF → FNSTCW 1F7F; FLDCW 0000 → 0040 (bit 6 reads 1, bits 15:13 read 0).</summary>
    [Theory]
    [InlineData(0xFFFF, 0x1F7F)]
    [InlineData(0x0000, 0x0040)]
    public void FldcwStoresOnlyDefinedBits(int written, int read)
    {
        var (env, stop) = Run(a =>
        {
            a.fldcw(__word_ptr[rbx]);
            a.fnstcw(__word_ptr[rbx + 2]);
            a.fninit();
        }, env => Write16(env, 0, (ushort)written));
        using var _ = env;
        AssertStop("int3", stop);
        Assert.Equal(read, Read16(env, 2));
    }

    /// <summary>
    /// FNSTENV (32-bit protected layout): host bytes after FNINIT; FLD1 were
    /// 7f 03 ff ff | 00 38 ff ff | ff 3f ff ff | FIP | FCS, FOP | FDP | FDS ff ff. The emulator
    /// also stores FOP (D9 E8 → 0x1E8), as Intel processors do; the host (AMD) stores 0 there.
    /// FLDENV restores it and FNSTENV masks all exceptions afterwards.
    /// </summary>
    [Fact]
    public void FnstenvLayoutAndFldenvRoundTrip()
    {
        var (env, stop) = Run(a =>
        {
            a.fld1();
            a.fnstenv(__[rbx + 16]);
            a.fnstcw(__word_ptr[rbx + 8]);
            a.fninit();
            a.fldenv(__[rbx + 16]);
            a.fnstenv(__[rbx + 64]);
        });
        using var _ = env;
        AssertStop("int3", stop);
        var e = ReadBytes(env, 16, 28);
        Assert.Equal(new byte[] { 0x7F, 0x03, 0xFF, 0xFF, 0x00, 0x38, 0xFF, 0xFF, 0xFF, 0x3F, 0xFF, 0xFF }, e[..12]);
        ulong fldAddress = SnippetEnvironmentCodeBase + (ulong)SnippetRunner.Assemble(a => a.mov(rbx, (long)Scratch)).Length;
        Assert.Equal((uint)fldAddress, BitConverter.ToUInt32(e, 12));
        Assert.Equal(0x2BU | (0x1E8U << 16), BitConverter.ToUInt32(e, 16)); // user CS selector, FOP
        Assert.Equal(0xFFFF0000U, BitConverter.ToUInt32(e, 24) & 0xFFFF0000U);
        Assert.Equal(0x037F, Read16(env, 8)); // already 037F: all masked
        Assert.Equal(e, ReadBytes(env, 64, 28));
        Assert.Equal(One, env.Cpu.St(0));
    }

    private const ulong SnippetEnvironmentCodeBase = Loaders.SnippetEnvironment.CodeBase;

    [Fact]
    public void FnsaveFrstorRoundTripsRegistersAndReinitializes()
    {
        var (env, stop) = Run(a =>
        {
            a.fldpi();
            a.fld(__tword_ptr[rbx]);
            a.fldcw(__word_ptr[rbx + 16]);
            a.fnsave(__[rbx + 32]);
            a.fnstcw(__word_ptr[rbx + 18]);      // after FNSAVE: FNINIT state
            a.fnstsw(__word_ptr[rbx + 20]);
            a.frstor(__[rbx + 32]);
            a.fstp(__tword_ptr[rbx + 160]);
            a.fstp(__tword_ptr[rbx + 176]);
        }, env =>
        {
            WriteF80(env, 0, F(0x0000, 0x8000000000000001)); // pseudo-denormal, kept bit-exact
            Write16(env, 16, 0x0C7F);
        });
        using var _ = env;
        AssertStop("int3", stop);
        Assert.Equal(0x037F, Read16(env, 18));
        Assert.Equal(0, Read16(env, 20));
        Assert.Equal(F(0x0000, 0x8000000000000001), ReadF80(env, 160));
        Assert.Equal(F(0x4000, 0xC90FDAA22168C235), ReadF80(env, 176));
        Assert.Equal(0x0C7F, env.Cpu.FpuControl);
        // The saved image: 28-byte environment then ST(0), ST(1) as 10-byte registers.
        Assert.Equal(F(0x0000, 0x8000000000000001), ReadF80(env, 32 + 28));
        Assert.Equal(F(0x4000, 0xC90FDAA22168C235), ReadF80(env, 32 + 38));
    }

    /// <summary>Host: FLDZ; FLD1; FLDPI → FNSTENV tag word 43FF (R7 zero, R6 and R5 valid, the rest empty).</summary>
    [Fact]
    public void TagWordIsComputedFromContents()
    {
        var (env, stop) = Run(a =>
        {
            a.fldz();
            a.fld1();
            a.fldpi();
            a.fnstenv(__[rbx + 16]);
        });
        using var _ = env;
        AssertStop("int3", stop);
        Assert.Equal(0x43FF, Read16(env, 24));
        Assert.Equal(0x2800, Read16(env, 20));
    }

    [Fact]
    public void FfreeFincstpFdecstpManageTheStack()
    {
        var (env, stop) = Run(a =>
        {
            a.fld1();
            a.fldz();
            a.ffree(st1);
            a.fincstp();
            a.fxam();           // ST(0) is the freed register: empty
            a.fnstsw(ax);
            a.fdecstp();
        });
        using var _ = env;
        AssertStop("int3", stop);
        Assert.Equal(0x4100UL, env.Cpu.R(Reg.Rax) & 0x4700);
        Assert.Equal(6, env.Cpu.FpuTop);
        Assert.False(env.Cpu.StEmpty(0));
        Assert.True(env.Cpu.StEmpty(1));
    }

    [Fact]
    public void FcmovMovesOnCondition()
    {
        var (env, stop) = Run(a =>
        {
            a.fld1();
            a.fldz();
            a.xor(eax, eax);     // ZF = 1, CF = 0
            a.fcmovb(st0, st1);  // not taken
            a.fstp(__tword_ptr[rbx + 16]);
            a.fldz();
            a.fcmove(st0, st1);  // taken
            a.fstp(__tword_ptr[rbx + 32]);
        });
        using var _ = env;
        AssertStop("int3", stop);
        Assert.Equal(Float80.Zero, ReadF80(env, 16));
        Assert.Equal(One, ReadF80(env, 32));
    }

    [Fact]
    public void FpremReducesInStepsAndReportsQuotientBits()
    {
        // 10 rem 3 = 1, quotient 3 = 011b: C0 = 0, C3 = 1, C1 = 1; C2 = 0 (complete).
        var (env, stop) = Run(a =>
        {
            a.fild(__dword_ptr[rbx]);
            a.fild(__dword_ptr[rbx + 4]);
            a.fprem();
            a.fnstsw(ax);
            a.fistp(__dword_ptr[rbx + 8]);
        }, env =>
        {
            Write32(env, 0, 3);
            Write32(env, 4, 10);
        });
        using var _ = env;
        AssertStop("int3", stop);
        Assert.Equal(1U, Read32(env, 8));
        Assert.Equal(Cpu.FswC3 | Cpu.FswC1, (int)(env.Cpu.R(Reg.Rax) & 0x4700));
    }

    // ---- device-not-available and #MF ------------------------------------------------------------

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void EmOrTsRaisesNm(bool em, bool ts)
    {
        var (env, stop) = Run(a => a.fld1(), env =>
        {
            if (em) env.Cpu.Cr0 |= Bits.Cr0Em;
            if (ts) env.Cpu.Cr0 |= Bits.Cr0Ts;
        });
        using var _ = env;
        Assert.Equal("#NM", stop.ToString());
        Assert.Equal(0, env.Cpu.FpuValid);
    }

    [Fact]
    public void WaitRaisesNmOnlyWithMpAndTs()
    {
        var (env, stop) = Run(a =>
        {
            a.mov(ecx, 1);
            a.wait();
            a.mov(ecx, 2);
        }, env => env.Cpu.Cr0 = (env.Cpu.Cr0 | Bits.Cr0Ts) & ~Bits.Cr0Mp);
        using (env)
        {
            AssertStop("int3", stop);
            Assert.Equal(2UL, env.Cpu.R(Reg.Rcx));
        }
        var (env2, stop2) = Run(a => a.wait(), env => env.Cpu.Cr0 |= Bits.Cr0Ts | Bits.Cr0Mp);
        using (env2) Assert.Equal("#NM", stop2.ToString());
    }

    /// <summary>An unmasked #Z: the destination keeps its value, ES and B are set, and the next waiting
    /// instruction (FWAIT) raises #MF; FNCLEX clears the flags so the one after that runs.</summary>
    [Fact]
    public void UnmaskedZeroDivideIsDeliveredAtNextWaitingInstruction()
    {
        var (env, stop) = Run(a =>
        {
            a.fldcw(__word_ptr[rbx]);
            a.fldz();
            a.fld1();
            a.fdiv(st0, st1);
            a.fnstsw(ax);
            a.wait();
        }, env => Write16(env, 0, 0x037B)); // ZM = 0
        using var _ = env;
        Assert.Equal("#MF", stop.ToString());
        ushort sw = (ushort)env.Cpu.R(Reg.Rax);
        Assert.Equal(Cpu.FswZe | Cpu.FswEs | Cpu.FswB, sw & 0x80FF);
        Assert.Equal(One, env.Cpu.St(0));
        env.Cpu.FpuStatus = 0; // as FNCLEX would
        env.Cpu.Rip = env.Cpu.Rip + 1; // past the FWAIT
        Assert.Equal("int3", env.Cpu.Run(10).ToString());
    }

    /// <summary>Unmasked overflow to a register: the result is stored with the exponent re-biased by 24576 (SDM 8.5.4).</summary>
    [Fact]
    public void UnmaskedOverflowStoresRebiasedResult()
    {
        var (env, stop) = Run(a =>
        {
            a.fldcw(__word_ptr[rbx]);
            a.fld(__tword_ptr[rbx + 16]);
            a.fld(st0);
            a.fmulp(st1, st0);
            a.fnstsw(ax);
        }, env =>
        {
            Write16(env, 0, 0x0377); // OM = 0
            WriteF80(env, 16, F(0x7000, 0x8000000000000000));
        });
        using var _ = env;
        AssertStop("int3", stop);
        // 2^(0x7000-0x3FFF) squared = 2^(2*0x3001), biased 0xA001; minus 0x6000 → 0x4001.
        Assert.Equal(F(0x4001, 0x8000000000000000), env.Cpu.St(0));
        Assert.Equal(Cpu.FswOe | Cpu.FswEs | Cpu.FswB, (int)(env.Cpu.R(Reg.Rax) & 0x80FF));
    }

    [Fact]
    public void TranscendentalsAreCloseAndDeterministic()
    {
        var (env2, stop2) = Run(a =>
        {
            a.fldpi();
            a.fld(__qword_ptr[rbx]);        // 0.5
            a.fmulp(st1, st0);              // pi/2
            a.fsin();
            a.fstp(__tword_ptr[rbx + 16]);  // 1.0
            a.fld1();
            a.fld1();
            a.fpatan();                     // atan2(1, 1) = pi/4
            a.fstp(__qword_ptr[rbx + 32]);
            a.fld(__qword_ptr[rbx + 8]);    // 8
            a.fld1();
            a.fxch(st0, st1);
            a.fyl2x();                      // 1 * log2(8) = 3
            a.fistp(__dword_ptr[rbx + 48]);
            a.fld(__tword_ptr[rbx + 64]);   // 2^70: out of range for fsin
            a.fsin();
            a.fnstsw(ax);
        }, env =>
        {
            Write64(env, 0, BitConverter.DoubleToUInt64Bits(0.5));
            Write64(env, 8, BitConverter.DoubleToUInt64Bits(8.0));
            WriteF80(env, 64, F(0x3FFF + 70, 0x8000000000000000));
        });
        using var _ = env2;
        AssertStop("int3", stop2);
        Assert.Equal(One, ReadF80(env2, 16));
        Assert.Equal(Math.PI / 4, BitConverter.UInt64BitsToDouble(Read64(env2, 32)));
        Assert.Equal(3U, Read32(env2, 48));
        Assert.Equal(Cpu.FswC2, (int)(env2.Cpu.R(Reg.Rax) & Cpu.FswC2));
        Assert.Equal(F(0x3FFF + 70, 0x8000000000000000), env2.Cpu.St(0));
    }
}
