using HyperLock.Emulator.Processor.Decode;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>
/// Legacy-mode-only integer instructions (Iced decodes them as invalid in 64-bit mode): the BCD
/// adjustments DAA, DAS, AAA, AAS, AAM, AAD, and BOUND. Flags the SDM leaves undefined are
/// computed deterministically: SF/ZF/PF from AL, OF and the remaining undefined ones cleared.
/// </summary>
internal static unsafe class Bcd
{
    public static void Register()
    {
        OpTable.Set(Code.Daa, &Daa);
        OpTable.Set(Code.Das, &Das);
        OpTable.Set(Code.Aaa, &Aaa);
        OpTable.Set(Code.Aas, &Aas);
        OpTable.Set(Code.Aam_imm8, &Aam);
        OpTable.Set(Code.Aad_imm8, &Aad);
        OpTable.Set(Code.Bound_r16_m1616, &Bound<S16>);
        OpTable.Set(Code.Bound_r32_m3232, &Bound<S32>);
    }

    private static void Daa(Cpu c, ref Insn i)
    {
        ulong f = c.ArithFlags;
        uint al = (byte)c.R(Reg.Rax), oldAl = al;
        bool oldCf = (f & Bits.Cf) != 0, cf = false, af = false;
        if ((al & 0xF) > 9 || (f & Bits.Af) != 0)
        {
            cf = oldCf || al + 6 > 0xFF;
            al = (al + 6) & 0xFF;
            af = true;
        }
        if (oldAl > 0x99 || oldCf)
        {
            al = (al + 0x60) & 0xFF;
            cf = true;
        }
        else cf = false;
        c.Write8(Reg.Rax, (byte)al);
        c.SetArithFlags(IntForms.Szp(al, 8) | (cf ? Bits.Cf : 0) | (af ? Bits.Af : 0));
    }

    private static void Das(Cpu c, ref Insn i)
    {
        ulong f = c.ArithFlags;
        uint al = (byte)c.R(Reg.Rax), oldAl = al;
        bool oldCf = (f & Bits.Cf) != 0, cf = false, af = false;
        if ((al & 0xF) > 9 || (f & Bits.Af) != 0)
        {
            cf = oldCf || al < 6;
            al = (al - 6) & 0xFF;
            af = true;
        }
        if (oldAl > 0x99 || oldCf)
        {
            al = (al - 0x60) & 0xFF;
            cf = true;
        }
        c.Write8(Reg.Rax, (byte)al);
        c.SetArithFlags(IntForms.Szp(al, 8) | (cf ? Bits.Cf : 0) | (af ? Bits.Af : 0));
    }

    private static void Aaa(Cpu c, ref Insn i)
    {
        ulong f = c.ArithFlags;
        uint ax = (ushort)c.R(Reg.Rax);
        bool adj = (ax & 0xF) > 9 || (f & Bits.Af) != 0;
        if (adj) ax += 0x106;
        ax = (ax & 0xFF00) | (ax & 0x0F);
        c.Write16(Reg.Rax, (ushort)ax);
        c.SetArithFlags(IntForms.Szp(ax & 0xFF, 8) | (adj ? Bits.Cf | Bits.Af : 0));
    }

    private static void Aas(Cpu c, ref Insn i)
    {
        ulong f = c.ArithFlags;
        uint ax = (ushort)c.R(Reg.Rax);
        bool adj = (ax & 0xF) > 9 || (f & Bits.Af) != 0;
        if (adj) ax = ((ax - 6) & 0xFF) | (((ax >> 8) - 1) & 0xFF) << 8;
        ax = (ax & 0xFF00) | (ax & 0x0F);
        c.Write16(Reg.Rax, (ushort)ax);
        c.SetArithFlags(IntForms.Szp(ax & 0xFF, 8) | (adj ? Bits.Cf | Bits.Af : 0));
    }

    private static void Aam(Cpu c, ref Insn i)
    {
        uint b = (byte)i.Imm;
        if (b == 0) { c.RaiseFault(Vector.DE); return; }
        uint al = (byte)c.R(Reg.Rax);
        uint r = al % b;
        c.Write16(Reg.Rax, (ushort)(((al / b) << 8) | r));
        c.SetArithFlags(IntForms.Szp(r, 8));
    }

    private static void Aad(Cpu c, ref Insn i)
    {
        uint ax = (ushort)c.R(Reg.Rax);
        uint al = ((ax & 0xFF) + (ax >> 8) * (byte)i.Imm) & 0xFF;
        c.Write16(Reg.Rax, (ushort)al);
        c.SetArithFlags(IntForms.Szp(al, 8));
    }

    /// <summary>BOUND: #BR when the signed index is below the lower or above the upper bound in memory.</summary>
    private static void Bound<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong lin = c.Ea(ref i);
        long lo = S.Sx(S.Load(c, lin));
        if (c.Faulted) return;
        long hi = S.Sx(S.Load(c, IntForms.EaPlus(c, ref i, S.Bytes)));
        if (c.Faulted) return;
        long v = S.Sx(S.Get(c, i.R0));
        if (v < lo || v > hi) c.RaiseFault(Vector.BR);
    }
}
