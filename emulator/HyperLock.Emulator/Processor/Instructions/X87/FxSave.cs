using System.Buffers.Binary;
using HyperLock.Emulator.Processor.Decode;
using Iced.Intel;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>
/// FXSAVE/FXRSTOR (default and REX.W "64" forms) and the 512-byte legacy region they share with
/// XSAVE (SDM Vol. 1 Table 10-2). Written: bytes 0-159 (x87 state, MXCSR, MXCSR_MASK) and the
/// XMM registers (16 in 64-bit mode, 8 otherwise); reserved bytes inside those ranges are
/// written as zero; bytes 416-511 are never written. The default form stores 32-bit FIP/FDP
/// with FCS/FDS; the 64-bit form stores 64-bit FIP/FDP.
/// </summary>
internal static unsafe partial class X87
{
    /// <summary>Byte offsets in the legacy region.</summary>
    internal const int OffFcw = 0, OffFsw = 2, OffFtw = 4, OffFop = 6, OffFip = 8, OffFcs = 12, OffFdp = 16, OffFds = 20,
        OffMxcsr = 24, OffMxcsrMask = 28, OffSt = 32, OffXmm = 160, LegacySize = 512;

    private static void RegisterFxSave()
    {
        Set(Code.Fxsave_m512byte, &Fxsave);
        Set(Code.Fxsave64_m512byte, &Fxsave);
        Set(Code.Fxrstor_m512byte, &Fxrstor);
        Set(Code.Fxrstor64_m512byte, &Fxrstor);
    }

    private static int XmmCount(Cpu c) => c.In64BitMode ? 16 : 8;

