using Iced.Intel;

namespace HyperLock.Emulator.Tests;

/// <summary>The one place tests turn an Iced <see cref="Assembler"/> program into bytes.</summary>
internal static class AssembledCode
{
    /// <summary>Assembles <paramref name="build"/> for <paramref name="bitness"/>-bit code at <paramref name="address"/>.</summary>
    public static byte[] Bytes(int bitness, ulong address, Action<Assembler> build) =>
        Bytes(bitness, address, build, out _);

    /// <summary>As <see cref="Bytes(int, ulong, Action{Assembler})"/>, also giving the result (label addresses).</summary>
    public static byte[] Bytes(int bitness, ulong address, Action<Assembler> build, out AssemblerResult result)
    {
        var a = new Assembler(bitness);
        build(a);
        return Bytes(a, address, out result);
    }

    /// <summary>Assembles an already built program.</summary>
    public static byte[] Bytes(Assembler a, ulong address, out AssemblerResult result)
    {
        using var stream = new MemoryStream();
        result = a.Assemble(new StreamCodeWriter(stream), address, BlockEncoderOptions.ReturnNewInstructionOffsets);
        return stream.ToArray();
    }
}
