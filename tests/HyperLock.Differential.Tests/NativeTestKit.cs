using HyperLock.Differential.Tests.Harness;
using HyperLock.Differential.Tests.Harness.Native;
using Iced.Intel;

namespace HyperLock.Differential.Tests;

/// <summary>What the tests that drive the native executor directly share: the executor, an encoder at the scratch code base, and a neutral starting state.</summary>
internal static class NativeTestKit
{
    /// <summary>The native executor; the test fails (with the reason) where the host cannot run code natively.</summary>
    public static NativeExecutor Native()
    {
        var n = NativeExecutor.TryGet(out string failure);
        Assert.True(n != null, "native execution unavailable: " + failure);
        return n!;
    }

    /// <summary>The bytes of <paramref name="ins"/> encoded at <see cref="ScratchLayout.CodeBase"/>.</summary>
    public static byte[] Encode(Instruction ins)
    {
        var w = new ByteWriter();
        Encoder.Create(64, w).Encode(ins, ScratchLayout.CodeBase);
        return w.ToArray();
    }

    /// <summary>IF set, default MXCSR, RSP at the top of the scratch stack, everything else zero.</summary>
    public static MachineState State()
    {
        var s = new MachineState { Rflags = 0x202, Mxcsr = 0x1F80 };
        s.Gpr[4] = ScratchLayout.StackTop;
        return s;
    }
}
