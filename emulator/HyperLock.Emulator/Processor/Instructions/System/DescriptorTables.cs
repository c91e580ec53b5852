using HyperLock.Emulator.Processor.Decode;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>
/// LGDT/LIDT/SGDT/SIDT, LLDT/SLDT, LTR/STR (TSS busy bit; 16-byte system descriptors in
/// IA-32e mode), LAR/LSL/VERR/VERW, ARPL.
/// </summary>
internal static unsafe partial class SystemOps
{
    private static void RegisterDescriptorTables()
    {
        foreach (var code in new[] { Code.Lgdt_m1632_16, Code.Lgdt_m1632, Code.Lgdt_m1664 }) OpTable.Set(code, &Lgdt);
        foreach (var code in new[] { Code.Lidt_m1632_16, Code.Lidt_m1632, Code.Lidt_m1664 }) OpTable.Set(code, &Lidt);
        foreach (var code in new[] { Code.Sgdt_m1632_16, Code.Sgdt_m1632, Code.Sgdt_m1664 }) OpTable.Set(code, &Sgdt);
        foreach (var code in new[] { Code.Sidt_m1632_16, Code.Sidt_m1632, Code.Sidt_m1664 }) OpTable.Set(code, &Sidt);
        foreach (var code in new[] { Code.Lldt_rm16, Code.Lldt_r32m16, Code.Lldt_r64m16 }) OpTable.Set(code, &Lldt);
        foreach (var code in new[] { Code.Sldt_rm16, Code.Sldt_r32m16, Code.Sldt_r64m16 }) OpTable.Set(code, &Sldt);
        foreach (var code in new[] { Code.Ltr_rm16, Code.Ltr_r32m16, Code.Ltr_r64m16 }) OpTable.Set(code, &Ltr);
        foreach (var code in new[] { Code.Str_rm16, Code.Str_r32m16, Code.Str_r64m16 }) OpTable.Set(code, &Str);
        foreach (var code in new[] { Code.Lar_r16_rm16, Code.Lar_r32_r32m16, Code.Lar_r64_r64m16 }) OpTable.Set(code, &Lar);
        foreach (var code in new[] { Code.Lsl_r16_rm16, Code.Lsl_r32_r32m16, Code.Lsl_r64_r64m16 }) OpTable.Set(code, &Lsl);
        foreach (var code in new[] { Code.Verr_rm16, Code.Verr_r32m16, Code.Verr_r64m16 }) OpTable.Set(code, &Verr);
        foreach (var code in new[] { Code.Verw_rm16, Code.Verw_r32m16, Code.Verw_r64m16 }) OpTable.Set(code, &Verw);
        OpTable.Set(Code.Arpl_rm16_r16, &Arpl);
        OpTable.Set(Code.Arpl_r32m16_r32, &Arpl);
    }

    // ---- GDTR / IDTR -----------------------------------------------------------------

    /// <summary>Reads the limit:base pseudo-descriptor (24-bit base with a 16-bit operand size).</summary>
    private static bool ReadPseudoDescriptor(Cpu c, ref Insn i, out TableRegister t)
    {
        t = default;
        if (!i.Op0IsMem) { c.RaiseUd(); return false; }
        if (!RequireCpl0(c)) return false;
        ulong ea = c.Ea(ref i);
        ushort limit = c.ReadMem16(ea);
        ulong baseAddr = c.In64BitMode ? c.ReadMem64(ea + 2) : c.ReadMem32((uint)(ea + 2));
        if (c.Faulted) return false;
        if (!c.In64BitMode && i.Code is Code.Lgdt_m1632_16 or Code.Lidt_m1632_16) baseAddr &= 0xFFFFFF;
        if (c.In64BitMode && !Cpu.IsCanonical(baseAddr)) { c.RaiseGp(0); return false; } // LGDT/LIDT: #GP(0)
        t = new TableRegister { Base = baseAddr, Limit = limit };
        return true;
    }

    private static void Lgdt(Cpu c, ref Insn i)
    {
        if (ReadPseudoDescriptor(c, ref i, out var t)) c.Gdtr = t;
    }

    private static void Lidt(Cpu c, ref Insn i)
    {
        if (ReadPseudoDescriptor(c, ref i, out var t)) c.Idtr = t;
    }

