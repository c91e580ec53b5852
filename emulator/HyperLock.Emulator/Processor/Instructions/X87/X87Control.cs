using System.Buffers.Binary;
using HyperLock.Emulator.Processor.Decode;
using Iced.Intel;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>
/// x87 control: FNINIT, FLDCW/FNSTCW, FNSTSW (m16 and AX), FNCLEX, FLDENV/FNSTENV, FNSAVE/FRSTOR
/// (16- and 32-bit, protected- and real-mode layouts), FFREE/FFREEP, FINCSTP/FDECSTP, FNOP,
/// WAIT/FWAIT, and the 8087/287 leftovers FNENI/FNDISI/FNSETPM (no-ops since the 80387). The
/// FWAIT-prefixed forms (FINIT, FSTSW, …) are what Iced's assembler emits as one instruction;
/// its decoder produces WAIT + FN* instead, and both paths behave the same.
/// </summary>
internal static unsafe partial class X87
{
    private static void RegisterControl()
    {
        Set(Code.Fninit, &Fninit);
        Set(Code.Finit, &Finit);
        Set(Code.Fldcw_m2byte, &Fldcw);
        Set(Code.Fnstcw_m2byte, &Fnstcw);
        Set(Code.Fstcw_m2byte, &Fnstcw);
        Set(Code.Fnstsw_m2byte, &Fnstsw);
        Set(Code.Fstsw_m2byte, &Fnstsw);
        Set(Code.Fnstsw_AX, &FnstswAx);
        Set(Code.Fstsw_AX, &FnstswAx);
        Set(Code.Fnclex, &Fnclex);
        Set(Code.Fclex, &Fnclex);
        Set(Code.Fldenv_m14byte, &Fldenv);
        Set(Code.Fldenv_m28byte, &Fldenv);
        Set(Code.Fnstenv_m14byte, &Fnstenv);
        Set(Code.Fnstenv_m28byte, &Fnstenv);
        Set(Code.Fstenv_m14byte, &Fnstenv);
        Set(Code.Fstenv_m28byte, &Fnstenv);
        Set(Code.Fnsave_m94byte, &Fnsave);
        Set(Code.Fnsave_m108byte, &Fnsave);
        Set(Code.Fsave_m94byte, &Fnsave);
        Set(Code.Fsave_m108byte, &Fnsave);
        Set(Code.Frstor_m94byte, &Frstor);
        Set(Code.Frstor_m108byte, &Frstor);
        Set(Code.Ffree_sti, &Ffree);
        Set(Code.Ffreep_sti, &Ffree);
        Set(Code.Fincstp, &Fincstp);
        Set(Code.Fdecstp, &Fdecstp);
        Set(Code.Fnop, &Fnop);
        Set(Code.Wait, &Wait);
        foreach (var c in new[] { Code.Fneni, Code.Fndisi, Code.Fnsetpm, Code.Feni, Code.Fdisi, Code.Fsetpm }) Set(c, &Fnop);
    }

    /// <summary>True for the FWAIT-prefixed forms, which check pending exceptions first.</summary>
    private static bool HasWait(Code code) => code.ToOpCode().Fwait;

    private static bool EnterControl(Cpu c, ref Insn i) => HasWait(i.Code) ? Enter(c) : EnterNoWait(c);

    private static void Fninit(Cpu c, ref Insn i)
    {
        if (!EnterNoWait(c)) return;
        c.FpuInit();
    }

    private static void Finit(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        c.FpuInit();
    }

    /// <summary>The control word as loaded: reserved bits 15:13 read as 0, bit 6 as 1.</summary>
    public static ushort NormalizeControl(int v) => (ushort)((v & 0x1F3F) | 0x40);

    private static void Fldcw(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        ushort v = c.ReadMem16(c.Ea(ref i));
        if (c.Faulted) return;
        c.FpuControl = NormalizeControl(v);
        c.FpuUpdateSummary();
    }

    private static void Fnstcw(Cpu c, ref Insn i)
    {
        if (!EnterControl(c, ref i)) return;
        c.WriteMem16(c.Ea(ref i), c.FpuControl);
    }

    private static void Fnstsw(Cpu c, ref Insn i)
    {
        if (!EnterControl(c, ref i)) return;
        c.WriteMem16(c.Ea(ref i), c.FpuStatus);
    }

