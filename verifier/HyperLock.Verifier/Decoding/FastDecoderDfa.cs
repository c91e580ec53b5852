using System.Runtime.InteropServices;

namespace HyperLock.Verifier.Decoding;

/// <summary>
/// A byte-at-a-time deterministic automaton over exactly the forms the turbo decoder accepts
/// (<see cref="FastDecoder.TurboLength"/> and <see cref="FastDecoder.TurboBranch"/>), plus the
/// rarer forms the toolchain emits that <see cref="FastDecoder.TryDecodeGeneral"/> decodes:
/// group FE/FF (inc, dec, push r/m; jmp/call r64), <c>int imm8</c> and vmread/vmwrite. It is
/// derived from <see cref="FastDecoderTables"/> at start-up, so it accepts nothing the general
/// tables do not, with the same lengths (the tests compare it with both decoders and Iced).
/// One transition per byte (<c>state = Table[byte &lt;&lt; 8 | state]</c>) and no data-dependent
/// branch: a 32-byte bundle is 32 dependent loads, and the states after each byte tell where
/// instructions end and which kind ended there. The table is laid out by byte, then state, so
/// that the row of the next byte can be found before the current state is known: the chain
/// from one state to the next is a single load.
/// </summary>
internal static unsafe class FastDecoderDfa
{
    /// <summary>States below this value are instruction boundaries; the value says what just ended.</summary>
    public const int Boundaries = 8;

    /// <summary>Boundary after a plain instruction (also the initial state).</summary>
    public const byte EndPlain = 0;
    /// <summary>Boundary after a direct branch with a rel8 (jcc, jmp short, loop*, jrcxz).</summary>
    public const byte EndRel8 = 1;
    /// <summary>Boundary after jmp rel32 or jcc rel32.</summary>
    public const byte EndRel32 = 2;
    /// <summary>Boundary after call rel32.</summary>
    public const byte EndCall32 = 3;
    /// <summary>Boundary after jmp r64.</summary>
    public const byte EndJmpReg = 4;
    /// <summary>Boundary after call r64.</summary>
    public const byte EndCallReg = 5;
    /// <summary>Boundary after vmread or vmwrite.</summary>
    public const byte EndVmx = 6;
    /// <summary>Boundary after int imm8.</summary>
    public const byte EndInt = 7;
    /// <summary>No accepted form: sticky.</summary>
    public const byte Fail = 255;

    /// <summary>The transition table, <c>byte * 256 + state</c>, in native memory that never moves.</summary>
    public static readonly byte* Table;

    /// <summary>Number of states in use (including the sticky <see cref="Fail"/>).</summary>
    public static readonly int StateCount;

    private const int ClassFF = 16, ClassFE = 17;

    static FastDecoderDfa()
    {
        var b = new Builder();
        b.Build();
        StateCount = b.Rows.Count + 1;
        Table = (byte*)NativeMemory.AllocZeroed(256 * 256);
        for (int s = 0; s < 256; s++)
            for (int x = 0; x < 256; x++)
                Table[x * 256 + s] = Fail;
        for (int s = 0; s < b.Rows.Count; s++)
            for (int x = 0; x < 256; x++)
                Table[x * 256 + s] = b.Rows[s][x];
    }

    private sealed class Builder
    {
        public readonly List<byte[]> Rows = [];
        private readonly Dictionary<(int, int, int, int), byte> _memo = [];

        private byte New(out byte[] row)
        {
            row = new byte[256];
            Array.Fill(row, Fail);
            Rows.Add(row);
            if (Rows.Count >= Fail) throw new InvalidOperationException("automaton has too many states");
            return (byte)(Rows.Count - 1);
        }

        private bool Memo((int, int, int, int) key, out byte state) => _memo.TryGetValue(key, out state);

        public void Build()
        {
            // States 0-7: the boundaries. They share one row (the start of an instruction), filled last.
            for (int k = 0; k < Boundaries; k++) New(out _);
            var start = Rows[0];
            FillOpcodes(start, pfx: 0, w: false, allowPrefixes: true);
            for (int k = 1; k < Boundaries; k++) Array.Copy(start, Rows[k], 256);
        }

        /// <summary>The row of a state about to read a prefix, REX or opcode byte.</summary>
        private void FillOpcodes(byte[] row, int pfx, bool w, bool allowPrefixes)
        {
            for (int op = 0; op < 256; op++) row[op] = OneByteOp(pfx, w, op);
            row[0x0F] = Escape(pfx);
            if (allowPrefixes)
            {
                row[0x66] = Prefix(1);
                row[0xF3] = Prefix(2);
                row[0xF2] = Prefix(3);
            }
            if (allowPrefixes || pfx != 0)
                for (int r = 0x40; r <= 0x4F; r++) row[r] = Rex(pfx, (r & 8) != 0);
        }

