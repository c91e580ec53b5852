namespace HyperLock.Emulator.Builders;

/// <summary>A 64-bit IDT gate read back: handler, code selector, IST index, type (0xE interrupt, 0xF trap), DPL, present.</summary>
public readonly record struct IdtGate(ulong Handler, ushort Selector, int Ist, int Type, int Dpl, bool Present);
