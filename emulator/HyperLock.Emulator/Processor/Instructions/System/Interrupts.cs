using HyperLock.Emulator.Processor.Decode;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>
/// INT n, INTO, INT1 (delivered by <c>InterruptDelivery</c> after RIP moves past them) and
/// IRET/IRETD/IRETQ in real mode, protected mode (same and outer privilege) and IA-32e mode
/// (64-bit mode always pops SS:RSP). INT3 lives with the integer instructions.
/// </summary>
/// <remarks>Not modelled: IRET with NT = 1 (task return) and IRET to virtual-8086 mode; both log once and raise #GP(0).</remarks>
internal static unsafe partial class SystemOps
{
    private static void RegisterInterrupts()
    {
        OpTable.SetBranch(Code.Int_imm8, &IntN);
        OpTable.SetBranch(Code.Into, &Into);
        OpTable.SetBranch(Code.Int1, &Int1);
        OpTable.SetBranch(Code.Iretw, &Iret);
        OpTable.SetBranch(Code.Iretd, &Iret);
        OpTable.SetBranch(Code.Iretq, &Iret);
    }

    private static void IntN(Cpu c, ref Insn i)
    {
        if (InV86(c) && Iopl(c) < 3) { c.RaiseGp(0); return; }
        c.Rip += i.Len;
        c.RaiseSoftwareInterrupt((int)(i.Imm & 0xFF), SoftwareEventKind.IntN);
    }

    private static void Into(Cpu c, ref Insn i)
    {
        if (c.In64BitMode) { c.RaiseUd(); return; }
        c.Rip += i.Len;
        if (c.OF) c.RaiseSoftwareInterrupt(Vector.OF, SoftwareEventKind.Into);
    }

    private static void Int1(Cpu c, ref Insn i)
    {
        c.Rip += i.Len;
        c.RaiseSoftwareInterrupt(Vector.DB, SoftwareEventKind.Int1);
    }

    /// <summary>
    /// The RFLAGS an IRET installs: arithmetic flags, TF, DF, NT always; RF, AC, ID (and at CPL 0
    /// VIF, VIP) with 32/64-bit operands; IF when CPL ≤ IOPL; IOPL at CPL 0. Uses the CPL before the return.
    /// </summary>
    private static ulong IretFlags(Cpu c, ulong popped, int size, bool realMode)
    {
        ulong mask = Bits.Arith | Bits.Tf | Bits.Df | Bits.Nt;
        if (size >= 4) mask |= Bits.Rf | Bits.Ac | Bits.Id;
        int cpl = realMode ? 0 : c.Cpl;
        if (cpl <= Iopl(c)) mask |= Bits.If;
        if (cpl == 0) mask |= Bits.Iopl | (size >= 4 && !realMode ? Bits.Vif | Bits.Vip : 0);
        if (size == 2) mask &= 0xFFFF;
        return (c.GetRflags() & ~mask) | (popped & mask);
    }

    private static void Iret(Cpu c, ref Insn i)
    {
        // IRET unblocks NMIs as it begins, even if it then faults; it is exempt from clearing RF afterwards.
        c.OnIretStart();
        c.RfLoaded = true;
        int size = ImplicitSize(i.Code);
        if ((c.Cr0 & Bits.Cr0Pe) == 0) { IretReal(c, size); return; }
        if (InV86(c))
        {
            if (Iopl(c) < 3) { c.RaiseGp(0); return; }
            IretReal(c, size);
            return;
        }
        if ((c.RflagsRest & Bits.Nt) != 0)
        {
            if (c.InNonRoot && !c.LongModeActive)
            {
                // A task return exits in VMX non-root operation (reason 9, source IRET = 1);
                // the qualification names the previous task's TSS, from the current TSS's back link.
                ushort backLink = (ushort)c.ReadLinear(c.Tr.Base, 2, user: false);
                if (c.Faulted) return;
                c.VmxInterceptTaskSwitch(ref i, backLink, 1);
                return;
            }
            if (!c.LongModeActive) c.Log?.Invoke("IRET with NT = 1 (task return) is not supported: #GP");
            c.RaiseGp(0);
            return;
        }
        ulong offset = c.PeekStack(0, size);
        ushort sel = (ushort)c.PeekStack(size, size);
        ulong flags = c.PeekStack(2 * size, size);
        if (c.Faulted) return;
        if (!c.LongModeActive && (flags & Bits.Vm) != 0 && c.Cpl == 0)
        {
            c.Log?.Invoke("IRET to virtual-8086 mode is not supported: #GP");
            c.RaiseGp(0);
            return;
        }
        if (!CheckReturnCs(c, sel, out var cs)) return;
        int rpl = sel & 3;
        bool popStack = rpl > c.Cpl || c.In64BitMode;
        ulong newFlags = IretFlags(c, flags, size, realMode: false) & ~Bits.Vm;
        if (!popStack)
        {
            if (!c.CheckCodeOffset(cs, offset)) return;
            c.SetRflags(newFlags);
            c.LoadCs(cs, rpl);
            AdjustStack(c, 3 * size);
            c.Rip = offset;
            return;
        }
        ulong newSp = c.PeekStack(3 * size, size);
        ushort ssSel = (ushort)c.PeekStack(4 * size, size);
        if (c.Faulted) return;
        if (!c.CheckStackSegment(ssSel, rpl, Vector.GP, allowNull: cs.Long, out var ss)) return;
        if (!c.CheckCodeOffset(cs, offset)) return;
        bool outer = rpl > c.Cpl;
        c.SetRflags(newFlags);
        c.LoadCs(cs, rpl);
        c.Segs[Seg.Ss] = ss;
        SetStackPointer(c, newSp, size);
        if (outer) c.NullifyInaccessibleSegments();
        c.Rip = offset;
    }

    private static void IretReal(Cpu c, int size)
    {
        ulong offset = c.PeekStack(0, size);
        ushort sel = (ushort)c.PeekStack(size, size);
        ulong flags = c.PeekStack(2 * size, size);
        if (c.Faulted) return;
        if (offset > c.Segs[Seg.Cs].Limit) { c.RaiseGp(0); return; }
        ulong newFlags = IretFlags(c, flags, size, realMode: true);
        if (InV86(c)) newFlags = (newFlags & ~Bits.Iopl) | (c.RflagsRest & Bits.Iopl);
        c.SetRflags(newFlags | (c.RflagsRest & Bits.Vm));
        LoadRealCs(c, sel);
        AdjustStack(c, 3 * size);
        c.Rip = offset;
    }
}
