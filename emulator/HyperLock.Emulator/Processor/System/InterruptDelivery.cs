using HyperLock.Emulator.Processor.Execution;

namespace HyperLock.Emulator.Processor;

/// <summary>
/// Event delivery through the IDT: real-mode IVT, protected-mode 32-bit interrupt and trap
/// gates, and IA-32e 64-bit gates with IST stacks and RSP0-2 stack switches. Faults while
/// delivering escalate to #DF, and a fault while delivering #DF shuts the processor down.
/// </summary>
public sealed partial class Cpu
{
    /// <summary>Delivers an exception or software interrupt; returns a stop on triple fault.</summary>
    internal StopReason DeliverException(int vector, bool hasError, uint error, SoftwareEventKind soft)
    {
        int first = vector;
        int softLength = PendingSoftwareLength;
        // A software interrupt (INT n, INT3, INTO) is not an exception: a fault while delivering it is handled serially.
        bool firstBenign = soft != SoftwareEventKind.None;
        for (int attempt = 0; ; attempt++)
        {
            // EXT: set for hardware exceptions and INT1, clear for INT n/INT3/INTO (SDM 6.13).
            Deliver(vector, hasError, error, soft, external: soft is SoftwareEventKind.None or SoftwareEventKind.Int1);
            if (!Faulted) return default;
            // A fault while delivering INT n/INT3/INTO/INT1 is a fault of that instruction: it did
            // not complete, so RIP goes back to it and it is not counted as retired.
            if (soft != SoftwareEventKind.None)
            {
                Rip -= (ulong)softLength;
                if (Bitness != 64) Rip &= Bitness == 32 ? 0xFFFFFFFFUL : 0xFFFFUL;
                Retired--;
            }
            int second = PendingVector;
            uint secondErr = PendingError;
            bool secondHasErr = PendingHasError;
            if (PendingIsPageFault) Cr2 = PendingCr2;
            ClearFault();
            if (vector == Vector.DF || attempt >= 8)
            {
                Log?.Invoke($"triple fault: {Vector.Name(second)} while delivering {Vector.Name(vector)}");
                return new StopReason(StopKind.Shutdown, second, secondErr, secondHasErr);
            }
            bool benign = firstBenign || !(Vector.IsContributory(first) || first == Vector.PF);
            bool escalate = !benign && (Vector.IsContributory(second) || (first == Vector.PF && second == Vector.PF));
            if (escalate)
            {
                vector = Vector.DF;
                error = 0;
                hasError = true;
            }
            else
            {
                vector = second;
                error = secondErr;
                hasError = secondHasErr;
            }
            soft = SoftwareEventKind.None;
            firstBenign = false;
            first = vector;
        }
    }

    /// <summary>Delivers a maskable interrupt from the interrupt controller.</summary>
    internal void DeliverExternalInterrupt(int vector)
    {
        Halted = false;
        Deliver(vector, false, 0, SoftwareEventKind.None, external: true);
        if (Faulted)
        {
            // Faults while delivering an external interrupt are handled like any other fault.
            var v = PendingVector; var e = PendingError; var he = PendingHasError;
            if (PendingIsPageFault) Cr2 = PendingCr2;
            ClearFault();
            var stop = DeliverException(v, he, e, SoftwareEventKind.None);
            if (stop.Kind != StopKind.None) RequestStop(stop);
        }
    }

    private void Deliver(int vector, bool hasError, uint error, SoftwareEventKind soft, bool external)
    {
        Halted = false;
        if ((Cr0 & Bits.Cr0Pe) == 0) DeliverReal(vector);
        else if ((Efer & Bits.EferLma) != 0) DeliverLong(vector, hasError, error, soft, external);
        else DeliverProtected(vector, hasError, error, soft, external);
    }

