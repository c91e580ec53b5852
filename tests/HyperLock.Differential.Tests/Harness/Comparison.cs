using Iced.Intel;

namespace HyperLock.Differential.Tests.Harness;

/// <summary>One differing piece of state.</summary>
public readonly record struct Difference(string Where, string Native, string Emulated)
{
    public override string ToString() => $"{Where}: native {Native}, emulated {Emulated}";
}

/// <summary>
/// Compares the native and emulated final states: exit RIP, all GPRs, RFLAGS (arithmetic
/// flags and DF, minus the flags the SDM leaves undefined for this instruction — Iced's
/// <see cref="Instruction.RflagsUndefined"/> plus the count- and value-dependent cases listed
/// in <see cref="UndefinedFlags"/>), XMM0-15, MXCSR and both scratch windows.
/// </summary>
public static class Comparison
{
    private const ulong Cf = 0x001, Pf = 0x004, Af = 0x010, Zf = 0x040, Sf = 0x080, Df = 0x400, Of = 0x800;
    public const ulong ComparedFlags = Cf | Pf | Af | Zf | Sf | Df | Of;

    public static List<Difference> Compare(DiffCase c, MachineState native, MachineState emulated)
    {
        var diffs = new List<Difference>();
        if (native.Rip != emulated.Rip) diffs.Add(new("rip", Hex(native.Rip), Hex(emulated.Rip)));
        int undefinedGpr = UndefinedDestination(c);
        for (int i = 0; i < 16; i++)
            if (i != undefinedGpr && native.Gpr[i] != emulated.Gpr[i])
                diffs.Add(new(MachineState.GprNames[i], Hex(native.Gpr[i]), Hex(emulated.Gpr[i])));
        ulong mask = ComparedFlags & ~UndefinedFlags(c);
        if ((native.Rflags & mask) != (emulated.Rflags & mask))
            diffs.Add(new($"rflags (mask 0x{mask:x})", $"{Hex(native.Rflags & mask)} [{FlagNames(native.Rflags & mask)}]",
                $"{Hex(emulated.Rflags & mask)} [{FlagNames(emulated.Rflags & mask)}]"));
        for (int i = 0; i < 16; i++)
            if (native.Xmm[2 * i] != emulated.Xmm[2 * i] || native.Xmm[2 * i + 1] != emulated.Xmm[2 * i + 1])
                diffs.Add(new($"xmm{i}", $"0x{native.Xmm[2 * i + 1]:x16}{native.Xmm[2 * i]:x16}", $"0x{emulated.Xmm[2 * i + 1]:x16}{emulated.Xmm[2 * i]:x16}"));
        if (native.Mxcsr != emulated.Mxcsr) diffs.Add(new("mxcsr", Hex(native.Mxcsr), Hex(emulated.Mxcsr)));
        CompareX87(c, native, emulated, diffs);
        CompareBytes(diffs, ScratchLayout.DataBase, native.Data, emulated.Data);
        CompareBytes(diffs, ScratchLayout.StackWindowBase, native.Stack, emulated.Stack);
        return diffs;
    }

    /// <summary>FSW condition-code bits.</summary>
    private const ushort C0 = 0x0100, C1 = 0x0200, C2 = 0x0400, C3 = 0x4000;

    /// <summary>
    /// x87: control word, status word (minus the condition codes the SDM leaves undefined for
    /// the instruction), abridged tag word, and every non-empty register in stack order.
    /// The last-instruction pointers (FIP, FDP, FOP) are not compared.
    /// </summary>
    private static void CompareX87(DiffCase c, MachineState native, MachineState emulated, List<Difference> diffs)
    {
        if (native.Fcw != emulated.Fcw) diffs.Add(new("fcw", Hex(native.Fcw), Hex(emulated.Fcw)));
        var und = c.Instruction.RflagsUndefined;
        ushort mask = 0xFFFF;
        if ((und & RflagsBits.C0) != 0) mask &= unchecked((ushort)~C0);
        if ((und & RflagsBits.C1) != 0) mask &= unchecked((ushort)~C1);
        if ((und & RflagsBits.C2) != 0) mask &= unchecked((ushort)~C2);
        if ((und & RflagsBits.C3) != 0) mask &= unchecked((ushort)~C3);
        if ((native.Fsw & mask) != (emulated.Fsw & mask))
            diffs.Add(new($"fsw (mask 0x{mask:x})", Hex((ulong)(native.Fsw & mask)), Hex((ulong)(emulated.Fsw & mask))));
        if (native.Ftw != emulated.Ftw) diffs.Add(new("ftw (abridged)", Hex(native.Ftw), Hex(emulated.Ftw)));
        for (int i = 0; i < 8; i++)
        {
            if (!native.StValid(i)) continue;
            if (native.StMantissa[i] != emulated.StMantissa[i] || native.StSignExp[i] != emulated.StSignExp[i])
                diffs.Add(new($"st{i}", $"{native.StSignExp[i]:x4}:{native.StMantissa[i]:x16}", $"{emulated.StSignExp[i]:x4}:{emulated.StMantissa[i]:x16}"));
        }
    }

