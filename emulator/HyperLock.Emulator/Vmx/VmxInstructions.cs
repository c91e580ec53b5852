using HyperLock.Emulator.Processor.Decode;
using HyperLock.Emulator.Processor.Execution;
using HyperLock.Emulator.Vmx;
using Iced.Intel;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>
/// VMX instructions (SDM Vol. 3 ch. 31): VMXON, VMXOFF, VMCLEAR, VMPTRLD, VMPTRST, VMREAD,
/// VMWRITE, VMLAUNCH, VMRESUME, VMCALL, INVEPT, INVVPID, each with its #UD/#GP conditions,
/// its VM exit in non-root operation and VMsucceed / VMfailInvalid / VMfailValid(n).
/// Also registers exit-only fallbacks for instructions that cause VM exits but that no other
/// family implements yet (see <see cref="RegisterExitFallbacks"/>).
/// </summary>
internal static unsafe partial class VmxOps
{
    public static void Register()
    {
        OpTable.SetBranch(Code.Vmxon_m64, &Vmxon);
        OpTable.SetBranch(Code.Vmxoff, &Vmxoff);
        OpTable.SetBranch(Code.Vmclear_m64, &Vmclear);
        OpTable.SetBranch(Code.Vmptrld_m64, &Vmptrld);
        OpTable.SetBranch(Code.Vmptrst_m64, &Vmptrst);
        OpTable.SetBranch(Code.Vmread_rm64_r64, &Vmread);
        OpTable.SetBranch(Code.Vmread_rm32_r32, &Vmread);
        OpTable.SetBranch(Code.Vmwrite_r64_rm64, &Vmwrite);
        OpTable.SetBranch(Code.Vmwrite_r32_rm32, &Vmwrite);
        OpTable.SetBranch(Code.Vmlaunch, &Vmlaunch);
        OpTable.SetBranch(Code.Vmresume, &Vmresume);
        OpTable.SetBranch(Code.Vmcall, &Vmcall);
        OpTable.SetBranch(Code.Invept_r64_m128, &Invept);
        OpTable.SetBranch(Code.Invept_r32_m128, &Invept);
        OpTable.SetBranch(Code.Invvpid_r64_m128, &Invvpid);
        OpTable.SetBranch(Code.Invvpid_r32_m128, &Invvpid);
        RegisterExitFallbacks();
    }

    // ---- VMsucceed / VMfail ---------------------------------------------------------------

    private static void Succeed(Cpu c) => c.SetArithFlags(0);

    private static void FailInvalid(Cpu c) => c.SetArithFlags(Bits.Cf);

    private static void FailValid(Cpu c, int error)
    {
        c.SetArithFlags(Bits.Zf);
        c.VmWrite(VmcsField.InstructionError, (ulong)error);
    }

    /// <summary>VMfail: VMfailValid(error) with a current VMCS, else VMfailInvalid.</summary>
    internal static void Fail(Cpu c, int error)
    {
        if (c.CurrentVmcsPointer != ulong.MaxValue) FailValid(c, error);
        else FailInvalid(c);
    }

    private static void Next(Cpu c, ref Insn i) => c.Rip += i.Len;

    // ---- common checks ---------------------------------------------------------------------

    /// <summary>#UD outside protected mode, in virtual-8086 and compatibility mode.</summary>
    private static bool ModeUd(Cpu c) =>
        (c.Cr0 & Bits.Cr0Pe) == 0 || (c.Cr4 & Bits.Cr4Vmxe) == 0 || (c.RflagsRest & Bits.Vm) != 0
        || ((c.Efer & Bits.EferLma) != 0 && !c.Segs[Seg.Cs].Long);

    /// <summary>
    /// The checks every VMX instruction except VMXON starts with: #UD (mode, not in VMX
    /// operation), VM exit in non-root, #GP(0) at CPL &gt; 0. Returns false when the instruction
    /// must stop.
    /// </summary>
    private static bool Common(Cpu c, ref Insn i, int exitReason, uint info = 0, ulong qual = 0)
    {
        if (ModeUd(c) || !c.InVmxOperation) { c.RaiseUd(); return false; }
        if (c.InNonRoot) { c.RaiseVmExit(exitReason, qual, ref i, info); return false; }
        if (c.Cpl > 0) { c.RaiseGp(); return false; }
        return true;
    }

