using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Loaders;
using static HyperLock.Emulator.Tests.Processor.X87.X87Kit;

namespace HyperLock.Emulator.Tests.Processor.X87;

/// <summary>
/// Regressions for x87 mismatches the differential tester found against the host CPU. Every
/// expected value below was observed on the host (AMD EPYC) by executing the same bytes from
/// the same state (FLDENV-loaded status and tag words, all exceptions masked) and reading
/// FXSAVE; the emulator must reproduce it bit for bit (status word with TOP and C0-C3, abridged
/// tag word, register contents, RFLAGS where relevant).
/// </summary>
public class X87HostRegressionTests
{
    private static readonly Float80 Indefinite = F(0xFFFF, 0xC000000000000000);

    /// <summary>Runs the raw instruction bytes from the given x87 state (physical registers).</summary>
    private static SnippetEnvironment Exec(byte[] code, ushort fsw, byte ftw, params (int Phys, Float80 Value)[] regs) =>
        ExecCw(code, Cpu.FpuInitControl, fsw, ftw, regs);

    /// <summary>As <see cref="Exec"/> with a control word (all exceptions stay masked).</summary>
    private static SnippetEnvironment ExecCw(byte[] code, ushort fcw, ushort fsw, byte ftw, params (int Phys, Float80 Value)[] regs)
    {
        var (env, stop) = Run(a =>
        {
            foreach (byte b in code) a.db(b);
        }, env =>
        {
            var c = env.Cpu;
            c.FpuControl = fcw;
            c.FpuStatus = fsw;
            c.FpuAbridgedTag = ftw;
            foreach (var (p, v) in regs) c.FpuRegs[p] = v;
        });
        AssertStop("int3", stop);
        return env;
    }

    private static Float80 Phys(SnippetEnvironment env, int p) => env.Cpu.FpuRegs[p];

    // ---- item 5: FCMOVcc / FCOMI family leave C1 unchanged ---------------------------------------

    [Fact]
    public void FcomiWithoutUnderflowKeepsC1()
    {
        // db f0 = fcomi st,st(0); TOP = 2, R2 = -1316.xx. Host: fsw 0x5200 (C1 kept), ZF = 1.
        using var env = Exec([0xDB, 0xF0], 0x5200, 0x04, (2, F(0xC00A, 0xA4D4000000000000)));
        Assert.Equal(0x5200, env.Cpu.FpuStatus);
        Assert.Equal(0x04, env.Cpu.FpuAbridgedTag);
        Assert.Equal(Bits.Zf, env.Cpu.GetRflags() & (Bits.Zf | Bits.Pf | Bits.Cf));
    }

    [Fact]
    public void FcmovWithoutUnderflowKeepsC1()
    {
        // da c1 = fcmovb st,st(1) with CF = 0 (no move); TOP = 0, R0 = 1.0, R1 = 2.0. Host: fsw 0x0200.
        using var env = Exec([0xDA, 0xC1], 0x0200, 0x03, (0, F(0x3FFF, 0x8000000000000000)), (1, F(0x4000, 0x8000000000000000)));
        Assert.Equal(0x0200, env.Cpu.FpuStatus);
        Assert.Equal(F(0x3FFF, 0x8000000000000000), Phys(env, 0));
    }

    [Fact]
    public void FcmovOnUnderflowClearsC1AndLoadsIndefinite()
    {
        // da c1 from an empty stack with C1 = 1. Host: fsw 0x0041, ftw 0x01, ST(0) = indefinite.
        using var env = Exec([0xDA, 0xC1], 0x0200, 0x00);
        Assert.Equal(0x0041, env.Cpu.FpuStatus);
        Assert.Equal(0x01, env.Cpu.FpuAbridgedTag);
        Assert.Equal(Indefinite, Phys(env, 0));
    }

    // ---- item 6: FLD ST(i), empty source beats a full push slot ---------------------------------

    [Fact]
    public void FldEmptyRegisterOntoFullSlotReportsUnderflow()
    {
        // d9 c2 = fld st(2); TOP = 6, only R5 (the push slot) full, ST(2) = R0 empty.
        // Host: fsw 0x2941 (TOP 5, IE|SF, C1 = 0, C0 kept), ftw 0x20, ST(0) = indefinite.
        using var env = Exec([0xD9, 0xC2], 0x3300, 0x20, (5, F(0x7FFF, 0xA000000000000000)));
        Assert.Equal(0x2941, env.Cpu.FpuStatus);
        Assert.Equal(0x20, env.Cpu.FpuAbridgedTag);
        Assert.Equal(Indefinite, Phys(env, 5));
    }

