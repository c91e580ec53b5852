using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using HyperLock.Emulator.Processor.Decode;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>MOV (non-system forms, incl. moffs), MOVZX/MOVSX/MOVSXD, XCHG, CMPXCHG/8B/16B, XADD, BSWAP, LEA, CBW family, XLAT, MOVBE.</summary>
internal static unsafe partial class DataTransfer
{
    public static void Register()
    {
        StackOps.Register(); // PUSH/POP/ENTER/LEAVE live in Stack.cs; OpTable calls one Register() per original family file
        foreach (var code in FormTable.Legacy(Mnemonic.Mov))
        {
            var op = code.ToOpCode();
            bool system = false;
            for (int n = 0; n < op.OpCount; n++)
                if (op.GetOpKind(n) is OpCodeOperandKind.cr_reg or OpCodeOperandKind.dr_reg or OpCodeOperandKind.tr_reg or OpCodeOperandKind.seg_reg) system = true;
            if (system) continue;
            int size = IntForms.SizeOf(op.GetOpKind(0));
            if (size == 0) size = IntForms.SizeOf(op.GetOpKind(1)); // moffs stores
            bool imm = IntForms.IsImm(op.GetOpKind(1));
            switch (size)
            {
                case 1: SetMov<S8>(code, imm); break;
                case 2: SetMov<S16>(code, imm); break;
                case 4: SetMov<S32>(code, imm); break;
                case 8: SetMov<S64>(code, imm); break;
            }
        }

        OpTable.Set(Code.Movzx_r16_rm8, &ExtMem<S16, S8, Zx>, &ExtReg<S16, S8, Zx>);
        OpTable.Set(Code.Movzx_r32_rm8, &ExtMem<S32, S8, Zx>, &ExtReg<S32, S8, Zx>);
        OpTable.Set(Code.Movzx_r64_rm8, &ExtMem<S64, S8, Zx>, &ExtReg<S64, S8, Zx>);
        OpTable.Set(Code.Movzx_r16_rm16, &ExtMem<S16, S16, Zx>, &ExtReg<S16, S16, Zx>);
        OpTable.Set(Code.Movzx_r32_rm16, &ExtMem<S32, S16, Zx>, &ExtReg<S32, S16, Zx>);
        OpTable.Set(Code.Movzx_r64_rm16, &ExtMem<S64, S16, Zx>, &ExtReg<S64, S16, Zx>);
        OpTable.Set(Code.Movsx_r16_rm8, &ExtMem<S16, S8, Sx>, &ExtReg<S16, S8, Sx>);
        OpTable.Set(Code.Movsx_r32_rm8, &ExtMem<S32, S8, Sx>, &ExtReg<S32, S8, Sx>);
        OpTable.Set(Code.Movsx_r64_rm8, &ExtMem<S64, S8, Sx>, &ExtReg<S64, S8, Sx>);
        OpTable.Set(Code.Movsx_r16_rm16, &ExtMem<S16, S16, Sx>, &ExtReg<S16, S16, Sx>);
        OpTable.Set(Code.Movsx_r32_rm16, &ExtMem<S32, S16, Sx>, &ExtReg<S32, S16, Sx>);
        OpTable.Set(Code.Movsx_r64_rm16, &ExtMem<S64, S16, Sx>, &ExtReg<S64, S16, Sx>);
        OpTable.Set(Code.Movsxd_r64_rm32, &ExtMem<S64, S32, Sx>, &ExtReg<S64, S32, Sx>);
        OpTable.Set(Code.Movsxd_r32_rm32, &ExtMem<S32, S32, Sx>, &ExtReg<S32, S32, Sx>);
        OpTable.Set(Code.Movsxd_r16_rm16, &ExtMem<S16, S16, Sx>, &ExtReg<S16, S16, Sx>);

        foreach (var code in FormTable.Legacy(Mnemonic.Lea))
        {
            switch (IntForms.Size(code, 0))
            {
                case 2: OpTable.Set(code, &Lea<S16>); break;
                case 4: OpTable.Set(code, &Lea<S32>); break;
                case 8: OpTable.Set(code, &Lea<S64>); break;
            }
        }

        foreach (var code in FormTable.Legacy(Mnemonic.Xchg))
        {
            switch (IntForms.Size(code, 0))
            {
                case 1: OpTable.Set(code, &XchgMem<S8>, &XchgReg<S8>); break;
                case 2: OpTable.Set(code, &XchgMem<S16>, &XchgReg<S16>); break;
                case 4: OpTable.Set(code, &XchgMem<S32>, &XchgReg<S32>); break;
                case 8: OpTable.Set(code, &XchgMem<S64>, &XchgReg<S64>); break;
            }
        }
        OpTable.Set(Code.Xadd_rm8_r8, &XaddMem<S8>, &XaddReg<S8>);
        OpTable.Set(Code.Xadd_rm16_r16, &XaddMem<S16>, &XaddReg<S16>);
        OpTable.Set(Code.Xadd_rm32_r32, &XaddMem<S32>, &XaddReg<S32>);
        OpTable.Set(Code.Xadd_rm64_r64, &XaddMem<S64>, &XaddReg<S64>);
        OpTable.Set(Code.Cmpxchg_rm8_r8, &CmpxchgMem<S8>, &CmpxchgReg<S8>);
        OpTable.Set(Code.Cmpxchg_rm16_r16, &CmpxchgMem<S16>, &CmpxchgReg<S16>);
        OpTable.Set(Code.Cmpxchg_rm32_r32, &CmpxchgMem<S32>, &CmpxchgReg<S32>);
        OpTable.Set(Code.Cmpxchg_rm64_r64, &CmpxchgMem<S64>, &CmpxchgReg<S64>);
        OpTable.Set(Code.Cmpxchg8b_m64, &Cmpxchg8b);
        OpTable.Set(Code.Cmpxchg16b_m128, &Cmpxchg16b);

        OpTable.Set(Code.Bswap_r16, &Bswap16);
        OpTable.Set(Code.Bswap_r32, &Bswap32);
        OpTable.Set(Code.Bswap_r64, &Bswap64);

        OpTable.Set(Code.Cbw, &Cbw);
        OpTable.Set(Code.Cwde, &Cwde);
        OpTable.Set(Code.Cdqe, &Cdqe);
        OpTable.Set(Code.Cwd, &Cwd);
        OpTable.Set(Code.Cdq, &Cdq);
        OpTable.Set(Code.Cqo, &Cqo);
        OpTable.Set(Code.Xlat_m8, &Xlat);

        OpTable.Set(Code.Movbe_r16_m16, &MovbeLoad<S16>);
        OpTable.Set(Code.Movbe_r32_m32, &MovbeLoad<S32>);
        OpTable.Set(Code.Movbe_r64_m64, &MovbeLoad<S64>);
        OpTable.Set(Code.Movbe_m16_r16, &MovbeStore<S16>);
        OpTable.Set(Code.Movbe_m32_r32, &MovbeStore<S32>);
        OpTable.Set(Code.Movbe_m64_r64, &MovbeStore<S64>);
    }

