using System.Runtime.CompilerServices;
using HyperLock.Emulator.Processor.Decode;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>
/// x87 FPU, FXSAVE/FXRSTOR, XSAVE/XRSTOR/XGETBV/XSETBV. Split by family: X87Load (data
/// transfer, constants, FXCH, FCMOVcc), X87Arith (basic arithmetic and the one-operand
/// operations), X87Compare, X87Control (control/status words, environment, FSAVE/FRSTOR, stack
/// management), X87Transcendental, FxSave, XSave. This file: registration and the pieces every
/// x87 handler shares.
/// <para>
/// Exceptions: CR0.EM = 1 or CR0.TS = 1 → #NM for every x87 instruction (WAIT: CR0.MP and TS).
/// A waiting x87 instruction (every one except FNINIT, FNCLEX, FNSTCW, FNSTSW, FNSTENV, FNSAVE)
/// raises #MF first when FSW.ES is set and CR0.NE = 1; with CR0.NE = 0 the pending exception is
/// not signalled (as if IGNNE# were asserted — the model has no FERR#/IRQ13 wiring). Arithmetic
/// exceptions follow the SDM: masked ones deliver the masked response (QNaN indefinite, integer
/// indefinite, infinities, denormals); unmasked #IA/#D/#Z leave the destination and the stack
/// untouched; unmasked #O/#U store the re-biased result to registers (and nothing to memory);
/// every unmasked exception sets ES and B so that the next waiting instruction raises #MF.
/// </para>
/// </summary>
internal static unsafe partial class X87
{
    private static readonly int CodeCount = Enum.GetValues<Code>().Length;

    /// <summary>Per form: the x87 opcode (FOP) with mod = 0 and rm = 0 for memory forms, rm = 0 for ST(i) forms.</summary>
    private static readonly ushort[] OpcodeBase = new ushort[CodeCount];

    /// <summary>Per form: the arithmetic operation (reg field of the encoding: 0 add, 1 mul, 4 sub, 5 subr, 6 div, 7 divr).</summary>
    private static readonly byte[] ArithOp = new byte[CodeCount];

    public static void Register()
    {
        RegisterLoadStore();
        RegisterArith();
        RegisterCompare();
        RegisterControl();
        RegisterTranscendental();
        RegisterFxSave();
        RegisterXSave();
    }

    /// <summary>Registers a form and records its FOP base from Iced's opcode description.</summary>
    private static void Set(Code code, delegate*<Cpu, ref Insn, void> handler)
    {
        OpTable.Set(code, handler);
        var op = code.ToOpCode();
        uint o = op.OpCode;
        int fop;
        if (op.OpCodeLength == 2) fop = (int)(((o >> 8) & 7) << 8 | (o & 0xFF));
        else fop = (int)((o & 7) << 8) | (op.GroupIndex >= 0 ? op.GroupIndex << 3 : 0);
        OpcodeBase[(int)code] = (ushort)fop;
    }

    // ---- entry checks ----------------------------------------------------------------------

    /// <summary>#NM and pending-#MF checks of a waiting x87 instruction; false when it faulted.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Enter(Cpu c)
    {
        if (((c.Cr0 & (Bits.Cr0Em | Bits.Cr0Ts)) | (uint)(c.FpuSw & Cpu.FswEs)) == 0) return true;
        return EnterSlow(c, waiting: true);
    }

