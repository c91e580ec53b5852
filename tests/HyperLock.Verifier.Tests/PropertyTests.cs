using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using HyperLock.Toolchain;
using HyperLock.Verifier.Policy;
using Iced.Intel;
using Label = HyperLock.Toolchain.Label;

namespace HyperLock.Verifier.Tests;

/// <summary>FsCheck properties of the verifier and the toolchain.</summary>
public class PropertyTests
{
    private static readonly Register[] Gprs =
        [Register.RAX, Register.RCX, Register.RDX, Register.RBX, Register.RSI, Register.RDI, Register.RBP, Register.R8, Register.R15];

    private enum OpKind { Plain, Jmp, Jcc, Call, JmpInd, CallInd, Ret, Vmread, Vmwrite, Privileged }

    private sealed record SourceOp(OpKind Kind, Instruction Instr, int Target, ConditionCode Cc, Register Reg, uint Field);

    private static readonly Code[] Privileged = [Code.Rdmsr, Code.Wrmsr, Code.Hlt, Code.Cpuid, Code.Rdtsc, Code.Vmresume, Code.Vmlaunch];

    private static List<SourceOp> RandomStream(int seed, int count)
    {
        var rng = new Random(seed);
        var ops = new List<SourceOp>();
        for (int i = 0; i < count; i++)
        {
            int r = rng.Next(100);
            var reg = Gprs[rng.Next(Gprs.Length)];
            int target = rng.Next(count + 1);
            ops.Add(r switch
            {
                < 60 => new SourceOp(OpKind.Plain, SyntheticProgram.RandomStraightLine(rng), 0, default, default, 0),
                < 66 => new SourceOp(OpKind.Jmp, default, target, default, default, 0),
                < 76 => new SourceOp(OpKind.Jcc, default, target, (ConditionCode)rng.Next(1, 17), default, 0),
                < 81 => new SourceOp(OpKind.Call, default, target, default, default, 0),
                < 84 => new SourceOp(OpKind.JmpInd, default, 0, default, reg, 0),
                < 87 => new SourceOp(OpKind.CallInd, default, 0, default, reg, 0),
                < 90 => new SourceOp(OpKind.Ret, default, 0, default, default, 0),
                < 93 => new SourceOp(OpKind.Vmread, default, 0, default, reg, 0x681E),
                < 96 => new SourceOp(OpKind.Vmwrite, default, 0, default, reg, 0x4016),
                _ => new SourceOp(OpKind.Privileged, Instruction.Create(Privileged[rng.Next(Privileged.Length)]), 0, default, default, 0),
            });
        }
        return ops;
    }

    private static (AssembledImage Image, Label[] Labels) Assemble(List<SourceOp> ops)
    {
        var asm = new BundleAssembler();
        var labels = Enumerable.Range(0, ops.Count + 1).Select(_ => asm.CreateLabel()).ToArray();
        for (int i = 0; i < ops.Count; i++)
        {
            asm.Bind(labels[i]);
            var op = ops[i];
            switch (op.Kind)
            {
                case OpKind.Plain or OpKind.Privileged: asm.Add(op.Instr); break;
                case OpKind.Jmp: asm.Jmp(labels[op.Target]); break;
                case OpKind.Jcc: asm.Jcc(op.Cc, labels[op.Target]); break;
                case OpKind.Call: asm.Call(labels[op.Target]); break;
                case OpKind.JmpInd: asm.JmpIndirect(op.Reg); break;
                case OpKind.CallInd: asm.CallIndirect(op.Reg); break;
                case OpKind.Ret: asm.Ret(); break;
                case OpKind.Vmread: asm.Vmread(op.Reg, op.Field); break;
                case OpKind.Vmwrite: asm.Vmwrite(op.Field, op.Reg); break;
            }
        }
        asm.Bind(labels[ops.Count]);
        return (asm.Assemble(), labels);
    }

    private static readonly Formatter Fmt = CreateFormatter();