    // ---- MOV ----------------------------------------------------------------------------------

    private static void SetMov<S>(Code code, bool imm) where S : struct, ISize
    {
        var op = code.ToOpCode();
        if (imm) OpTable.Set(code, &MovMemImm<S>, &MovRegImm<S>);
        else if (IntForms.IsRm(op.GetOpKind(1)) || op.GetOpKind(1) == OpCodeOperandKind.mem_offs) OpTable.Set(code, &MovRegMem<S>, &MovRegReg<S>);
        else OpTable.Set(code, &MovMemReg<S>, &MovRegReg<S>);
    }

    private static void MovRegReg<S>(Cpu c, ref Insn i) where S : struct, ISize => S.Set(c, i.R0, S.Get(c, i.R1));
    private static void MovRegImm<S>(Cpu c, ref Insn i) where S : struct, ISize => S.Set(c, i.R0, i.Imm);
    private static void MovMemImm<S>(Cpu c, ref Insn i) where S : struct, ISize => S.Store(c, c.Ea(ref i), i.Imm);
    private static void MovMemReg<S>(Cpu c, ref Insn i) where S : struct, ISize => S.Store(c, c.Ea(ref i), S.Get(c, i.R1));

    private static void MovRegMem<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong v = S.Load(c, c.Ea(ref i));
        if (!c.Faulted) S.Set(c, i.R0, v);
    }

    // ---- MOVZX / MOVSX / MOVSXD -------------------------------------------------------------

    internal interface IExt { static abstract ulong Ext<T>(ulong v) where T : struct, ISize; }
    internal struct Zx : IExt { public static ulong Ext<T>(ulong v) where T : struct, ISize => v; }
    internal struct Sx : IExt { public static ulong Ext<T>(ulong v) where T : struct, ISize => (ulong)T.Sx(v); }

    private static void ExtReg<D, T, E>(Cpu c, ref Insn i) where D : struct, ISize where T : struct, ISize where E : struct, IExt =>
        D.Set(c, i.R0, E.Ext<T>(T.Get(c, i.R1)) & D.Mask);

    private static void ExtMem<D, T, E>(Cpu c, ref Insn i) where D : struct, ISize where T : struct, ISize where E : struct, IExt
    {
        ulong v = T.Load(c, c.Ea(ref i));
        if (!c.Faulted) D.Set(c, i.R0, E.Ext<T>(v) & D.Mask);
    }

    // ---- LEA ----------------------------------------------------------------------------------

    /// <summary>LEA: the offset only (no segment base), truncated to the address size, then to the operand size.</summary>
    private static void Lea<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong a = (ulong)i.Disp;
        if (i.Base != Reg.None) a += i.Base == Reg.Rip ? c.Rip : c.R(i.Base);
        if (i.Index != Reg.None) a += c.R(i.Index) << i.Scale;
        if (i.AddrSize == 4) a = (uint)a; else if (i.AddrSize == 2) a = (ushort)a;
        S.Set(c, i.R0, a);
    }

    // ---- XCHG / XADD / CMPXCHG ------------------------------------------------------------------

    private static void XchgReg<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong a = S.Get(c, i.R0), b = S.Get(c, i.R1);
        S.Set(c, i.R0, b);
        S.Set(c, i.R1, a);
    }

    private static void XchgMem<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong lin = c.Ea(ref i);
        ulong m = S.Load(c, lin);
        if (c.Faulted) return;
        int reg = i.Op0IsMem ? i.R1 : i.R0;
        S.Store(c, lin, S.Get(c, reg));
        if (c.Faulted) return;
        S.Set(c, reg, m);
    }

    private static void XaddReg<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong a = S.Get(c, i.R0), b = S.Get(c, i.R1);
        ulong r = (a + b) & S.Mask;
        S.Set(c, i.R1, a);
        S.Set(c, i.R0, r); // same register twice: the sum wins
        c.SetLazy(FlagOp.Add, a, b, r, S.Bits);
    }

    private static void XaddMem<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong lin = c.Ea(ref i);
        ulong a = S.Load(c, lin);
        if (c.Faulted) return;
        ulong b = S.Get(c, i.R1);
        ulong r = (a + b) & S.Mask;
        S.Store(c, lin, r);
        if (c.Faulted) return;
        S.Set(c, i.R1, a);
        c.SetLazy(FlagOp.Add, a, b, r, S.Bits);
    }

    /// <summary>Register destination: on a mismatch only the accumulator is written (the destination keeps its upper bits).</summary>
    private static void CmpxchgReg<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong acc = S.Get(c, Reg.Rax), d = S.Get(c, i.R0);
        if (acc == d) S.Set(c, i.R0, S.Get(c, i.R1));
        else S.Set(c, Reg.Rax, d);
        c.SetLazy(FlagOp.Sub, acc, d, (acc - d) & S.Mask, S.Bits);
    }

    /// <summary>Memory destination: always written (the old value on a mismatch), as the locked cycle does.</summary>
    private static void CmpxchgMem<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        ulong lin = c.Ea(ref i);
        ulong d = S.Load(c, lin);
        if (c.Faulted) return;
        ulong acc = S.Get(c, Reg.Rax);
        bool eq = acc == d;
        S.Store(c, lin, eq ? S.Get(c, i.R1) : d);
        if (c.Faulted) return;
        if (!eq) S.Set(c, Reg.Rax, d);
        c.SetLazy(FlagOp.Sub, acc, d, (acc - d) & S.Mask, S.Bits);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SetZf(Cpu c, bool z)
    {
        if (z) c.UpdateArithFlags(Bits.Zf, 0); else c.UpdateArithFlags(0, Bits.Zf);
    }

    private static void Cmpxchg8b(Cpu c, ref Insn i)
    {
        ulong lin = c.Ea(ref i);
        ulong m = c.ReadMem64(lin);
        if (c.Faulted) return;
        ulong cmp = ((ulong)(uint)c.R(Reg.Rdx) << 32) | (uint)c.R(Reg.Rax);
        bool eq = m == cmp;
        c.WriteMem64(lin, eq ? ((ulong)(uint)c.R(Reg.Rcx) << 32) | (uint)c.R(Reg.Rbx) : m);
        if (c.Faulted) return;
        if (!eq)
        {
            c.R(Reg.Rax) = (uint)m;
            c.R(Reg.Rdx) = m >> 32;
        }
        SetZf(c, eq);
    }

    /// <summary>CMPXCHG16B: the operand must be 16-byte aligned (#GP(0) otherwise).</summary>
    private static void Cmpxchg16b(Cpu c, ref Insn i)
    {
        ulong lin = c.Ea(ref i);
        if ((lin & 15) != 0) { c.RaiseGp(0); return; }
        Xmm m = c.ReadMem128(lin);
        if (c.Faulted) return;
        bool eq = m.Lo == c.R(Reg.Rax) && m.Hi == c.R(Reg.Rdx);
        c.WriteMem128(lin, eq ? new Xmm(c.R(Reg.Rbx), c.R(Reg.Rcx)) : m);
        if (c.Faulted) return;
        if (!eq)
        {
            c.R(Reg.Rax) = m.Lo;
            c.R(Reg.Rdx) = m.Hi;
        }
        SetZf(c, eq);
    }

    // ---- BSWAP, CBW family, XLAT, MOVBE ------------------------------------------------------

    /// <summary>16-bit BSWAP is undefined; Intel cores clear the low word, as does this.</summary>
    private static void Bswap16(Cpu c, ref Insn i) => c.Write16(i.R0, 0);
    private static void Bswap32(Cpu c, ref Insn i) => c.R(i.R0) = BinaryPrimitives.ReverseEndianness((uint)c.R(i.R0));
    private static void Bswap64(Cpu c, ref Insn i) => c.R(i.R0) = BinaryPrimitives.ReverseEndianness(c.R(i.R0));

    private static void Cbw(Cpu c, ref Insn i) => c.Write16(Reg.Rax, (ushort)(sbyte)c.R(Reg.Rax));
    private static void Cwde(Cpu c, ref Insn i) => c.R(Reg.Rax) = (uint)(short)c.R(Reg.Rax);
    private static void Cdqe(Cpu c, ref Insn i) => c.R(Reg.Rax) = (ulong)(int)c.R(Reg.Rax);
    private static void Cwd(Cpu c, ref Insn i) => c.Write16(Reg.Rdx, (short)c.R(Reg.Rax) < 0 ? (ushort)0xFFFF : (ushort)0);
    private static void Cdq(Cpu c, ref Insn i) => c.R(Reg.Rdx) = (int)c.R(Reg.Rax) < 0 ? 0xFFFFFFFFUL : 0;
    private static void Cqo(Cpu c, ref Insn i) => c.R(Reg.Rdx) = (long)c.R(Reg.Rax) < 0 ? ulong.MaxValue : 0;

    /// <summary>XLAT: AL = [seg:rBX + AL] at the address size (the decoded index register is AL, not RAX).</summary>
    private static void Xlat(Cpu c, ref Insn i)
    {
        ulong off = (c.R(Reg.Rbx) + (byte)c.R(Reg.Rax)) & IntForms.AddrMask(i.AddrSize);
        byte v = c.ReadMem8(c.SegLinear(i.Segment, off));
        if (!c.Faulted) c.Write8(Reg.Rax, v);
    }

    /// <summary>True when CPUID.1:ECX.MOVBE[22] is set; otherwise the instruction raises #UD.</summary>
    private static bool HasMovbe(Cpu c) => (c.Cpuid.Get(1, 0).Ecx & (1u << 22)) != 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Swap<S>(ulong v) where S : struct, ISize => S.Bits switch
    {
        16 => BinaryPrimitives.ReverseEndianness((ushort)v),
        32 => BinaryPrimitives.ReverseEndianness((uint)v),
        _ => BinaryPrimitives.ReverseEndianness(v),
    };

    private static void MovbeLoad<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        if (!HasMovbe(c)) { c.RaiseUd(); return; }
        ulong v = S.Load(c, c.Ea(ref i));
        if (!c.Faulted) S.Set(c, i.R0, Swap<S>(v));
    }

    private static void MovbeStore<S>(Cpu c, ref Insn i) where S : struct, ISize
    {
        if (!HasMovbe(c)) { c.RaiseUd(); return; }
        S.Store(c, c.Ea(ref i), Swap<S>(S.Get(c, i.R1)));
    }
}
