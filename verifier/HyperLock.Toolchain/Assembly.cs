using HyperLock.Verifier;
using Iced.Intel;

namespace HyperLock.Toolchain;

/// <summary>Layout to a fixed point, then encoding and self-verification.</summary>
internal static class Assembly
{
    private const int Bundle = VerifierOptions.BundleSize;

    private sealed class ByteWriter : CodeWriter
    {
        public readonly List<byte> Bytes = [];
        public override void WriteByte(byte value) => Bytes.Add(value);
    }

    public static int MeasureParts(Instruction[] parts, int ripLabel)
    {
        var w = new ByteWriter();
        var enc = Encoder.Create(64, w);
        int total = 0;
        foreach (var part in parts)
        {
            var p = part;
            ulong ip = p.IP;
            if (ripLabel >= 0 && p.IsIPRelativeMemoryOperand) { p.MemoryDisplacement64 = 0; ip = 0; }
            if (!enc.TryEncode(p, ip, out uint len, out string? err)) throw new ToolchainException($"cannot encode {p}: {err}");
            total += (int)len;
        }
        if (total > Bundle) throw new ToolchainException($"instruction group of {total} bytes does not fit a bundle");
        return total;
    }

    public static AssembledImage Run(List<Item> items, List<int> entryLabels, int labelCount, ToolchainOptions options)
    {
        var labels = new long[labelCount];
        Array.Fill(labels, -1L);
        foreach (var it in items)
            if (it.Kind == ItemKind.Branch && it.Label >= labelCount) throw new ToolchainException($"unknown label {it.Label}");
        // Branches start short; a branch that does not reach grows (never shrinks), so this terminates.
        for (int round = 0; ; round++)
        {
            Layout(items, labels);
            bool changed = false;
            foreach (var it in items)
            {
                if (it.Kind != ItemKind.Branch || it.Form != BranchForm.Short) continue;
                long target = labels[it.Label];
                if (target < 0) throw new ToolchainException($"label {it.Label} is used but never bound");
                long disp = target - (it.Pos + it.Size);
                if (disp is < sbyte.MinValue or > sbyte.MaxValue)
                {
                    it.Form = it.NearCode != it.ShortCode ? BranchForm.Near : BranchForm.ShortViaTrampoline;
                    changed = true;
                }
            }
            if (!changed) break;
            if (round > 10_000) throw new ToolchainException("branch layout did not converge");
        }
        foreach (var it in items)
            if (it.Kind == ItemKind.Branch && labels[it.Label] < 0) throw new ToolchainException($"label {it.Label} is used but never bound");
        var bytes = Emit(items, labels);
        var entries = entryLabels.Select(l => labels[l]).ToArray();
        var result = ImageVerifier.Verify(bytes, new VerifierOptions { GateVector = options.GateVector, EntryPoints = entries });
        if (!result.Accepted)
            throw new ToolchainException("internal error: toolchain output does not verify:\n" + result.ToText("toolchain output"));
        return new AssembledImage(bytes, labels, entries, result);
    }

    private static int SizeOf(Item it) => it.Kind switch
    {
        ItemKind.Code => it.CodeSize,
        ItemKind.Branch => it.Form switch
        {
            BranchForm.Short => 2,
            BranchForm.ShortViaTrampoline => 2 + 2 + 5,
            _ => it.IsCall || it.NearCode is Code.Jmp_rel32_64 ? 5 : 6,
        },
        _ => 0,
    };

    private static void Layout(List<Item> items, long[] labels)
    {
        int pos = 0;
        foreach (var it in items)
        {
            int size = SizeOf(it);
            int pad = 0;
            switch (it.Kind)
            {
                case ItemKind.Align:
                    pad = (Bundle - (pos % Bundle)) % Bundle;
                    break;
                case ItemKind.LabelDef:
                    labels[it.Label] = pos;
                    break;
                default:
                    if (it.EndsBundle) pad = ((Bundle - ((pos + size) % Bundle)) % Bundle);
                    else if ((pos % Bundle) + size > Bundle) pad = Bundle - (pos % Bundle);
                    break;
            }
            it.Pad = pad;
            it.Pos = pos + pad;
            it.Size = size;
            pos += pad + size;
        }
    }

    private static byte[] Emit(List<Item> items, long[] labels)
    {
        var w = new ByteWriter();
        var enc = Encoder.Create(64, w);
        foreach (var it in items)
        {
            Nops.Emit(w.Bytes, it.Pad);
            int start = w.Bytes.Count;
            if (start != it.Pos) throw new ToolchainException($"internal error: layout drift at 0x{start:x}");
            switch (it.Kind)
            {
                case ItemKind.Code:
                    foreach (var part in it.Parts)
                    {
                        var p = part;
                        if (it.RipLabel >= 0 && p.IsIPRelativeMemoryOperand)
                        {
                            if (labels[it.RipLabel] < 0) throw new ToolchainException($"label {it.RipLabel} is used but never bound");
                            p.MemoryDisplacement64 = (ulong)labels[it.RipLabel];
                        }
                        Encode(enc, p, (ulong)w.Bytes.Count);
                    }
                    break;
                case ItemKind.Branch:
                {
                    ulong target = (ulong)labels[it.Label];
                    switch (it.Form)
                    {
                        case BranchForm.Short:
                            Encode(enc, Instruction.CreateBranch(it.ShortCode, target), (ulong)w.Bytes.Count);
                            break;
                        case BranchForm.Near:
                            Encode(enc, Instruction.CreateBranch(it.NearCode, target), (ulong)w.Bytes.Count);
                            break;
                        default:
                            // loop/jrcxz T; jmp short S; T: jmp near L; S:
                            ulong at = (ulong)w.Bytes.Count;
                            Encode(enc, Instruction.CreateBranch(it.ShortCode, at + 4), at);
                            Encode(enc, Instruction.CreateBranch(Code.Jmp_rel8_64, at + 9), at + 2);
                            Encode(enc, Instruction.CreateBranch(Code.Jmp_rel32_64, target), at + 4);
                            break;
                    }
                    break;
                }
            }
            if (w.Bytes.Count - start != it.Size)
                throw new ToolchainException($"internal error: item at 0x{start:x} encoded to {w.Bytes.Count - start} bytes, laid out as {it.Size}");
        }
        // A label bound at the very end must still name an instruction start: pad with at least one NOP.
        int tail = (Bundle - (w.Bytes.Count % Bundle)) % Bundle;
        if (tail == 0 && labels.Contains(w.Bytes.Count)) tail = Bundle;
        Nops.Emit(w.Bytes, tail);
        return [.. w.Bytes];
    }

    private static void Encode(Encoder enc, in Instruction instr, ulong ip)
    {
        if (!enc.TryEncode(instr, ip, out _, out string? err)) throw new ToolchainException($"cannot encode {instr} at 0x{ip:x}: {err}");
    }
}
