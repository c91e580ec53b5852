using HyperLock.Emulator.Processor.Decode;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>
/// IN/OUT and INS/OUTS through <see cref="Cpu.Io"/>, with the IOPL check and, at CPL &gt; IOPL
/// (or in V86 mode), the TSS I/O permission bitmap. REP string forms run in chunks: a chunk
/// that leaves work keeps RIP at the instruction, so interrupts and timers get in between.
/// </summary>
internal static unsafe partial class SystemOps
{
    /// <summary>Iterations of a REP INS/OUTS per execution.</summary>
    private const int IoChunk = 256;

    private static void RegisterPortIo()
    {
        foreach (var code in new[] { Code.In_AL_imm8, Code.In_AX_imm8, Code.In_EAX_imm8, Code.In_AL_DX, Code.In_AX_DX, Code.In_EAX_DX })
            OpTable.Set(code, &In);
        foreach (var code in new[] { Code.Out_imm8_AL, Code.Out_imm8_AX, Code.Out_imm8_EAX, Code.Out_DX_AL, Code.Out_DX_AX, Code.Out_DX_EAX })
            OpTable.SetBranch(code, &Out);
        foreach (var code in new[] { Code.Insb_m8_DX, Code.Insw_m16_DX, Code.Insd_m32_DX }) OpTable.SetBranch(code, &Ins);
        foreach (var code in new[] { Code.Outsb_DX_m8, Code.Outsw_DX_m16, Code.Outsd_DX_m32 }) OpTable.SetBranch(code, &Outs);
    }

    private static int IoSize(Code code) => code switch
    {
        Code.In_AL_imm8 or Code.In_AL_DX or Code.Out_imm8_AL or Code.Out_DX_AL or Code.Insb_m8_DX or Code.Outsb_DX_m8 => 1,
        Code.In_AX_imm8 or Code.In_AX_DX or Code.Out_imm8_AX or Code.Out_DX_AX or Code.Insw_m16_DX or Code.Outsw_DX_m16 => 2,
        _ => 4,
    };

    private static bool PortFromImmediate(Code code) =>
        code is Code.In_AL_imm8 or Code.In_AX_imm8 or Code.In_EAX_imm8 or Code.Out_imm8_AL or Code.Out_imm8_AX or Code.Out_imm8_EAX;

    /// <summary>
    /// True when the access to ports [port, port+size) is allowed; otherwise raises #GP(0).
    /// Real mode and CPL ≤ IOPL always pass; else every bit for the ports in the TSS bitmap
    /// must be clear, and the bitmap bytes must lie within the TSS limit.
    /// </summary>
    internal static bool IoAllowed(Cpu c, ushort port, int size)
    {
        if ((c.Cr0 & Bits.Cr0Pe) == 0) return true;
        if (!InV86(c) && c.Cpl <= Iopl(c)) return true;
        ref SegmentRegister tr = ref c.Tr;
        bool tss32 = (tr.Attributes & SegmentRegister.AttrUnusable) == 0 && (tr.Type is 9 or 0xB) && tr.Limit >= 0x67;
        if (tss32)
        {
            ulong mapBase = c.ReadLinear(tr.Base + 0x66, 2, user: false);
            if (c.Faulted) return false;
            ulong byteOffset = mapBase + (ulong)(port >> 3);
            if (byteOffset + 1 <= tr.Limit)
            {
                ulong bits = c.ReadLinear(tr.Base + byteOffset, 2, user: false);
                if (c.Faulted) return false;
                ulong mask = ((1UL << size) - 1) << (port & 7);
                if ((bits & mask) == 0) return true;
            }
        }
        c.RaiseGp(0);
        return false;
    }

    private static uint PortIn(Cpu c, ushort port, int size)
    {
        uint ones = size == 4 ? 0xFFFFFFFF : (1u << (size * 8)) - 1;
        return c.Io == null ? ones : c.Io.In(port, size) & ones;
    }

