using Iced.Intel;

namespace HyperLock.Toolchain;

/// <summary>Something the rewriter could not turn into verified code.</summary>
/// <param name="Offset">Offset in the input.</param>
/// <param name="Instruction">The input instruction there (or a byte dump).</param>
/// <param name="Reason">Why.</param>
public sealed record RewriteProblem(long Offset, string Instruction, string Reason);

/// <summary>The rewriter's result: a verified image, or the precise list of what stopped it.</summary>
public sealed class RewriteResult
{
    internal RewriteResult(AssembledImage? image, IReadOnlyList<RewriteProblem> problems, IReadOnlyDictionary<long, long> offsetMap,
        int instructions, long unreachableBytes)
    {
        Image = image;
        Problems = problems;
        OffsetMap = offsetMap;
        Instructions = instructions;
        UnreachableBytes = unreachableBytes;
    }

    /// <summary>True when an image was produced (it verifies).</summary>
    public bool Succeeded => Image is not null;

    /// <summary>The verified image, or null when there are problems.</summary>
    public AssembledImage? Image { get; }

    /// <summary>Everything that could not be rewritten, by input offset.</summary>
    public IReadOnlyList<RewriteProblem> Problems { get; }

    /// <summary>Input instruction offset to output offset (only when an image was produced; the VMX halves of
    /// <c>mov r32,imm32; vmread/vmwrite</c> pairs are not separately addressable and are left out).</summary>
    public IReadOnlyDictionary<long, long> OffsetMap { get; }

    /// <summary>Instructions reached from the entry points.</summary>
    public int Instructions { get; }

    /// <summary>Input bytes no entry point reaches (dropped from the output).</summary>
    public long UnreachableBytes { get; }

    /// <summary>A report for people.</summary>
    public string ToText()
    {
        var sb = new System.Text.StringBuilder();
        if (Succeeded)
            sb.Append($"rewritten: {Instructions} instructions -> {Image!.Bytes.Length} bytes ({Image.Bytes.Length / 32} bundles), {UnreachableBytes} unreachable input bytes dropped\n");
        else
            sb.Append($"not rewritten: {Problems.Count} problem{(Problems.Count == 1 ? "" : "s")}\n");
        foreach (var p in Problems) sb.Append($"  0x{p.Offset:x8}  {p.Instruction}: {p.Reason}\n");
        return sb.ToString();
    }
}

