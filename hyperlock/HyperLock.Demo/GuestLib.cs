using HyperLock.Hypervisor;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using Label = Iced.Intel.Label;

namespace HyperLock.Demo;

/// <summary>Guest-side routines the demo guests share: polled COM1 output, decimal printing, the exit hypercall.</summary>
internal sealed class GuestLib(Assembler a)
{
    public Label PutsLabel = a.CreateLabel(), PutDecLabel = a.CreateLabel(), PutcLabel = a.CreateLabel();

    public void Puts(Label text)
    {
        a.lea(rsi, __[text]);
        a.call(PutsLabel);
    }

    public void Newline()
    {
        a.mov(al, (byte)'\n');
        a.call(PutcLabel);
    }

    public void Exit(int code)
    {
        a.mov(eax, MiniKvmAbi.HypercallExit);
        a.mov(edi, code);
        a.vmcall();
        a.hlt();
    }

    public void Text(ref Label label, string text)
    {
        a.Label(ref label);
        a.db([.. System.Text.Encoding.ASCII.GetBytes(text), 0]);
    }

    /// <summary>puts (RSI = zero-terminated text), putdec (EAX), putc (AL; waits for LSR.THRE).</summary>
    public void Library()
    {
        Label done = a.CreateLabel(), digits = a.CreateLabel(), emit = a.CreateLabel(), wait = a.CreateLabel();
        a.Label(ref PutsLabel);
        a.mov(al, __byte_ptr[rsi]);
        a.test(al, al);
        a.jz(done);
        a.call(PutcLabel);
        a.inc(rsi);
        a.jmp(PutsLabel);
        a.Label(ref done);
        a.ret();

        a.Label(ref PutDecLabel);
        a.push(rbx);
        a.mov(ebx, 10);
        a.xor(ecx, ecx);
        a.Label(ref digits);
        a.xor(edx, edx);
        a.div(ebx);
        a.push(rdx);
        a.inc(ecx);
        a.test(eax, eax);
        a.jnz(digits);
        a.Label(ref emit);
        a.pop(rax);
        a.add(al, (byte)'0');
        a.call(PutcLabel);
        a.dec(ecx);
        a.jnz(emit);
        a.pop(rbx);
        a.ret();

        a.Label(ref PutcLabel);
        a.push(rdx);
        a.mov(ah, al);
        a.mov(dx, 0x3FD);
        a.Label(ref wait);
        a.@in(al, dx);
        a.test(al, 0x20);
        a.jz(wait);
        a.mov(al, ah);
        a.mov(dx, 0x3F8);
        a.@out(dx, al);
        a.pop(rdx);
        a.ret();
    }
}