    private static Formatter CreateFormatter()
    {
        var f = new NasmFormatter();
        f.Options.ShowBranchSize = false;
        return f;
    }

    private static string Text(in Instruction i)
    {
        var o = new StringOutput();
        Fmt.Format(i, o);
        return o.ToStringAndReset();
    }

    /// <summary>The instruction texts a source stream must become, with branch targets resolved through the image's labels.</summary>
    private static List<string> Expected(List<SourceOp> ops, AssembledImage img, Label[] labels)
    {
        var r11 = ToolchainOptions.Scratch;
        var list = new List<string>();
        void Add(Instruction i) => list.Add(Text(i));
        foreach (var op in ops)
        {
            switch (op.Kind)
            {
                case OpKind.Plain: Add(op.Instr); break;
                case OpKind.Jmp: Add(Instruction.CreateBranch(Code.Jmp_rel32_64, (ulong)img.OffsetOf(labels[op.Target]))); break;
                case OpKind.Jcc:
                    Add(Instruction.CreateBranch(op.Cc switch
                    {
                        ConditionCode.o => Code.Jo_rel32_64, ConditionCode.no => Code.Jno_rel32_64, ConditionCode.b => Code.Jb_rel32_64,
                        ConditionCode.ae => Code.Jae_rel32_64, ConditionCode.e => Code.Je_rel32_64, ConditionCode.ne => Code.Jne_rel32_64,
                        ConditionCode.be => Code.Jbe_rel32_64, ConditionCode.a => Code.Ja_rel32_64, ConditionCode.s => Code.Js_rel32_64,
                        ConditionCode.ns => Code.Jns_rel32_64, ConditionCode.p => Code.Jp_rel32_64, ConditionCode.np => Code.Jnp_rel32_64,
                        ConditionCode.l => Code.Jl_rel32_64, ConditionCode.ge => Code.Jge_rel32_64, ConditionCode.le => Code.Jle_rel32_64,
                        _ => Code.Jg_rel32_64,
                    }, (ulong)img.OffsetOf(labels[op.Target])));
                    break;
                case OpKind.Call: Add(Instruction.CreateBranch(Code.Call_rel32_64, (ulong)img.OffsetOf(labels[op.Target]))); break;
                case OpKind.JmpInd or OpKind.CallInd:
                    Add(Instruction.Create(Code.And_rm64_imm8, op.Reg, -32));
                    Add(Instruction.Create(op.Kind == OpKind.JmpInd ? Code.Jmp_rm64 : Code.Call_rm64, op.Reg));
                    break;
                case OpKind.Ret:
                    Add(Instruction.Create(Code.Pop_r64, r11));
                    Add(Instruction.Create(Code.And_rm64_imm8, r11, -32));
                    Add(Instruction.Create(Code.Jmp_rm64, r11));
                    break;
                case OpKind.Vmread:
                    Add(Instruction.Create(Code.Mov_r32_imm32, Register.R11D, op.Field));
                    Add(Instruction.Create(Code.Vmread_rm64_r64, op.Reg, r11));
                    break;
                case OpKind.Vmwrite:
                    Add(Instruction.Create(Code.Mov_r32_imm32, Register.R11D, op.Field));
                    Add(Instruction.Create(Code.Vmwrite_r64_rm64, r11, op.Reg));
                    break;
                case OpKind.Privileged:
                    Add(Instruction.Create(Code.Mov_r32_imm32, Register.R11D, (uint)BundleAssembler.ServiceFor(op.Instr.Code)!.Value));
                    Add(Instruction.Create(Code.Int_imm8, (uint)VerifierOptions.DefaultGateVector));
                    break;
            }
        }
        return list;
    }

    private static bool IsPadding(in Instruction i) => i.Code is Code.Nopd or Code.Nopw or Code.Nop_rm16 or Code.Nop_rm32;