    private static bool BadPhysical(ulong addr) => (addr & 0xFFF) != 0 || (addr >> Cpu.MaxPhysAddrBits) != 0;

    private static uint MemInfo(ref Insn i) => VmxOpsInfo.Memory(ref i);

    // ---- VMXON / VMXOFF -------------------------------------------------------------------

    private static void Vmxon(Cpu c, ref Insn i)
    {
        if (ModeUd(c)) { c.RaiseUd(); return; }
        if (!c.InVmxOperation)
        {
            const ulong fcLock = 1, fcVmxOutsideSmx = 4;
            if (c.Cpl > 0
                || (c.Cr0 & VmxCapabilities.Cr0Fixed0) != VmxCapabilities.Cr0Fixed0 || (c.Cr0 & ~VmxCapabilities.Cr0Fixed1 & 0xFFFFFFFF) != 0
                || (c.Cr4 & VmxCapabilities.Cr4Fixed0) != VmxCapabilities.Cr4Fixed0 || (c.Cr4 & ~VmxCapabilities.Cr4Fixed1) != 0
                || (c.FeatureControl & fcLock) == 0 || (c.FeatureControl & fcVmxOutsideSmx) == 0)
            {
                c.RaiseGp();
                return;
            }
            ulong addr = c.ReadMem64(c.Ea(ref i));
            if (c.Faulted) return;
            if (BadPhysical(addr)) { FailInvalid(c); Next(c, ref i); return; }
            uint rev = (uint)c.Memory.Read(addr, 4);
            if (rev != VmxCapabilities.RevisionId) { FailInvalid(c); Next(c, ref i); return; }
            c.InVmxOperation = true;
            c.VmxonPointer = addr;
            c.CurrentVmcsPointer = ulong.MaxValue;
            c.FlushTlb(includeGlobal: true);
            Succeed(c);
            Next(c, ref i);
            return;
        }
        if (c.InNonRoot) { c.RaiseVmExit(ExitReason.Vmxon, VmxOpsInfo.Displacement(ref i), ref i, MemInfo(ref i)); return; }
        if (c.Cpl > 0) { c.RaiseGp(); return; }
        Fail(c, VmxError.VmxonInRoot);
        Next(c, ref i);
    }

    private static void Vmxoff(Cpu c, ref Insn i)
    {
        if (!Common(c, ref i, ExitReason.Vmxoff)) return;
        c.FlushCurrentVmcs();
        c.InvalidateEpt(ulong.MaxValue);
        c.InVmxOperation = false;
        c.CurrentVmcsPointer = ulong.MaxValue;
        c.VmxonPointer = ulong.MaxValue;
        Succeed(c);
        Next(c, ref i);
    }

    // ---- VMCS pointer instructions ---------------------------------------------------------

    private static void Vmclear(Cpu c, ref Insn i)
    {
        if (!Common(c, ref i, ExitReason.Vmclear, MemInfo(ref i), VmxOpsInfo.Displacement(ref i))) return;
        ulong addr = c.ReadMem64(c.Ea(ref i));
        if (c.Faulted) return;
        if (BadPhysical(addr)) Fail(c, VmxError.VmclearInvalidAddress);
        else if (addr == c.VmxonPointer) Fail(c, VmxError.VmclearVmxonPointer);
        else
        {
            if (addr == c.CurrentVmcsPointer)
            {
                c.VmcsLaunched = false;
                c.FlushCurrentVmcs();
                c.CurrentVmcsPointer = ulong.MaxValue;
            }
            else Vmx.Vmcs.Clear(c.Memory, addr);
            Succeed(c);
        }
        Next(c, ref i);
    }