    /// <summary>Writes the x87 part of the legacy region (bytes 0-23 and 32-159).</summary>
    internal static void SaveX87Legacy(Cpu c, Span<byte> area, bool wide)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(area[OffFcw..], c.FpuControl);
        BinaryPrimitives.WriteUInt16LittleEndian(area[OffFsw..], c.FpuStatus);
        area[OffFtw] = c.FpuAbridgedTag;
        area[OffFtw + 1] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(area[OffFop..], (ushort)(c.FpuOpcode & 0x7FF));
        if (wide)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(area[OffFip..], c.FpuIp);
            BinaryPrimitives.WriteUInt64LittleEndian(area[OffFdp..], c.FpuDp);
        }
        else
        {
            BinaryPrimitives.WriteUInt32LittleEndian(area[OffFip..], (uint)c.FpuIp);
            BinaryPrimitives.WriteUInt32LittleEndian(area[OffFcs..], c.FpuCs);
            BinaryPrimitives.WriteUInt32LittleEndian(area[OffFdp..], (uint)c.FpuDp);
            BinaryPrimitives.WriteUInt32LittleEndian(area[OffFds..], c.FpuDs);
        }
        for (int k = 0; k < 8; k++)
        {
            Span<byte> slot = area.Slice(OffSt + 16 * k, 16);
            Float80 r = c.St(k);
            BinaryPrimitives.WriteUInt64LittleEndian(slot, r.Mantissa);
            BinaryPrimitives.WriteUInt16LittleEndian(slot[8..], r.SignExp);
            slot[10..].Clear();
        }
    }

    /// <summary>Writes MXCSR and MXCSR_MASK (bytes 24-31).</summary>
    internal static void SaveMxcsr(Cpu c, Span<byte> area)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(area[OffMxcsr..], c.Mxcsr);
        BinaryPrimitives.WriteUInt32LittleEndian(area[OffMxcsrMask..], Cpu.MxcsrWritable);
    }

    /// <summary>Writes the XMM registers (bytes 160-415 in 64-bit mode, 160-287 otherwise).</summary>
    internal static void SaveXmm(Cpu c, Span<byte> area)
    {
        int n = XmmCount(c);
        for (int k = 0; k < n; k++)
        {
            ref Xmm x = ref c.X(k);
            BinaryPrimitives.WriteUInt64LittleEndian(area[(OffXmm + 16 * k)..], x.Lo);
            BinaryPrimitives.WriteUInt64LittleEndian(area[(OffXmm + 16 * k + 8)..], x.Hi);
        }
    }

    /// <summary>Loads the x87 part of the legacy region.</summary>
    internal static void LoadX87Legacy(Cpu c, ReadOnlySpan<byte> area, bool wide)
    {
        c.FpuControl = NormalizeControl(BinaryPrimitives.ReadUInt16LittleEndian(area[OffFcw..]));
        c.FpuStatus = BinaryPrimitives.ReadUInt16LittleEndian(area[OffFsw..]);
        c.FpuAbridgedTag = area[OffFtw];
        c.FpuOpcode = (ushort)(BinaryPrimitives.ReadUInt16LittleEndian(area[OffFop..]) & 0x7FF);
        if (wide)
        {
            c.FpuIp = BinaryPrimitives.ReadUInt64LittleEndian(area[OffFip..]);
            c.FpuDp = BinaryPrimitives.ReadUInt64LittleEndian(area[OffFdp..]);
            c.FpuCs = c.FpuDs = 0;
        }
        else
        {
            c.FpuIp = BinaryPrimitives.ReadUInt32LittleEndian(area[OffFip..]);
            c.FpuCs = BinaryPrimitives.ReadUInt16LittleEndian(area[OffFcs..]);
            c.FpuDp = BinaryPrimitives.ReadUInt32LittleEndian(area[OffFdp..]);
            c.FpuDs = BinaryPrimitives.ReadUInt16LittleEndian(area[OffFds..]);
        }
        for (int k = 0; k < 8; k++)
        {
            ReadOnlySpan<byte> slot = area.Slice(OffSt + 16 * k, 10);
            c.St(k) = new Float80(BinaryPrimitives.ReadUInt16LittleEndian(slot[8..]), BinaryPrimitives.ReadUInt64LittleEndian(slot));
        }
        c.FpuUpdateSummary();
    }

    internal static void LoadXmm(Cpu c, ReadOnlySpan<byte> area)
    {
        int n = XmmCount(c);
        for (int k = 0; k < n; k++)
        {
            c.X(k) = new Xmm(BinaryPrimitives.ReadUInt64LittleEndian(area[(OffXmm + 16 * k)..]),
                BinaryPrimitives.ReadUInt64LittleEndian(area[(OffXmm + 16 * k + 8)..]));
        }
    }

    /// <summary>True when an MXCSR value sets bits outside MXCSR_MASK (#GP on restore).</summary>
    internal static bool MxcsrReserved(uint v) => (v & ~Cpu.MxcsrWritable) != 0;

    /// <summary>#NM (CR0.TS or CR0.EM) and 16-byte alignment (#GP(0)) checks of FXSAVE/FXRSTOR.</summary>
    private static bool FxEnter(Cpu c, ulong lin)
    {
        if ((c.Cr0 & (Bits.Cr0Em | Bits.Cr0Ts)) != 0)
        {
            c.RaiseFault(Vector.NM);
            return false;
        }
        if ((lin & 15) != 0)
        {
            c.RaiseGp(0);
            return false;
        }
        return true;
    }

    private static void Fxsave(Cpu c, ref Insn i)
    {
        ulong lin = c.Ea(ref i);
        if (!FxEnter(c, lin)) return;
        bool wide = i.Code == Code.Fxsave64_m512byte;
        Span<byte> area = stackalloc byte[OffXmm + 16 * 16];
        SaveX87Legacy(c, area, wide);
        SaveMxcsr(c, area);
        SaveXmm(c, area);
        WriteBlock(c, lin, area[..(OffXmm + 16 * XmmCount(c))]);
    }

    private static void Fxrstor(Cpu c, ref Insn i)
    {
        ulong lin = c.Ea(ref i);
        if (!FxEnter(c, lin)) return;
        bool wide = i.Code == Code.Fxrstor64_m512byte;
        Span<byte> area = stackalloc byte[OffXmm + 16 * 16];
        int size = OffXmm + 16 * XmmCount(c);
        if (!ReadBlock(c, lin, area[..size])) return;
        uint mxcsr = BinaryPrimitives.ReadUInt32LittleEndian(area[OffMxcsr..]);
        if (MxcsrReserved(mxcsr))
        {
            c.RaiseGp(0);
            return;
        }
        LoadX87Legacy(c, area, wide);
        c.Mxcsr = mxcsr;
        LoadXmm(c, area);
    }
}
