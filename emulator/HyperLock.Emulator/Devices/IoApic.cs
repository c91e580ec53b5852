using HyperLock.Emulator.Memory;

namespace HyperLock.Emulator.Devices;

/// <summary>
/// An 82093AA-style I/O APIC with 24 pins at 0xFEC00000: IOREGSEL at offset 0x00, IOWIN at
/// 0x10 and the EOI register at 0x40 (version 0x20). Emulated: the ID, version and
/// arbitration registers, the redirection table (vector, delivery mode, destination mode,
/// delivery status, remote IRR, trigger mode, mask, destination), edge-triggered delivery on
/// a rising input and level-triggered delivery with remote IRR, cleared by the local APIC's
/// EOI broadcast or the EOI register, with redelivery while the input stays asserted. Fixed
/// and lowest-priority messages go to the one local APIC when the destination matches. Not
/// emulated: pin polarity (inputs are taken as active high, as QEMU does), ExtINT, NMI, SMI
/// and INIT delivery modes (counted and dropped).
/// </summary>
public sealed class IoApic : IMmioHandler
{
    /// <summary>Default physical address of the register window.</summary>
    public const ulong DefaultBase = 0xFEC00000;
    /// <summary>Size of the register window.</summary>
    public const ulong WindowSize = 0x1000;
    /// <summary>Number of input pins.</summary>
    public const int PinCount = 24;
    /// <summary>Offset: register select (index).</summary>
    public const ulong OffsetRegisterSelect = 0x00;
    /// <summary>Offset: register data window.</summary>
    public const ulong OffsetWindow = 0x10;
    /// <summary>Offset: EOI register (writes a vector).</summary>
    public const ulong OffsetEoi = 0x40;
    /// <summary>Register index: I/O APIC ID (bits 27:24).</summary>
    public const int RegId = 0x00;
    /// <summary>Register index: version and maximum redirection entry.</summary>
    public const int RegVersion = 0x01;
    /// <summary>Register index: arbitration ID.</summary>
    public const int RegArbitration = 0x02;
    /// <summary>Register index of redirection entry 0, low dword (entry n at 0x10 + 2n).</summary>
    public const int RegRedirectionBase = 0x10;
    /// <summary>Version register value: version 0x20, highest entry 23.</summary>
    public const uint VersionValue = ((PinCount - 1) << 16) | 0x20;
    /// <summary>Entry: mask.</summary>
    public const ulong EntryMasked = 1UL << 16;
    /// <summary>Entry: level-triggered.</summary>
    public const ulong EntryLevel = 1UL << 15;
    /// <summary>Entry: remote IRR (read only).</summary>
    public const ulong EntryRemoteIrr = 1UL << 14;
    /// <summary>Entry: input polarity active low (stored only).</summary>
    public const ulong EntryActiveLow = 1UL << 13;
    /// <summary>Entry: delivery status (read only, always idle here).</summary>
    public const ulong EntryDeliveryStatus = 1UL << 12;
    /// <summary>Entry: logical destination mode.</summary>
    public const ulong EntryLogical = 1UL << 11;
    /// <summary>Entry: delivery mode shift (bits 10:8).</summary>
    public const int EntryModeShift = 8;
    /// <summary>Entry: destination shift (bits 63:56).</summary>
    public const int EntryDestinationShift = 56;
    /// <summary>Writable bits of an entry (everything but delivery status and remote IRR).</summary>
    public const ulong EntryWritable = 0xFF000000_0001AFFFUL;

    private readonly LocalApic _lapic;
    private readonly ulong[] _entries = new ulong[PinCount];
    private uint _levels;
    private uint _id, _select;

    /// <summary>Accesses and messages the model does not implement.</summary>
    public long UnhandledAccesses { get; private set; }

    /// <summary>Messages delivered to the local APIC.</summary>
    public long Delivered { get; private set; }

    public IoApic(LocalApic lapic)
    {
        _lapic = lapic;
        for (int i = 0; i < PinCount; i++) _entries[i] = EntryMasked;
    }

    /// <summary>A redirection entry (for tests and diagnostics).</summary>
    public ulong Entry(int pin) => _entries[pin];