    private static void CompareBytes(List<Difference> diffs, ulong baseAddress, byte[] a, byte[] b)
    {
        for (int i = 0; i < a.Length; i++)
        {
            if (a[i] == b[i]) continue;
            int end = i;
            while (end < a.Length && end - i < 16 && a[end] != b[end]) end++;
            diffs.Add(new($"mem[0x{baseAddress + (ulong)i:x}..+{end - i}]",
                Convert.ToHexString(a, i, end - i).ToLowerInvariant(), Convert.ToHexString(b, i, end - i).ToLowerInvariant()));
            i = end;
            if (diffs.Count > 40) return;
        }
    }

    /// <summary>
    /// Flags the SDM leaves undefined for this instruction and this state: Iced's static list,
    /// plus OF after shifts and rotates whose masked count is not 1, and CF after SHL/SHR/SAR
    /// of 8- and 16-bit operands by at least the operand width.
    /// </summary>
    public static ulong UndefinedFlags(DiffCase c)
    {
        var ins = c.Instruction;
        ulong u = FromIced(ins.RflagsUndefined);
        var m = ins.Mnemonic;
        if (m is Mnemonic.Shl or Mnemonic.Sal or Mnemonic.Shr or Mnemonic.Sar or Mnemonic.Rol or Mnemonic.Ror
            or Mnemonic.Rcl or Mnemonic.Rcr or Mnemonic.Shld or Mnemonic.Shrd)
        {
            int bits = OperandBits(ins);
            int countOp = ins.OpCount - 1;
            ulong raw = ins.GetOpKind(countOp) == OpKind.Register ? c.Initial.Gpr[1] & 0xFF
                : ins.GetOpKind(countOp) is OpKind.Immediate8 ? (ulong)ins.Immediate8 : 1UL;
            int count = (int)(raw & (bits == 64 ? 0x3FUL : 0x1FUL));
            if (count != 1 && count != 0) u |= Of;
            if (count != 0 && m is Mnemonic.Shl or Mnemonic.Sal or Mnemonic.Shr or Mnemonic.Sar && count >= bits) u |= Cf | Of;
            if (count != 0 && m is Mnemonic.Shl or Mnemonic.Sal or Mnemonic.Shr or Mnemonic.Sar or Mnemonic.Shld or Mnemonic.Shrd) u |= Af;
        }
        return u;
    }

    /// <summary>BSF/BSR with a zero source leave the destination undefined (SDM): that GPR is not compared.</summary>
    private static int UndefinedDestination(DiffCase c)
    {
        var ins = c.Instruction;
        if (ins.Mnemonic is not (Mnemonic.Bsf or Mnemonic.Bsr)) return -1;
        int bytes = ins.Op0Register.GetSize();
        ulong src;
        if (ins.Op1Kind == OpKind.Register) src = SafetyGate.ReadReg(c.Initial, ins.Op1Register);
        else
        {
            ulong ea = EffectiveAddress(c);
            src = c.Initial.ReadMemory(ea, bytes);
        }
        return src == 0 ? ins.Op0Register.GetFullRegister() - Register.RAX : -1;
    }

    public static ulong EffectiveAddress(DiffCase c)
    {
        var ins = c.Instruction;
        if (ins.IsIPRelativeMemoryOperand) return ins.IPRelativeMemoryAddress;
        ulong ea = ins.MemoryDisplacement64;
        if (ins.MemoryBase != Register.None) ea += SafetyGate.ReadReg(c.Initial, ins.MemoryBase);
        if (ins.MemoryIndex != Register.None) ea += SafetyGate.ReadReg(c.Initial, ins.MemoryIndex) * (ulong)ins.MemoryIndexScale;
        if (ins.MemoryBase.GetSize() == 4 || ins.MemoryIndex.GetSize() == 4) ea = (uint)ea;
        return ea;
    }

    private static int OperandBits(in Instruction ins) =>
        ins.Op0Kind == OpKind.Register ? ins.Op0Register.GetSize() * 8 : ins.MemorySize.GetSize() * 8;

    public static ulong FromIced(RflagsBits f)
    {
        ulong u = 0;
        if ((f & RflagsBits.OF) != 0) u |= Of;
        if ((f & RflagsBits.SF) != 0) u |= Sf;
        if ((f & RflagsBits.ZF) != 0) u |= Zf;
        if ((f & RflagsBits.AF) != 0) u |= Af;
        if ((f & RflagsBits.CF) != 0) u |= Cf;
        if ((f & RflagsBits.PF) != 0) u |= Pf;
        if ((f & RflagsBits.DF) != 0) u |= Df;
        return u;
    }

    public static string FlagNames(ulong f)
    {
        var parts = new List<string>();
        if ((f & Cf) != 0) parts.Add("CF");
        if ((f & Pf) != 0) parts.Add("PF");
        if ((f & Af) != 0) parts.Add("AF");
        if ((f & Zf) != 0) parts.Add("ZF");
        if ((f & Sf) != 0) parts.Add("SF");
        if ((f & Df) != 0) parts.Add("DF");
        if ((f & Of) != 0) parts.Add("OF");
        return string.Join(' ', parts);
    }

    private static string Hex(ulong v) => "0x" + v.ToString("x");
}