    [Fact]
    public void FldValidRegisterOntoFullSlotReportsOverflow()
    {
        // Same with ST(2) = R0 full. Host: fsw 0x2b41 (C1 = 1), ftw 0x21, ST(0) = indefinite.
        using var env = Exec([0xD9, 0xC2], 0x3300, 0x21, (0, F(0x3FFF, 0x8000000000000000)), (5, F(0x4004, 0x8000000000000005)));
        Assert.Equal(0x2B41, env.Cpu.FpuStatus);
        Assert.Equal(0x21, env.Cpu.FpuAbridgedTag);
        Assert.Equal(Indefinite, Phys(env, 5));
    }

    // ---- item 7: FSTPNCE (d9 d8+i) ------------------------------------------------------------

    [Fact]
    public void FstpnceOnEmptyStackJustPops()
    {
        // d9 de = fstpnce st(6) from the FNINIT state. Host: fsw 0x0800, ftw 0x00, no exception.
        using var env = Exec([0xD9, 0xDE], 0x0000, 0x00);
        Assert.Equal(0x0800, env.Cpu.FpuStatus);
        Assert.Equal(0x00, env.Cpu.FpuAbridgedTag);
    }

    [Fact]
    public void FstpnceWithEmptyTopLeavesTargetUntouched()
    {
        // ST(0) = R0 empty, ST(6) = R6 full, C1 = 1. Host: fsw 0x0800, ftw 0x40, R6 unchanged.
        var r6 = F(0x4005, 0x8000000000000006);
        using var env = Exec([0xD9, 0xDE], 0x0200, 0x40, (6, r6));
        Assert.Equal(0x0800, env.Cpu.FpuStatus);
        Assert.Equal(0x40, env.Cpu.FpuAbridgedTag);
        Assert.Equal(r6, Phys(env, 6));
    }

    [Fact]
    public void FstpnceCopiesAndPopsAndClearsC1()
    {
        // ST(0) = R0 = 1.0, C1 = 1. Host: fsw 0x0800, ftw 0x40, R6 = 1.0.
        var one = F(0x3FFF, 0x8000000000000000);
        using var env = Exec([0xD9, 0xDE], 0x0200, 0x01, (0, one));
        Assert.Equal(0x0800, env.Cpu.FpuStatus);
        Assert.Equal(0x40, env.Cpu.FpuAbridgedTag);
        Assert.Equal(one, Phys(env, 6));
    }

    // ---- item 8: FXTRACT stack faults -----------------------------------------------------------

    [Fact]
    public void FxtractOnEmptyStackPushesTwoIndefinites()
    {
        // d9 f4 from the FNINIT state. Host: fsw 0x3841 (TOP 7, IE|SF), ftw 0x81, ST(0) = ST(1) = indefinite.
        using var env = Exec([0xD9, 0xF4], 0x0000, 0x00);
        Assert.Equal(0x3841, env.Cpu.FpuStatus);
        Assert.Equal(0x81, env.Cpu.FpuAbridgedTag);
        Assert.Equal(Indefinite, Phys(env, 7));
        Assert.Equal(Indefinite, Phys(env, 0));
    }

    [Fact]
    public void FxtractOverflowReplacesTheOperandToo()
    {
        // ST(0) = R0 = 1.0, R7 full, C1 = 1. Host: fsw 0x3a41 (TOP 7, IE|SF, C1 = 1), ftw 0x81, both indefinite.
        using var env = Exec([0xD9, 0xF4], 0x0200, 0x81, (0, F(0x3FFF, 0x8000000000000000)), (7, F(0x4006, 0x8000000000000007)));
        Assert.Equal(0x3A41, env.Cpu.FpuStatus);
        Assert.Equal(0x81, env.Cpu.FpuAbridgedTag);
        Assert.Equal(Indefinite, Phys(env, 7));
        Assert.Equal(Indefinite, Phys(env, 0));
    }

    // ---- item 9: FPREM/FPREM1 condition codes ----------------------------------------------------

    [Fact]
    public void FpremUnderflowClearsC2AndC1()
    {
        // d9 f8 = fprem, fsw 0x0f1e (TOP 1, C0 C1 C2), all empty. Host: fsw 0x095f (C1 = C2 = 0, C0 kept).
        using var env = Exec([0xD9, 0xF8], 0x0F1E, 0x00);
        Assert.Equal(0x095F, env.Cpu.FpuStatus);
        Assert.Equal(0x02, env.Cpu.FpuAbridgedTag);
        Assert.Equal(Indefinite, Phys(env, 1));
    }

