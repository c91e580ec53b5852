using Iced.Intel;

namespace HyperLock.Differential.Tests.Harness;

/// <summary>
/// The last check before a case may run natively: a fault on the host kills the test
/// process, so every condition that could fault is re-derived here from the encoded
/// instruction and the initial state, independently of how the generator built them.
/// </summary>
public static class SafetyGate
{
    private static readonly InstructionInfoFactory InfoFactory = new();

    /// <summary>Null when the case is safe to execute natively; otherwise the reason it is not.</summary>
    public static string? Check(Form form, in Instruction ins, MachineState s)
    {
        if (ins.SegmentPrefix is Register.FS or Register.GS) return "FS/GS segment override";
        var info = InfoFactory.GetInfo(ins);

        // Every memory access (explicit operands, string operands, stack slots) lies in scratch.
        foreach (var mem in info.GetUsedMemory())
        {
            if (mem.Segment is Register.FS or Register.GS) return "FS/GS-relative access";
            if (!mem.TryGetVirtualAddress(0, out ulong va, (Register reg, int _, int _, out ulong value) => TryReg(s, reg, out value)))
                return "address not computable";
            int size = Math.Max(mem.MemorySize.GetSize(), 1);
            if (form.Mnemonic is Mnemonic.Lea) continue;
            if (IsNoAccess(form)) continue;
            // Every access stays inside one compared window (written so that nothing can wrap:
            // an address near 2^64 must not look small).
            if (size > 0x200 || !InWindow(va, (ulong)size, out _, out _))
                return $"access at 0x{va:x} outside the scratch windows";
            if (size == 16 && (va & 15) != 0) return $"misaligned 16-byte access at 0x{va:x}";
        }

        // String operands, checked from RSI/RDI directly (Iced reports no memory for REP forms),
        // the whole REP run in the direction DF gives.
        for (int k = 0; k < ins.OpCount; k++)
        {
            var kind = ins.GetOpKind(k);
            ulong va;
            switch (kind)
            {
                case OpKind.MemorySegRSI: va = s.Gpr[6]; break;
                case OpKind.MemoryESRDI or OpKind.MemorySegRDI: va = s.Gpr[7]; break;
                case OpKind.MemorySegESI or OpKind.MemorySegEDI or OpKind.MemoryESEDI or OpKind.MemorySegSI
                    or OpKind.MemorySegDI or OpKind.MemoryESDI: return "string operand with 16/32-bit addressing";
                default: continue;
            }
            if (ins.SegmentPrefix is Register.FS or Register.GS) return "FS/GS string operand";
            ulong size = (ulong)Math.Max(ins.MemorySize.GetSize(), 1);
            if (size > 16 || !InWindow(va, size, out ulong lo, out ulong hi)) return $"string access at 0x{va:x} outside the windows";
            if (ins.HasRepPrefix || ins.HasRepnePrefix)
            {
                ulong count = s.Gpr[1];
                if (count > 64) return $"REP count {count} too large";
                ulong span = count * size;
                bool down = (s.Rflags & 0x400) != 0;
                if (down ? va - lo < span : hi - size - va < span) return $"REP run from 0x{va:x} leaves the window";
            }
        }

        // The stack: RSP near the stack top; LEAVE and ENTER read through RBP.
        ulong rsp = s.Gpr[4];
        if (rsp < ScratchLayout.StackTop - 0x20 || rsp > ScratchLayout.StackTop) return $"RSP 0x{rsp:x} is not at the scratch stack";
        if (form.Mnemonic == Mnemonic.Leave && !InWindow(s.Gpr[5], 8, out _, out _)) return "LEAVE with RBP outside the stack window";
        if (form.Mnemonic == Mnemonic.Enter)
        {
            int level = ins.Immediate8_2nd & 31;
            if (ins.Immediate16 > 0x400) return "ENTER frame too large";
            if (level > 1 && !InWindow(s.Gpr[5] - 8UL * (ulong)(level - 1), 8UL * (ulong)(level - 1), out _, out _))
                return "ENTER nesting reads outside the stack window";
        }

        // RSP may only change as a stack instruction changes it.
        if (!form.Info.IsStackInstruction)
            foreach (var reg in info.GetUsedRegisters())
                if (reg.Register.GetFullRegister() == Register.RSP && reg.Access is OpAccess.Write or OpAccess.ReadWrite
                        or OpAccess.CondWrite or OpAccess.ReadCondWrite)
                    return "writes RSP";

        // Branches may only reach the two exits.
        var flow = ins.FlowControl;
        if (flow is FlowControl.ConditionalBranch or FlowControl.UnconditionalBranch or FlowControl.Call)
            if (ins.NearBranchTarget != ScratchLayout.BranchTarget) return "direct branch elsewhere";
        if (flow is FlowControl.IndirectBranch or FlowControl.IndirectCall)
        {
            ulong target;
            if (ins.Op0Kind == OpKind.Register) target = ReadReg(s, ins.Op0Register);
            else
            {
                var mem = info.GetUsedMemory().First(u => u.Access == OpAccess.Read);
                if (!mem.TryGetVirtualAddress(0, out ulong va, (Register reg, int _, int _, out ulong value) => TryReg(s, reg, out value)))
                    return "indirect target not computable";
                target = s.ReadMemory(va, 8);
            }
            if (target != ScratchLayout.BranchTarget) return $"indirect branch to 0x{target:x}";
        }
        if (flow == FlowControl.Return && s.ReadMemory(s.Gpr[4], 8) != ScratchLayout.BranchTarget) return "return elsewhere";

        switch (form.Mnemonic)
        {
            case Mnemonic.Div or Mnemonic.Idiv:
                return DivisionFaults(ins, info, s);
            case Mnemonic.Popf or Mnemonic.Popfq:
            {
                ulong img = s.ReadMemory(s.Gpr[4], form.Mnemonic == Mnemonic.Popf ? 2 : 8);
                if ((img & ~0xED7UL) != 0) return $"POPF image 0x{img:x} sets system flags";
                break;
            }
            case Mnemonic.Fldcw:
            {
                var mem = info.GetUsedMemory().First();
                mem.TryGetVirtualAddress(0, out ulong va, (Register reg, int _, int _, out ulong value) => TryReg(s, reg, out value));
                if ((s.ReadMemory(va, 2) & 0x3F) != 0x3F) return "FLDCW image unmasks exceptions";
                break;
            }
            case Mnemonic.Ldmxcsr:
            {
                var mem = info.GetUsedMemory().First();
                mem.TryGetVirtualAddress(0, out ulong va, (Register reg, int _, int _, out ulong value) => TryReg(s, reg, out value));
                if (!SafeMxcsr((uint)s.ReadMemory(va, 4))) return "LDMXCSR image unsafe";
                break;
            }
        }
        if (!SafeMxcsr(s.Mxcsr)) return "MXCSR unmasks exceptions";
        if ((s.Fcw & 0x3F) != 0x3F) return "FCW unmasks x87 exceptions";
        if ((s.Fsw & 0x8080) != 0) return "FSW has ES or B set";
        if ((s.Rflags & ~0xCD7UL & ~0x600UL) != 0) return "RFLAGS sets system flags";
        return null;
    }