    [Property(MaxTest = 150)]
    public Property RandomStreamsThroughTheToolchainVerifyAndKeepTheirMeaning() =>
        Prop.ForAll(Gen.Choose(0, int.MaxValue - 1).ToArbitrary(), Gen.Choose(1, 300).ToArbitrary(), (seed, count) =>
        {
            var ops = RandomStream(seed, count);
            var (img, labels) = Assemble(ops);
            var actual = ToolchainTests.DecodeAll(img.Bytes).Where(i => !IsPadding(i)).Select(i => Text(i)).ToList();
            var expected = Expected(ops, img, labels);
            return img.Verification.Accepted && ImageVerifier.Verify(img.Bytes).Accepted && actual.SequenceEqual(expected);
        });

    /// <summary>Ordinary straight-line code ending in ret, as raw bytes: the rewriter produces a verified image with the same instructions.</summary>
    [Property(MaxTest = 100)]
    public Property RewrittenStraightLineCodeVerifiesAndKeepsItsInstructions() =>
        Prop.ForAll(Gen.Choose(0, 1_000_000).ToArbitrary(), Gen.Choose(1, 120).ToArbitrary(), (seed, count) =>
        {
            var rng = new Random(seed);
            var input = Enumerable.Range(0, count).Select(_ => SyntheticProgram.RandomStraightLine(rng)).ToList();
            var writer = new ByteListWriter();
            var enc = Encoder.Create(64, writer);
            foreach (var i in input) enc.Encode(i, (ulong)writer.Bytes.Count);
            enc.Encode(Instruction.Create(Code.Retnq), (ulong)writer.Bytes.Count);
            var r = Rewriter.Rewrite(writer.Bytes.ToArray(), [0]);
            if (!r.Succeeded || !ImageVerifier.Verify(r.Image!.Bytes, new VerifierOptions { EntryPoints = r.Image.EntryPoints }).Accepted) return false;
            var actual = ToolchainTests.DecodeAll(r.Image.Bytes).Where(i => !IsPadding(i)).Select(i => Text(i)).ToList();
            var expected = input.Select(i => Text(i)).Concat([
                Text(Instruction.Create(Code.Pop_r64, Register.R11)),
                Text(Instruction.Create(Code.And_rm64_imm8, Register.R11, -32)),
                Text(Instruction.Create(Code.Jmp_rm64, Register.R11))]).ToList();
            return actual.SequenceEqual(expected);
        });

    private sealed class ByteListWriter : CodeWriter
    {
        public readonly List<byte> Bytes = [];
        public override void WriteByte(byte value) => Bytes.Add(value);
    }

    [Property(MaxTest = 40)]
    public Property SyntheticProgramsAlwaysVerify() =>
        Prop.ForAll(Gen.Choose(0, 1_000_000).ToArbitrary(), seed =>
        {
            var img = SyntheticProgram.Build(seed, 8 * 1024);
            return ImageVerifier.Verify(img.Bytes, new VerifierOptions { EntryPoints = img.EntryPoints }).Accepted;
        });

    [Property(MaxTest = 300)]
    public Property MutatingAnAcceptedImageGivesAcceptanceOrFindingsNeverACrash() =>
        Prop.ForAll(Gen.Choose(0, 1_000_000).ToArbitrary(), Gen.Choose(1, 8).ToArbitrary(), (seed, flips) =>
        {
            var img = SyntheticProgram.Build(seed % 50, 2048).Bytes;
            var rng = new Random(seed);
            for (int i = 0; i < flips; i++) img[rng.Next(img.Length)] = (byte)rng.Next(256);
            var fast = ImageVerifier.Verify(img);
            var reference = ImageVerifier.VerifyReference(img);
            return (fast.Accepted || fast.Findings.Count > 0) && fast.ToText() == reference.ToText();
        });

