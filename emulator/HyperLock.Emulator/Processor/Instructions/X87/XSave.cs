using System.Buffers.Binary;
using HyperLock.Emulator.Processor.Decode;
using Iced.Intel;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>
/// XSAVE/XSAVEOPT/XRSTOR (standard format; default and REX.W forms) for state components 0 (x87)
/// and 1 (SSE), and XGETBV/XSETBV. The area is the 512-byte legacy region plus the 64-byte
/// header (XSTATE_BV at 512, XCOMP_BV at 520); 576 bytes as CPUID.(EAX=0DH,ECX=0) reports.
/// XINUSE is computed from the state (x87: the FNINIT configuration; SSE: all XMM registers
/// zero). XSAVEOPT behaves as XSAVE (it saves every requested component, which the SDM allows);
/// CPUID does not advertise it. The compacted format (XSAVEC/XSAVES/XRSTORS) is not
/// implemented (#UD), matching CPUID.(EAX=0DH,ECX=1):EAX = 0.
/// <para>
/// VMX: XSETBV in VMX non-root operation exits unconditionally (through
/// <c>Cpu.VmxInterceptXsetbv</c>), after the #UD and CPL checks, which have priority.
/// </para>
/// </summary>
internal static unsafe partial class X87
{
    internal const int OffXstateBv = 512, OffXcompBv = 520, XsaveAreaSize = 576;

    /// <summary>XCR0 bits of the components the model implements (x87, SSE).</summary>
    internal const ulong XcrX87 = 1, XcrSse = 2, XcrAvx = 4;

    private static void RegisterXSave()
    {
        foreach (var c in new[] { Code.Xsave_mem, Code.Xsave64_mem, Code.Xsaveopt_mem, Code.Xsaveopt64_mem }) Set(c, &Xsave);
        Set(Code.Xrstor_mem, &Xrstor);
        Set(Code.Xrstor64_mem, &Xrstor);
        Set(Code.Xgetbv, &Xgetbv);
        Set(Code.Xsetbv, &Xsetbv);
    }

    /// <summary>The XINUSE bitmap (which components are not in their initial configuration).</summary>
    internal static ulong XInUse(Cpu c)
    {
        ulong v = 0;
        if (!c.FpuIsInitState) v |= XcrX87;
        for (int k = 0; k < 16; k++)
        {
            ref Xmm x = ref c.X(k);
            if ((x.Lo | x.Hi) != 0) { v |= XcrSse; break; }
        }
        return v;
    }

    /// <summary>XCR0 values the processor supports (CPUID.(EAX=0DH,ECX=0):EDX:EAX).</summary>
    private static ulong SupportedXcr0(Cpu c)
    {
        var leaf = c.Cpuid.Get(0xD, 0);
        return leaf.Eax | ((ulong)leaf.Edx << 32);
    }

    /// <summary>#UD (CR4.OSXSAVE = 0 or LOCK), #NM (CR0.TS) and 64-byte alignment (#GP(0)) checks.</summary>
    private static bool XEnter(Cpu c, ref Insn i, ulong lin)
    {
        if ((c.Cr4 & Bits.Cr4Osxsave) == 0 || (i.Attr & InsnAttr.Lock) != 0)
        {
            c.RaiseUd();
            return false;
        }
        if ((c.Cr0 & Bits.Cr0Ts) != 0)
        {
            c.RaiseFault(Vector.NM);
            return false;
        }
        if ((lin & 63) != 0)
        {
            c.RaiseGp(0);
            return false;
        }
        return true;
    }

    private static ulong RequestedFeatureBitmap(Cpu c) => (((ulong)(uint)c.R(Reg.Rdx) << 32) | (uint)c.R(Reg.Rax)) & c.Xcr0;

    private static void Xsave(Cpu c, ref Insn i)
    {
        ulong lin = c.Ea(ref i);
        if (!XEnter(c, ref i, lin)) return;
        bool wide = i.Code is Code.Xsave64_mem or Code.Xsaveopt64_mem;
        ulong rfbm = RequestedFeatureBitmap(c);
        if (!c.ProbeWrite(lin, XsaveAreaSize, c.Cpl == 3)) return;
        ulong oldBv = c.ReadMem64(lin + OffXstateBv);
        if (c.Faulted) return;

        Span<byte> area = stackalloc byte[OffXmm + 16 * 16];
        if ((rfbm & XcrX87) != 0)
        {
            SaveX87Legacy(c, area, wide);
            if (!WriteBlock(c, lin, area[..OffMxcsr])) return;
            if (!WriteBlock(c, lin + OffSt, area.Slice(OffSt, 128))) return;
        }
        if ((rfbm & (XcrSse | XcrAvx)) != 0)
        {
            SaveMxcsr(c, area);
            if (!WriteBlock(c, lin + OffMxcsr, area.Slice(OffMxcsr, 8))) return;
        }
        if ((rfbm & XcrSse) != 0)
        {
            SaveXmm(c, area);
            if (!WriteBlock(c, lin + OffXmm, area.Slice(OffXmm, 16 * XmmCount(c)))) return;
        }
        ulong bv = (oldBv & ~rfbm) | (XInUse(c) & rfbm);
        c.WriteMem64(lin + OffXstateBv, bv);
    }