    /// <summary>True when [va, va+size) lies inside the data window or the stack window; gives that window.</summary>
    private static bool InWindow(ulong va, ulong size, out ulong lo, out ulong hi)
    {
        lo = ScratchLayout.DataBase;
        hi = ScratchLayout.DataBase + ScratchLayout.DataSize;
        if (va >= lo && va <= hi - size) return true;
        lo = ScratchLayout.StackWindowBase;
        hi = ScratchLayout.StackWindowBase + ScratchLayout.StackWindowSize;
        return va >= lo && va <= hi - size;
    }

    /// <summary>All SSE exceptions masked, no reserved bits: an unmasked exception would be SIGFPE natively.</summary>
    public static bool SafeMxcsr(uint v) => (v & 0x1F80) == 0x1F80 && (v & ~HostMxcsrMask) == 0;

    /// <summary>MXCSR bits the host accepts (DAZ is missing on some old CPUs); all 16 when native execution is unavailable.</summary>
    public static uint HostMxcsrMask => _hostMxcsrMask ??= Native.NativeExecutor.TryGet(out _)?.MxcsrMask ?? 0xFFFF;
    private static uint? _hostMxcsrMask;

    /// <summary>Forms whose memory operand is never accessed (hint NOPs, prefetches).</summary>
    private static bool IsNoAccess(Form f) => f.Info.IsNop || f.Info.IsReservedNop || f.Mnemonic is Mnemonic.Nop
        or Mnemonic.Prefetchnta or Mnemonic.Prefetcht0 or Mnemonic.Prefetcht1 or Mnemonic.Prefetcht2 or Mnemonic.Prefetchw;

