using System.Buffers;
using HyperLock.Verifier.Decoding;
using HyperLock.Verifier.Policy;

namespace HyperLock.Verifier;

/// <summary>
/// The restricted-instruction verifier (SPEC §6). One linear pass decodes the image, mostly
/// with <see cref="FastDecoder"/>'s tables and, for unusual forms, with Iced; it checks rules
/// 1 and 3-7 as it goes, records instruction starts and pseudo-instruction second halves in
/// one bit per byte, and checks the recorded direct-branch targets (rule 2) and the declared
/// entries (rule 8) afterwards. Nothing is allocated per instruction.
/// </summary>
public static class ImageVerifier
{
    /// <summary>Verify <paramref name="image"/> with <paramref name="options"/> (defaults if null).</summary>
    public static VerificationResult Verify(ReadOnlySpan<byte> image, VerifierOptions? options = null) =>
        Run(image, options ?? VerifierOptions.Default, useFastPath: true);

    /// <summary>True when <paramref name="image"/> is accepted; stops at the first finding.</summary>
    public static bool IsAccepted(ReadOnlySpan<byte> image, VerifierOptions? options = null) =>
        Run(image, (options ?? VerifierOptions.Default) with { MaxFindings = 1 }, useFastPath: true).Accepted;

    /// <summary>Verify with Iced alone (the fast decoder off), for cross-checking.</summary>
    internal static VerificationResult VerifyReference(ReadOnlySpan<byte> image, VerifierOptions? options = null) =>
        Run(image, options ?? VerifierOptions.Default, useFastPath: false);

    private static unsafe VerificationResult Run(ReadOnlySpan<byte> image, VerifierOptions options, bool useFastPath)
    {
        int len = image.Length;
        int bundles = (len + 31) >> 5;
        uint[] starts = ArrayPool<uint>.Shared.Rent(bundles + 1);
        uint[] noTarget = ArrayPool<uint>.Shared.Rent(bundles + 1);
        long[] branches = ArrayPool<long>.Shared.Rent(256);
        var sink = new FindingSink(options.MaxFindings);
        var iced = new IcedDecoder();
        try
        {
            Array.Clear(starts, 0, bundles + 1);
            Array.Clear(noTarget, 0, bundles + 1);
            fixed (byte* p = image)
            {
                iced.Reset(p, len);
                sink.Bind(iced);
                int nBranches = Scan(p, len, options.GateVector, useFastPath, iced, starts, noTarget, ref branches, sink);
                if (!sink.Full) CheckTargets(len, starts, noTarget, branches, nBranches, sink);
                if (!sink.Full) CheckEntries(len, options.EntryPoints, sink);
                sink.Unbind();
            }
            return new VerificationResult(len, options.GateVector, sink.Findings, sink.Truncated);
        }
        finally
        {
            ArrayPool<uint>.Shared.Return(starts);
            ArrayPool<uint>.Shared.Return(noTarget);
            ArrayPool<long>.Shared.Return(branches);
        }
    }

    /// <summary>
    /// State the linear pass carries from one instruction to the next. Only the previous
    /// instruction's start is kept: when a jmp/call rX or vmread/vmwrite needs to know whether
    /// it was the right mask or field immediate, the cold path decodes it again with the
    /// general decoder, so the hot path never has to classify masks or immediates.
    /// </summary>
    private struct ScanState
    {
        public int PrevPos;
        public int Branches;
        public int FastLimit;
        public byte Gate;
    }

    private static unsafe int Scan(byte* p, int len, byte gate, bool useFastPath, IcedDecoder iced,
        uint[] starts, uint[] noTarget, ref long[] branches, FindingSink sink)
    {
        int fastLimit = useFastPath ? len - FastDecoder.Lookahead : -1;
        var st = new ScanState { PrevPos = -1, Gate = gate, FastLimit = fastLimit };
        Insn ins = default;
        int pos = 0;
        fixed (uint* startBits = starts)
        {
            while (pos < len)
            {
                if (pos <= fastLimit)
                {
                    // The hottest path: a plain form whose length comes from the tables alone, inside its bundle.
                    int t = pos + FastDecoder.TurboLength(p + pos);
                    if (t != pos)
                    {
                        if (((pos ^ (t - 1)) & ~31) == 0)
                        {
                            startBits[pos >> 5] |= 1u << (pos & 31);
                            st.PrevPos = pos;
                            pos = t;
                            continue;
                        }
                    }
                    else
                    {
                        // Next hottest: a direct branch inside its bundle (a call must end it).
                        t = pos + FastDecoder.TurboBranch(p + pos, pos, out long target, out bool call);
                        if (t != pos && ((pos ^ (t - 1)) & ~31) == 0 && (!call || (t & 31) == 0))
                        {
                            startBits[pos >> 5] |= 1u << (pos & 31);
                            if (st.Branches + 2 > branches.Length) Grow(ref branches);
                            branches[st.Branches] = pos;
                            branches[st.Branches + 1] = target;
                            st.Branches += 2;
                            st.PrevPos = pos;
                            pos = t;
                            continue;
                        }
                    }
                }
                DecodeStep(p, pos, fastLimit, iced, ref ins);
                int end = pos + ins.Length;
                if (ins.Kind == InsnKind.Plain && ((pos ^ (end - 1)) & ~31) == 0)
                {
                    startBits[pos >> 5] |= 1u << (pos & 31);
                    st.PrevPos = pos;
                    pos = end;
                    continue;
                }
                pos = Other(p, pos, in ins, ref st, iced, starts, noTarget, ref branches, sink);
                if (sink.Full) return st.Branches;
            }
        }
        if ((len & 31) != 0)
            sink.Add(len & ~31, Rule.Bundles, $"image is {len} bytes, not a whole number of 32-byte bundles");
        return st.Branches;
    }