    private static void FnstswAx(Cpu c, ref Insn i)
    {
        if (!EnterControl(c, ref i)) return;
        c.Write16(Reg.Rax, c.FpuStatus);
    }

    private static void Fnclex(Cpu c, ref Insn i)
    {
        if (!EnterControl(c, ref i)) return;
        c.FpuSw &= unchecked((ushort)~(0x7F | Cpu.FswEs | Cpu.FswB));
    }

    // ---- environment and full state ------------------------------------------------------------

    /// <summary>Real-address and virtual-8086 modes use the real-mode environment layout.</summary>
    private static bool RealModeLayout(Cpu c) => (c.Cr0 & Bits.Cr0Pe) == 0 || (c.RflagsRest & Bits.Vm) != 0;

    /// <summary>Builds the 14- or 28-byte environment image (SDM Figures 8-9 to 8-12).</summary>
    private static void BuildEnvironment(Cpu c, Span<byte> env, bool wide)
    {
        ushort cw = c.FpuControl, sw = c.FpuStatus, tw = c.FpuTag;
        if (!RealModeLayout(c))
        {
            if (wide)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(env, 0xFFFF0000u | cw);
                BinaryPrimitives.WriteUInt32LittleEndian(env[4..], 0xFFFF0000u | sw);
                BinaryPrimitives.WriteUInt32LittleEndian(env[8..], 0xFFFF0000u | tw);
                BinaryPrimitives.WriteUInt32LittleEndian(env[12..], (uint)c.FpuIp);
                BinaryPrimitives.WriteUInt32LittleEndian(env[16..], c.FpuCs | ((uint)(c.FpuOpcode & 0x7FF) << 16));
                BinaryPrimitives.WriteUInt32LittleEndian(env[20..], (uint)c.FpuDp);
                BinaryPrimitives.WriteUInt32LittleEndian(env[24..], 0xFFFF0000u | c.FpuDs);
            }
            else
            {
                BinaryPrimitives.WriteUInt16LittleEndian(env, cw);
                BinaryPrimitives.WriteUInt16LittleEndian(env[2..], sw);
                BinaryPrimitives.WriteUInt16LittleEndian(env[4..], tw);
                BinaryPrimitives.WriteUInt16LittleEndian(env[6..], (ushort)c.FpuIp);
                BinaryPrimitives.WriteUInt16LittleEndian(env[8..], c.FpuCs);
                BinaryPrimitives.WriteUInt16LittleEndian(env[10..], (ushort)c.FpuDp);
                BinaryPrimitives.WriteUInt16LittleEndian(env[12..], c.FpuDs);
            }
            return;
        }
        // Real mode: linear (segment * 16 + offset) pointers split into low 16 bits and the rest.
        uint ip = (uint)(((ulong)c.FpuCs << 4) + c.FpuIp);
        uint dp = (uint)(((ulong)c.FpuDs << 4) + c.FpuDp);
        if (wide)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(env, 0xFFFF0000u | cw);
            BinaryPrimitives.WriteUInt32LittleEndian(env[4..], 0xFFFF0000u | sw);
            BinaryPrimitives.WriteUInt32LittleEndian(env[8..], 0xFFFF0000u | tw);
            BinaryPrimitives.WriteUInt32LittleEndian(env[12..], 0xFFFF0000u | (ip & 0xFFFF));
            BinaryPrimitives.WriteUInt32LittleEndian(env[16..], ((ip >> 16) << 12) | (uint)(c.FpuOpcode & 0x7FF));
            BinaryPrimitives.WriteUInt32LittleEndian(env[20..], 0xFFFF0000u | (dp & 0xFFFF));
            BinaryPrimitives.WriteUInt32LittleEndian(env[24..], (dp >> 16) << 12);
        }
        else
        {
            BinaryPrimitives.WriteUInt16LittleEndian(env, cw);
            BinaryPrimitives.WriteUInt16LittleEndian(env[2..], sw);
            BinaryPrimitives.WriteUInt16LittleEndian(env[4..], tw);
            BinaryPrimitives.WriteUInt16LittleEndian(env[6..], (ushort)ip);
            BinaryPrimitives.WriteUInt16LittleEndian(env[8..], (ushort)((((ip >> 16) & 0xF) << 12) | (uint)(c.FpuOpcode & 0x7FF)));
            BinaryPrimitives.WriteUInt16LittleEndian(env[10..], (ushort)dp);
            BinaryPrimitives.WriteUInt16LittleEndian(env[12..], (ushort)(((dp >> 16) & 0xF) << 12));
        }
    }

    /// <summary>Loads an environment image (control, status, tags, pointers, opcode).</summary>
    private static void LoadEnvironment(Cpu c, ReadOnlySpan<byte> env, bool wide)
    {
        ushort cw, sw, tw;
        if (wide)
        {
            cw = BinaryPrimitives.ReadUInt16LittleEndian(env);
            sw = BinaryPrimitives.ReadUInt16LittleEndian(env[4..]);
            tw = BinaryPrimitives.ReadUInt16LittleEndian(env[8..]);
        }
        else
        {
            cw = BinaryPrimitives.ReadUInt16LittleEndian(env);
            sw = BinaryPrimitives.ReadUInt16LittleEndian(env[2..]);
            tw = BinaryPrimitives.ReadUInt16LittleEndian(env[4..]);
        }
        if (!RealModeLayout(c))
        {
            if (wide)
            {
                c.FpuIp = BinaryPrimitives.ReadUInt32LittleEndian(env[12..]);
                uint w = BinaryPrimitives.ReadUInt32LittleEndian(env[16..]);
                c.FpuCs = (ushort)w;
                c.FpuOpcode = (ushort)((w >> 16) & 0x7FF);
                c.FpuDp = BinaryPrimitives.ReadUInt32LittleEndian(env[20..]);
                c.FpuDs = BinaryPrimitives.ReadUInt16LittleEndian(env[24..]);
            }
            else
            {
                c.FpuIp = BinaryPrimitives.ReadUInt16LittleEndian(env[6..]);
                c.FpuCs = BinaryPrimitives.ReadUInt16LittleEndian(env[8..]);
                c.FpuDp = BinaryPrimitives.ReadUInt16LittleEndian(env[10..]);
                c.FpuDs = BinaryPrimitives.ReadUInt16LittleEndian(env[12..]);
            }
        }
        else
        {
            uint ip, dp, op;
            if (wide)
            {
                uint w = BinaryPrimitives.ReadUInt32LittleEndian(env[16..]);
                ip = (BinaryPrimitives.ReadUInt32LittleEndian(env[12..]) & 0xFFFF) | ((w >> 12) << 16);
                op = w & 0x7FF;
                dp = (BinaryPrimitives.ReadUInt32LittleEndian(env[20..]) & 0xFFFF)
                    | ((BinaryPrimitives.ReadUInt32LittleEndian(env[24..]) >> 12) << 16);
            }
            else
            {
                uint w = BinaryPrimitives.ReadUInt16LittleEndian(env[8..]);
                ip = BinaryPrimitives.ReadUInt16LittleEndian(env[6..]) | ((w >> 12) << 16);
                op = w & 0x7FF;
                dp = BinaryPrimitives.ReadUInt16LittleEndian(env[10..])
                    | ((uint)(BinaryPrimitives.ReadUInt16LittleEndian(env[12..]) >> 12) << 16);
            }
            // Real mode keeps linear pointers; model them as offsets with a zero selector.
            c.FpuIp = ip;
            c.FpuDp = dp;
            c.FpuCs = c.FpuDs = 0;
            c.FpuOpcode = (ushort)op;
        }
        c.FpuControl = NormalizeControl(cw);
        c.FpuStatus = sw;
        c.FpuTag = tw;
        c.FpuUpdateSummary();
    }

    /// <summary>Reads <paramref name="data"/>.Length bytes; false (with the fault raised) on a fault.</summary>
    internal static bool ReadBlock(Cpu c, ulong lin, Span<byte> data)
    {
        int k = 0;
        for (; k + 8 <= data.Length; k += 8)
        {
            ulong v = c.ReadMem64(lin + (ulong)k);
            if (c.Faulted) return false;
            BinaryPrimitives.WriteUInt64LittleEndian(data[k..], v);
        }
        for (; k < data.Length; k += 2)
        {
            ushort v = c.ReadMem16(lin + (ulong)k);
            if (c.Faulted) return false;
            BinaryPrimitives.WriteUInt16LittleEndian(data[k..], v);
        }
        return true;
    }

    /// <summary>Writes an even number of bytes all-or-nothing.</summary>
    internal static bool WriteBlock(Cpu c, ulong lin, ReadOnlySpan<byte> data)
    {
        if (!c.ProbeWrite(lin, data.Length, c.Cpl == 3)) return false;
        int k = 0;
        for (; k + 8 <= data.Length; k += 8)
        {
            c.WriteMem64(lin + (ulong)k, BinaryPrimitives.ReadUInt64LittleEndian(data[k..]));
            if (c.Faulted) return false;
        }
        for (; k < data.Length; k += 2)
        {
            c.WriteMem16(lin + (ulong)k, BinaryPrimitives.ReadUInt16LittleEndian(data[k..]));
            if (c.Faulted) return false;
        }
        return true;
    }

    private static bool WideEnvironment(Code code) => code is Code.Fldenv_m28byte or Code.Fnstenv_m28byte or Code.Fstenv_m28byte
        or Code.Fnsave_m108byte or Code.Fsave_m108byte or Code.Frstor_m108byte;

    private static void Fnstenv(Cpu c, ref Insn i)
    {
        if (!EnterControl(c, ref i)) return;
        bool wide = WideEnvironment(i.Code);
        Span<byte> env = stackalloc byte[28];
        int size = wide ? 28 : 14;
        BuildEnvironment(c, env, wide);
        if (!WriteBlock(c, c.Ea(ref i), env[..size])) return;
        c.FpuControl |= 0x3F; // FNSTENV masks all exceptions after storing
        c.FpuUpdateSummary();
    }

    private static void Fldenv(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        bool wide = WideEnvironment(i.Code);
        Span<byte> env = stackalloc byte[28];
        int size = wide ? 28 : 14;
        if (!ReadBlock(c, c.Ea(ref i), env[..size])) return;
        LoadEnvironment(c, env, wide);
    }

    private static void Fnsave(Cpu c, ref Insn i)
    {
        if (!EnterControl(c, ref i)) return;
        bool wide = WideEnvironment(i.Code);
        int envSize = wide ? 28 : 14;
        Span<byte> image = stackalloc byte[108];
        BuildEnvironment(c, image, wide);
        for (int k = 0; k < 8; k++)
        {
            Float80 r = c.St(k);
            BinaryPrimitives.WriteUInt64LittleEndian(image[(envSize + 10 * k)..], r.Mantissa);
            BinaryPrimitives.WriteUInt16LittleEndian(image[(envSize + 10 * k + 8)..], r.SignExp);
        }
        if (!WriteBlock(c, c.Ea(ref i), image[..(envSize + 80)])) return;
        c.FpuInit();
    }

    private static void Frstor(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        bool wide = WideEnvironment(i.Code);
        int envSize = wide ? 28 : 14;
        Span<byte> image = stackalloc byte[108];
        if (!ReadBlock(c, c.Ea(ref i), image[..(envSize + 80)])) return;
        LoadEnvironment(c, image, wide);
        for (int k = 0; k < 8; k++)
        {
            c.St(k) = new Float80(BinaryPrimitives.ReadUInt16LittleEndian(image[(envSize + 10 * k + 8)..]),
                BinaryPrimitives.ReadUInt64LittleEndian(image[(envSize + 10 * k)..]));
        }
    }

    // ---- stack management -----------------------------------------------------------------------

    private static void Ffree(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        Note(c, ref i);
        c.StSetEmpty(i.R0);
        if (i.Code == Code.Ffreep_sti) c.FpuPop();
    }

    private static void Fincstp(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        Note(c, ref i);
        c.FpuSetC1(false);
        c.FpuTop = (c.FpuTop + 1) & 7;
    }

    private static void Fdecstp(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        Note(c, ref i);
        c.FpuSetC1(false);
        c.FpuTop = (c.FpuTop - 1) & 7;
    }

    private static void Fnop(Cpu c, ref Insn i)
    {
        if (!Enter(c)) return;
        Note(c, ref i);
    }

    /// <summary>WAIT/FWAIT: #NM only when CR0.MP and CR0.TS are both set; then the pending-#MF check.</summary>
    private static void Wait(Cpu c, ref Insn i)
    {
        const ulong mpTs = Bits.Cr0Mp | Bits.Cr0Ts;
        if ((c.Cr0 & mpTs) == mpTs)
        {
            c.RaiseFault(Vector.NM);
            return;
        }
        CheckPending(c);
    }
}
