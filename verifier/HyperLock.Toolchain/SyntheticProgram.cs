using HyperLock.Abi;
using HyperLock.Verifier.Policy;
using Iced.Intel;

namespace HyperLock.Toolchain;

/// <summary>
/// Deterministic synthetic hypervisor-like code for tests and benchmarks: functions of mostly
/// integer code (moves, loads, stores, ALU, lea, compares with jcc, setcc/cmov, push/pop),
/// with calls, masked indirect calls through code pointers, VMCS reads and writes, runtime
/// service calls and returns, and a little SSE. Every stream goes through
/// <see cref="BundleAssembler"/>, so the result verifies.
/// </summary>
public static class SyntheticProgram
{
    private static readonly Register[] Gprs =
        [Register.RAX, Register.RCX, Register.RDX, Register.RBX, Register.RSI, Register.RDI, Register.RBP,
         Register.R8, Register.R9, Register.R10, Register.R12, Register.R13, Register.R14, Register.R15];

    private static readonly uint[] ReadFields = [0x4402, 0x6400, 0x681E, 0x681C, 0x440C, 0x2400, 0x6820, 0x4824];
    private static readonly uint[] WriteFields = [0x681E, 0x681C, 0x6820, 0x4016, 0x401A, 0x4824, 0x6800];

    /// <summary>Assemble functions until the image reaches <paramref name="minBytes"/>.</summary>
    public static AssembledImage Build(int seed, int minBytes, ToolchainOptions? options = null)
    {
        int functions = Math.Max(1, minBytes / 1024 + 1);
        while (true)
        {
            var image = BuildFunctions(seed, functions, options);
            if (image.Bytes.Length >= minBytes) return image;
            functions = (int)(functions * (1.1 * minBytes / Math.Max(1, image.Bytes.Length))) + 1;
        }
    }

    private static AssembledImage BuildFunctions(int seed, int functions, ToolchainOptions? options)
    {
        var rng = new Random(seed);
        var asm = new BundleAssembler(options);
        var funcs = new Label[functions];
        for (int i = 0; i < funcs.Length; i++) funcs[i] = asm.CreateLabel();
        for (int f = 0; f < functions; f++) EmitFunction(asm, rng, funcs, f);
        return asm.Assemble();
    }

    private static void EmitFunction(BundleAssembler asm, Random rng, Label[] funcs, int index)
    {
        asm.BindEntry(funcs[index]);
        int blocks = rng.Next(8, 24);
        var blockLabels = new Label[blocks + 1];
        for (int i = 0; i < blockLabels.Length; i++) blockLabels[i] = asm.CreateLabel();
        asm.Add(Instruction.Create(Code.Push_r64, Register.RBP));
        asm.Add(Instruction.Create(Code.Mov_rm64_r64, Register.RBP, Register.RSP));
        for (int b = 0; b < blocks; b++)
        {
            asm.Bind(blockLabels[b]);
            int n = rng.Next(4, 16);
            for (int k = 0; k < n; k++) EmitStraightLine(asm, rng);
            int r = rng.Next(100);
            if (r < 45) asm.Jcc((ConditionCode)rng.Next(1, 17), blockLabels[rng.Next(blocks + 1)]);
            else if (r < 60) asm.Call(funcs[rng.Next(funcs.Length)]);
            else if (r < 64)
            {
                var reg = Pick(rng);
                asm.AddWithCodePointer(Instruction.Create(Code.Lea_r64_m, reg, new MemoryOperand(Register.RIP, 0L)), funcs[rng.Next(funcs.Length)]);
                asm.CallIndirect(reg);
            }
            else if (r < 70) asm.Vmread(Pick(rng), ReadFields[rng.Next(ReadFields.Length)]);
            else if (r < 74) asm.Vmwrite(WriteFields[rng.Next(WriteFields.Length)], Pick(rng));
            else if (r < 76) asm.Service((RuntimeService)rng.Next(1, 13));
            else if (r < 80) asm.Jmp(blockLabels[rng.Next(blocks + 1)]);
        }
        asm.Bind(blockLabels[blocks]);
        asm.Add(Instruction.Create(Code.Pop_r64, Register.RBP));
        asm.Ret();
    }