    private static void Vmptrld(Cpu c, ref Insn i)
    {
        if (!Common(c, ref i, ExitReason.Vmptrld, MemInfo(ref i), VmxOpsInfo.Displacement(ref i))) return;
        ulong addr = c.ReadMem64(c.Ea(ref i));
        if (c.Faulted) return;
        if (BadPhysical(addr)) Fail(c, VmxError.VmptrldInvalidAddress);
        else if (addr == c.VmxonPointer) Fail(c, VmxError.VmptrldVmxonPointer);
        else if ((uint)c.Memory.Read(addr, 4) != VmxCapabilities.RevisionId) Fail(c, VmxError.VmptrldBadRevision);
        else
        {
            c.LoadCurrentVmcs(addr);
            Succeed(c);
        }
        Next(c, ref i);
    }

    private static void Vmptrst(Cpu c, ref Insn i)
    {
        if (!Common(c, ref i, ExitReason.Vmptrst, MemInfo(ref i), VmxOpsInfo.Displacement(ref i))) return;
        c.WriteMem64(c.Ea(ref i), c.CurrentVmcsPointer);
        if (c.Faulted) return;
        Succeed(c);
        Next(c, ref i);
    }

    // ---- VMREAD / VMWRITE ------------------------------------------------------------------

    private static void Vmread(Cpu c, ref Insn i)
    {
        uint info = VmxOpsInfo.ReadWrite(ref i, 0, 1, i.OpSize);
        if (!Common(c, ref i, ExitReason.Vmread, info, i.Op0IsMem ? VmxOpsInfo.Displacement(ref i) : 0)) return;
        if (c.CurrentVmcsPointer == ulong.MaxValue) { FailInvalid(c); Next(c, ref i); return; }
        int size = c.In64BitMode ? 8 : 4;
        ulong encoding = c.ReadGpr(i.R1, size);
        int slot = VmcsFields.Lookup(encoding);
        if (slot < 0) { FailValid(c, VmxError.UnsupportedField); Next(c, ref i); return; }
        ulong value = c.Vmcs[slot];
        if (VmcsField.IsHighAccess((uint)encoding)) value >>= 32;
        if (i.Op0IsMem)
        {
            c.WriteMem(c.Ea(ref i), size, value);
            if (c.Faulted) return;
        }
        else c.WriteGpr(i.R0, size, value);
        Succeed(c);
        Next(c, ref i);
    }

    private static void Vmwrite(Cpu c, ref Insn i)
    {
        uint info = VmxOpsInfo.ReadWrite(ref i, 1, 0, i.OpSize);
        if (!Common(c, ref i, ExitReason.Vmwrite, info, i.Op1IsMem ? VmxOpsInfo.Displacement(ref i) : 0)) return;
        if (c.CurrentVmcsPointer == ulong.MaxValue) { FailInvalid(c); Next(c, ref i); return; }
        int size = c.In64BitMode ? 8 : 4;
        ulong value = i.Op1IsMem ? c.ReadMem(c.Ea(ref i), size) : c.ReadGpr(i.R1, size);
        if (c.Faulted) return;
        ulong encoding = c.ReadGpr(i.R0, size);
        int slot = VmcsFields.Lookup(encoding);
        if (slot < 0) { FailValid(c, VmxError.UnsupportedField); Next(c, ref i); return; }
        uint enc = (uint)encoding;
        if (VmcsField.Type(enc) == VmcsType.ExitInfo) { FailValid(c, VmxError.VmwriteReadOnly); Next(c, ref i); return; }
        ref ulong field = ref c.Vmcs[slot];
        if (VmcsField.IsHighAccess(enc)) field = (field & 0xFFFFFFFF) | ((value & 0xFFFFFFFF) << 32);
        else if (VmcsField.Width(enc) == VmcsWidth.Bits64 && size == 4) field = value & 0xFFFFFFFF;
        else field = Cpu.TruncateField(enc, value);
        Succeed(c);
        Next(c, ref i);
    }