    /// <summary>Everything but the hot paths: returns the next position.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static unsafe int Other(byte* p, int pos, in Insn ins, ref ScanState st, IcedDecoder iced, uint[] starts, uint[] noTarget,
        ref long[] branches, FindingSink sink)
    {
        int bundleEnd = (pos & ~31) + 32;
        if (ins.Kind == InsnKind.Invalid)
        {
            sink.Add(pos, Rule.Bundles, ins.Value == 1 ? "instruction runs past the end of the image" : "no valid instruction decodes here");
            st.PrevPos = -1;
            return bundleEnd;
        }
        starts[pos >> 5] |= 1u << (pos & 31);
        int end = pos + ins.Length;
        if (end > bundleEnd)
        {
            sink.Add(pos, Rule.Bundles, $"instruction crosses the bundle boundary at 0x{bundleEnd:x}");
            if (sink.Full) return end;
        }
        switch (ins.Kind)
        {
            case InsnKind.Forbidden:
                ReportForbidden(pos, in ins, sink);
                break;
            case InsnKind.JmpRel or InsnKind.JccRel or InsnKind.CallRel:
                if (st.Branches + 2 > branches.Length) Grow(ref branches);
                branches[st.Branches++] = pos;
                branches[st.Branches++] = ins.Value;
                if (ins.Kind == InsnKind.CallRel && (end & 31) != 0)
                    sink.Add(pos, Rule.CallAlignment, $"call ends at 0x{end:x}, not at a bundle boundary");
                break;
            case InsnKind.JmpReg or InsnKind.CallReg:
            {
                noTarget[pos >> 5] |= 1u << (pos & 31);
                var prev = DecodePrevious(p, st.PrevPos, st.FastLimit, iced);
                CheckMask(pos, in ins, prev.Kind, prev.Reg, st.PrevPos, sink);
                if (ins.Kind == InsnKind.CallReg && (end & 31) != 0)
                    sink.Add(pos, Rule.CallAlignment, $"call ends at 0x{end:x}, not at a bundle boundary");
                break;
            }
            case InsnKind.Vmread or InsnKind.Vmwrite:
            {
                noTarget[pos >> 5] |= 1u << (pos & 31);
                var prev = DecodePrevious(p, st.PrevPos, st.FastLimit, iced);
                CheckVmx(pos, in ins, prev.Kind, prev.Reg, st.PrevPos, prev.Value, sink);
                break;
            }
            case InsnKind.Int:
                if (ins.Value != st.Gate)
                    sink.Add(pos, Rule.AllowList, $"int 0x{ins.Value:x2} is not the runtime gate int 0x{st.Gate:x2}");
                break;
        }
        st.PrevPos = pos;
        return end;
    }

    /// <summary>The full classification (masks and field immediates included) of the instruction at <paramref name="prevPos"/>.</summary>
    private static unsafe Insn DecodePrevious(byte* p, int prevPos, int fastLimit, IcedDecoder iced)
    {
        var prev = default(Insn);
        if (prevPos < 0) return prev; // Invalid: nothing decodable precedes
        if (prevPos > fastLimit || !FastDecoder.TryDecodeGeneral(p + prevPos, prevPos, ref prev)) iced.Decode(prevPos, ref prev);
        return prev;
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static unsafe void DecodeStep(byte* p, int pos, int fastLimit, IcedDecoder iced, ref Insn ins)
    {
        if (pos > fastLimit || !FastDecoder.TryDecode(p + pos, pos, ref ins)) iced.Decode(pos, ref ins);
    }

    /// <summary>
    /// The instruction starts the verifier's linear pass sees (the same decode step and the
    /// same resynchronisation at the next bundle after undecodable bytes), for cross-checking.
    /// </summary>
    internal static unsafe List<int> Boundaries(ReadOnlySpan<byte> image, bool useFastPath = true)
    {
        var starts = new List<int>();
        var iced = new IcedDecoder();
        int len = image.Length;
        int fastLimit = useFastPath ? len - FastDecoder.Lookahead : -1;
        Insn ins = default;
        fixed (byte* p = image)
        {
            iced.Reset(p, len);
            int pos = 0;
            while (pos < len)
            {
                DecodeStep(p, pos, fastLimit, iced, ref ins);
                if (ins.Kind == InsnKind.Invalid) { pos = (pos & ~31) + 32; continue; }
                starts.Add(pos);
                pos += ins.Length;
            }
        }
        return starts;
    }

    private static void Grow(ref long[] branches)
    {
        var bigger = ArrayPool<long>.Shared.Rent(branches.Length * 2);
        Array.Copy(branches, bigger, branches.Length);
        ArrayPool<long>.Shared.Return(branches);
        branches = bigger;
    }

    private static void ReportForbidden(int pos, in Insn ins, FindingSink sink)
    {
        if (ins.Problem == Problem.Code)
        {
            var policy = AllowList.Classify((Iced.Intel.Code)ins.Code);
            string reason = policy.Kind == PolicyKind.Unclassified ? "instruction form has no allow-list classification" : policy.Reason;
            sink.Add(pos, policy.Rule, $"{reason} ({(Iced.Intel.Code)ins.Code})");
        }
        else if (ins.Problem == Problem.MemoryIndirect)
            sink.Add(pos, Rule.MaskedIndirect, Problems.Describe(ins.Problem));
        else
            sink.Add(pos, Rule.AllowList, Problems.Describe(ins.Problem));
    }

    private static void CheckMask(int pos, in Insn ins, InsnKind prevKind, int prevReg, int prevPos, FindingSink sink)
    {
        string what = ins.Kind == InsnKind.JmpReg ? "jmp" : "call";
        if (ins.Reg == 4) { sink.Add(pos, Rule.MaskedIndirect, $"indirect {what} through rsp"); return; }
        if (prevKind == InsnKind.AndMaskNarrow && prevReg == ins.Reg)
        {
            sink.Add(pos, Rule.MaskedIndirect, $"mask is 32-bit; needs 'and r64,-32' before the {what}");
            return;
        }
        if (prevKind != InsnKind.AndMask)
        {
            sink.Add(pos, Rule.MaskedIndirect, $"indirect {what} not immediately preceded by 'and {RegName(ins.Reg)},-32'");
            return;
        }
        if (prevReg != ins.Reg)
        {
            sink.Add(pos, Rule.MaskedIndirect, $"mask is on {RegName(prevReg)} but the {what} goes through {RegName(ins.Reg)}");
            return;
        }
        if ((prevPos >> 5) != (pos >> 5))
            sink.Add(pos, Rule.MaskedIndirect, $"mask at 0x{prevPos:x} is in another bundle than the {what}");
    }

    private static void CheckVmx(int pos, in Insn ins, InsnKind prevKind, int prevReg, int prevPos, long prevValue, FindingSink sink)
    {
        bool read = ins.Kind == InsnKind.Vmread;
        string what = read ? "vmread" : "vmwrite";
        if (prevKind != InsnKind.MovR32Imm || prevReg != ins.Reg)
        {
            sink.Add(pos, Rule.VmcsAccess, $"{what} field register {RegName(ins.Reg)} is not set by the immediately preceding 'mov r32,imm32'");
            return;
        }
        if ((prevPos >> 5) != (pos >> 5))
        {
            sink.Add(pos, Rule.VmcsAccess, $"field immediate at 0x{prevPos:x} is in another bundle than the {what}");
            return;
        }
        uint field = (uint)prevValue;
        bool ok = read ? VmcsFieldPolicy.MayRead(field) : VmcsFieldPolicy.MayWrite(field);
        if (!ok)
        {
            string name = VmcsFieldPolicy.TryGet(field, out var f) ? f.Name : "unknown field";
            sink.Add(pos, Rule.VmcsAccess, $"VMCS field 0x{field:x4} ({name}) may not be {(read ? "read" : "written")} by the confined hypervisor");
        }
    }

    private static void CheckTargets(int len, uint[] starts, uint[] noTarget, long[] branches, int n, FindingSink sink)
    {
        for (int i = 0; i < n && !sink.Full; i += 2)
        {
            int src = (int)branches[i];
            long t = branches[i + 1];
            if (t < 0 || t >= len)
                sink.Add(src, Rule.DirectTargets, $"target 0x{t:x} is outside the image");
            else if ((starts[t >> 5] & (1u << (int)(t & 31))) == 0)
                sink.Add(src, Rule.DirectTargets, $"target 0x{t:x} is not an instruction start");
            else if ((noTarget[t >> 5] & (1u << (int)(t & 31))) != 0)
                sink.Add(src, Rule.DirectTargets, $"target 0x{t:x} is the second half of a pseudo-instruction");
        }
    }

    private static void CheckEntries(int len, IReadOnlyList<long> entries, FindingSink sink)
    {
        foreach (long e in entries)
        {
            if (sink.Full) return;
            if (e < 0 || e >= len) sink.AddNoInstruction(e, Rule.EntryAlignment, $"entry point 0x{e:x} is outside the image");
            else if ((e & 31) != 0) sink.Add((int)e, Rule.EntryAlignment, $"entry point 0x{e:x} is not bundle-aligned");
        }
    }

    internal static string RegName(int reg) => reg switch
    {
        0 => "rax", 1 => "rcx", 2 => "rdx", 3 => "rbx", 4 => "rsp", 5 => "rbp", 6 => "rsi", 7 => "rdi",
        _ => $"r{reg}",
    };
}
