using System.Runtime.CompilerServices;

namespace HyperLock.Emulator.Processor;

/// <summary>
/// Linear-address memory access for instruction handlers. The fast path is one TLB probe
/// and a raw load or store; everything else (misses, page crossings, MMIO, code frames)
/// goes to the slow path, which walks the page tables and may raise #PF or #GP. A faulting
/// access returns 0 and sets <see cref="Faulted"/>: handlers check it before committing.
/// An attached <see cref="IExecutionObserver"/> is told of accesses here, on the slow path only:
/// observed mode keeps the TLB empty, so the fast path never hits (Cpu/Execution/ObservedExecution.cs).
/// </summary>
public sealed unsafe partial class Cpu
{
    // ---- reads -------------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte ReadMem8(ulong lin)
    {
        ref TlbEntry e = ref TlbSlot(_readSet, lin >> 12);
        if (e.Tag == TlbTag(lin)) return *(byte*)(e.Host + (nint)(lin & 0xFFF));
        return (byte)ReadSlow(lin, 1, Cpl == 3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ushort ReadMem16(ulong lin)
    {
        ref TlbEntry e = ref TlbSlot(_readSet, lin >> 12);
        uint off = (uint)lin & 0xFFF;
        if (e.Tag == TlbTag(lin) && off <= 0xFFE) return Unsafe.ReadUnaligned<ushort>((byte*)e.Host + off);
        return (ushort)ReadSlow(lin, 2, Cpl == 3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint ReadMem32(ulong lin)
    {
        ref TlbEntry e = ref TlbSlot(_readSet, lin >> 12);
        uint off = (uint)lin & 0xFFF;
        if (e.Tag == TlbTag(lin) && off <= 0xFFC) return Unsafe.ReadUnaligned<uint>((byte*)e.Host + off);
        return (uint)ReadSlow(lin, 4, Cpl == 3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong ReadMem64(ulong lin)
    {
        ref TlbEntry e = ref TlbSlot(_readSet, lin >> 12);
        uint off = (uint)lin & 0xFFF;
        if (e.Tag == TlbTag(lin) && off <= 0xFF8) return Unsafe.ReadUnaligned<ulong>((byte*)e.Host + off);
        return ReadSlow(lin, 8, Cpl == 3);
    }

    /// <summary>Reads 1, 2, 4 or 8 bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong ReadMem(ulong lin, int size) => size switch
    {
        8 => ReadMem64(lin),
        4 => ReadMem32(lin),
        2 => ReadMem16(lin),
        _ => ReadMem8(lin),
    };

    /// <summary>Reads 16 bytes (no alignment check; SSE handlers check alignment themselves).</summary>
    public Xmm ReadMem128(ulong lin)
    {
        ref TlbEntry e = ref TlbSlot(_readSet, lin >> 12);
        uint off = (uint)lin & 0xFFF;
        if (e.Tag == TlbTag(lin) && off <= 0xFF0)
            return Unsafe.ReadUnaligned<Xmm>((byte*)e.Host + off);
        ulong lo = ReadSlow(lin, 8, Cpl == 3);
        if (Faulted) return default;
        ulong hi = ReadSlow(Bitness == 64 ? lin + 8 : (lin + 8) & 0xFFFFFFFF, 8, Cpl == 3);
        return new Xmm(lo, hi);
    }

    // ---- writes ------------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteMem8(ulong lin, byte value)
    {
        ref TlbEntry e = ref TlbSlot(_writeSet, lin >> 12);
        if (e.Tag == TlbTag(lin)) { *(byte*)(e.Host + (nint)(lin & 0xFFF)) = value; return; }
        WriteSlow(lin, 1, value, Cpl == 3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteMem16(ulong lin, ushort value)
    {
        ref TlbEntry e = ref TlbSlot(_writeSet, lin >> 12);
        uint off = (uint)lin & 0xFFF;
        if (e.Tag == TlbTag(lin) && off <= 0xFFE) { Unsafe.WriteUnaligned((byte*)e.Host + off, value); return; }
        WriteSlow(lin, 2, value, Cpl == 3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteMem32(ulong lin, uint value)
    {
        ref TlbEntry e = ref TlbSlot(_writeSet, lin >> 12);
        uint off = (uint)lin & 0xFFF;
        if (e.Tag == TlbTag(lin) && off <= 0xFFC) { Unsafe.WriteUnaligned((byte*)e.Host + off, value); return; }
        WriteSlow(lin, 4, value, Cpl == 3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteMem64(ulong lin, ulong value)
    {
        ref TlbEntry e = ref TlbSlot(_writeSet, lin >> 12);
        uint off = (uint)lin & 0xFFF;
        if (e.Tag == TlbTag(lin) && off <= 0xFF8) { Unsafe.WriteUnaligned((byte*)e.Host + off, value); return; }
        WriteSlow(lin, 8, value, Cpl == 3);
    }

    /// <summary>Writes 1, 2, 4 or 8 bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteMem(ulong lin, int size, ulong value)
    {
        switch (size)
        {
            case 8: WriteMem64(lin, value); break;
            case 4: WriteMem32(lin, (uint)value); break;
            case 2: WriteMem16(lin, (ushort)value); break;
            default: WriteMem8(lin, (byte)value); break;
        }
    }

    /// <summary>Writes 16 bytes; both halves are checked before either is stored.</summary>
    public void WriteMem128(ulong lin, Xmm value)
    {
        ref TlbEntry e = ref TlbSlot(_writeSet, lin >> 12);
        uint off = (uint)lin & 0xFFF;
        if (e.Tag == TlbTag(lin) && off <= 0xFF0) { Unsafe.WriteUnaligned((byte*)e.Host + off, value); return; }
        if (!ProbeWrite(lin, 16, Cpl == 3)) return;
        WriteSlow(lin, 8, value.Lo, Cpl == 3);
        WriteSlow(Bitness == 64 ? lin + 8 : (lin + 8) & 0xFFFFFFFF, 8, value.Hi, Cpl == 3);
    }

    /// <summary>
    /// Checks that <paramref name="size"/> bytes at <paramref name="lin"/> are writable, raising
    /// the fault now if not; lets multi-part stores (PUSH of a frame, FXSAVE) be all or nothing.
    /// </summary>
    public bool ProbeWrite(ulong lin, int size, bool user)
    {
        if (Faulted) return false; // an earlier check of this instruction (segment limit) failed
        ulong last = lin + (ulong)size - 1;
        if (!Translate(lin, Access.Write, user, out _)) return false;
        if ((last >> 12) != (lin >> 12) && !Translate(last, Access.Write, user, out _)) return false;
        return true;
    }

    /// <summary>Checks that bytes are readable, raising the fault now if not.</summary>
    public bool ProbeRead(ulong lin, int size, bool user)
    {
        if (Faulted) return false;
        ulong last = lin + (ulong)size - 1;
        if (!Translate(lin, Access.Read, user, out _)) return false;
        if ((last >> 12) != (lin >> 12) && !Translate(last, Access.Read, user, out _)) return false;
        return true;
    }

    // ---- explicit-privilege access (descriptor tables, interrupt frames) ----------------

    /// <summary>Reads with an explicit privilege (supervisor for implicit system accesses).</summary>
    public ulong ReadLinear(ulong lin, int size, bool user) => ReadSlow(lin, size, user);

    /// <summary>Writes with an explicit privilege (supervisor for implicit system accesses).</summary>
    public void WriteLinear(ulong lin, int size, ulong value, bool user) => WriteSlow(lin, size, value, user);

    // ---- slow paths --------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.NoInlining)]
    private ulong ReadSlow(ulong lin, int size, bool user)
    {
        if (Faulted) return 0; // an earlier check of this instruction (segment limit) failed
        if (DataBreakpointsArmed) CheckDataBreakpoints(lin, size, write: false);
        uint off = (uint)lin & 0xFFF;
        if (off + (uint)size > 0x1000)
        {
            ulong lin2 = (lin | 0xFFF) + 1;
            if (Bitness != 64) lin2 &= 0xFFFFFFFF; // compatibility mode wraps at 4 GiB
            if (!Translate(lin, Access.Read, user, out ulong p1)) return 0;
            if (!Translate(lin2, Access.Read, user, out ulong p2)) return 0;
            int first = (int)(0x1000 - off);
            if (_observer != null)
            {
                ReportAccess(lin, p1, first, ObservedAccessKind.Read, user);
                ReportAccess(lin2, p2, size - first, ObservedAccessKind.Read, user);
            }
            ulong v = 0;
            for (int i = 0; i < size; i++)
            {
                ulong b = i < first ? Memory.Read(p1 + (ulong)i, 1) : Memory.Read(p2 + (ulong)(i - first), 1);
                v |= b << (8 * i);
            }
            return v;
        }
        if (!GlobalTlbHit(lin, Access.Read, user, out ulong phys) && !Translate(lin, Access.Read, user, out phys)) return 0;
        if (_observer != null) ReportAccess(lin, phys, size, ObservedAccessKind.Read, user);
        return Memory.Read(phys, size);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void WriteSlow(ulong lin, int size, ulong value, bool user)
    {
        if (Faulted) return;
        if (DataBreakpointsArmed) CheckDataBreakpoints(lin, size, write: true);
        uint off = (uint)lin & 0xFFF;
        if (off + (uint)size > 0x1000)
        {
            ulong lin2 = (lin | 0xFFF) + 1;
            if (Bitness != 64) lin2 &= 0xFFFFFFFF; // compatibility mode wraps at 4 GiB
            if (!Translate(lin, Access.Write, user, out ulong p1)) return;
            if (!Translate(lin2, Access.Write, user, out ulong p2)) return;
            int first = (int)(0x1000 - off);
            if (_observer != null)
            {
                ReportAccess(lin, p1, first, ObservedAccessKind.Write, user);
                ReportAccess(lin2, p2, size - first, ObservedAccessKind.Write, user);
            }
            for (int i = 0; i < size; i++)
            {
                ulong b = (value >> (8 * i)) & 0xFF;
                if (i < first) Memory.Write(p1 + (ulong)i, 1, b);
                else Memory.Write(p2 + (ulong)(i - first), 1, b);
            }
            return;
        }
        if (!GlobalTlbHit(lin, Access.Write, user, out ulong phys) && !Translate(lin, Access.Write, user, out phys)) return;
        if (_observer != null) ReportAccess(lin, phys, size, ObservedAccessKind.Write, user);
        Memory.Write(phys, size, value);
    }
}
