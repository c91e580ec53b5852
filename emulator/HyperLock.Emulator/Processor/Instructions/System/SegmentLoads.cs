using HyperLock.Emulator.Processor.Decode;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>
/// MOV to and from segment registers, PUSH/POP of segment registers, LDS/LES/LFS/LGS/LSS.
/// Loads go through <see cref="Cpu.LoadSegment"/> (the protected-mode checks); loading SS
/// starts a one-instruction interrupt shadow, so those forms end their block.
/// </summary>
/// <remarks>PUSH of a segment register with a 32/64-bit operand size stores the selector zero-extended (one of the two behaviours the SDM allows).</remarks>
internal static unsafe partial class SystemOps
{
    private static void RegisterSegmentLoads()
    {
        OpTable.SetBranch(Code.Mov_Sreg_rm16, &MovToSreg);
        OpTable.SetBranch(Code.Mov_Sreg_r32m16, &MovToSreg);
        OpTable.SetBranch(Code.Mov_Sreg_r64m16, &MovToSreg);
        OpTable.Set(Code.Mov_rm16_Sreg, &MovFromSreg);
        OpTable.Set(Code.Mov_r32m16_Sreg, &MovFromSreg);
        OpTable.Set(Code.Mov_r64m16_Sreg, &MovFromSreg);

        foreach (var code in new[] { Code.Pushw_ES, Code.Pushw_CS, Code.Pushw_SS, Code.Pushw_DS, Code.Pushw_FS, Code.Pushw_GS })
            OpTable.Set(code, &PushSeg16);
        foreach (var code in new[] { Code.Pushd_ES, Code.Pushd_CS, Code.Pushd_SS, Code.Pushd_DS, Code.Pushd_FS, Code.Pushd_GS })
            OpTable.Set(code, &PushSeg32);
        OpTable.Set(Code.Pushq_FS, &PushSeg64);
        OpTable.Set(Code.Pushq_GS, &PushSeg64);
        foreach (var code in new[] { Code.Popw_ES, Code.Popw_SS, Code.Popw_DS, Code.Popw_FS, Code.Popw_GS })
            OpTable.SetBranch(code, &PopSeg16);
        foreach (var code in new[] { Code.Popd_ES, Code.Popd_SS, Code.Popd_DS, Code.Popd_FS, Code.Popd_GS })
            OpTable.SetBranch(code, &PopSeg32);
        OpTable.SetBranch(Code.Popq_FS, &PopSeg64);
        OpTable.SetBranch(Code.Popq_GS, &PopSeg64);

        foreach (var code in new[]
                 {
                     Code.Lds_r16_m1616, Code.Lds_r32_m1632, Code.Les_r16_m1616, Code.Les_r32_m1632, Code.Lss_r16_m1616,
                     Code.Lss_r32_m1632, Code.Lss_r64_m1664, Code.Lfs_r16_m1616, Code.Lfs_r32_m1632, Code.Lfs_r64_m1664,
                     Code.Lgs_r16_m1616, Code.Lgs_r32_m1632, Code.Lgs_r64_m1664,
                 })
            OpTable.SetBranch(code, &LoadFarPointer);
    }

    /// <summary>Loads a data/stack segment register; SS loads open the interrupt shadow.</summary>
    private static bool LoadSreg(Cpu c, int seg, ushort selector)
    {
        if (!c.LoadSegment(seg, selector)) return false;
        if (seg == Seg.Ss)
        {
            c.InterruptShadowUntil = Cpu.ShadowAfterThisInstruction;
            c.MovSsShadow = true;
        }
        return true;
    }

    private static void MovToSreg(Cpu c, ref Insn i)
    {
        int seg = i.R0;
        if (seg == Seg.Cs) { c.RaiseUd(); return; }
        ushort sel = i.Op1IsMem ? c.ReadMem16(c.Ea(ref i)) : (ushort)c.R(i.R1);
        if (c.Faulted) return;
        if (LoadSreg(c, seg, sel)) c.Rip += i.Len;
    }

    private static void MovFromSreg(Cpu c, ref Insn i)
    {
        ushort sel = c.Segs[i.R1].Selector;
        if (i.Op0IsMem) c.WriteMem16(c.Ea(ref i), sel);
        else c.WriteGpr(i.R0, i.OpSize, sel);
    }

    private static void PushSeg16(Cpu c, ref Insn i) => c.Push(c.Segs[i.R0].Selector, 2);
    private static void PushSeg32(Cpu c, ref Insn i) => c.Push(c.Segs[i.R0].Selector, 4);
    private static void PushSeg64(Cpu c, ref Insn i) => c.Push(c.Segs[i.R0].Selector, 8);

    private static void PopSeg16(Cpu c, ref Insn i) => PopSeg(c, ref i, 2);
    private static void PopSeg32(Cpu c, ref Insn i) => PopSeg(c, ref i, 4);
    private static void PopSeg64(Cpu c, ref Insn i) => PopSeg(c, ref i, 8);

    private static void PopSeg(Cpu c, ref Insn i, int size)
    {
        ushort sel = (ushort)c.PeekStack(0, size);
        if (c.Faulted) return;
        if (!LoadSreg(c, i.R0, sel)) return;
        AdjustStack(c, size);
        c.Rip += i.Len;
    }

    /// <summary>Adds to the stack pointer at the current stack-address size.</summary>
    internal static void AdjustStack(Cpu c, long delta)
    {
        int sas = c.StackAddrSize;
        ulong v = c.R(Reg.Rsp) + (ulong)delta;
        if (sas == 8) c.R(Reg.Rsp) = v;
        else if (sas == 4) c.R(Reg.Rsp) = (uint)v;
        else c.Write16(Reg.Rsp, (ushort)v);
    }

    /// <summary>LDS/LES/LFS/LGS/LSS r, m16:16/32/64: offset first in memory, then the selector.</summary>
    private static void LoadFarPointer(Cpu c, ref Insn i)
    {
        int seg = i.Code switch
        {
            Code.Lds_r16_m1616 or Code.Lds_r32_m1632 => Seg.Ds,
            Code.Les_r16_m1616 or Code.Les_r32_m1632 => Seg.Es,
            Code.Lss_r16_m1616 or Code.Lss_r32_m1632 or Code.Lss_r64_m1664 => Seg.Ss,
            Code.Lfs_r16_m1616 or Code.Lfs_r32_m1632 or Code.Lfs_r64_m1664 => Seg.Fs,
            _ => Seg.Gs,
        };
        int size = i.OpSize;
        ulong ea = c.Ea(ref i);
        ulong offset = c.ReadMem(ea, size);
        ushort sel = c.ReadMem16(c.In64BitMode ? ea + (ulong)size : (uint)(ea + (ulong)size));
        if (c.Faulted) return;
        if (!LoadSreg(c, seg, sel)) return;
        c.WriteGpr(i.R0, size, offset);
        c.Rip += i.Len;
    }
}