    private void DeliverReal(int vector)
    {
        ulong entry = Idtr.Base + (ulong)vector * 4;
        if ((ulong)vector * 4 + 3 > Idtr.Limit) { RaiseGp(); return; }
        uint ivt = (uint)ReadLinear(entry, 4, false);
        if (Faulted) return;
        ushort sp = (ushort)R(Reg.Rsp);
        ulong ss = Segs[Seg.Ss].Base;
        WriteLinear(ss + (ushort)(sp - 2), 2, GetRflags() & 0xFFFF, false);
        WriteLinear(ss + (ushort)(sp - 4), 2, Segs[Seg.Cs].Selector, false);
        WriteLinear(ss + (ushort)(sp - 6), 2, Rip & 0xFFFF, false);
        if (Faulted) return;
        Write16(Reg.Rsp, (ushort)(sp - 6));
        RflagsRest &= ~(Bits.If | Bits.Tf | Bits.Ac | Bits.Rf);
        ushort cs = (ushort)(ivt >> 16);
        Segs[Seg.Cs] = SegmentRegister.RealMode(cs, code: true);
        Rip = ivt & 0xFFFF;
        UpdateMode();
    }

    private void DeliverLong(int vector, bool hasError, uint error, SoftwareEventKind soft, bool external)
    {
        uint extBit = external ? 1u : 0u;
        uint idtErr = (uint)(vector << 3) | 2 | extBit;
        if ((ulong)vector * 16 + 15 > Idtr.Limit) { RaiseGp(idtErr); return; }
        ulong gateLo = ReadLinear(Idtr.Base + (ulong)vector * 16, 8, false);
        ulong gateHi = ReadLinear(Idtr.Base + (ulong)vector * 16 + 8, 8, false);
        if (Faulted) return;
        int type = (int)((gateLo >> 40) & 0xF);
        int dpl = (int)((gateLo >> 45) & 3);
        bool present = ((gateLo >> 47) & 1) != 0;
        if ((type != 0xE && type != 0xF) || ((gateLo >> 44) & 1) != 0) { RaiseGp(idtErr); return; }
        if (soft != SoftwareEventKind.None && soft != SoftwareEventKind.Int1 && dpl < Cpl) { RaiseGp(idtErr); return; }
        if (!present) { RaiseFault(Vector.NP, idtErr); return; }

        ushort selector = (ushort)(gateLo >> 16);
        ulong offset = (gateLo & 0xFFFF) | ((gateLo >> 32) & 0xFFFF0000) | (gateHi << 32);
        int ist = (int)((gateLo >> 32) & 7);
        if ((selector & ~3) == 0) { RaiseGp(extBit); return; }
        if (!TryReadDescriptor(selector, out ulong desc, out _)) { if (!Faulted) RaiseGp((uint)(selector & ~3) | extBit); return; }
        var cs = DecodeDescriptor(selector, desc);
        bool isCode = (cs.Attributes & SegmentRegister.AttrS) != 0 && (cs.Type & 8) != 0;
        if (!isCode || !cs.Long || cs.DefaultBig || cs.Dpl > Cpl) { RaiseGp((uint)(selector & ~3) | extBit); return; }
        if (!cs.Present) { RaiseFault(Vector.NP, (uint)(selector & ~3) | extBit); return; }
        bool conforming = (cs.Type & 4) != 0;
        int newCpl = conforming ? Cpl : cs.Dpl;

        ulong oldRsp = R(Reg.Rsp);
        ushort oldSs = Segs[Seg.Ss].Selector;
        if (!IsCanonical(offset)) { RaiseGp(extBit); return; }
        ulong rsp;
        ulong tssOffset = ist != 0 ? 0x24 + (ulong)(ist - 1) * 8 : 4 + (ulong)newCpl * 8;
        if (ist != 0 || newCpl < Cpl)
        {
            if (tssOffset + 7 > Tr.Limit || (Tr.Attributes & SegmentRegister.AttrUnusable) != 0)
            {
                RaiseFault(Vector.TS, (uint)(Tr.Selector & ~3) | extBit);
                return;
            }
            rsp = ReadLinear(Tr.Base + tssOffset, 8, false);
            if (Faulted) return;
            if (!IsCanonical(rsp)) { RaiseFault(Vector.SS, extBit); return; }
        }
        else rsp = oldRsp;
        rsp &= ~0xFUL;

        ulong flags = GetRflags();
        ulong oldCs = Segs[Seg.Cs].Selector;
        int frame = hasError ? 6 : 5;
        ulong top = rsp - (ulong)frame * 8;
        if (!IsCanonical(top) || !IsCanonical(rsp - 1)) { RaiseFault(Vector.SS, extBit); return; }
        if (!ProbeWrite(top, frame * 8, newCpl == 3)) return;
        ulong p = rsp;
        void Push(ulong v) { p -= 8; WriteLinear(p, 8, v, newCpl == 3); }
        Push(oldSs);
        Push(oldRsp);
        Push(flags);
        Push(oldCs);
        Push(Rip);
        if (hasError) Push(error);
        if (Faulted) return;

        if (newCpl != Cpl) Segs[Seg.Ss] = new SegmentRegister { Selector = (ushort)newCpl, Attributes = SegmentRegister.AttrUnusable | ((uint)newCpl << 5) };
        R(Reg.Rsp) = p;
        RflagsRest &= ~(Bits.Tf | Bits.Nt | Bits.Rf | Bits.Vm);
        if (type == 0xE) RflagsRest &= ~Bits.If;
        LoadCs(cs, newCpl);
        Rip = offset;
    }

