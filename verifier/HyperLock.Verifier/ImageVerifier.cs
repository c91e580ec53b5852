using System.Runtime.Intrinsics;
using HyperLock.Verifier.Decoding;
using HyperLock.Verifier.Policy;

namespace HyperLock.Verifier;

/// <summary>
/// The restricted-instruction verifier (SPEC §6). A bundle-parallel pre-pass runs the
/// <see cref="FastDecoderDfa"/> automaton over each bundle from its start and keeps the bundles
/// made only of its forms whose branches, pseudo-instructions and gate calls pass their checks;
/// then one exact linear pass walks the image, takes those bundles as they are
/// when it enters them at their start, and decodes everything else instruction by instruction
/// (general fast tables, or Iced for unusual forms), checking rules 1 and 3-7 as it goes. It
/// records the instruction starts that may be branch targets in one bit per byte (the second
/// halves of pseudo-instructions, which may not, go to a short list instead) and checks the
/// direct-branch targets (rule 2) and the declared entries (rule 8) afterwards. The
/// findings are exactly those of a purely linear, Iced-only verifier (<see cref="VerifyReference"/>),
/// which the tests check. Nothing is allocated per instruction.
/// </summary>
public static class ImageVerifier
{
    /// <summary>Verify <paramref name="image"/> with <paramref name="options"/> (defaults if null).</summary>
    public static VerificationResult Verify(ReadOnlySpan<byte> image, VerifierOptions? options = null) =>
        Run(image, options ?? VerifierOptions.Default, useFastPath: true);

    /// <summary>True when <paramref name="image"/> is accepted; stops at the first finding (no <see cref="VerificationResult.ValidatedStarts"/>).</summary>
    public static bool IsAccepted(ReadOnlySpan<byte> image, VerifierOptions? options = null) =>
        Run(image, (options ?? VerifierOptions.Default) with { MaxFindings = 1 }, useFastPath: true, keepStarts: false).Accepted;

    /// <summary>Verify with Iced alone, linearly (no fast tables, no pre-pass): the reference the fast verifier must match.</summary>
    internal static VerificationResult VerifyReference(ReadOnlySpan<byte> image, VerifierOptions? options = null) =>
        Run(image, options ?? VerifierOptions.Default, useFastPath: false);

    private static unsafe VerificationResult Run(ReadOnlySpan<byte> image, VerifierOptions options, bool useFastPath, bool keepStarts = true)
    {
        int len = image.Length;
        int bundles = (len + 31) >> 5;
        var scratch = t_scratch ??= new Scratch();
        if (scratch.Starts.Length < bundles + 1)
        {
            scratch.Starts = new uint[bundles + 1];
            scratch.State = new byte[bundles + 1];
        }
        // The lists are sized for a compiled program's density (a direct branch per 64 bytes, a
        // pseudo-instruction per 128) and double when an image has more, instead of being sized
        // for the worst case; only the part that is written is ever faulted in.
        if (scratch.BranchesA.Length < len / 64) scratch.BranchesA = new uint[len / 64];
        if (scratch.HalvesA.Length < len / 128) scratch.HalvesA = new int[len / 128];
        uint[] starts = scratch.Starts;
        byte[] state = scratch.State;
        long[] branches = scratch.Branches;
        uint[] branchesA = scratch.BranchesA;
        int[] halves = scratch.Halves, halvesA = scratch.HalvesA;
        var sink = new FindingSink(options.MaxFindings);
        var iced = scratch.Iced;
        int nHalvesA = 0, nHalves = 0;
        try
        {
            // The pre-pass writes every whole bundle's entries; without it (or for a last partial
            // bundle) they are cleared here, so a fresh array is never touched beyond the image.
            if (!useFastPath)
            {
                Array.Clear(starts, 0, bundles);
                Array.Clear(state, 0, bundles);
            }
            starts[len >> 5] = 0;
            state[len >> 5] = Dirty;
            fixed (byte* p = image)
            {
                iced.Reset(p, len);
                sink.Bind(iced);
                int nA = useFastPath ? BundleParallelPass(p, len, options.GateVector, starts, state, ref branchesA, ref halvesA, out nHalvesA) : 0;
                int nBranches = Scan(p, len, options.GateVector, useFastPath, iced, starts, state, ref branches, ref halves, out nHalves, sink);
                if (!sink.Full)
                    CheckTargets(p, len, starts, state, branchesA, nA, branches, nBranches, halvesA, nHalvesA, halves, nHalves, sink);
                if (!sink.Full) CheckEntries(len, options.EntryPoints, sink);
                sink.Unbind();
            }
            var validStarts = keepStarts && options.KeepValidatedStarts && sink.Findings.Count == 0 ? ValidStarts(starts, bundles, len) : InstructionStartSet.Empty;
            return new VerificationResult(len, options.GateVector, sink.Findings, sink.Truncated, validStarts);
        }
        finally
        {
            scratch.Branches = branches;
            scratch.BranchesA = branchesA;
            scratch.Halves = halves;
            scratch.HalvesA = halvesA;
            scratch.LastHalvesA = nHalvesA;
            scratch.LastHalves = nHalves;
            iced.Reset(null, 0);
        }
    }