    private static void StorePseudoDescriptor(Cpu c, ref Insn i, TableRegister t)
    {
        if (!i.Op0IsMem) { c.RaiseUd(); return; }
        if (UmipBlocks(c)) return;
        ulong ea = c.Ea(ref i);
        int size = c.In64BitMode ? 10 : 6;
        if (!c.ProbeWrite(ea, size, c.Cpl == 3)) return;
        c.WriteMem16(ea, t.Limit);
        if (c.In64BitMode) c.WriteMem64(ea + 2, t.Base);
        else c.WriteMem32((uint)(ea + 2), (uint)t.Base);
    }

    private static void Sgdt(Cpu c, ref Insn i) => StorePseudoDescriptor(c, ref i, c.Gdtr);

    private static void Sidt(Cpu c, ref Insn i) => StorePseudoDescriptor(c, ref i, c.Idtr);

    // ---- LDTR / TR ------------------------------------------------------------------

    private static ushort ReadSelectorOperand(Cpu c, ref Insn i) =>
        i.Op0IsMem ? c.ReadMem16(c.Ea(ref i)) : (ushort)c.R(i.R0);

    private static void StoreSelectorOperand(Cpu c, ref Insn i, ushort selector)
    {
        if (i.Op0IsMem) c.WriteMem16(c.Ea(ref i), selector);
        else c.WriteGpr(i.R0, i.OpSize, selector);
    }

    /// <summary>
    /// Reads a system descriptor (LDT or TSS) from the GDT and decodes it, including the upper
    /// base half of the 16-byte form in IA-32e mode. Raises #GP(selector) for LDT-relative or
    /// out-of-range selectors and for the wrong type, #NP(selector) when not present.
    /// </summary>
    private static bool ReadSystemDescriptor(Cpu c, ushort sel, Func<int, bool> typeOk, out SegmentRegister seg, out ulong addr, out ulong d)
    {
        seg = default;
        d = 0;
        addr = 0;
        uint err = Cpu.SelectorError(sel);
        if ((sel & 4) != 0) { c.RaiseGp(err); return false; }
        if (!c.FetchDescriptor(sel, Vector.GP, out d, out addr)) return false;
        if (Cpu.DescIsSegment(d) || !typeOk(Cpu.DescType(d))) { c.RaiseGp(err); return false; }
        ulong high = 0;
        if (c.LongModeActive)
        {
            if (((sel & ~7) + 15) > c.Gdtr.Limit) { c.RaiseGp(err); return false; }
            high = c.ReadDescriptorHigh(addr);
            if (c.Faulted) return false;
            if (((high >> 40) & 0x1F) != 0) { c.RaiseGp(err); return false; }
        }
        if (!Cpu.DescPresent(d)) { c.RaiseFault(Vector.NP, err); return false; }
        seg = Cpu.DecodeDescriptor(sel, d);
        seg.Base |= (high & 0xFFFFFFFF) << 32;
        if (c.LongModeActive && !Cpu.IsCanonical(seg.Base)) { c.RaiseGp(err); return false; } // as Bochs and KVM: #GP(selector)
        return true;
    }

    private static void Lldt(Cpu c, ref Insn i)
    {
        if (!RequireProtected(c) || !RequireCpl0(c)) return;
        ushort sel = ReadSelectorOperand(c, ref i);
        if (c.Faulted) return;
        if ((sel & 0xFFFC) == 0)
        {
            c.Ldtr = new SegmentRegister { Selector = sel, Attributes = SegmentRegister.AttrUnusable };
            return;
        }
        if (!ReadSystemDescriptor(c, sel, static t => t == 2, out var ldt, out _, out _)) return;
        c.Ldtr = ldt;
    }

    private static void Ltr(Cpu c, ref Insn i)
    {
        if (!RequireProtected(c) || !RequireCpl0(c)) return;
        ushort sel = ReadSelectorOperand(c, ref i);
        if (c.Faulted) return;
        if ((sel & 0xFFFC) == 0) { c.RaiseGp(0); return; }
        bool longMode = c.LongModeActive;
        // Available TSS: 9 (32/64-bit), or 1 (16-bit) outside IA-32e mode.
        if (!ReadSystemDescriptor(c, sel, longMode ? static t => t == 9 : static t => t is 9 or 1, out var tss, out ulong addr, out ulong d))
            return;
        c.WriteLinear(addr + 5, 1, ((d >> 40) & 0xFF) | 2, user: false); // mark busy
        if (c.Faulted) return;
        tss.Attributes |= 2;
        c.Tr = tss;
    }

    private static void Sldt(Cpu c, ref Insn i)
    {
        if (!RequireProtected(c) || UmipBlocks(c)) return;
        StoreSelectorOperand(c, ref i, c.Ldtr.Selector);
    }