    private static void Xrstor(Cpu c, ref Insn i)
    {
        ulong lin = c.Ea(ref i);
        if (!XEnter(c, ref i, lin)) return;
        bool wide = i.Code == Code.Xrstor64_mem;
        ulong rfbm = RequestedFeatureBitmap(c);

        Span<byte> header = stackalloc byte[24];
        if (!ReadBlock(c, lin + OffXstateBv, header)) return;
        ulong xstateBv = BinaryPrimitives.ReadUInt64LittleEndian(header);
        ulong xcompBv = BinaryPrimitives.ReadUInt64LittleEndian(header[8..]);
        ulong reserved = BinaryPrimitives.ReadUInt64LittleEndian(header[16..]);
        // Standard format: XSTATE_BV within XCR0, header bytes 23:8 zero (the compacted
        // format, XCOMP_BV bit 63, is not supported).
        if ((xstateBv & ~c.Xcr0) != 0 || xcompBv != 0 || reserved != 0)
        {
            c.RaiseGp(0);
            return;
        }

        Span<byte> area = stackalloc byte[OffXmm + 16 * 16];
        bool loadX87 = (rfbm & XcrX87) != 0 && (xstateBv & XcrX87) != 0;
        bool loadSse = (rfbm & XcrSse) != 0 && (xstateBv & XcrSse) != 0;
        bool loadMxcsr = (rfbm & (XcrSse | XcrAvx)) != 0;
        if (loadX87)
        {
            if (!ReadBlock(c, lin, area[..OffMxcsr])) return;
            if (!ReadBlock(c, lin + OffSt, area.Slice(OffSt, 128))) return;
        }
        uint mxcsr = 0;
        if (loadMxcsr)
        {
            mxcsr = c.ReadMem32(lin + OffMxcsr);
            if (c.Faulted) return;
            if (MxcsrReserved(mxcsr))
            {
                c.RaiseGp(0);
                return;
            }
        }
        if (loadSse && !ReadBlock(c, lin + OffXmm, area.Slice(OffXmm, 16 * XmmCount(c)))) return;

        // Commit: requested components from memory or, when XSTATE_BV says so, their initial state.
        if ((rfbm & XcrX87) != 0)
        {
            if (loadX87) LoadX87Legacy(c, area, wide);
            else
            {
                c.FpuInit();
                for (int p = 0; p < 8; p++) c.FpuRegs[p] = default;
            }
        }
        if (loadMxcsr) c.Mxcsr = mxcsr;
        if ((rfbm & XcrSse) != 0)
        {
            if (loadSse) LoadXmm(c, area);
            else
                for (int k = 0; k < XmmCount(c); k++) c.X(k) = default;
        }
    }

    /// <summary>XGETBV: ECX = 0 reads XCR0; other indices #GP(0) (XINUSE via ECX = 1 is not enumerated).</summary>
    private static void Xgetbv(Cpu c, ref Insn i)
    {
        if ((c.Cr4 & Bits.Cr4Osxsave) == 0 || (i.Attr & InsnAttr.Lock) != 0)
        {
            c.RaiseUd();
            return;
        }
        if ((uint)c.R(Reg.Rcx) != 0)
        {
            c.RaiseGp(0);
            return;
        }
        c.R(Reg.Rax) = (uint)c.Xcr0;
        c.R(Reg.Rdx) = (uint)(c.Xcr0 >> 32);
    }

    /// <summary>
    /// XSETBV: #UD without CR4.OSXSAVE; #GP(0) at CPL &gt; 0, for ECX ≠ 0, with XCR0 bit 0 clear,
    /// with bits the processor does not support, or with AVX (bit 2) set but SSE (bit 1) clear.
    /// </summary>
    private static void Xsetbv(Cpu c, ref Insn i)
    {
        if ((c.Cr4 & Bits.Cr4Osxsave) == 0 || (i.Attr & InsnAttr.Lock) != 0)
        {
            c.RaiseUd();
            return;
        }
        if (c.Cpl != 0)
        {
            c.RaiseGp(0);
            return;
        }
        // In VMX non-root operation XSETBV exits unconditionally; #UD and the CPL check come
        // first (SDM 25.1.1: they have priority over VM exits).
        if (c.InNonRoot && c.VmxInterceptXsetbv(ref i)) return;
        ulong v = ((ulong)(uint)c.R(Reg.Rdx) << 32) | (uint)c.R(Reg.Rax);
        if ((uint)c.R(Reg.Rcx) != 0 || (v & XcrX87) == 0 || (v & ~SupportedXcr0(c)) != 0
            || ((v & XcrAvx) != 0 && (v & XcrSse) == 0))
        {
            c.RaiseGp(0);
            return;
        }
        c.Xcr0 = v;
    }
}