    /// <summary>
    /// Per-thread working memory (bitmap, bundle states, lists, Iced decoder), kept between calls
    /// so that verifying a run of images allocates nothing proportional to each. The bitmap and
    /// states hold the largest image's worth; the lists grow only as far as the work needs. It
    /// is kept small because a one-shot run (the CLI) pays a page fault for each 4 KiB it touches.
    /// </summary>
    private sealed class Scratch
    {
        /// <summary>The instruction starts that may be branch targets: one bit per byte.</summary>
        public uint[] Starts = [];
        /// <summary>Per bundle: <see cref="Dirty"/>, or Clean with its last instruction start plus one (1-32).</summary>
        public byte[] State = [];
        /// <summary>The linear pass's direct branches: (source, target) pairs.</summary>
        public long[] Branches = new long[1024];
        /// <summary>The pre-pass's direct branches, one entry each (<see cref="PackBranch"/>).</summary>
        public uint[] BranchesA = new uint[1024];
        /// <summary>Second halves of pseudo-instructions found by the linear pass and by the pre-pass.</summary>
        public int[] Halves = new int[256], HalvesA = new int[256];
        /// <summary>How many of <see cref="HalvesA"/> and <see cref="Halves"/> the last run filled (for <see cref="Boundaries"/>).</summary>
        public int LastHalvesA, LastHalves;
        public readonly IcedDecoder Iced = new();
    }

