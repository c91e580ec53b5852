using HyperLock.Runtime.Services;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.Runtime.Tests;

/// <summary>Bare-metal guests for the tests and a small device model.</summary>
internal static class TestGuests
{
    public const ulong Results = 0x90000;

    /// <summary>CPUID leaves 0 and 1 into memory, "Hi" to port 0xE9, two OUT/IN pairs with the device model, then status 7 to port 0xF4.</summary>
    public static GuestSpec CpuidAndIo(string name = "guest") => new(name, Assemble(GuestSpec.CodeAddress, a =>
    {
        for (int leaf = 0; leaf < 2; leaf++)
        {
            a.mov(eax, leaf);
            a.xor(ecx, ecx);
            a.cpuid();
            a.mov(__dword_ptr[Results + (ulong)leaf * 16], eax);
            a.mov(__dword_ptr[Results + (ulong)leaf * 16 + 4], ebx);
            a.mov(__dword_ptr[Results + (ulong)leaf * 16 + 8], ecx);
            a.mov(__dword_ptr[Results + (ulong)leaf * 16 + 12], edx);
        }
        a.mov(al, (byte)'H');
        a.@out(0xE9, al);
        a.mov(al, (byte)'i');
        a.@out(0xE9, al);
        a.mov(al, 0x11);
        a.@out(0x60, al);
        a.@in(al, 0x61);
        a.mov(__byte_ptr[Results + 0x20], al);
        a.mov(al, 0x22);
        a.@out(0x60, al);
        a.@in(al, 0x61);
        a.mov(__byte_ptr[Results + 0x21], al);
        a.mov(al, 7);
        a.@out(0xF4, al);
        a.hlt();
    }));

    public static byte[] Assemble(ulong address, Action<Assembler> build)
    {
        var a = new Assembler(64);
        build(a);
        var w = new Writer();
        a.Assemble(w, address);
        return w.Bytes.ToArray();
    }

    private sealed class Writer : CodeWriter
    {
        public readonly List<byte> Bytes = new();
        public override void WriteByte(byte value) => Bytes.Add(value);
    }
}

/// <summary>A test device model: OUT remembers the value and counts; IN returns last value + count.</summary>
internal sealed class CountingDevice : IDeviceModel
{
    public ulong Last;
    public int Outs;
    public List<string> Log { get; } = new();

    public ulong? PortIo(ushort port, bool isIn, int size, ulong value)
    {
        Log.Add($"{(isIn ? "in" : "out")} 0x{port:x}/{size} 0x{value & 0xFF:x}");
        if (isIn) return (Last + (ulong)Outs) & 0xFF;
        Last = value & 0xFF;
        Outs++;
        return 0;
    }
}