    private static void Str(Cpu c, ref Insn i)
    {
        if (!RequireProtected(c) || UmipBlocks(c)) return;
        StoreSelectorOperand(c, ref i, c.Tr.Selector);
    }

    // ---- LAR / LSL / VERR / VERW / ARPL ---------------------------------------------

    /// <summary>
    /// The common part of LAR/LSL/VERR/VERW: reads the descriptor without faulting on
    /// selector problems (those clear ZF) and applies the DPL ≥ max(CPL, RPL) rule, which
    /// conforming code segments skip. Returns false when ZF must be cleared (or a #PF is pending).
    /// </summary>
    private static bool ProbeDescriptor(Cpu c, ushort sel, out ulong d)
    {
        d = 0;
        if ((sel & 0xFFFC) == 0) return false;
        if (!c.TryReadDescriptor(sel, out d, out _)) return false;
        bool conformingCode = Cpu.DescIsCode(d) && (Cpu.DescType(d) & 4) != 0;
        int dpl = Cpu.DescDpl(d);
        return conformingCode || (dpl >= c.Cpl && dpl >= (sel & 3));
    }

    private static void SetZf(Cpu c, bool z) => c.UpdateArithFlags(z ? Bits.Zf : 0, z ? 0 : Bits.Zf);

    private static bool SystemTypeValid(Cpu c, int type, bool forLar)
    {
        if (c.LongModeActive) return type is 2 or 9 or 0xB || (forLar && type == 0xC);
        return type is 1 or 2 or 3 or 9 or 0xB || (forLar && type is 4 or 5 or 0xC);
    }

    private static void Lar(Cpu c, ref Insn i)
    {
        if (!RequireProtected(c)) return;
        ushort sel = i.Op1IsMem ? c.ReadMem16(c.Ea(ref i)) : (ushort)c.R(i.R1);
        if (c.Faulted) return;
        bool ok = ProbeDescriptor(c, sel, out ulong d);
        if (c.Faulted) return;
        ok = ok && (Cpu.DescIsSegment(d) || SystemTypeValid(c, Cpu.DescType(d), forLar: true));
        if (ok)
        {
            ulong rights = (d >> 32) & (i.OpSize == 2 ? 0xFF00UL : 0x00F0FF00UL);
            c.WriteGpr(i.R0, i.OpSize, rights);
        }
        SetZf(c, ok);
    }

    private static void Lsl(Cpu c, ref Insn i)
    {
        if (!RequireProtected(c)) return;
        ushort sel = i.Op1IsMem ? c.ReadMem16(c.Ea(ref i)) : (ushort)c.R(i.R1);
        if (c.Faulted) return;
        bool ok = ProbeDescriptor(c, sel, out ulong d);
        if (c.Faulted) return;
        ok = ok && (Cpu.DescIsSegment(d) || SystemTypeValid(c, Cpu.DescType(d), forLar: false));
        if (ok) c.WriteGpr(i.R0, i.OpSize, Cpu.DecodeDescriptor(sel, d).Limit);
        SetZf(c, ok);
    }

    private static void Verr(Cpu c, ref Insn i) => Verify(c, ref i, write: false);

    private static void Verw(Cpu c, ref Insn i) => Verify(c, ref i, write: true);

    private static void Verify(Cpu c, ref Insn i, bool write)
    {
        if (!RequireProtected(c)) return;
        ushort sel = ReadSelectorOperand(c, ref i);
        if (c.Faulted) return;
        bool ok = ProbeDescriptor(c, sel, out ulong d);
        if (c.Faulted) return;
        int type = Cpu.DescType(d);
        bool code = (type & 8) != 0;
        ok = ok && Cpu.DescIsSegment(d) && (write ? !code && (type & 2) != 0 : !code || (type & 2) != 0);
        SetZf(c, ok);
    }

    private static void Arpl(Cpu c, ref Insn i)
    {
        if (!RequireProtected(c)) return;
        ushort dst = i.Op0IsMem ? c.ReadMem16(c.Ea(ref i)) : (ushort)c.R(i.R0);
        if (c.Faulted) return;
        ushort src = (ushort)c.R(i.R1);
        if ((dst & 3) < (src & 3))
        {
            ushort v = (ushort)((dst & ~3) | (src & 3));
            if (i.Op0IsMem) c.WriteMem16(c.Ea(ref i), v); else c.Write16(i.R0, v);
            if (c.Faulted) return;
            SetZf(c, true);
        }
        else SetZf(c, false);
    }
}