    [ThreadStatic] private static Scratch? t_scratch;

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
        public int Halves;
        public int FastLimit;
        public byte Gate;
    }

    /// <summary>
    /// Bundle state after <see cref="BundleParallelPass"/>: a Dirty bundle needs the linear pass;
    /// any other value marks a Clean one and is its last instruction start plus one (the linear
    /// pass needs it as the previous instruction when it goes on in the next bundle).
    /// </summary>
    private const byte Dirty = 0;

    /// <summary>Marks a pre-pass branch entry whose displacement is one byte (else four) before its end.</summary>
    private const uint ByteDisplacement = 1u << 31;

    /// <summary>
    /// A pre-pass direct branch in four bytes: its end offset and its displacement size. The
    /// target is read back from the image, and the source is the last start before the end (a
    /// Clean bundle's instructions lie inside it), so the checks need no more.
    /// </summary>
    private static uint PackBranch(int end, bool byteDisplacement) => (uint)end | (byteDisplacement ? ByteDisplacement : 0);

    private static int BranchEnd(uint entry) => (int)(entry & ~ByteDisplacement);

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static unsafe long BranchTarget(byte* p, uint entry)
    {
        int end = BranchEnd(entry);
        return (entry & ByteDisplacement) != 0 ? end + (sbyte)p[end - 1] : end + (long)*(int*)(p + end - 4);
    }

    /// <summary>The instruction start before <paramref name="end"/> in its bundle (the branch a pre-pass entry describes).</summary>
    private static int BranchSource(uint[] starts, uint entry)
    {
        int last = BranchEnd(entry) - 1;
        uint below = starts[last >> 5] & (uint)((2ul << (last & 31)) - 1);
        return (last & ~31) + 31 - System.Numerics.BitOperations.LeadingZeroCount(below);
    }

    /// <summary>
    /// The fast pre-pass. Because a valid image never has an instruction crossing a bundle end,
    /// every bundle can be decoded from its own start, independently of the others. The
    /// automaton <see cref="FastDecoderDfa"/> runs over <see cref="Lanes"/> bundles at once (independent
    /// chains of one table load per byte, with no data-dependent branch), writing its state after
    /// each byte; vector compares then give the instruction starts and the positions where a
    /// branch, a pseudo-instruction half or the gate ended. A bundle whose last state is a
    /// boundary and whose few special instructions pass their checks (<see cref="Specials"/>) is
    /// Clean: its instruction starts are final and its branches go to <paramref name="branchesA"/>
    /// (its pseudo-instruction second halves to <paramref name="halvesA"/>). Everything else is
    /// left Dirty for the exact linear pass (<see cref="Scan"/>), which also re-does a Clean
    /// bundle if the linear decoding enters it anywhere but at its start.
    /// </summary>
    private const int Lanes = 8;

    private static unsafe int BundleParallelPass(byte* p, int len, byte gate, uint[] starts, byte[] state, ref uint[] branchesA,
        ref int[] halvesA, out int nh)
    {
        int whole = len >> 5;
        byte* table = FastDecoderDfa.Table;
        byte* buf = stackalloc byte[Lanes * 32];
        int nb = 0;
        nh = 0;
        int bundle = 0;
        for (; bundle + Lanes <= whole; bundle += Lanes)
        {
            // Pointers that step together, so that each lane is a fixed displacement (no index
            // arithmetic); each byte's table row is found apart from the state, so the only
            // dependent step per byte is the load of the next state.
            byte* q = p + (bundle << 5), b = buf;
            nuint s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
            for (byte* qEnd = q + 32; q < qEnd; q++, b++)
            {
                s0 = (table + ((nuint)q[0] << 8))[s0];
                s1 = (table + ((nuint)q[32] << 8))[s1];
                s2 = (table + ((nuint)q[64] << 8))[s2];
                s3 = (table + ((nuint)q[96] << 8))[s3];
                s4 = (table + ((nuint)q[128] << 8))[s4];
                s5 = (table + ((nuint)q[160] << 8))[s5];
                s6 = (table + ((nuint)q[192] << 8))[s6];
                s7 = (table + ((nuint)q[224] << 8))[s7];
                b[0] = (byte)s0;
                b[32] = (byte)s1;
                b[64] = (byte)s2;
                b[96] = (byte)s3;
                b[128] = (byte)s4;
                b[160] = (byte)s5;
                b[192] = (byte)s6;
                b[224] = (byte)s7;
            }
            // At most 16 instructions per bundle, so 16 entries per list and bundle.
            if (nb + Lanes * 16 > branchesA.Length) Array.Resize(ref branchesA, branchesA.Length * 2);
            if (nh + Lanes * 16 > halvesA.Length) Array.Resize(ref halvesA, halvesA.Length * 2);
            for (int k = 0; k < Lanes; k++)
                Finish(p, len, gate, bundle + k, buf + 32 * k, starts, state, branchesA, ref nb, halvesA, ref nh);
        }
        for (; bundle < whole; bundle++)
        {
            byte* q = p + (bundle << 5);
            nuint s0 = 0;
            for (int i = 0; i < 32; i++)
            {
                s0 = (table + ((nuint)q[i] << 8))[s0];
                buf[i] = (byte)s0;
            }
            if (nb + 16 > branchesA.Length) Array.Resize(ref branchesA, branchesA.Length * 2);
            if (nh + 16 > halvesA.Length) Array.Resize(ref halvesA, halvesA.Length * 2);
            Finish(p, len, gate, bundle, buf, starts, state, branchesA, ref nb, halvesA, ref nh);
        }
        return nb;
    }

    /// <summary>Classify one bundle from its 32 automaton states; mark it Clean when it needs no linear pass.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static unsafe void Finish(byte* p, int len, byte gate, int bundle, byte* states, uint[] starts, byte[] state,
        uint[] branchesA, ref int nb, int[] halvesA, ref int nh)
    {
        var v = Vector256.Load(states);
        uint ends = Vector256.LessThan(v, Vector256.Create((byte)FastDecoderDfa.Boundaries)).ExtractMostSignificantBits();
        uint begins = (ends << 1) | 1;
        uint special = Vector256.LessThan(v - Vector256.Create((byte)1),
            Vector256.Create((byte)(FastDecoderDfa.Boundaries - 1))).ExtractMostSignificantBits();
        uint nt = 0;
        // Dirty when the bundle does not end at an instruction end (or no form matched), or a special instruction fails.
        if ((int)ends >= 0 || (special != 0 && !Specials(p, len, gate, bundle << 5, states, begins, special, branchesA, ref nb, halvesA, ref nh, ref nt)))
        {
            starts[bundle] = 0;
            state[bundle] = Dirty;
            return;
        }
        starts[bundle] = begins & ~nt;
        state[bundle] = (byte)(32 - System.Numerics.BitOperations.LeadingZeroCount(begins));
    }

    /// <summary>
    /// Check the special instructions of a bundle the automaton accepted: record direct
    /// branches, require calls to end the bundle and <c>int</c> to be the gate, and check that
    /// <c>jmp/call rX</c> and vmread/vmwrite are preceded in the bundle by their mask or field
    /// immediate (decoded exactly with the general decoder). False leaves the bundle Dirty (the
    /// branches and second halves recorded so far are dropped).
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static unsafe bool Specials(byte* p, int len, byte gate, int bundleStart, byte* states, uint begins, uint special,
        uint[] branchesA, ref int nb, int[] halvesA, ref int nh, ref uint nt)
    {
        int nb0 = nb, nh0 = nh;
        for (; special != 0; special &= special - 1)
        {
            int i = System.Numerics.BitOperations.TrailingZeroCount(special);
            int end = bundleStart + i + 1;
            int srcRel = 31 - System.Numerics.BitOperations.LeadingZeroCount(begins & (uint)((2ul << i) - 1));
            int src = bundleStart + srcRel;
            switch (states[i])
            {
                case FastDecoderDfa.EndRel8:
                    branchesA[nb++] = PackBranch(end, byteDisplacement: true);
                    break;
                case FastDecoderDfa.EndCall32 when i != 31:
                    (nb, nh) = (nb0, nh0);
                    return false;
                case FastDecoderDfa.EndRel32 or FastDecoderDfa.EndCall32:
                    branchesA[nb++] = PackBranch(end, byteDisplacement: false);
                    break;
                case FastDecoderDfa.EndInt:
                    if (p[end - 1] != gate) { (nb, nh) = (nb0, nh0); return false; }
                    break;
                default:
                    if (!PseudoSecondHalf(p, len, bundleStart, src, srcRel, end, begins))
                    {
                        (nb, nh) = (nb0, nh0);
                        return false;
                    }
                    halvesA[nh++] = src;
                    nt |= 1u << srcRel;
                    break;
            }
        }
        return true;
    }

    /// <summary>A jmp/call rX or vmread/vmwrite at <paramref name="src"/> whose first half is the previous instruction of the bundle and correct.</summary>
    private static unsafe bool PseudoSecondHalf(byte* p, int len, int bundleStart, int src, int srcRel, int end, uint begins)
    {
        uint before = begins & ((1u << srcRel) - 1);
        if (before == 0 || src > len - FastDecoder.Lookahead) return false;
        int prevPos = bundleStart + 31 - System.Numerics.BitOperations.LeadingZeroCount(before);
        if (UsualPair(p, prevPos, src, end, out bool allowed)) return allowed;
        var ins = default(DecodedInstruction);
        var prev = default(DecodedInstruction);
        if (!FastDecoder.TryDecodeGeneral(p + src, src, ref ins) || src + ins.Length != end) return false;
        if (!FastDecoder.TryDecodeGeneral(p + prevPos, prevPos, ref prev)) return false;
        switch (ins.Kind)
        {
            case InstructionKind.JmpReg or InstructionKind.CallReg:
                if (ins.Reg == 4 || prev.Kind != InstructionKind.AndMask || prev.Reg != ins.Reg) return false;
                return ins.Kind == InstructionKind.JmpReg || (end & 31) == 0;
            case InstructionKind.Vmread or InstructionKind.Vmwrite:
                if (prev.Kind != InstructionKind.MovR32Imm || prev.Reg != ins.Reg) return false;
                uint field = (uint)prev.Value;
                return ins.Kind == InstructionKind.Vmread ? VmcsFieldPolicy.MayRead(field) : VmcsFieldPolicy.MayWrite(field);
            default:
                return false;
        }
    }

    /// <summary>
    /// The pairs the toolchain emits, recognised from their bytes without decoding: <c>and r64,-32</c>
    /// (<c>48/49 83 E0+r E0</c>) then <c>jmp/call</c> through that register (<c>[41] FF E0+r / D0+r</c>),
    /// and <c>mov r32,imm32</c> (<c>[41] B8+r</c>) then a register-form vmread/vmwrite
    /// (<c>[REX] 0F 78/79</c>, no REX.W or REX.X) whose field register it sets. Each byte form is
    /// one the general decoder classifies the same way. False for anything else: the general
    /// decoder then decides, so this only saves time.
    /// </summary>
    private static unsafe bool UsualPair(byte* p, int prevPos, int src, int end, out bool allowed)
    {
        allowed = false;
        byte* a = p + prevPos, b = p + src;
        int first = src - prevPos, second = end - src;
        if (first == 4 && (a[0] & 0xFE) == 0x48 && a[1] == 0x83 && (a[2] & 0xF8) == 0xE0 && a[3] == 0xE0)
        {
            int mask = (a[2] & 7) | ((a[0] & 1) << 3);
            int rexB = second == 3 && b[0] == 0x41 ? 1 : 0;
            if (second != 2 + rexB || b[rexB] != 0xFF) return false;
            int modrm = b[rexB + 1];
            bool call = (modrm & 0xF8) == 0xD0;
            if (!call && (modrm & 0xF8) != 0xE0) return false;
            int target = (modrm & 7) | (rexB << 3);
            if (target != mask || target == 4) return false;
            allowed = !call || (end & 31) == 0;
            return true;
        }
        int movRexB = first == 6 && a[0] == 0x41 ? 1 : 0;
        if (first == 5 + movRexB && (a[movRexB] & 0xF8) == 0xB8)
        {
            int field = (a[movRexB] & 7) | (movRexB << 3);
            int rex = second == 4 && (b[0] & 0xFA) == 0x40 ? b[0] : 0;
            int o = rex != 0 ? 1 : 0;
            if (second != 3 + o || b[o] != 0x0F || (b[o + 1] & 0xFE) != 0x78 || b[o + 2] < 0xC0) return false;
            if ((((b[o + 2] >> 3) & 7) | ((rex & 4) << 1)) != field) return false;
            uint value = *(uint*)(a + first - 4);
            allowed = b[o + 1] == 0x78 ? VmcsFieldPolicy.MayRead(value) : VmcsFieldPolicy.MayWrite(value);
            return true;
        }
        return false;
    }

    private static unsafe int Scan(byte* p, int len, byte gate, bool useFastPath, IcedDecoder iced,
        uint[] starts, byte[] state, ref long[] branches, ref int[] halves, out int nHalves, FindingSink sink)
    {
        nHalves = 0;
        int fastLimit = useFastPath ? len - FastDecoder.Lookahead : -1;
        var st = new ScanState { PrevPos = -1, Gate = gate, FastLimit = fastLimit };
        DecodedInstruction ins = default;
        int pos = 0;
        fixed (uint* startBits = starts)
        {
            while (pos < len)
            {
                int bundle = pos >> 5;
                int clean = state[bundle];
                if (clean != Dirty)
                {
                    if ((pos & 31) == 0)
                    {
                        // Decoded by the pre-pass and entered at its start: nothing to do.
                        st.PrevPos = (bundle << 5) + clean - 1;
                        pos += 32;
                        continue;
                    }
                    // The linear decoding enters this bundle mid-way (an instruction crossed into
                    // it): its pre-pass result does not describe the image; decode it linearly
                    // (Dirty also drops its pre-pass branches and second halves).
                    state[bundle] = Dirty;
                    startBits[bundle] = 0;
                }
                int bundleEnd = Math.Min(len, (bundle << 5) + 32);
                while (pos < bundleEnd)
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
                    if (ins.Kind == InstructionKind.Plain && ((pos ^ (end - 1)) & ~31) == 0)
                    {
                        startBits[pos >> 5] |= 1u << (pos & 31);
                        st.PrevPos = pos;
                        pos = end;
                        continue;
                    }
                    pos = Other(p, pos, in ins, ref st, iced, starts, ref branches, ref halves, sink);
                    if (sink.Full)
                    {
                        nHalves = st.Halves;
                        return st.Branches;
                    }
                }
            }
        }
        if ((len & 31) != 0)
            sink.Add(len & ~31, Rule.Bundles, $"image is {len} bytes, not a whole number of 32-byte bundles");
        nHalves = st.Halves;
        return st.Branches;
    }

    /// <summary>Everything but the hot paths: returns the next position.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static unsafe int Other(byte* p, int pos, in DecodedInstruction ins, ref ScanState st, IcedDecoder iced, uint[] starts,
        ref long[] branches, ref int[] halves, FindingSink sink)
    {
        int bundleEnd = (pos & ~31) + 32;
        if (ins.Kind == InstructionKind.Invalid)
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
            case InstructionKind.Forbidden:
                ReportForbidden(pos, in ins, sink);
                break;
            case InstructionKind.JmpRel or InstructionKind.JccRel or InstructionKind.CallRel:
                if (st.Branches + 2 > branches.Length) Grow(ref branches);
                branches[st.Branches++] = pos;
                branches[st.Branches++] = ins.Value;
                if (ins.Kind == InstructionKind.CallRel && (end & 31) != 0)
                    sink.Add(pos, Rule.CallAlignment, $"call ends at 0x{end:x}, not at a bundle boundary");
                break;
            case InstructionKind.JmpReg or InstructionKind.CallReg:
            {
                SecondHalf(pos, starts, ref halves, ref st.Halves);
                var prev = DecodePrevious(p, st.PrevPos, st.FastLimit, iced);
                CheckMask(pos, in ins, prev.Kind, prev.Reg, st.PrevPos, sink);
                if (ins.Kind == InstructionKind.CallReg && (end & 31) != 0)
                    sink.Add(pos, Rule.CallAlignment, $"call ends at 0x{end:x}, not at a bundle boundary");
                break;
            }
            case InstructionKind.Vmread or InstructionKind.Vmwrite:
            {
                SecondHalf(pos, starts, ref halves, ref st.Halves);
                var prev = DecodePrevious(p, st.PrevPos, st.FastLimit, iced);
                CheckVmx(pos, in ins, prev.Kind, prev.Reg, st.PrevPos, prev.Value, sink);
                break;
            }
            case InstructionKind.Int:
                if (ins.Value != st.Gate)
                    sink.Add(pos, Rule.AllowList, $"int 0x{ins.Value:x2} is not the runtime gate int 0x{st.Gate:x2}");
                break;
        }
        st.PrevPos = pos;
        return end;
    }

    /// <summary>A pseudo-instruction's second half is an instruction start but no branch target: off the bitmap, onto the list.</summary>
    private static void SecondHalf(int pos, uint[] starts, ref int[] halves, ref int n)
    {
        starts[pos >> 5] &= ~(1u << (pos & 31));
        if (n == halves.Length) Array.Resize(ref halves, halves.Length * 2);
        halves[n++] = pos;
    }

    /// <summary>The full classification (masks and field immediates included) of the instruction at <paramref name="prevPos"/>.</summary>
    private static unsafe DecodedInstruction DecodePrevious(byte* p, int prevPos, int fastLimit, IcedDecoder iced)
    {
        var prev = default(DecodedInstruction);
        if (prevPos < 0) return prev; // Invalid: nothing decodable precedes
        if (prevPos > fastLimit || !FastDecoder.TryDecodeGeneral(p + prevPos, prevPos, ref prev)) iced.Decode(prevPos, ref prev);
        return prev;
    }

    /// <summary>The starts that are branch targets (not second halves of pseudo-instructions), copied out of the scratch bitmap.</summary>
    private static InstructionStartSet ValidStarts(uint[] starts, int bundles, int len) =>
        new(starts.AsSpan(0, bundles).ToArray(), len);

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static unsafe void DecodeStep(byte* p, int pos, int fastLimit, IcedDecoder iced, ref DecodedInstruction ins)
    {
        if (pos > fastLimit || !FastDecoder.TryDecode(p + pos, pos, ref ins)) iced.Decode(pos, ref ins);
    }

    /// <summary>
    /// The instruction starts the verifier recorded for <paramref name="image"/> (its bitmap after
    /// a full run: pre-pass, linear pass, resynchronisation after undecodable bytes), for
    /// cross-checking against Iced.
    /// </summary>
    internal static List<int> Boundaries(ReadOnlySpan<byte> image, bool useFastPath = true)
    {
        Run(image, VerifierOptions.Default with { MaxFindings = int.MaxValue }, useFastPath);
        var s = t_scratch!;
        var list = new List<int>();
        for (int k = 0; k < (image.Length + 31) >> 5; k++)
            for (uint w = s.Starts[k]; w != 0; w &= w - 1)
                list.Add((k << 5) + System.Numerics.BitOperations.TrailingZeroCount(w));
        for (int i = 0; i < s.LastHalvesA; i++)
            if (s.State[s.HalvesA[i] >> 5] != Dirty) list.Add(s.HalvesA[i]);
        for (int i = 0; i < s.LastHalves; i++) list.Add(s.Halves[i]);
        list.Sort();
        return list;
    }

    private static void Grow(ref long[] branches)
    {
        var bigger = new long[branches.Length * 2];
        Array.Copy(branches, bigger, branches.Length);
        branches = bigger;
    }

    private static void ReportForbidden(int pos, in DecodedInstruction ins, FindingSink sink)
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

    private static void CheckMask(int pos, in DecodedInstruction ins, InstructionKind prevKind, int prevReg, int prevPos, FindingSink sink)
    {
        string what = ins.Kind == InstructionKind.JmpReg ? "jmp" : "call";
        if (ins.Reg == 4) { sink.Add(pos, Rule.MaskedIndirect, $"indirect {what} through rsp"); return; }
        if (prevKind == InstructionKind.AndMaskNarrow && prevReg == ins.Reg)
        {
            sink.Add(pos, Rule.MaskedIndirect, $"mask is 32-bit; needs 'and r64,-32' before the {what}");
            return;
        }
        if (prevKind != InstructionKind.AndMask)
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

    private static void CheckVmx(int pos, in DecodedInstruction ins, InstructionKind prevKind, int prevReg, int prevPos, long prevValue, FindingSink sink)
    {
        bool read = ins.Kind == InstructionKind.Vmread;
        string what = read ? "vmread" : "vmwrite";
        if (prevKind != InstructionKind.MovR32Imm || prevReg != ins.Reg)
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

    private static unsafe void CheckTargets(byte* p, int len, uint[] starts, byte[] state, uint[] branchesA, int nA,
        long[] branches, int n, int[] halvesA, int nHalvesA, int[] halves, int nHalves, FindingSink sink)
    {
        // Accepted images are the fast case: one pass that only looks (a Dirty bundle's pre-pass
        // branches do not count: the linear pass recorded its own).
        bool bad = false;
        for (int i = 0; i < nA && !bad; i++)
        {
            uint e = branchesA[i];
            bad = state[(BranchEnd(e) - 1) >> 5] != Dirty && !GoodTarget(BranchTarget(p, e), len, starts);
        }
        for (int i = 0; i < n && !bad; i += 2)
            bad = !GoodTarget(branches[i + 1], len, starts);
        if (!bad) return;
        // Findings, in source order (as a purely linear pass would record them).
        var all = new List<(long Src, long Target)>();
        for (int i = 0; i < nA; i++)
            if (state[(BranchEnd(branchesA[i]) - 1) >> 5] != Dirty) all.Add((BranchSource(starts, branchesA[i]), BranchTarget(p, branchesA[i])));
        for (int i = 0; i < n; i += 2) all.Add((branches[i], branches[i + 1]));
        all.Sort((x, y) => x.Src.CompareTo(y.Src));
        var secondHalves = new HashSet<long>();
        for (int i = 0; i < nHalvesA; i++)
            if (state[halvesA[i] >> 5] != Dirty) secondHalves.Add(halvesA[i]);
        for (int i = 0; i < nHalves; i++) secondHalves.Add(halves[i]);
        foreach (var (src64, t) in all)
        {
            if (sink.Full) return;
            int src = (int)src64;
            if (t < 0 || t >= len)
                sink.Add(src, Rule.DirectTargets, $"target 0x{t:x} is outside the image");
            else if (secondHalves.Contains(t))
                sink.Add(src, Rule.DirectTargets, $"target 0x{t:x} is the second half of a pseudo-instruction");
            else if ((starts[t >> 5] & (1u << (int)(t & 31))) == 0)
                sink.Add(src, Rule.DirectTargets, $"target 0x{t:x} is not an instruction start");
        }
    }

    private static bool GoodTarget(long t, int len, uint[] starts) =>
        t >= 0 && t < len && (starts[t >> 5] & (1u << (int)(t & 31))) != 0;

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
