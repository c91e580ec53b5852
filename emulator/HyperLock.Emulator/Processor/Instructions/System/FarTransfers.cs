using HyperLock.Emulator.Processor.Decode;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>
/// Far JMP, far CALL and far RET: direct ptr16:16/32 and memory m16:16/32/64 forms, in real
/// mode (base = selector × 16) and protected/IA-32e mode (code-segment checks, return to an
/// outer privilege level with its stack, nulling of data segments the new CPL may not use).
/// </summary>
/// <remarks>
/// Not modelled: call gates, task gates and TSS targets (hardware task switching). A far
/// transfer to a system descriptor logs once and raises #GP(selector).
/// </remarks>
internal static unsafe partial class SystemOps
{
    private static void RegisterFarTransfers()
    {
        OpTable.SetBranch(Code.Jmp_ptr1616, &JmpFar);
        OpTable.SetBranch(Code.Jmp_ptr1632, &JmpFar);
        OpTable.SetBranch(Code.Jmp_m1616, &JmpFar);
        OpTable.SetBranch(Code.Jmp_m1632, &JmpFar);
        OpTable.SetBranch(Code.Jmp_m1664, &JmpFar);
        OpTable.SetBranch(Code.Call_ptr1616, &CallFar);
        OpTable.SetBranch(Code.Call_ptr1632, &CallFar);
        OpTable.SetBranch(Code.Call_m1616, &CallFar);
        OpTable.SetBranch(Code.Call_m1632, &CallFar);
        OpTable.SetBranch(Code.Call_m1664, &CallFar);
        OpTable.SetBranch(Code.Retfw, &RetFar);
        OpTable.SetBranch(Code.Retfd, &RetFar);
        OpTable.SetBranch(Code.Retfq, &RetFar);
        OpTable.SetBranch(Code.Retfw_imm16, &RetFar);
        OpTable.SetBranch(Code.Retfd_imm16, &RetFar);
        OpTable.SetBranch(Code.Retfq_imm16, &RetFar);
    }

    /// <summary>Offset size of a far pointer form.</summary>
    private static int FarOffsetSize(Code code) => code switch
    {
        Code.Jmp_ptr1616 or Code.Jmp_m1616 or Code.Call_ptr1616 or Code.Call_m1616 => 2,
        Code.Jmp_m1664 or Code.Call_m1664 => 8,
        _ => 4,
    };

    /// <summary>Reads the far pointer operand: the immediate ptr16:xx, or m16:xx (offset first, then selector).</summary>
    private static bool ReadFarPointer(Cpu c, ref Insn i, int size, out ushort selector, out ulong offset)
    {
        if (!i.Op0IsMem)
        {
            selector = (ushort)i.Imm;
            offset = (ulong)i.Imm2;
            return true;
        }
        ulong ea = c.Ea(ref i);
        offset = c.ReadMem(ea, size);
        selector = c.ReadMem16(c.In64BitMode ? ea + (ulong)size : (uint)(ea + (ulong)size));
        return !c.Faulted;
    }

    /// <summary>Real-mode / V86 CS load.</summary>
    private static void LoadRealCs(Cpu c, ushort selector)
    {
        ref SegmentRegister cs = ref c.Segs[Seg.Cs];
        if ((c.RflagsRest & Bits.Vm) != 0)
        {
            cs = SegmentRegister.RealMode(selector, code: true);
            cs.Attributes |= 3 << 5;
        }
        else
        {
            cs.Selector = selector;
            cs.Base = (ulong)selector << 4;
            cs.Attributes = (cs.Attributes & ~SegmentRegister.AttrUnusable) | SegmentRegister.AttrPresent | SegmentRegister.AttrS | 8;
        }
        c.UpdateMode();
    }

    /// <summary>Checks a protected-mode JMP/CALL target: a code segment (gates are not modelled).</summary>
    private static bool ProtectedFarTarget(Cpu c, ref Insn i, ushort selector, ulong offset, int taskSwitchSource, out SegmentRegister cs)
    {
        cs = default;
        if ((selector & 0xFFFC) == 0) { c.RaiseGp(0); return false; }
        if (!c.FetchDescriptor(selector, Vector.GP, out ulong d, out ulong addr)) return false;
        if (!Cpu.DescIsSegment(d))
        {
            // In VMX non-root operation a task switch (to a TSS or through a task gate) always
            // exits (reason 9); the qualification names the TSS selector and the source.
            int type = Cpu.DescType(d);
            if (c.InNonRoot && !c.LongModeActive && type is 1 or 9 or 5)
            {
                ushort tss = type == 5 ? (ushort)(d >> 16) : selector;
                c.VmxInterceptTaskSwitch(ref i, tss, taskSwitchSource);
                return false;
            }
            c.Log?.Invoke($"far transfer through system descriptor type {Cpu.DescType(d)} (selector 0x{selector:x}) is not supported: #GP");
            c.RaiseGp(Cpu.SelectorError(selector));
            return false;
        }
        return c.CheckFarTarget(selector, d, addr, offset, out cs);
    }

    private static void JmpFar(Cpu c, ref Insn i)
    {
        int size = FarOffsetSize(i.Code);
        if (!ReadFarPointer(c, ref i, size, out ushort sel, out ulong offset)) return;
        if (!c.ProtectedMode)
        {
            if (offset > c.Segs[Seg.Cs].Limit) { c.RaiseGp(0); return; }
            LoadRealCs(c, sel);
            c.Rip = offset;
            return;
        }
        if (!ProtectedFarTarget(c, ref i, sel, offset, TaskSwitchFromJmp, out var cs)) return;
        c.LoadCs(cs, c.Cpl);
        c.Rip = offset;
    }