    private static string? DivisionFaults(in Instruction ins, InstructionInfo info, MachineState s)
    {
        int bytes = ins.Op0Kind == OpKind.Register ? ins.Op0Register.GetSize() : ins.MemorySize.GetSize();
        ulong divisor;
        if (ins.Op0Kind == OpKind.Register) divisor = ReadReg(s, ins.Op0Register);
        else
        {
            var mem = info.GetUsedMemory().First();
            if (!mem.TryGetVirtualAddress(0, out ulong va, (Register reg, int _, int _, out ulong value) => TryReg(s, reg, out value)))
                return "divisor address";
            divisor = s.ReadMemory(va, bytes);
        }
        if (divisor == 0) return "#DE: zero divisor";
        bool signed = ins.Mnemonic == Mnemonic.Idiv;
        int bits = bytes * 8;
        UInt128 lo, hi;
        if (bytes == 1) { lo = s.Gpr[0] & 0xFF; hi = (s.Gpr[0] >> 8) & 0xFF; }
        else { ulong m = bits == 64 ? ulong.MaxValue : (1UL << bits) - 1; lo = s.Gpr[0] & m; hi = s.Gpr[2] & m; }
        UInt128 dividend = (hi << bits) | lo;
        if (!signed)
        {
            UInt128 q = dividend / divisor;
            return q >> bits == 0 ? null : "#DE: quotient overflow";
        }
        Int128 sdividend = (Int128)(dividend << (128 - 2 * bits)) >> (128 - 2 * bits);
        Int128 sdivisor = (Int128)((UInt128)divisor << (128 - bits)) >> (128 - bits);
        Int128 sq = sdividend / sdivisor;
        Int128 max = (Int128.One << (bits - 1)) - 1, min = -(Int128.One << (bits - 1));
        return sq > max || sq < min ? "#DE: signed quotient overflow" : null;
    }

    public static ulong ReadReg(MachineState s, Register r)
    {
        TryReg(s, r, out ulong v);
        return v;
    }

    private static bool TryReg(MachineState s, Register r, out ulong value)
    {
        value = 0;
        if (r is Register.ES or Register.CS or Register.SS or Register.DS) return true; // flat: base 0
        if (r is Register.AH or Register.CH or Register.DH or Register.BH) { value = (s.Gpr[r - Register.AH] >> 8) & 0xFF; return true; }
        if (r == Register.RIP) { value = s.Rip; return true; }
        if (r == Register.EIP) { value = (uint)s.Rip; return true; }
        if (!r.IsGPR()) return false;
        int n = r.GetFullRegister() - Register.RAX;
        int size = r.GetSize();
        value = size == 8 ? s.Gpr[n] : s.Gpr[n] & ((1UL << (size * 8)) - 1);
        return true;
    }
}