        private byte Prefix(int pfx)
        {
            if (Memo((1, pfx, 0, 0), out byte s)) return s;
            s = New(out var row);
            _memo[(1, pfx, 0, 0)] = s;
            FillOpcodes(row, pfx, w: false, allowPrefixes: false);
            return s;
        }

        private byte Rex(int pfx, bool w)
        {
            int key = w ? 1 : 0;
            if (Memo((2, pfx, key, 0), out byte s)) return s;
            s = New(out var row);
            _memo[(2, pfx, key, 0)] = s;
            // 0x66 with REX.W is redundant (the reference rejects it): no turbo form.
            if (pfx == 1 && w) return s;
            for (int op = 0; op < 256; op++) row[op] = OneByteOp(pfx, w, op);
            row[0x0F] = Escape(pfx);
            // A prefix or a second REX after a REX: the turbo table has no entry for it.
            for (int r = 0x40; r <= 0x4F; r++) row[r] = Fail;
            row[0x66] = row[0xF2] = row[0xF3] = Fail;
            return s;
        }

        private byte Escape(int pfx)
        {
            if (Memo((3, pfx, 0, 0), out byte s)) return s;
            s = New(out var row);
            _memo[(3, pfx, 0, 0)] = s;
            for (int op = 0; op < 256; op++)
            {
                int t = FastDecoderTables.Turbo[pfx * 512 + 256 + op];
                if (t != 0) row[op] = FromTurbo(t, w: false);
                else if (pfx == 0 && op is >= 0x80 and <= 0x8F) row[op] = Skip(4, EndRel32);
                else if (pfx == 0 && op is 0x78 or 0x79) row[op] = ModRM(FastDecoderTables.ClassModRM, 0, EndVmx);
            }
            return s;
        }

        private byte OneByteOp(int pfx, bool w, int op)
        {
            int t = pfx < 4 ? FastDecoderTables.Turbo[pfx * 512 + op] : 0;
            if (op == 0x0F) return Fail; // set by the caller
            if (t != 0) return FromTurbo(t, w);
            if (pfx != 0) return Fail;
            switch (FastDecoderTables.TurboBranch[op])
            {
                case 1: return Skip(1, EndRel8);
                case 2: return Skip(4, EndRel32);
                case 3: return Skip(4, EndCall32);
            }
            return op switch
            {
                0xFF => ModRM(ClassFF, 0, EndPlain),
                0xFE => ModRM(ClassFE, 0, EndPlain),
                0xCD => Skip(1, EndInt),
                _ => Fail,
            };
        }

        private byte FromTurbo(int t, bool w)
        {
            int cls = (t >> 3) & 7;
            int imm = t & 7;
            if (imm == FastDecoderTables.ImmMovImm) imm = w ? 8 : 4;
            return cls == FastDecoderTables.ClassNone ? Skip(imm, EndPlain) : ModRM(cls, imm, EndPlain);
        }

        private byte Skip(int k, byte end)
        {
            if (k == 0) return end;
            if (Memo((4, k, end, 0), out byte s)) return s;
            byte next = Skip(k - 1, end);
            s = New(out var row);
            _memo[(4, k, end, 0)] = s;
            Array.Fill(row, next);
            return s;
        }

        private byte ModRM(int cls, int tail, byte end)
        {
            if (Memo((5, cls, tail, end), out byte s)) return s;
            s = New(out var row);
            _memo[(5, cls, tail, end)] = s;
            for (int m = 0; m < 256; m++)
            {
                int mod = m >> 6, reg = (m >> 3) & 7, rm = m & 7;
                byte e = end;
                if (cls == ClassFF)
                {
                    if (reg is 2 or 4)
                    {
                        if (mod != 3) continue;
                        e = reg == 2 ? EndCallReg : EndJmpReg;
                    }
                    else if (reg is not (0 or 1 or 6)) continue;
                }
                else if (cls == ClassFE)
                {
                    if (reg > 1) continue;
                }
                else if (FastDecoderTables.TurboModRM[cls * 256 + m] == 0xFF) continue;
                if (mod == 3) row[m] = Skip(tail, e);
                else if (rm == 4) row[m] = Sib(mod, tail, e);
                else if (mod == 0 && rm == 5) row[m] = Skip(4 + tail, e);
                else row[m] = Skip((mod == 1 ? 1 : mod == 2 ? 4 : 0) + tail, e);
            }
            return s;
        }

        private byte Sib(int mod, int tail, byte end)
        {
            if (Memo((6, mod, tail, end), out byte s)) return s;
            s = New(out var row);
            _memo[(6, mod, tail, end)] = s;
            for (int x = 0; x < 256; x++)
                row[x] = Skip((mod == 0 ? ((x & 7) == 5 ? 4 : 0) : mod == 1 ? 1 : 4) + tail, end);
            return s;
        }
    }
}