/// <summary>
/// Rewrites existing x86-64 code (a flat binary at offset 0 plus its entry points) into a
/// verified image. It decodes recursively from the entries along fall-through and direct
/// branches, refuses overlapping decodings and undecodable bytes, maps every branch target
/// to a label, and feeds the instructions in address order to <see cref="BundleAssembler"/>,
/// which lowers them. Entry points and code pointers taken with a RIP-relative <c>lea</c>
/// are placed at bundle starts (indirect branches can only reach bundle starts). RIP-relative
/// data references outside the input keep their address relative to offset 0.
/// </summary>
public static class Rewriter
{
    /// <summary>Rewrite <paramref name="code"/> reached from <paramref name="entries"/>.</summary>
    public static RewriteResult Rewrite(ReadOnlySpan<byte> code, IReadOnlyList<long> entries, ToolchainOptions? options = null)
    {
        var bytes = code.ToArray();
        var problems = new List<RewriteProblem>();
        var decoded = new SortedDictionary<long, Instruction>();
        var owner = new long[bytes.Length];
        Array.Fill(owner, -1L);
        var aligned = new HashSet<long>();
        var targets = new HashSet<long>();
        var work = new Stack<long>();
        var reader = new ByteArrayCodeReader(bytes);
        var decoder = Decoder.Create(64, reader);
        foreach (var e in entries)
        {
            if (e < 0 || e >= bytes.Length) { problems.Add(new RewriteProblem(e, "", "entry point outside the input")); continue; }
            aligned.Add(e);
            work.Push(e);
        }
        while (work.Count > 0)
        {
            long at = work.Pop();
            if (decoded.ContainsKey(at)) continue;
            if (owner[at] >= 0)
            {
                problems.Add(new RewriteProblem(at, Dump(bytes, at), $"reached here, inside the instruction at 0x{owner[at]:x} (overlapping decodings)"));
                continue;
            }
            reader.Position = (int)at;
            decoder.IP = (ulong)at;
            decoder.Decode(out var instr);
            if (instr.Code == Code.INVALID)
            {
                problems.Add(new RewriteProblem(at, Dump(bytes, at), decoder.LastError == DecoderError.NoMoreBytes
                    ? "instruction runs past the end of the input" : "no valid instruction decodes here"));
                continue;
            }
            bool overlap = false;
            for (long b = at; b < at + instr.Length; b++)
            {
                if (owner[b] >= 0) { overlap = true; problems.Add(new RewriteProblem(at, HyperLock.Verifier.Disassembler.Format(instr), $"overlaps the instruction at 0x{owner[b]:x} (overlapping decodings)")); break; }
            }
            if (overlap) continue;
            for (long b = at; b < at + instr.Length; b++) owner[b] = at;
            decoded[at] = instr;
            var flow = instr.FlowControl;
            if (flow is FlowControl.UnconditionalBranch or FlowControl.ConditionalBranch or FlowControl.Call && instr.Op0Kind == OpKind.NearBranch64)
            {
                long t = (long)instr.NearBranch64;
                if (t < 0 || t >= bytes.Length) problems.Add(new RewriteProblem(at, HyperLock.Verifier.Disassembler.Format(instr), $"branch target 0x{t:x} is outside the input"));
                else { targets.Add(t); work.Push(t); }
            }
            if (instr.IsIPRelativeMemoryOperand)
            {
                long t = (long)instr.IPRelativeMemoryAddress;
                if (t >= 0 && t < bytes.Length)
                {
                    if (instr.Code == Code.Lea_r64_m) { aligned.Add(t); targets.Add(t); work.Push(t); }
                    else problems.Add(new RewriteProblem(at, HyperLock.Verifier.Disassembler.Format(instr), $"accesses the code at 0x{t:x} as data (data in code is not supported)"));
                }
            }
            bool fallsThrough = flow is not (FlowControl.UnconditionalBranch or FlowControl.IndirectBranch or FlowControl.Return)
                && instr.Code != Code.Ud2;
            long next = at + instr.Length;
            if (fallsThrough && next < bytes.Length) work.Push(next);
            else if (fallsThrough && next >= bytes.Length && flow != FlowControl.Interrupt)
                problems.Add(new RewriteProblem(at, HyperLock.Verifier.Disassembler.Format(instr), "execution falls off the end of the input"));
        }

        var asm = new BundleAssembler(options);
        var labels = new Dictionary<long, Label>();
        Label LabelAt(long off) => labels.TryGetValue(off, out var l) ? l : labels[off] = asm.CreateLabel();
        var entrySet = new HashSet<long>(entries);
        foreach (var (at, instr) in decoded)
        {
            if (aligned.Contains(at))
            {
                if (entrySet.Contains(at)) asm.BindEntry(LabelAt(at));
                else { asm.AlignBundle(); asm.Bind(LabelAt(at)); }
            }
            else if (targets.Contains(at) || instr.Code is not (Code.Vmread_rm64_r64 or Code.Vmwrite_r64_rm64))
                asm.Bind(LabelAt(at)); // (no label between a field immediate and its VMX instruction unless something jumps there)
            string? problem = LowerOne(asm, instr, LabelAt, bytes.Length);
            if (problem is not null) problems.Add(new RewriteProblem(at, HyperLock.Verifier.Disassembler.Format(instr), problem));
        }
        long reachable = decoded.Values.Sum(i => (long)i.Length);
        if (problems.Count > 0)
            return new RewriteResult(null, problems.OrderBy(p => p.Offset).ToArray(), new Dictionary<long, long>(), decoded.Count, bytes.Length - reachable);
        AssembledImage image;
        try { image = asm.Assemble(); }
        catch (ToolchainException ex)
        {
            return new RewriteResult(null, [new RewriteProblem(0, "", ex.Message)], new Dictionary<long, long>(), decoded.Count, bytes.Length - reachable);
        }
        var map = labels.Where(kv => decoded.ContainsKey(kv.Key)).ToDictionary(kv => kv.Key, kv => image.OffsetOf(kv.Value));
        return new RewriteResult(image, [], map, decoded.Count, bytes.Length - reachable);
    }

    private static string? LowerOne(BundleAssembler asm, in Instruction instr, Func<long, Label> labelAt, long inputLength)
    {
        if (instr.Op0Kind == OpKind.NearBranch64 && instr.FlowControl is FlowControl.UnconditionalBranch or FlowControl.ConditionalBranch or FlowControl.Call)
        {
            var policy = HyperLock.Verifier.Policy.AllowList.Classify(instr.Code);
            if (policy.Kind != HyperLock.Verifier.Policy.PolicyKind.Allowed) return $"{policy.Reason} ({instr.Code})";
            var target = labelAt((long)instr.NearBranch64);
            var near = instr.Code.ToNearBranch();
            var shortCode = instr.Code.ToShortBranch();
            asm.AddBranch(shortCode, near, target, call: instr.FlowControl == FlowControl.Call);
            return null;
        }
        if (instr.IsIPRelativeMemoryOperand && instr.Code == Code.Lea_r64_m)
        {
            long t = (long)instr.IPRelativeMemoryAddress;
            if (t >= 0 && t < inputLength)
            {
                var l = labelAt(t);
                var p = asm.CheckPlain(instr);
                if (p is not null) return p;
                try { asm.AddWithCodePointer(instr, l); } catch (ToolchainException ex) { return ex.Message; }
                return null;
            }
        }
        return asm.TryAdd(instr);
    }

    private static string Dump(byte[] bytes, long at)
    {
        int n = (int)Math.Min(8, bytes.Length - at);
        return n <= 0 ? "" : "bytes " + Convert.ToHexString(bytes, (int)at, n).ToLowerInvariant();
    }
}