    private static Register Pick(Random rng) => Gprs[rng.Next(Gprs.Length)];

    private static Register Pick32(Random rng) => Gprs[rng.Next(Gprs.Length)] - Register.RAX + Register.EAX;

    private static MemoryOperand Mem(Random rng) => rng.Next(4) switch
    {
        0 => new MemoryOperand(Register.RSP, rng.Next(0, 16) * 8),
        1 => new MemoryOperand(Register.RBP, -8 * rng.Next(1, 32)),
        2 => new MemoryOperand(Pick(rng), rng.Next(0, 512)),
        _ => new MemoryOperand(Pick(rng), Pick(rng), 8, rng.Next(0, 64), 1),
    };

    /// <summary>One straight-line instruction from a weighted mix typical of compiled kernel code.</summary>
    public static Instruction RandomStraightLine(Random rng)
    {
        int r = rng.Next(100);
        return r switch
        {
            < 18 => Instruction.Create(Code.Mov_r64_rm64, Pick(rng), Mem(rng)),
            < 28 => Instruction.Create(Code.Mov_rm64_r64, Mem(rng), Pick(rng)),
            < 38 => Instruction.Create(Code.Mov_rm64_r64, Pick(rng), Pick(rng)),
            < 44 => Instruction.Create(Code.Mov_r32_rm32, Pick32(rng), Mem(rng)),
            < 50 => Instruction.Create(Code.Add_rm64_imm8, Pick(rng), rng.Next(-128, 128)),
            < 54 => Instruction.Create(Code.Sub_rm64_imm32, Pick(rng), rng.Next(-100000, 100000)),
            < 58 => Instruction.Create(Code.And_rm32_imm32, Pick32(rng), rng.Next()),
            < 62 => Instruction.Create(Code.Cmp_rm64_imm8, Pick(rng), rng.Next(-128, 128)),
            < 65 => Instruction.Create(Code.Test_rm64_r64, Pick(rng), Pick(rng)),
            < 69 => Instruction.Create(Code.Lea_r64_m, Pick(rng), Mem(rng)),
            < 72 => Instruction.Create(Code.Xor_r32_rm32, Pick32(rng), Pick32(rng)),
            < 75 => Instruction.Create(Code.Movzx_r32_rm8, Pick32(rng), Mem(rng)),
            < 77 => Instruction.Create(Code.Shl_rm64_imm8, Pick(rng), rng.Next(1, 63)),
            < 79 => Instruction.Create(Code.Imul_r64_rm64, Pick(rng), Pick(rng)),
            < 81 => Instruction.Create(Code.Sete_rm8, Register.AL + rng.Next(4)),
            < 83 => Instruction.Create(Code.Cmovne_r64_rm64, Pick(rng), Pick(rng)),
            < 86 => Instruction.Create(Code.Push_r64, Pick(rng)),
            < 89 => Instruction.Create(Code.Pop_r64, Pick(rng)),
            < 91 => Instruction.Create(Code.Mov_r32_imm32, Pick32(rng), (uint)rng.Next()),
            < 92 => Instruction.Create(Code.Mov_r64_imm64, Pick(rng), (ulong)rng.NextInt64()),
            < 94 => Instruction.Create(Code.Movdqu_xmm_xmmm128, Register.XMM0 + rng.Next(8), Mem(rng)),
            < 95 => Instruction.Create(Code.Pxor_xmm_xmmm128, Register.XMM0 + rng.Next(8), Register.XMM0 + rng.Next(8)),
            < 97 => Instruction.Create(Code.Add_rm64_r64, Mem(rng), Pick(rng)),
            < 98 => Instruction.Create(Code.Inc_rm32, Pick32(rng)),
            _ => Instruction.Create(Code.Bt_rm64_r64, Pick(rng), Pick(rng)),
        };
    }

    private static void EmitStraightLine(BundleAssembler asm, Random rng) => asm.Add(RandomStraightLine(rng));
}
