using HyperLock.Runtime;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.Attacks;

/// <summary>The built-in guests of the attack suite (64-bit, at <see cref="GuestSpec.CodeAddress"/>).</summary>
public static class AttackGuests
{
    /// <summary>What the victim prints on its UART when it finishes correctly.</summary>
    public const string VictimOutput = "victim ok\n";
    public const ulong VictimResults = 0x90000;

    /// <summary>
    /// The default attacker guest (<c>guest: exits</c>): CPUID, OUT to port 0x80, VMCALL (RAX = 0),
    /// over and over, so the hypervisor gets exits of three kinds (10, 30, 18).
    /// </summary>
    public static byte[] Exits() => Assemble(a =>
    {
        var top = a.CreateLabel();
        a.Label(ref top);
        a.xor(eax, eax);
        a.xor(ecx, ecx);
        a.cpuid();
        a.@out(0x80, al);
        a.xor(eax, eax);
        a.vmcall();
        a.jmp(top);
    });

    /// <summary>
    /// The other guest, run by its own healthy instance beside every attack: fills 32 KiB of its
    /// memory with a running sum (several preemption-timer slices), prints <see cref="VictimOutput"/>
    /// on COM1 and exits 0 by hypercall. It must finish exactly so whatever the attacker did.
    /// </summary>
    public static byte[] Victim() => Assemble(a =>
    {
        Label fill = a.CreateLabel(), print = a.CreateLabel(), text = a.CreateLabel();
        a.xor(eax, eax);
        a.mov(edi, (uint)VictimResults);
        a.mov(ecx, 0x1000);
        a.Label(ref fill);
        a.add(rax, rcx);
        a.mov(__qword_ptr[rdi], rax);
        a.add(rdi, 8);
        a.dec(ecx);
        a.jnz(fill);
        a.lea(rsi, __[text]);
        a.mov(edx, 0x3F8);
        a.Label(ref print);
        a.lodsb();
        a.@out(dx, al);
        a.cmp(al, (byte)'\n');
        a.jne(print);
        a.mov(eax, 2);       // hypercall: exit
        a.xor(edi, edi);
        a.vmcall();
        a.hlt();
        a.Label(ref text);
        a.db(System.Text.Encoding.ASCII.GetBytes(VictimOutput));
    });

    private static byte[] Assemble(Action<Assembler> build)
    {
        var a = new Assembler(64);
        build(a);
        var w = new Writer();
        a.Assemble(w, GuestSpec.CodeAddress);
        return w.Bytes.ToArray();
    }

    private sealed class Writer : CodeWriter
    {
        public readonly List<byte> Bytes = new();
        public override void WriteByte(byte value) => Bytes.Add(value);
    }
}