    private static void In(Cpu c, ref Insn i)
    {
        int size = IoSize(i.Code);
        ushort port = PortFromImmediate(i.Code) ? (ushort)(i.Imm & 0xFF) : (ushort)c.R(Reg.Rdx);
        if (!IoAllowed(c, port, size)) return;
        if (c.InNonRoot && c.VmxInterceptIo(ref i, port, size, input: true, isString: false, rep: false, PortFromImmediate(i.Code))) return;
        c.WriteGpr(Reg.Rax, size, PortIn(c, port, size));
        c.CheckIoBreakpoints(port, size);
    }

    private static void Out(Cpu c, ref Insn i)
    {
        int size = IoSize(i.Code);
        ushort port = PortFromImmediate(i.Code) ? (ushort)(i.Imm & 0xFF) : (ushort)c.R(Reg.Rdx);
        if (!IoAllowed(c, port, size)) return;
        if (c.InNonRoot && c.VmxInterceptIo(ref i, port, size, input: false, isString: false, rep: false, PortFromImmediate(i.Code))) return;
        c.Io?.Out(port, size, (uint)c.ReadGpr(Reg.Rax, size));
        c.CheckIoBreakpoints(port, size);
        c.Rip += i.Len;
    }

    /// <summary>Reads an index register (rSI/rDI/rCX) at the address size.</summary>
    private static ulong AddrReg(Cpu c, int reg, int addrSize) => addrSize switch
    {
        8 => c.R(reg),
        4 => (uint)c.R(reg),
        _ => (ushort)c.R(reg),
    };

    private static void SetAddrReg(Cpu c, int reg, int addrSize, ulong v)
    {
        if (addrSize == 8) c.R(reg) = v;
        else if (addrSize == 4) c.R(reg) = (uint)v;
        else c.Write16(reg, (ushort)v);
    }

    private static void Ins(Cpu c, ref Insn i)
    {
        int size = IoSize(i.Code), asz = i.AddrSize;
        ushort port = (ushort)c.R(Reg.Rdx);
        bool rep = (i.Attr & (InsnAttr.Rep | InsnAttr.RepNe)) != 0;
        if (!IoAllowed(c, port, size)) return;
        if (c.InNonRoot && c.VmxInterceptIo(ref i, port, size, input: true, isString: true, rep, immediate: false)) return;
        ulong count = rep ? AddrReg(c, Reg.Rcx, asz) : 1;
        if (count == 0) { c.Rip += i.Len; return; }
        c.CheckIoBreakpoints(port, size);
        long step = c.DF ? -size : size;
        for (int n = 0; n < IoChunk && count > 0; n++)
        {
            ulong di = AddrReg(c, Reg.Rdi, asz);
            ulong lin = c.SegLinear(Seg.Es, di);
            if (!c.ProbeWrite(lin, size, c.Cpl == 3)) return;
            c.WriteMem(lin, size, PortIn(c, port, size));
            if (c.Faulted) return;
            SetAddrReg(c, Reg.Rdi, asz, di + (ulong)step);
            count--;
            if (rep) SetAddrReg(c, Reg.Rcx, asz, count);
        }
        if (count == 0) c.Rip += i.Len;
    }

    private static void Outs(Cpu c, ref Insn i)
    {
        int size = IoSize(i.Code), asz = i.AddrSize;
        ushort port = (ushort)c.R(Reg.Rdx);
        bool rep = (i.Attr & (InsnAttr.Rep | InsnAttr.RepNe)) != 0;
        if (!IoAllowed(c, port, size)) return;
        if (c.InNonRoot && c.VmxInterceptIo(ref i, port, size, input: false, isString: true, rep, immediate: false)) return;
        ulong count = rep ? AddrReg(c, Reg.Rcx, asz) : 1;
        if (count == 0) { c.Rip += i.Len; return; }
        c.CheckIoBreakpoints(port, size);
        long step = c.DF ? -size : size;
        for (int n = 0; n < IoChunk && count > 0; n++)
        {
            ulong si = AddrReg(c, Reg.Rsi, asz);
            ulong v = c.ReadMem(c.SegLinear(i.Segment, si), size);
            if (c.Faulted) return;
            c.Io?.Out(port, size, (uint)v);
            SetAddrReg(c, Reg.Rsi, asz, si + (ulong)step);
            count--;
            if (rep) SetAddrReg(c, Reg.Rcx, asz, count);
        }
        if (count == 0) c.Rip += i.Len;
    }
}
