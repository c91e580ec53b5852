using HyperLock.Emulator.Processor;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.Emulator.Tests.Processor.Integer;

public class IntegerSmokeTests
{
    [Fact]
    public void LoopWithCallsAndMemory()
    {
        using var s = Snip.Run(a =>
        {
            var top = a.CreateLabel(); var f = a.CreateLabel(); var end = a.CreateLabel();
            a.mov(rbx, Snip.Scratch);
            a.mov(ecx, 100);
            a.xor(eax, eax);
            a.Label(ref top);
            a.call(f);
            a.add(__qword_ptr[rbx], rax);
            a.loop(top);
            a.jmp(end);
            a.Label(ref f);
            a.lea(rax, __[rax + rcx * 2]);
            a.ret();
            a.Label(ref end);
            a.int3();
        });
        s.AssertInt3();
        ulong acc = 0, sum = 0;
        for (ulong c = 100; c >= 1; c--) { acc += 2 * c; sum += acc; }
        Assert.Equal(acc, s.R(Reg.Rax));
        Assert.Equal(sum, s.Mem64(Snip.Scratch));
    }
}