    // Task-switch sources in the VM-exit qualification (bits 31:30).
    private const int TaskSwitchFromCall = 0, TaskSwitchFromJmp = 2;

    private static void CallFar(Cpu c, ref Insn i)
    {
        int size = FarOffsetSize(i.Code);
        if (!ReadFarPointer(c, ref i, size, out ushort sel, out ulong offset)) return;
        ulong ret = c.Rip + i.Len;
        if (c.Bitness != 64) ret &= size == 2 ? 0xFFFFUL : 0xFFFFFFFFUL;
        ulong savedRsp = c.R(Reg.Rsp);
        if (!c.ProtectedMode)
        {
            if (offset > c.Segs[Seg.Cs].Limit) { c.RaiseGp(0); return; }
            PushFar(c, c.Segs[Seg.Cs].Selector, size);
            PushFar(c, ret, size);
            if (c.Faulted) { c.R(Reg.Rsp) = savedRsp; return; }
            LoadRealCs(c, sel);
            c.Rip = offset;
            return;
        }
        if (!ProtectedFarTarget(c, ref i, sel, offset, TaskSwitchFromCall, out var cs)) return;
        PushFar(c, c.Segs[Seg.Cs].Selector, size);
        PushFar(c, ret, size);
        if (c.Faulted) { c.R(Reg.Rsp) = savedRsp; return; }
        c.LoadCs(cs, c.Cpl);
        c.Rip = offset;
    }

    /// <summary>A push at the far transfer's operand size (4-byte pushes exist in 64-bit mode here).</summary>
    private static void PushFar(Cpu c, ulong value, int size)
    {
        if (!c.In64BitMode) { c.Push(value, size); return; }
        ulong rsp = c.R(Reg.Rsp) - (ulong)size;
        c.WriteMem(rsp, size, value);
        if (!c.Faulted) c.R(Reg.Rsp) = rsp;
    }

    /// <summary>
    /// Checks the code segment a far return or IRET goes back to: RPL ≥ CPL, a present code
    /// segment whose DPL matches (non-conforming) or does not exceed (conforming) the RPL.
    /// </summary>
    private static bool CheckReturnCs(Cpu c, ushort selector, out SegmentRegister cs)
    {
        cs = default;
        if ((selector & 0xFFFC) == 0) { c.RaiseGp(0); return false; }
        if (!c.FetchDescriptor(selector, Vector.GP, out ulong d, out ulong addr)) return false;
        int rpl = selector & 3, dpl = Cpu.DescDpl(d);
        uint err = Cpu.SelectorError(selector);
        if (rpl < c.Cpl || !Cpu.DescIsCode(d)) { c.RaiseGp(err); return false; }
        bool conforming = (Cpu.DescType(d) & 4) != 0;
        if (conforming ? dpl > rpl : dpl != rpl) { c.RaiseGp(err); return false; }
        if (!Cpu.DescPresent(d)) { c.RaiseFault(Vector.NP, err); return false; }
        cs = Cpu.DecodeDescriptor(selector, d);
        if (c.LongModeActive && cs.Long && cs.DefaultBig) { c.RaiseGp(err); return false; }
        c.SetAccessedBit(addr, d);
        if (c.Faulted) return false;
        cs.Attributes |= SegmentRegister.AttrAccessed;
        return true;
    }

    /// <summary>Loads RSP after a return that switched stacks, at the width the new stack uses.</summary>
    private static void SetStackPointer(Cpu c, ulong value, int size)
    {
        if (c.In64BitMode || size == 8) c.R(Reg.Rsp) = value;
        else if (c.Segs[Seg.Ss].DefaultBig) c.R(Reg.Rsp) = (uint)value;
        else c.Write16(Reg.Rsp, (ushort)value);
    }

    private static void RetFar(Cpu c, ref Insn i)
    {
        int size = ImplicitSize(i.Code);
        ulong imm = i.Kind(0) == OperandKind.Immediate ? i.Imm & 0xFFFF : 0;
        ulong offset = c.PeekStack(0, size);
        ushort sel = (ushort)c.PeekStack(size, size);
        if (c.Faulted) return;
        if (!c.ProtectedMode)
        {
            if (offset > c.Segs[Seg.Cs].Limit) { c.RaiseGp(0); return; }
            LoadRealCs(c, sel);
            AdjustStack(c, 2 * size + (long)imm);
            c.Rip = offset;
            return;
        }
        if (!CheckReturnCs(c, sel, out var cs)) return;
        int rpl = sel & 3;
        if (rpl == c.Cpl)
        {
            if (!c.CheckCodeOffset(cs, offset)) return;
            c.LoadCs(cs, rpl);
            AdjustStack(c, 2 * size + (long)imm);
            c.Rip = offset;
            return;
        }
        // Return to an outer privilege level: the caller's SS:rSP follow the parameters.
        ulong newSp = c.PeekStack(2 * size + (int)imm, size);
        ushort ssSel = (ushort)c.PeekStack(3 * size + (int)imm, size);
        if (c.Faulted) return;
        if (!c.CheckStackSegment(ssSel, rpl, Vector.GP, allowNull: cs.Long, out var ss)) return;
        if (!c.CheckCodeOffset(cs, offset)) return;
        c.LoadCs(cs, rpl);
        c.Segs[Seg.Ss] = ss;
        SetStackPointer(c, newSp + imm, size);
        c.NullifyInaccessibleSegments();
        c.Rip = offset;
    }
}