    [Theory]
    [InlineData(0xF8, (ushort)0x7FFF, 0x8000000000000000UL, (ushort)0x4101)] // fprem  inf rem x: #IA
    [InlineData(0xF5, (ushort)0x7FFF, 0x8000000000000000UL, (ushort)0x4101)] // fprem1 inf rem x: #IA
    [InlineData(0xF8, (ushort)0x7FFF, 0xC000000000000001UL, (ushort)0x4100)] // fprem  QNaN rem x: NaN propagated
    public void FpremNaNResultKeepsC0AndC3(byte op, ushort se0, ulong m0, ushort expected)
    {
        // fsw 0x4700 (C0-C3 all set), ST(0) = R0, ST(1) = R1 = 1174.0. Host: C1 = C2 = 0, C0 and C3 kept.
        using var env = Exec([0xD9, op], 0x4700, 0x03, (0, F(se0, m0)), (1, F(0x4009, 0x92E0000000000000)));
        Assert.Equal(expected, env.Cpu.FpuStatus);
    }

    [Theory]
    [InlineData(0xF8, (ushort)0x4000, 0x8000000000000000UL, (ushort)0x4300)] // fprem:  quotient 391 = …111b, remainder 2.0
    [InlineData(0xF5, (ushort)0xBFFF, 0x8000000000000000UL, (ushort)0x0000)] // fprem1: quotient 392 = …000b, remainder -1.0
    public void FpremCompleteResultSetsQuotientBits(byte op, ushort rse, ulong rm, ushort expected)
    {
        // ST(0) = 1175.0, ST(1) = 3.0, fsw 0x4700. Host: all of C0-C3 rewritten from the quotient.
        using var env = Exec([0xD9, op], 0x4700, 0x03, (0, F(0x4009, 0x92E0000000000000)), (1, F(0x4000, 0xC000000000000000)));
        Assert.Equal(expected, env.Cpu.FpuStatus);
        Assert.Equal(F(rse, rm), Phys(env, 0));
    }

    // ---- found by probing the host beyond the differential tester (transcendentals are ------
    // ---- excluded there as approximate, but their stack faults and special cases are exact) --

    private static readonly Float80 OneF = F(0x3FFF, 0x8000000000000000);

    [Fact]
    public void FsinUnderflowClearsC2()
    {
        // d9 fe = fsin, empty stack, fsw 0x4700. Host: fsw 0x4141 (C1 = C2 = 0), ST(0) = indefinite.
        using var env = Exec([0xD9, 0xFE], 0x4700, 0x00);
        Assert.Equal(0x4141, env.Cpu.FpuStatus);
        Assert.Equal(Indefinite, Phys(env, 0));
    }

    [Theory]
    [InlineData(0xF2, (byte)0x00)] // fptan, empty stack: underflow
    [InlineData(0xFB, (byte)0x00)] // fsincos, empty stack: underflow
    [InlineData(0xF2, (byte)0x81)] // fptan, ST(0) = R0 valid, R7 full: overflow
    [InlineData(0xFB, (byte)0x81)] // fsincos, overflow
    public void TwoResultTranscendentalStackFaultsFillBothRegisters(byte op, byte ftw)
    {
        // fsw 0x4700. Host: fsw 0x7941 (underflow) / 0x7b41 (overflow): TOP 7, C2 = 0, ftw 0x81,
        // ST(0) and ST(1) both indefinite.
        using var env = Exec([0xD9, op], 0x4700, ftw, (0, OneF), (7, F(0x4006, 0x8000000000000007)));
        Assert.Equal(ftw == 0 ? 0x7941 : 0x7B41, env.Cpu.FpuStatus);
        Assert.Equal(0x81, env.Cpu.FpuAbridgedTag);
        Assert.Equal(Indefinite, Phys(env, 7));
        Assert.Equal(Indefinite, Phys(env, 0));
    }

    [Theory]
    [InlineData(0xFE)] // fsin
    [InlineData(0xFF)] // fcos
    [InlineData(0xF2)] // fptan
    [InlineData(0xFB)] // fsincos
    public void OutOfRangeOperandSetsC2AndClearsC1(byte op)
    {
        // ST(0) = 2^63, fsw 0x4700. Host: fsw 0x4500, operand unchanged, nothing pushed.
        var big = F(0x403F, 0x8000000000000000);
        using var env = Exec([0xD9, op], 0x4700, 0x01, (0, big));
        Assert.Equal(0x4500, env.Cpu.FpuStatus);
        Assert.Equal(0x01, env.Cpu.FpuAbridgedTag);
        Assert.Equal(big, Phys(env, 0));
    }