    /// <summary>
    /// Straddling instructions planted at bundle ends make the linear decoding enter the next
    /// bundle mid-way, which the bundle-parallel pre-pass may have found clean from its start:
    /// the report must still be exactly the linear (reference) one.
    /// </summary>
    [Property(MaxTest = 200)]
    public Property StraddlesIntoPrePassCleanBundlesGiveTheLinearReport() =>
        Prop.ForAll(Gen.Choose(0, 1_000_000).ToArbitrary(), Gen.Choose(1, 6).ToArbitrary(), (seed, plants) =>
        {
            var img = SyntheticProgram.Build(seed % 40, 4096).Bytes;
            var rng = new Random(seed);
            byte[][] starters = [[0x48, 0xB8], [0xE8], [0xE9], [0x0F, 0x84], [0x48, 0x8B, 0x84, 0x24], [0x41, 0xB8]];
            for (int i = 0; i < plants; i++)
            {
                var s = starters[rng.Next(starters.Length)];
                int bundle = rng.Next(img.Length / 32 - 1);
                int at = bundle * 32 + 32 - rng.Next(1, s.Length + 1); // the opcode starts just before the bundle end
                Array.Copy(s, 0, img, at, Math.Min(s.Length, img.Length - at));
            }
            var fast = ImageVerifier.Verify(img);
            var reference = ImageVerifier.VerifyReference(img);
            return fast.ToText() == reference.ToText() && ImageVerifier.Boundaries(img).SequenceEqual(ImageVerifier.Boundaries(img, useFastPath: false));
        });

    /// <summary>
    /// The pre-pass recognises the usual pseudo-instruction pairs (mask then <c>jmp/call rX</c>,
    /// field immediate then vmread/vmwrite) from their bytes; near-miss encodings (other REX
    /// bits, the imm32 mask, <c>mov r/m32,imm32</c>, memory operands, other registers, a call not
    /// ending the bundle, any field) must give exactly the linear report, and a branch into the
    /// second half must be worded as the linear pass words it.
    /// </summary>
    [Property(MaxTest = 500)]
    public Property PseudoInstructionPairsGiveTheLinearReport() =>
        Prop.ForAll(Gen.Choose(0, int.MaxValue - 1).ToArbitrary(), seed =>
        {
            var rng = new Random(seed);
            int r = rng.Next(16), r2 = rng.Next(4) == 0 ? rng.Next(16) : r;
            byte[] rexes = [0x40, 0x41, 0x44, 0x45, 0x48, 0x49, 0x4C, 0x4A];
            uint[] fields = [0x681E, 0x4402, 0x6C16, 0x2000, 0x0000, 0x6820, 0x4826, (uint)rng.Next()];
            uint field = fields[rng.Next(fields.Length)];
            var first = new List<byte>();
            var second = new List<byte>();
            if (rng.Next(2) == 0)
            {
                switch (rng.Next(3))
                {
                    case 0: first.AddRange([rng.Next(4) == 0 ? rexes[rng.Next(rexes.Length)] : (byte)(0x48 | (r >> 3)), 0x83, (byte)(0xE0 | (r & 7)), rng.Next(5) == 0 ? (byte)0xF0 : (byte)0xE0]); break;
                    case 1: first.AddRange([(byte)(0x48 | (r >> 3)), 0x81, (byte)(0xE0 | (r & 7)), 0xE0, 0xFF, 0xFF, 0xFF]); break;
                    default: first.AddRange([(byte)(0x40 | (r >> 3)), 0x83, (byte)(0xE0 | (r & 7)), 0xE0]); break;
                }
                if (r2 >= 8 || rng.Next(6) == 0) second.Add(rng.Next(4) == 0 ? rexes[rng.Next(rexes.Length)] : (byte)0x41);
                second.Add(0xFF);
                second.Add((byte)((rng.Next(2) == 0 ? 0xE0 : 0xD0) | (r2 & 7) ^ (rng.Next(8) == 0 ? 0xC0 : 0)));
            }
            else
            {
                if (r >= 8 || rng.Next(6) == 0) first.Add(rng.Next(4) == 0 ? rexes[rng.Next(rexes.Length)] : (byte)0x41);
                if (rng.Next(5) == 0) first.AddRange([0xC7, (byte)(0xC0 | (r & 7))]);
                else first.Add((byte)(0xB8 | (r & 7)));
                first.AddRange(BitConverter.GetBytes(field));
                if (r2 >= 8 || rng.Next(6) == 0) second.Add(rng.Next(4) == 0 ? rexes[rng.Next(rexes.Length)] : (byte)0x44);
                second.AddRange([0x0F, (byte)(0x78 | rng.Next(2)), (byte)((rng.Next(6) == 0 ? 0x80 : 0xC0) | ((r2 & 7) << 3) | rng.Next(8))]);
                if ((second[^1] & 0xC0) == 0x80) second.AddRange([0, 0, 0, 0]);
            }
            var img = new byte[96];
            Array.Fill(img, (byte)0x90);
            int pairLength = first.Count + second.Count;
            int at = rng.Next(3) == 0 ? 32 - pairLength : rng.Next(0, 33 - pairLength);
            first.Concat(second).ToArray().CopyTo(img, at);
            // A short jump from the next bundle into the first bundle (often onto the second half).
            int target = rng.Next(2) == 0 ? at + first.Count : rng.Next(32);
            img[32] = 0xEB;
            img[33] = (byte)(sbyte)(target - 34);
            var fast = ImageVerifier.Verify(img);
            var reference = ImageVerifier.VerifyReference(img);
            return fast.ToText() == reference.ToText() && ImageVerifier.Boundaries(img).SequenceEqual(ImageVerifier.Boundaries(img, useFastPath: false));
        });