    // ---- VMLAUNCH / VMRESUME / VMCALL ------------------------------------------------------

    private static void Vmlaunch(Cpu c, ref Insn i) => Enter(c, ref i, launch: true);

    private static void Vmresume(Cpu c, ref Insn i) => Enter(c, ref i, launch: false);

    private static void Enter(Cpu c, ref Insn i, bool launch)
    {
        if (!Common(c, ref i, launch ? ExitReason.Vmlaunch : ExitReason.Vmresume)) return;
        if (c.CurrentVmcsPointer == ulong.MaxValue) { FailInvalid(c); Next(c, ref i); return; }
        if (c.InterruptShadowUntil > c.Retired && c.MovSsShadow) { FailValid(c, VmxError.EntryBlockedByMovSs); Next(c, ref i); return; }
        if (launch && c.VmcsLaunched) { FailValid(c, VmxError.VmlaunchNonClear); Next(c, ref i); return; }
        if (!launch && !c.VmcsLaunched) { FailValid(c, VmxError.VmresumeNonLaunched); Next(c, ref i); return; }
        int error = c.CheckEntryControls();
        if (error == 0) error = c.CheckHostState();
        if (error != 0) { FailValid(c, error); Next(c, ref i); return; }
        // From here the entry either succeeds or fails with a VM exit: either way RIP is set.
        c.Rip += i.Len;
        c.VmEntry(launch);
    }

    private static void Vmcall(Cpu c, ref Insn i)
    {
        if (!c.InVmxOperation) { c.RaiseUd(); return; }
        if (c.InNonRoot) { c.RaiseVmExit(ExitReason.Vmcall, 0, ref i); return; }
        if (ModeUd(c)) { c.RaiseUd(); return; }
        if (c.Cpl > 0) { c.RaiseGp(); return; }
        // No dual-monitor treatment of SMIs and SMM: VMCALL in root fails.
        Fail(c, VmxError.VmcallInRoot);
        Next(c, ref i);
    }

    // ---- INVEPT / INVVPID ------------------------------------------------------------------

    private static void Invept(Cpu c, ref Insn i)
    {
        if (!Common(c, ref i, ExitReason.Invept, VmxOpsInfo.Invalidate(ref i), VmxOpsInfo.Displacement(ref i))) return;
        ulong type = c.ReadGpr(i.R0, c.In64BitMode ? 8 : 4);
        ulong lin = c.Ea(ref i);
        ulong eptp = c.ReadMem64(lin);
        ulong reserved = c.ReadMem64(lin + 8);
        if (c.Faulted) return;
        _ = reserved;
        bool ok = type switch
        {
            1 => Cpu.EptpValid(eptp),
            2 => true,
            _ => false,
        };
        if (!ok) Fail(c, VmxError.InvalidInveptOperand);
        else
        {
            c.InvalidateEpt(type == 2 ? ulong.MaxValue : eptp & ~0xFFFUL);
            Succeed(c);
        }
        Next(c, ref i);
    }

    private static void Invvpid(Cpu c, ref Insn i)
    {
        if (!Common(c, ref i, ExitReason.Invvpid, VmxOpsInfo.Invalidate(ref i), VmxOpsInfo.Displacement(ref i))) return;
        ulong type = c.ReadGpr(i.R0, c.In64BitMode ? 8 : 4);
        ulong lin = c.Ea(ref i);
        ulong lo = c.ReadMem64(lin);
        ulong address = c.ReadMem64(lin + 8);
        if (c.Faulted) return;
        ushort vpid = (ushort)lo;
        bool ok = (lo >> 16) == 0 && type switch
        {
            0 => vpid != 0 && Cpu.IsCanonical(address),
            1 or 3 => vpid != 0,
            2 => true,
            _ => false,
        };
        if (!ok) Fail(c, VmxError.InvalidInveptOperand);
        else
        {
            c.InvalidateVpid(type == 2 ? -1 : vpid, type == 0 ? address : ulong.MaxValue);
            Succeed(c);
        }
        Next(c, ref i);
    }
}