    [Theory]
    [InlineData((ushort)0xFFFF, 0xC000000000000123UL, (ushort)0xFFFF, 0xC000000000000123UL, (ushort)0x7900)] // QNaN
    [InlineData((ushort)0x7FFF, 0x8000000000000123UL, (ushort)0x7FFF, 0xC000000000000123UL, (ushort)0x7901)] // SNaN: #IA, quieted
    [InlineData((ushort)0x7FFF, 0x8000000000000000UL, (ushort)0xFFFF, 0xC000000000000000UL, (ushort)0x7901)] // +inf: #IA, indefinite
    public void FptanOfSpecialOperandPushesTheNaNResult(ushort se, ulong m, ushort rse, ulong rm, ushort fsw)
    {
        // d9 f2 = fptan, fsw 0x4700. Host: both ST(0) and ST(1) hold the NaN result (no 1.0).
        using var env = Exec([0xD9, 0xF2], 0x4700, 0x01, (0, F(se, m)));
        Assert.Equal(fsw, env.Cpu.FpuStatus);
        Assert.Equal(0x81, env.Cpu.FpuAbridgedTag);
        Assert.Equal(F(rse, rm), Phys(env, 0));
        Assert.Equal(F(rse, rm), Phys(env, 7));
    }

    [Fact]
    public void FcosOfZeroIsExact()
    {
        // d9 ff = fcos of +0, fsw 0x4700. Host: fsw 0x4100 (no #P, C1 = C2 = 0), ST(0) = 1.0.
        using var env = Exec([0xD9, 0xFF], 0x4700, 0x01, (0, F(0, 0)));
        Assert.Equal(0x4100, env.Cpu.FpuStatus);
        Assert.Equal(OneF, Phys(env, 0));
    }

    [Theory]
    [InlineData(0xFE, 0x037F, (ushort)0x0000, 0x10UL, (ushort)0x0000, 0x10UL, (ushort)0x0032)]                              // fsin denormal (every RC)
    [InlineData(0xFE, 0x077F, (ushort)0x8000, 0x10UL, (ushort)0x8000, 0x10UL, (ushort)0x0032)]                              // fsin -denormal, RC down
    [InlineData(0xFF, 0x0B7F, (ushort)0x0000, 0x10UL, (ushort)0x3FFF, 0x8000000000000000UL, (ushort)0x0022)]                // fcos denormal, RC up
    [InlineData(0xFE, 0x037F, (ushort)0x3FD7, 0x8000000000000000UL, (ushort)0x3FD7, 0x8000000000000000UL, (ushort)0x0220)]  // fsin 2^-40, nearest
    [InlineData(0xFE, 0x077F, (ushort)0x3FD7, 0x8000000000000000UL, (ushort)0x3FD6, 0xFFFFFFFFFFFFFFFFUL, (ushort)0x0020)]  // fsin 2^-40, down
    [InlineData(0xFE, 0x077F, (ushort)0xBFD7, 0x8000000000000001UL, (ushort)0xBFD7, 0x8000000000000001UL, (ushort)0x0220)]  // fsin -2^-40(1+2^-63), down
    [InlineData(0xFF, 0x0F7F, (ushort)0x3FD7, 0x8000000000000000UL, (ushort)0x3FFE, 0xFFFFFFFFFFFFFFFFUL, (ushort)0x0020)]  // fcos 2^-40, toward zero
    [InlineData(0xFF, 0x037F, (ushort)0x3FD7, 0x8000000000000000UL, (ushort)0x3FFF, 0x8000000000000000UL, (ushort)0x0220)]  // fcos 2^-40, nearest
    public void TinyOperandsRoundLikeTheHost(byte op, int fcw, ushort se, ulong m, ushort rse, ulong rm, ushort fsw)
    {
        // fsw 0, ST(0) = R0. Host values (AMD EPYC); the double-precision path would flush the denormals to 0.
        using var env = ExecCw([0xD9, op], (ushort)fcw, 0x0000, 0x01, (0, F(se, m)));
        Assert.Equal(fsw, env.Cpu.FpuStatus);
        Assert.Equal(F(rse, rm), Phys(env, 0));
    }
}