    [Property(MaxTest = 200)]
    public Property VerifierBoundariesAgreeWithIcedOnRandomBytes() =>
        Prop.ForAll(Gen.Choose(0, int.MaxValue - 1).ToArbitrary(), Gen.Choose(1, 64).ToArbitrary(), (seed, bundles) =>
        {
            var bytes = new byte[bundles * 32];
            new Random(seed).NextBytes(bytes);
            return ImageVerifier.Boundaries(bytes).SequenceEqual(IcedLinearBoundaries(bytes))
                && ImageVerifier.Verify(bytes).ToText() == ImageVerifier.VerifyReference(bytes).ToText();
        });

    [Property(MaxTest = 30)]
    public Property VerifierBoundariesAgreeWithIcedOnToolchainImages() =>
        Prop.ForAll(Gen.Choose(0, 1_000_000).ToArbitrary(), seed =>
        {
            var img = SyntheticProgram.Build(seed, 4096).Bytes;
            var iced = ToolchainTests.DecodeAll(img).Select(i => (int)i.IP).ToList();
            return ImageVerifier.Boundaries(img).SequenceEqual(iced);
        });

    /// <summary>Iced's linear decode with the verifier's resynchronisation rule (next bundle after undecodable bytes).</summary>
    private static List<int> IcedLinearBoundaries(byte[] bytes)
    {
        var reader = new ByteArrayCodeReader(bytes);
        var d = Decoder.Create(64, reader);
        var starts = new List<int>();
        int pos = 0;
        while (pos < bytes.Length)
        {
            reader.Position = pos;
            d.IP = (ulong)pos;
            var i = d.Decode();
            if (i.Code == Code.INVALID) { pos = (pos & ~31) + 32; continue; }
            starts.Add(pos);
            pos += i.Length;
        }
        return starts;
    }

    [Property(MaxTest = 100)]
    public Property VmcsPolicyDecidesRule7() =>
        Prop.ForAll(Gen.Choose(0, 0x7FFF).ToArbitrary(), Gen.Elements(true, false).ToArbitrary(), (field, read) =>
        {
            var bytes = new byte[32];
            Array.Fill(bytes, (byte)0x90);
            bytes[0] = 0xB8;
            BitConverter.GetBytes((uint)field).CopyTo(bytes, 1);
            bytes[5] = 0x0F;
            bytes[6] = (byte)(read ? 0x78 : 0x79);
            bytes[7] = 0xC3;
            bool allowed = read ? VmcsFieldPolicy.MayRead((uint)field) : VmcsFieldPolicy.MayWrite((uint)field);
            return ImageVerifier.Verify(bytes).Accepted == allowed;
        });
}