    /// <summary>#NM check of a non-waiting (FN*) instruction.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool EnterNoWait(Cpu c)
    {
        if ((c.Cr0 & (Bits.Cr0Em | Bits.Cr0Ts)) == 0) return true;
        return EnterSlow(c, waiting: false);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static bool EnterSlow(Cpu c, bool waiting)
    {
        if ((c.Cr0 & (Bits.Cr0Em | Bits.Cr0Ts)) != 0)
        {
            c.RaiseFault(Vector.NM);
            return false;
        }
        return !waiting || CheckPending(c);
    }

    /// <summary>Raises #MF for a pending unmasked exception (CR0.NE = 1).</summary>
    private static bool CheckPending(Cpu c)
    {
        if ((c.FpuSw & Cpu.FswEs) != 0 && (c.Cr0 & Bits.Cr0Ne) != 0)
        {
            c.RaiseFault(Vector.MF);
            return false;
        }
        return true;
    }

    // ---- last-instruction pointers ------------------------------------------------------------

    /// <summary>Records FIP/FCS/FOP for a non-control instruction without a memory operand.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Note(Cpu c, ref Insn i)
    {
        c.FpuIp = c.Rip;
        c.FpuCs = c.Segs[Seg.Cs].Selector;
        c.FpuOpcode = (ushort)(OpcodeBase[(int)i.Code] | ((i.R0 | i.R1) & 7));
    }

    /// <summary>Records FIP/FCS/FOP and FDP/FDS for a non-control instruction with a memory operand.</summary>
    private static void NoteMem(Cpu c, ref Insn i)
    {
        c.FpuIp = c.Rip;
        c.FpuCs = c.Segs[Seg.Cs].Selector;
        c.FpuOpcode = (ushort)(OpcodeBase[(int)i.Code] | MemModRm(ref i));
        c.FpuDp = EaOffset(c, ref i);
        c.FpuDs = c.Segs[i.Segment].Selector;
    }

    /// <summary>
    /// The mod and r/m bits of a memory operand's ModRM byte, reconstructed from the decoded
    /// operand for 64/32-bit addressing (16-bit addressing is approximated with the same rule).
    /// FOP is stored for every non-control instruction, as Intel processors do (AMD processors,
    /// such as the development host, store it only with an exception pending).
    /// </summary>
    private static int MemModRm(ref Insn i)
    {
        if (i.Base == Reg.Rip) return 0x05;
        if (i.Base == Reg.None) return 0x04; // SIB with no base (or disp32), mod 00
        bool sib = i.Index != Reg.None || (i.Base & 7) == 4;
        int rm = sib ? 4 : i.Base & 7;
        int ds = (int)i.Raw.MemoryDisplSize;
        int mod = ds == 0 ? ((i.Base & 7) == 5 ? 1 : 0) : ds == 1 ? 1 : 2;
        return (mod << 6) | rm;
    }

    /// <summary>The memory operand's offset within its segment (FDP).</summary>
    private static ulong EaOffset(Cpu c, ref Insn i)
    {
        ulong a = (ulong)i.Disp;
        if (i.Base != Reg.None) a += i.Base == Reg.Rip ? c.Rip : c.R(i.Base);
        if (i.Index != Reg.None) a += c.R(i.Index) << i.Scale;
        if (i.AddrSize != 8) a = i.AddrSize == 4 ? (uint)a : (ushort)a;
        return a;
    }

    // ---- exceptions and results ----------------------------------------------------------------

    /// <summary>Pre-computation exceptions that suppress a register result when unmasked.</summary>
    private const int PreRegister = Fp.IE | Fp.DE | Fp.ZE;

    /// <summary>Exceptions that suppress a memory store when unmasked.</summary>
    private const int PreMemory = Fp.IE | Fp.DE | Fp.ZE | Fp.OE | Fp.UE;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static FpContext Ctx(Cpu c) => FpContext.FromControl(c.FpuControl);

    /// <summary>True when the result may be written: no exception in <paramref name="suppress"/> is unmasked.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool MayCommit(in FpContext ctx, int suppress) => (ctx.Flags & ~ctx.Masks & suppress) == 0;

    /// <summary>Records the operation's exceptions; C1 follows the rounding direction when the result is committed.</summary>
    private static void Record(Cpu c, in FpContext ctx, bool committed)
    {
        if (ctx.Flags != 0) c.FpuRecordExceptions(ctx.Flags);
        if (committed) c.FpuSetC1((ctx.Flags & Fp.C1) != 0);
    }

    /// <summary>
    /// Stack underflow (reading an empty register): #IS with C1 = 0. Returns true when masked
    /// (the caller then delivers the QNaN indefinite).
    /// </summary>
    private static bool StackUnderflow(Cpu c)
    {
        c.FpuRecordExceptions(Fp.IE | Fp.SF);
        c.FpuSetC1(false);
        return (c.FpuControl & Fp.IE) != 0;
    }

    /// <summary>Stack overflow (pushing onto a full register): #IS with C1 = 1. Masked: the indefinite is pushed.</summary>
    private static void StackOverflow(Cpu c)
    {
        c.FpuRecordExceptions(Fp.IE | Fp.SF);
        c.FpuSetC1(true);
        if ((c.FpuControl & Fp.IE) != 0) c.FpuPush(Float80.Indefinite);
    }

    /// <summary>
    /// Stack fault of an instruction that replaces ST(0) and pushes a second result (FXTRACT,
    /// FPTAN, FSINCOS): underflow when ST(0) is empty (C1 = 0), else overflow (ST(7) full,
    /// C1 = 1). The masked response, as observed on the host (AMD EPYC), writes the indefinite to
    /// ST(0) and pushes a second indefinite, in both cases.
    /// </summary>
    private static void TwoResultStackFault(Cpu c)
    {
        bool underflow = c.StEmpty(0);
        c.FpuRecordExceptions(Fp.IE | Fp.SF);
        c.FpuSetC1(!underflow);
        if ((c.FpuControl & Fp.IE) == 0) return;
        SetSt(c, 0, Float80.Indefinite);
        c.FpuPush(Float80.Indefinite);
    }

    /// <summary>Writes a result to ST(i) and marks it valid.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SetSt(Cpu c, int i, Float80 v)
    {
        c.St(i) = v;
        c.StSetValid(i);
    }
}
