using HyperLock.Abi;
using HyperLock.Emulator.Builders;
using HyperLock.Runtime.Trampoline;
using Iced.Intel;

namespace HyperLock.Runtime.Tests;

/// <summary>The trampoline's bundle discipline and the IDTs that point into it (SPEC §1 item 3, §5).</summary>
public class TrampolineShapeTests
{
    [Fact]
    public void EveryBundleStartsWithInt3AndEndsWithAJumpPastTheInt3OfABundle()
    {
        var t = TrampolineCode.Build(0x1000);
        Assert.Equal(0, t.Bytes.Length % 32);
        for (int b = 0; b < t.Bytes.Length; b += 32)
        {
            Assert.Equal(0xCC, t.Bytes[b]);
            // Decode the bundle: instructions fit it exactly and the last one is JMP rel32.
            var decoder = Decoder.Create(64, new ByteArrayCodeReader(t.Bytes, b, 32), ConfinedLayout.Trampoline + (ulong)b);
            Instruction last = default;
            int used = 0;
            while (used < 32)
            {
                decoder.Decode(out last);
                Assert.False(last.IsInvalid, $"bundle at 0x{b:x}: undecodable");
                used += last.Length;
            }
            Assert.Equal(32, used);
            Assert.Equal(Code.Jmp_rel32_64, last.Code);
            ulong target = last.NearBranchTarget - ConfinedLayout.Trampoline;
            Assert.True(target % 32 == 1 && target < (ulong)t.Bytes.Length, $"bundle at 0x{b:x} jumps to +0x{target:x}");
            // Every branch inside lands just past an INT3 too.
            decoder = Decoder.Create(64, new ByteArrayCodeReader(t.Bytes, b, 32), ConfinedLayout.Trampoline + (ulong)b);
            for (used = 0; used < 32;)
            {
                decoder.Decode(out var i);
                used += i.Length;
                if (i.FlowControl is FlowControl.ConditionalBranch or FlowControl.UnconditionalBranch)
                    Assert.Equal(1UL, (i.NearBranchTarget - ConfinedLayout.Trampoline) % 32);
            }
        }
    }

    [Fact]
    public void TheRestOfTheLastTrampolineFrameIsInt3()
    {
        // A masked jump may land on any 32-byte-aligned address of the mapped frames, past the code too.
        using var rt = new IsolationRuntime();
        int length = rt.Trampoline.Bytes.Length;
        int tail = rt.TrampolineFrames.Count * 0x1000 - length;
        Assert.True(tail > 0, "the trampoline does not end at a frame boundary (this test needs a tail)");
        var bytes = new byte[tail];
        rt.Board.Memory.ReadBytes(rt.TrampolineFrames[^1] + 0x1000 - (ulong)tail, bytes);
        Assert.All(bytes, b => Assert.Equal(0xCC, b));
    }

    [Fact]
    public void EveryVectorOfEveryIdtHasAGateToItsBundlePlusOneOnAnIstStack()
    {
        using var rt = new IsolationRuntime();
        var image = rt.Load(TestHypervisors.CpuidAndIo());
        var inst = rt.AddGuest(TestGuests.CpuidAndIo(), image);
        foreach (ulong idtFrame in new[] { inst.IdtFrame, HostLayout.HostIdt })
        {
            var idt = new IdtBuilder(rt.Board.Memory, idtFrame);
            for (int v = 0; v < 256; v++)
            {
                var g = idt.ReadGate64(v);
                Assert.True(g.Present);
                Assert.Equal(ConfinedLayout.Trampoline + (ulong)v * 32 + 1, g.Handler);
                Assert.Equal(v switch { 2 => 2, 8 => 3, 18 => 4, _ => 1 }, g.Ist); // NMI, #DF, #MC on stacks of their own
                Assert.Equal(ConfinedLayout.CodeSelector, g.Selector);
                Assert.Equal(IdtBuilder.InterruptGate, g.Type);
                Assert.Equal(0xCCUL, rt.Board.Memory.Read(rt.TrampolineFrames[v * 32 / 4096] + (ulong)(v * 32 % 4096), 1));
            }
        }
        foreach (ulong tss in new[] { inst.TssFrame, HostLayout.HostTss })
        {
            var t = new TssBuilder(rt.Board.Memory, tss);
            Assert.Equal(ConfinedLayout.IstTop, t.ReadIst(1));
            Assert.Equal(ConfinedLayout.NmiStackTop, t.ReadIst(2));
            Assert.Equal(ConfinedLayout.DoubleFaultStackTop, t.ReadIst(3));
            Assert.Equal(ConfinedLayout.MachineCheckStackTop, t.ReadIst(4));
            Assert.Equal(4, new[] { t.ReadIst(1), t.ReadIst(2), t.ReadIst(3), t.ReadIst(4) }.Distinct().Count());
        }
    }

    [Fact]
    public void VectorBundlesPushAZeroErrorCodeExactlyWhenTheCpuPushesNone()
    {
        var t = TrampolineCode.Build(0x1000);
        for (int v = 0; v < 256; v++)
        {
            var decoder = Decoder.Create(64, new ByteArrayCodeReader(t.Bytes, v * 32 + 1, 31), 0);
            decoder.Decode(out var first);
            bool pushesZero = first.Code == Code.Pushq_imm8 && first.Immediate8 == 0;
            Assert.Equal(!TrampolineCode.HasErrorCode(v), pushesZero);
        }
    }
}
