using HyperLock.Hypervisor;
using HyperLock.Runtime;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using Label = Iced.Intel.Label;

namespace HyperLock.Demo;

/// <summary>
/// The demo's two bare-metal guests (64-bit code at <see cref="GuestSpec.CodeAddress"/>; the
/// runtime gives them long mode, an identity map and a stack). Both talk to a 16550 at COM1 by
/// polling, and end with the mini-KVM's exit hypercall.
/// </summary>
public static class DemoGuests
{
    public const int PrimeLimit = 1000;
    /// <summary>The sum of the primes below 1000 (the compute guest's answer).</summary>
    public const int PrimeSum = 76127;
    public const int TicksWanted = 20, TicksSpinning = 10;
    private const ulong Ticks = 0x8000, Idt = 0x7000, Idtr = 0x7F00, VendorBuffer = 0x8100;

    /// <summary>Prints the CPU vendor (CPUID leaf 0), then the sum of the primes below 1000, says goodbye by hypercall, exits 0.</summary>
    public static GuestSpec Primes() => new("primes", Assemble(a =>
    {
        var lib = new GuestLib(a);
        Label hello = a.CreateLabel(), sumText = a.CreateLabel(), bye = a.CreateLabel(),
            candidate = a.CreateLabel(), divisor = a.CreateLabel(), prime = a.CreateLabel(), composite = a.CreateLabel(), byeLoop = a.CreateLabel(), byeDone = a.CreateLabel();
        lib.Puts(hello);
        a.xor(eax, eax);
        a.cpuid();
        a.mov(__dword_ptr[VendorBuffer], ebx);
        a.mov(__dword_ptr[VendorBuffer + 4], edx);
        a.mov(__dword_ptr[VendorBuffer + 8], ecx);
        a.mov(__byte_ptr[VendorBuffer + 12], 0);
        a.mov(esi, (uint)VendorBuffer);
        a.call(lib.PutsLabel);
        lib.Newline();
        // Sum of primes below PrimeLimit, by trial division.
        a.xor(r8d, r8d);
        a.mov(ecx, 2);
        a.Label(ref candidate);
        a.mov(ebx, 2);
        a.Label(ref divisor);
        a.mov(eax, ebx);
        a.imul(eax, ebx);
        a.cmp(eax, ecx);
        a.ja(prime);
        a.mov(eax, ecx);
        a.xor(edx, edx);
        a.div(ebx);
        a.test(edx, edx);
        a.jz(composite);
        a.inc(ebx);
        a.jmp(divisor);
        a.Label(ref prime);
        a.add(r8d, ecx);
        a.Label(ref composite);
        a.inc(ecx);
        a.cmp(ecx, PrimeLimit);
        a.jb(candidate);
        lib.Puts(sumText);
        a.mov(eax, r8d);
        a.call(lib.PutDecLabel);
        lib.Newline();
        // Goodbye through the print hypercall (the hypervisor's console, not the UART).
        a.lea(rbx, __[bye]);
        a.Label(ref byeLoop);
        a.movzx(edi, __byte_ptr[rbx]);
        a.test(edi, edi);
        a.jz(byeDone);
        a.mov(eax, MiniKvmAbi.HypercallPrint);
        a.vmcall();
        a.inc(rbx);
        a.jmp(byeLoop);
        a.Label(ref byeDone);
        lib.Exit(0);
        lib.Library();
        lib.Text(ref hello, "primes: vendor ");
        lib.Text(ref sumText, $"primes: sum of primes below {PrimeLimit} = ");
        lib.Text(ref bye, "bye from primes\n");
    }));

    /// <summary>
    /// Programs PIC and PIT (IRQ 0 every 1193 clocks), counts timer interrupts: spins until
    /// <see cref="TicksSpinning"/> (preemption-timer slices drive the clock), then HLTs until
    /// <see cref="TicksWanted"/> (each HLT idles the clock to the next tick); prints the count and
    /// exits 0 if it reached the target.
    /// </summary>
    public static GuestSpec Ticker() => new("ticker", Assemble(a =>
    {
        var lib = new GuestLib(a);
        Label isr = a.CreateLabel(), hello = a.CreateLabel(), countText = a.CreateLabel(), spin = a.CreateLabel(), idle = a.CreateLabel(), ok = a.CreateLabel();
        // IDT entry 0x20 → isr (64-bit interrupt gate, selector 0x08).
        ulong gate = Idt + 0x20 * 16;
        a.lea(rax, __[isr]);
        a.mov(__word_ptr[gate], ax);
        a.mov(__word_ptr[gate + 2], 0x08);
        a.mov(__word_ptr[gate + 4], 0x8E00);
        a.shr(rax, 16);
        a.mov(__word_ptr[gate + 6], ax);
        a.shr(rax, 16);
        a.mov(__dword_ptr[gate + 8], eax);
        a.mov(__dword_ptr[gate + 12], 0);
        a.mov(__word_ptr[Idtr], 0xFFF);
        a.mov(__qword_ptr[Idtr + 2], (int)Idt);
        a.lidt(__[Idtr]);
        a.mov(__dword_ptr[Ticks], 0);
        // PIC: ICW1 (edge, ICW4 follows), ICW2 vector base 0x20, ICW3, ICW4 8086 mode; unmask IRQ 0 only.
        foreach (var (port, value) in new (byte, byte)[] { (0x20, 0x11), (0x21, 0x20), (0x21, 0x04), (0x21, 0x01), (0x21, 0xFE) })
        {
            a.mov(al, value);
            a.@out(port, al);
        }
        // PIT channel 0, lo/hi, mode 2, reload 1193 (1 kHz).
        foreach (var (port, value) in new (byte, byte)[] { (0x43, 0x34), (0x40, 0xA9), (0x40, 0x04) })
        {
            a.mov(al, value);
            a.@out(port, al);
        }
        lib.Puts(hello);
        a.sti();
        a.Label(ref spin);
        a.cmp(__dword_ptr[Ticks], TicksSpinning);
        a.jb(spin);
        a.Label(ref idle);
        a.hlt();
        a.cmp(__dword_ptr[Ticks], TicksWanted);
        a.jb(idle);
        a.cli();
        lib.Puts(countText);
        a.mov(eax, __dword_ptr[Ticks]);
        a.call(lib.PutDecLabel);
        lib.Newline();
        a.cmp(__dword_ptr[Ticks], TicksWanted);
        a.je(ok);
        lib.Exit(1);
        a.Label(ref ok);
        lib.Exit(0);

        a.Label(ref isr);
        a.push(rax);
        a.inc(__dword_ptr[Ticks]);
        a.mov(al, 0x20);
        a.@out(0x20, al);            // non-specific EOI
        a.pop(rax);
        a.iretq();
        lib.Library();
        lib.Text(ref hello, $"ticker: counting {TicksWanted} timer interrupts\n");
        lib.Text(ref countText, "ticker: ticks = ");
    }));

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