    /// <summary>Sets the level of an input pin.</summary>
    public void SetPin(int pin, bool level)
    {
        if ((uint)pin >= PinCount) return;
        uint bit = 1u << pin;
        bool old = (_levels & bit) != 0;
        if (level) _levels |= bit; else _levels &= ~bit;
        ulong e = _entries[pin];
        if ((e & EntryLevel) != 0)
        {
            if (level) Service(pin);
        }
        else if (level && !old && (e & EntryMasked) == 0) Deliver(pin);
    }

    /// <summary>Level-triggered: delivers when asserted, unmasked and not awaiting EOI.</summary>
    private void Service(int pin)
    {
        ulong e = _entries[pin];
        if ((_levels & (1u << pin)) == 0 || (e & (EntryMasked | EntryRemoteIrr)) != 0) return;
        if (Deliver(pin)) _entries[pin] |= EntryRemoteIrr;
    }

    private bool Deliver(int pin)
    {
        ulong e = _entries[pin];
        uint mode = (uint)(e >> EntryModeShift) & 7;
        if (mode != LocalApic.ModeFixed && mode != LocalApic.ModeLowest)
        {
            UnhandledAccesses++;
            return false;
        }
        if (!_lapic.MatchesDestination((uint)(e >> EntryDestinationShift), (e & EntryLogical) != 0)) return false;
        Delivered++;
        _lapic.AcceptInterrupt((int)(e & 0xFF), (e & EntryLevel) != 0);
        return true;
    }

    /// <summary>EOI for <paramref name="vector"/> (broadcast by the local APIC or written to the EOI register).</summary>
    public void EndOfInterrupt(int vector)
    {
        for (int pin = 0; pin < PinCount; pin++)
        {
            ulong e = _entries[pin];
            if ((int)(e & 0xFF) != vector || (e & EntryRemoteIrr) == 0) continue;
            _entries[pin] = e & ~EntryRemoteIrr;
            Service(pin);
        }
    }

    public ulong Read(ulong offset, int size)
    {
        switch (offset)
        {
            case OffsetRegisterSelect: return _select;
            case OffsetWindow: return ReadRegister();
        }
        UnhandledAccesses++;
        return 0;
    }

    private uint ReadRegister()
    {
        switch ((int)_select)
        {
            case RegId: return _id << 24;
            case RegVersion: return VersionValue;
            case RegArbitration: return _id << 24;
        }
        int index = (int)_select - RegRedirectionBase;
        if (index >= 0 && index < PinCount * 2)
        {
            ulong e = _entries[index >> 1];
            return (index & 1) == 0 ? (uint)e : (uint)(e >> 32);
        }
        UnhandledAccesses++;
        return 0xFFFFFFFF;
    }

    public void Write(ulong offset, int size, ulong value)
    {
        _lapic.RequestInterruptCheck(); // an unmasked or EOI'd level input may deliver at once
        uint v = (uint)value;
        switch (offset)
        {
            case OffsetRegisterSelect: _select = v & 0xFF; return;
            case OffsetWindow: WriteRegister(v); return;
            case OffsetEoi: EndOfInterrupt((int)(v & 0xFF)); return;
        }
        UnhandledAccesses++;
    }

    private void WriteRegister(uint v)
    {
        switch ((int)_select)
        {
            case RegId: _id = (v >> 24) & 0xF; return;
            case RegVersion:
            case RegArbitration:
                UnhandledAccesses++; // read only
                return;
        }
        int index = (int)_select - RegRedirectionBase;
        if (index < 0 || index >= PinCount * 2) { UnhandledAccesses++; return; }
        int pin = index >> 1;
        ulong e = _entries[pin];
        ulong updated = (index & 1) == 0 ? (e & ~0xFFFFFFFFUL) | v : (e & 0xFFFFFFFFUL) | ((ulong)v << 32);
        updated = (updated & EntryWritable) | (e & EntryRemoteIrr);
        if ((updated & EntryLevel) == 0) updated &= ~EntryRemoteIrr; // edge mode has no remote IRR
        _entries[pin] = updated;
        if ((updated & EntryLevel) != 0) Service(pin); // unmasking an asserted level input delivers
    }
}