    private void DeliverProtected(int vector, bool hasError, uint error, SoftwareEventKind soft, bool external)
    {
        uint extBit = external ? 1u : 0u;
        uint idtErr = (uint)(vector << 3) | 2 | extBit;
        if ((ulong)vector * 8 + 7 > Idtr.Limit) { RaiseGp(idtErr); return; }
        ulong gate = ReadLinear(Idtr.Base + (ulong)vector * 8, 8, false);
        if (Faulted) return;
        int type = (int)((gate >> 40) & 0x1F); // includes the S bit (must be 0)
        int dpl = (int)((gate >> 45) & 3);
        bool present = ((gate >> 47) & 1) != 0;
        bool is32 = type is 0xE or 0xF;
        bool is16 = type is 0x6 or 0x7;
        if (!is32 && !is16)
        {
            // Task gates (type 5) are not modelled: a system that uses them gets #GP, reported in the log once.
            if (type == 5) Log?.Invoke($"task gate for vector {vector} is not supported");
            RaiseGp(idtErr);
            return;
        }
        if (soft != SoftwareEventKind.None && soft != SoftwareEventKind.Int1 && dpl < Cpl) { RaiseGp(idtErr); return; }
        if (!present) { RaiseFault(Vector.NP, idtErr); return; }
        ushort selector = (ushort)(gate >> 16);
        uint offset = (uint)((gate & 0xFFFF) | ((gate >> 32) & 0xFFFF0000));
        if (is16) offset &= 0xFFFF;
        if ((selector & ~3) == 0) { RaiseGp(extBit); return; }
        if (!TryReadDescriptor(selector, out ulong desc, out _)) { if (!Faulted) RaiseGp((uint)(selector & ~3) | extBit); return; }
        var cs = DecodeDescriptor(selector, desc);
        bool isCode = (cs.Attributes & SegmentRegister.AttrS) != 0 && (cs.Type & 8) != 0;
        if (!isCode || cs.Dpl > Cpl) { RaiseGp((uint)(selector & ~3) | extBit); return; }
        if (!cs.Present) { RaiseFault(Vector.NP, (uint)(selector & ~3) | extBit); return; }
        int newCpl = (cs.Type & 4) != 0 ? Cpl : cs.Dpl;
        int width = is32 ? 4 : 2;
        if (offset > cs.Limit) { RaiseGp(extBit); return; }

        ulong oldEsp = R(Reg.Rsp);
        var oldSsReg = Segs[Seg.Ss];
        SegmentRegister ss = oldSsReg;
        ulong esp = Segs[Seg.Ss].DefaultBig ? (uint)oldEsp : (ushort)oldEsp;
        bool stackSwitch = newCpl < Cpl;
        if (stackSwitch)
        {
            // 32-bit TSS: ESPn at 4 + 8n, SSn at 8 + 8n.
            if (10 + (ulong)newCpl * 8 > Tr.Limit || (Tr.Attributes & SegmentRegister.AttrUnusable) != 0)
            {
                RaiseFault(Vector.TS, (uint)(Tr.Selector & ~3) | extBit);
                return;
            }
            ulong newEsp = ReadLinear(Tr.Base + 4 + (ulong)newCpl * 8, 4, false);
            ushort newSsSel = (ushort)ReadLinear(Tr.Base + 8 + (ulong)newCpl * 8, 2, false);
            if (Faulted) return;
            if ((newSsSel & ~3) == 0 || !TryReadDescriptor(newSsSel, out ulong ssDesc, out _)) { if (!Faulted) RaiseFault(Vector.TS, (uint)(newSsSel & ~3) | extBit); return; }
            ss = DecodeDescriptor(newSsSel, ssDesc);
            bool writableData = (ss.Attributes & SegmentRegister.AttrS) != 0 && (ss.Type & 0xA) == 2;
            if ((newSsSel & 3) != newCpl || ss.Dpl != newCpl || !writableData)
            {
                RaiseFault(Vector.TS, (uint)(newSsSel & ~3) | extBit);
                return;
            }
            if (!ss.Present) { RaiseFault(Vector.SS, (uint)(newSsSel & ~3) | extBit); return; }
            esp = ss.DefaultBig ? newEsp : newEsp & 0xFFFF;
        }
        bool vm = (RflagsRest & Bits.Vm) != 0;
        int count = (stackSwitch ? 2 : 0) + 3 + (hasError ? 1 : 0) + (vm ? 4 : 0);
        ulong p = esp;
        ulong flags = GetRflags();
        void Push(ulong v)
        {
            p -= (ulong)width;
            if (!ss.DefaultBig) p &= 0xFFFF; else p &= 0xFFFFFFFF;
            WriteLinear(ss.Base + p, width, v, newCpl == 3);
        }
        if (!ProbeWrite(ss.Base + ((esp - (ulong)(count * width)) & 0xFFFFFFFF), count * width, newCpl == 3)) return;
        if (vm)
        {
            Push(Segs[Seg.Gs].Selector); Push(Segs[Seg.Fs].Selector); Push(Segs[Seg.Ds].Selector); Push(Segs[Seg.Es].Selector);
        }
        if (stackSwitch) { Push(oldSsReg.Selector); Push(oldEsp); }
        Push(flags);
        Push(Segs[Seg.Cs].Selector);
        Push(Rip);
        if (hasError) Push(error);
        if (Faulted) return;
        if (stackSwitch)
        {
            Segs[Seg.Ss] = ss;
            Segs[Seg.Ss].Selector = (ushort)((ss.Selector & ~3) | newCpl);
        }
        if (vm)
        {
            for (int s = 0; s < Seg.Count; s++) if (s is Seg.Ds or Seg.Es or Seg.Fs or Seg.Gs) Segs[s] = NullSegment(0);
        }
        if (ss.DefaultBig) R(Reg.Rsp) = (uint)p; else Write16(Reg.Rsp, (ushort)p);
        RflagsRest &= ~(Bits.Tf | Bits.Nt | Bits.Rf | Bits.Vm);
        if ((type & 1) == 0) RflagsRest &= ~Bits.If;
        LoadCs(cs, newCpl);
        Rip = offset;
    }
}
