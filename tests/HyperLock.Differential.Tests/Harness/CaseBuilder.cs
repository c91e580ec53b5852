using Iced.Intel;

namespace HyperLock.Differential.Tests.Harness;

/// <summary>
/// Builds a concrete case for a form: picks registers, immediates, an addressing mode whose
/// effective address lands in the data window, prefixes (LOCK, REP/REPNE), applies the
/// per-instruction constraints that keep the native run from faulting (non-zero divisors with
/// in-range quotients, bit offsets that stay in scratch, safe POPF/LDMXCSR images, branch
/// targets that lead back to the harness), encodes with Iced's <see cref="Encoder"/>, and
/// finally passes the case through <see cref="SafetyGate"/>. Everything random comes from the
/// FsCheck-generated <see cref="CaseValues"/>, so a case is reproducible from its values.
/// </summary>
public static class CaseBuilder
{
    private const int Attempts = 24;

    public static BuildResult Build(Form form, CaseValues values)
    {
        var rng = new SplitMix(values.ChoiceSeed);
        string failure = "no attempt";
        for (int attempt = 0; attempt < Attempts; attempt++)
        {
            var b = new Attempt(form, values, rng.Next());
            var result = b.Run();
            if (result.Case != null) return result;
            failure = result.Failure!;
        }
        return new BuildResult(null, failure);
    }

    private sealed class Attempt(Form form, CaseValues values, ulong seed)
    {
        private SplitMix _rng = new(seed);
        private readonly MachineState _s = new();
        private Instruction _ins;
        private int _addrRegs; // bit per GPR used to form an address
        private int _memOperand = -1;
        private ulong _ea;

        public BuildResult Run()
        {
            Setup();
            _ins.Code = form.Code;
            var slots = form.Slots;
            for (int k = 0; k < slots.Length; k++)
            {
                string? err = FillOperand(k, slots[k]);
                if (err != null) return new BuildResult(null, err);
            }
            Prefixes();
            string? fix = Fixups();
            if (fix != null) return new BuildResult(null, fix);

            var writer = new Native.ByteWriter();
            var encoder = Encoder.Create(64, writer);
            if (!encoder.TryEncode(_ins, ScratchLayout.CodeBase, out _, out string? encodeError))
                return new BuildResult(null, "encode: " + encodeError);
            byte[] bytes = writer.ToArray();
            var decoder = Decoder.Create(64, new ByteArrayCodeReader(bytes), ScratchLayout.CodeBase);
            decoder.Decode(out var decoded);
            if (decoded.Code != form.Code || decoded.Length != bytes.Length)
                return new BuildResult(null, $"re-decoded as {decoded.Code}");
            _s.Rip = ScratchLayout.CodeBase;
            string? unsafeReason = SafetyGate.Check(form, decoded, _s);
            if (unsafeReason != null) return new BuildResult(null, "unsafe: " + unsafeReason);
            return new BuildResult(new DiffCase { Form = form, Instruction = decoded, Bytes = bytes, Initial = _s, ChoiceSeed = seed }, null);
        }

        private void Setup()
        {
            values.Gpr.CopyTo(_s.Gpr, 0);
            values.Xmm.CopyTo(_s.Xmm, 0);
            _s.Gpr[4] = ScratchLayout.StackTop - 8 * (ulong)_rng.Below(4);
            _s.Rflags = values.Rflags;
            _s.Mxcsr = values.Mxcsr & SafetyGate.HostMxcsrMask;
            _s.Fcw = values.Fcw;
            _s.Fsw = values.Fsw;
            _s.Ftw = values.Ftw;
            for (int i = 0; i < 8; i++) (_s.StSignExp[i], _s.StMantissa[i]) = values.St[i];
            _rng.Fill(_s.Data);
            _rng.Fill(_s.Stack);
        }

        // ---- operands ----

        private static readonly Register[] R8 =
        [
            Register.AL, Register.CL, Register.DL, Register.BL, Register.AH, Register.CH, Register.DH, Register.BH,
            Register.BPL, Register.SIL, Register.DIL, Register.R8L, Register.R9L, Register.R10L, Register.R11L,
            Register.R12L, Register.R13L, Register.R14L, Register.R15L,
        ];

        private Register PickGpr(int bits)
        {
            if (bits == 8)
            {
                // AH..BH cannot be encoded with a REX prefix; the encoder rejects such mixes and we retry.
                return R8[_rng.Below(R8.Length)];
            }
            int n;
            do n = _rng.Below(16); while (n == 4);
            return Gpr(bits, n);
        }

        private static Register Gpr(int bits, int n) => bits switch
        {
            64 => Register.RAX + n,
            32 => Register.EAX + n,
            16 => Register.AX + n,
            _ => n < 4 ? Register.AL + n : Register.SPL + (n - 4),
        };

        private string? FillOperand(int k, Slot slot)
        {
            switch (slot.Kind)
            {
                case SlotKind.Gpr:
                    SetReg(k, PickGpr(slot.Bits));
                    return null;
                case SlotKind.Xmm:
                    SetReg(k, Register.XMM0 + _rng.Below(16));
                    return null;
                case SlotKind.St:
                    SetReg(k, Register.ST0 + _rng.Below(8));
                    return null;
                case SlotKind.Mm:
                    SetReg(k, Register.MM0 + _rng.Below(8));
                    return null;
                case SlotKind.MmOrMemory:
                    if (_rng.Chance(50)) { SetReg(k, Register.MM0 + _rng.Below(8)); return null; }
                    return Memory(k, 8);
                case SlotKind.GprOrMemory:
                    if (_rng.Chance(50)) { SetReg(k, PickGpr(slot.Bits)); return null; }
                    return Memory(k, slot.Bits / 8);
                case SlotKind.XmmOrMemory:
                    if (_rng.Chance(50)) { SetReg(k, Register.XMM0 + _rng.Below(16)); return null; }
                    return Memory(k, 16);
                case SlotKind.Memory:
                    return Memory(k, 16);
                case SlotKind.MemoryOffset:
                    return MemoryOffset(k);
                case SlotKind.FixedRegister:
                    SetReg(k, slot.Fixed);
                    return null;
                case SlotKind.Immediate:
                    Immediate(k, slot);
                    return null;
                case SlotKind.StringSource:
                    _ins.SetOpKind(k, OpKind.MemorySegRSI);
                    return null;
                case SlotKind.StringDestination:
                    _ins.SetOpKind(k, OpKind.MemoryESRDI);
                    return null;
                case SlotKind.ImplicitRdi:
                    _ins.SetOpKind(k, OpKind.MemorySegRDI);
                    return null;
                case SlotKind.Xlat:
                    _ins.SetOpKind(k, OpKind.Memory);
                    _ins.MemoryBase = Register.RBX;
                    _ins.MemoryIndex = Register.AL;
                    _ins.MemoryIndexScale = 1;
                    return null;
                case SlotKind.NearBranch:
                    _ins.SetOpKind(k, OpKind.NearBranch64);
                    _ins.NearBranch64 = ScratchLayout.BranchTarget;
                    return null;
                default:
                    return "slot " + slot.Kind;
            }
        }

        private void SetReg(int k, Register r)
        {
            _ins.SetOpKind(k, OpKind.Register);
            _ins.SetOpRegister(k, r);
        }

        private ulong SmallOrRandom(int bits)
        {
            ulong v = _rng.Chance(40) ? (ulong)(long)(_rng.Below(33) - 16) : _rng.Next();
            return bits == 64 ? v : v & ((1UL << bits) - 1);
        }

        private void Immediate(int k, Slot slot)
        {
            _ins.SetOpKind(k, slot.ImmKind);
            switch (slot.ImmKind)
            {
                case OpKind.Immediate8:
                    // imm8_const_1 forms (shift by one) need the value 1.
                    var opKind = form.Info.GetOpKind(k);
                    _ins.Immediate8 = opKind == OpCodeOperandKind.imm8_const_1 ? (byte)1 : (byte)SmallOrRandom(8);
                    break;
                case OpKind.Immediate8_2nd: _ins.Immediate8_2nd = (byte)SmallOrRandom(8); break;
                case OpKind.Immediate8to16: _ins.Immediate8to16 = (sbyte)SmallOrRandom(8); break;
                case OpKind.Immediate8to32: _ins.Immediate8to32 = (sbyte)SmallOrRandom(8); break;
                case OpKind.Immediate8to64: _ins.Immediate8to64 = (sbyte)SmallOrRandom(8); break;
                case OpKind.Immediate16: _ins.Immediate16 = (ushort)SmallOrRandom(16); break;
                case OpKind.Immediate32: _ins.Immediate32 = (uint)SmallOrRandom(32); break;
                case OpKind.Immediate32to64: _ins.Immediate32to64 = (int)SmallOrRandom(32); break;
                case OpKind.Immediate64: _ins.Immediate64 = SmallOrRandom(64); break;
            }
        }

        /// <summary>Picks an effective address in the data window and an addressing mode that reaches it.</summary>
        private string? Memory(int k, int sizeHint)
        {
            if (_memOperand >= 0) return "two memory operands";
            int size = form.MemorySize > 0 ? form.MemorySize : sizeHint;
            if (size <= 0) size = 16;
            ulong ea = ScratchLayout.DataBase + ScratchLayout.Margin
                + (ulong)_rng.Below(ScratchLayout.DataSize - 2 * ScratchLayout.Margin - Math.Min(size, 512));
            // Legacy SSE requires 16-byte alignment for most 128-bit operands: always align those.
            int align = size >= 16 ? 16 : _rng.Chance(50) ? Math.Max(size, 1) : 1;
            if (align > 16) align = 16;
            ea &= ~(ulong)(align - 1);
            _ea = ea;
            _memOperand = k;
            _ins.SetOpKind(k, OpKind.Memory);
            _ins.SegmentPrefix = Register.None;

            int mode = _rng.Below(10);
            long disp = _rng.Below(3) switch { 0 => 0, 1 => (sbyte)_rng.Next(), _ => (int)(_rng.Next() % 0x2000000) - 0x1000000 };
            int scale = 1 << _rng.Below(4);
            switch (mode)
            {
                case <= 3: // base + index*scale + disp
                {
                    int b = PickAddressReg(-1), x = PickAddressReg(b);
                    ulong xv = _s.Gpr[x];
                    _s.Gpr[b] = ea - xv * (ulong)scale - (ulong)disp;
                    SetMemory(Gpr(64, b), Gpr(64, x), scale, disp);
                    _addrRegs |= (1 << b) | (1 << x);
                    break;
                }
                case <= 5: // base + disp
                {
                    int b = PickAddressReg(-1);
                    _s.Gpr[b] = ea - (ulong)disp;
                    SetMemory(Gpr(64, b), Register.None, 1, disp);
                    _addrRegs |= 1 << b;
                    break;
                }
                case 6: // index*scale + disp32 (no base)
                {
                    int x = PickAddressReg(-1);
                    ulong xv = (ulong)_rng.Below(0x100);
                    _s.Gpr[x] = xv;
                    SetMemory(Register.None, Gpr(64, x), scale, (long)(ea - xv * (ulong)scale), displSize: 4);
                    _addrRegs |= 1 << x;
                    break;
                }
                case 7: // absolute disp32
                    SetMemory(Register.None, Register.None, 1, (long)ea, displSize: 4);
                    break;
                case 8: // RIP-relative
                    _ins.MemoryBase = Register.RIP;
                    _ins.MemoryIndex = Register.None;
                    _ins.MemoryIndexScale = 1;
                    _ins.MemoryDisplacement64 = ea;
                    _ins.MemoryDisplSize = 8;
                    break;
                default: // 32-bit address size (67h): only the low halves of base and index count
                {
                    int b = PickAddressReg(-1), x = PickAddressReg(b);
                    uint xv = (uint)_s.Gpr[x];
                    uint bv = (uint)ea - xv * (uint)scale - (uint)disp;
                    _s.Gpr[b] = (_s.Gpr[b] & 0xFFFFFFFF00000000UL) | bv;
                    _ins.MemoryBase = Gpr(32, b);
                    _ins.MemoryIndex = Gpr(32, x);
                    _ins.MemoryIndexScale = scale;
                    _ins.MemoryDisplacement64 = (uint)(int)disp;
                    _ins.MemoryDisplSize = disp == 0 ? 0 : disp is >= -128 and <= 127 ? 1 : 4;
                    _addrRegs |= (1 << b) | (1 << x);
                    break;
                }
            }
            return null;
        }

        private void SetMemory(Register b, Register x, int scale, long disp, int displSize = -1)
        {
            _ins.MemoryBase = b;
            _ins.MemoryIndex = x;
            _ins.MemoryIndexScale = scale;
            _ins.MemoryDisplacement64 = (ulong)disp;
            _ins.MemoryDisplSize = displSize >= 0 ? displSize : disp == 0 ? 0 : disp is >= -128 and <= 127 ? 1 : 4;
        }

        private int PickAddressReg(int not)
        {
            int n;
            do n = _rng.Below(16); while (n == 4 || n == not);
            return n;
        }

        private string? MemoryOffset(int k)
        {
            if (_memOperand >= 0) return "two memory operands";
            int size = Math.Max(form.MemorySize, 1);
            _ea = ScratchLayout.DataBase + ScratchLayout.Margin + (ulong)_rng.Below(ScratchLayout.DataSize - 2 * ScratchLayout.Margin);
            _ea &= ~(ulong)(_rng.Chance(50) ? size - 1 : 0);
            _memOperand = k;
            _ins.SetOpKind(k, OpKind.Memory);
            _ins.MemoryBase = Register.None;
            _ins.MemoryIndex = Register.None;
            _ins.MemoryIndexScale = 1;
            _ins.MemoryDisplacement64 = _ea;
            _ins.MemoryDisplSize = 8;
            return null;
        }

        private void Prefixes()
        {
            var info = form.Info;
            if (info.CanUseLockPrefix && _memOperand == 0 && _rng.Chance(50)) _ins.HasLockPrefix = true;
            if (IsString(form.Mnemonic))
            {
                if (info.CanUseRepnePrefix && _rng.Chance(30)) _ins.HasRepnePrefix = true;
                else if (info.CanUseRepPrefix && _rng.Chance(60)) _ins.HasRepPrefix = true;
            }
        }

        private static bool IsString(Mnemonic m) => m is Mnemonic.Movsb or Mnemonic.Movsw or Mnemonic.Movsd or Mnemonic.Movsq
            or Mnemonic.Cmpsb or Mnemonic.Cmpsw or Mnemonic.Cmpsd or Mnemonic.Cmpsq or Mnemonic.Stosb or Mnemonic.Stosw
            or Mnemonic.Stosd or Mnemonic.Stosq or Mnemonic.Lodsb or Mnemonic.Lodsw or Mnemonic.Lodsd or Mnemonic.Lodsq
            or Mnemonic.Scasb or Mnemonic.Scasw or Mnemonic.Scasd or Mnemonic.Scasq;

        // ---- per-instruction constraints ----

        private bool IsAddr(int reg) => (_addrRegs & (1 << reg)) != 0;

        private static int RegNumber(Register r) => r.GetFullRegister() - Register.RAX;

        /// <summary>Sets a GPR operand's value (sized write); false when the register also forms the address.</summary>
        private bool SetGprOperand(Register r, ulong value)
        {
            int n = RegNumber(r.GetFullRegister());
            if (IsAddr(n)) return false;
            int bits = r.GetSize() * 8;
            bool high = r is Register.AH or Register.CH or Register.DH or Register.BH;
            if (high) n = r - Register.AH;
            ref ulong g = ref _s.Gpr[n];
            if (high) g = (g & ~0xFF00UL) | ((value & 0xFF) << 8);
            else if (bits == 64) g = value;
            else if (bits == 32) g = (g & 0xFFFFFFFF00000000UL) | (uint)value;
            else g = (g & ~((1UL << bits) - 1)) | (value & ((1UL << bits) - 1));
            return true;
        }

        private ulong ReadOperand(int k, int bytes)
        {
            if (_ins.GetOpKind(k) == OpKind.Memory) return _s.ReadMemory(_ea, Math.Min(bytes, 8));
            var r = _ins.GetOpRegister(k);
            if (r is Register.AH or Register.CH or Register.DH or Register.BH) return (_s.Gpr[r - Register.AH] >> 8) & 0xFF;
            ulong v = _s.Gpr[RegNumber(r)];
            return bytes == 8 ? v : v & ((1UL << (bytes * 8)) - 1);
        }

        private bool WriteOperand(int k, int bytes, ulong value)
        {
            if (_ins.GetOpKind(k) == OpKind.Memory) { _s.WriteMemory(_ea, bytes, value); return true; }
            return SetGprOperand(_ins.GetOpRegister(k), value);
        }

        private string? Fixups()
        {
            var m = form.Mnemonic;
            // FP-heavy forms see more interesting values when the memory operand holds special values too.
            if (_memOperand >= 0 && form.MemorySize is 4 or 8 or 16 && _rng.Chance(50))
                for (int q = 0; q < form.MemorySize; q += Math.Min(8, form.MemorySize))
                    _s.WriteMemory(_ea + (ulong)q, Math.Min(8, form.MemorySize), values.Xmm[_rng.Below(32)]);
            if (_memOperand >= 0 && form.Code.ToOpCode().MemorySize == MemorySize.Float80 && _rng.Chance(60))
            {
                var (se, man) = values.St[_rng.Below(8)];
                _s.WriteMemory(_ea, 8, man);
                _s.WriteMemory(_ea + 8, 2, se);
            }

            if (IsString(m))
            {
                if (IsAddr(6) || IsAddr(7)) return "string registers in use";
                _s.Gpr[6] = ScratchLayout.DataBase + 0x400 + (ulong)_rng.Below(0x800);
                _s.Gpr[7] = ScratchLayout.DataBase + 0x400 + (ulong)_rng.Below(0x800);
                if (_ins.HasRepPrefix || _ins.HasRepnePrefix) _s.Gpr[1] = (ulong)_rng.Below(9);
                return null;
            }
            switch (m)
            {
                case Mnemonic.Xlatb:
                    _s.Gpr[3] = ScratchLayout.DataBase + 0x400 + (ulong)_rng.Below(0x400);
                    return null;
                case Mnemonic.Maskmovdqu or Mnemonic.Maskmovq:
                    _s.Gpr[7] = ScratchLayout.DataBase + ScratchLayout.Margin + (ulong)_rng.Below(0x800);
                    return null;
                case Mnemonic.Div or Mnemonic.Idiv:
                    return Division(m == Mnemonic.Idiv);
                case Mnemonic.Bt or Mnemonic.Bts or Mnemonic.Btr or Mnemonic.Btc:
                    if (_memOperand == 0 && _ins.GetOpKind(1) == OpKind.Register)
                    {
                        long off = _rng.Below(2 * 8 * 0x180) - 8 * 0x180;
                        if (!SetGprOperand(_ins.GetOpRegister(1), (ulong)off)) return "bit offset register forms the address";
                    }
                    return null;
                case Mnemonic.Shld or Mnemonic.Shrd when form.Slots[0].Bits == 16:
                    // Counts above 16 leave a 16-bit SHLD/SHRD result undefined: keep (count & 31) <= 16.
                    if (_ins.GetOpKind(2) == OpKind.Register)
                        return SetGprOperand(Register.CL, (ulong)_rng.Below(17) + (_rng.Chance(20) ? 32UL : 0)) ? null : "CL forms the address";
                    _ins.Immediate8 = (byte)(_rng.Below(17) + (_rng.Chance(20) ? 32 : 0));
                    return null;
                case Mnemonic.Ldmxcsr:
                    _s.WriteMemory(_ea, 4, SafeMxcsr());
                    return null;
                case Mnemonic.Fldcw:
                    // Every x87 exception stays masked (an unmasked one would raise #MF natively).
                    _s.WriteMemory(_ea, 2, (ulong)(0x7F | (new[] { 0, 2, 3 }[_rng.Below(3)] << 8) | (_rng.Below(4) << 10) | (_rng.Chance(20) ? 0x1000 : 0)));
                    return null;
                case Mnemonic.Fbld:
                {
                    // A valid packed BCD (18 digits + sign byte): invalid encodings give undefined results.
                    ulong lo = 0;
                    for (int d = 0; d < 16; d++) lo |= (ulong)_rng.Below(10) << (4 * d);
                    _s.WriteMemory(_ea, 8, lo);
                    _s.WriteMemory(_ea + 8, 1, (ulong)(_rng.Below(10) | _rng.Below(10) << 4));
                    _s.WriteMemory(_ea + 9, 1, _rng.Chance(50) ? 0x80UL : 0);
                    return null;
                }
                case Mnemonic.Popf or Mnemonic.Popfq:
                {
                    ulong rsp = _s.Gpr[4];
                    ulong img = _s.ReadMemory(rsp, 8);
                    _s.WriteMemory(rsp, 8, (img & ~(ulong)(m == Mnemonic.Popf ? 0xFFFF : ulong.MaxValue)) | (img & 0xCD5 & 0xFFFF) | (_rng.Chance(30) ? 0x400UL : 0) | 0x202);
                    return null;
                }
                case Mnemonic.Leave:
                    if (IsAddr(5)) return "rbp in use";
                    _s.Gpr[5] = ScratchLayout.StackTop - 8 * (ulong)_rng.Below(5);
                    return null;
                case Mnemonic.Enter:
                    _ins.Immediate16 = (ushort)_rng.Below(0x40);
                    _ins.Immediate8_2nd = (byte)_rng.Below(4);
                    _s.Gpr[5] = ScratchLayout.StackTop - 8 * (ulong)_rng.Below(3);
                    return null;
                case Mnemonic.Ret:
                    _s.WriteMemory(_s.Gpr[4], 8, ScratchLayout.BranchTarget);
                    if (form.Slots.Length == 1) _ins.Immediate16 = (ushort)(_rng.Below(5) * 8 + (_rng.Chance(20) ? 1 : 0));
                    return null;
                case Mnemonic.Jmp or Mnemonic.Call when form.Slots[0].Kind == SlotKind.GprOrMemory:
                    return WriteOperand(0, 8, ScratchLayout.BranchTarget) ? null : "target register forms the address";
                case Mnemonic.Loop or Mnemonic.Loope or Mnemonic.Loopne or Mnemonic.Jrcxz or Mnemonic.Jecxz:
                    if (_rng.Chance(40)) _s.Gpr[1] = (_s.Gpr[1] & (_rng.Chance(50) ? 0xFFFFFFFF00000000UL : 0UL)) | (uint)_rng.Below(3);
                    return null;
                case Mnemonic.Bsf or Mnemonic.Bsr or Mnemonic.Tzcnt or Mnemonic.Lzcnt or Mnemonic.Popcnt:
                    // Zero sources are the interesting edge: make them common.
                    if (_rng.Chance(25)) WriteOperand(1, form.Slots[0].Bits / 8, 0);
                    return null;
            }
            return null;
        }

        private uint SafeMxcsr()
        {
            uint rc = (uint)_rng.Below(4) << 13;
            uint ftz = _rng.Chance(30) ? 0x8000u : 0u;
            uint daz = _rng.Chance(30) ? 0x40u : 0u;
            uint sticky = (uint)_rng.Below(64);
            return (0x1F80u | rc | ftz | daz | sticky) & SafetyGate.HostMxcsrMask;
        }

        private string? Division(bool signed)
        {
            int bytes = form.Slots[0].Bits / 8;
            ulong mask = bytes == 8 ? ulong.MaxValue : (1UL << (bytes * 8)) - 1;
            ulong divisor = ReadOperand(0, bytes);
            if (divisor == 0)
            {
                divisor = Math.Max(1, _rng.Next() & mask & (_rng.Chance(50) ? 0xFF : ulong.MaxValue));
                if (!WriteOperand(0, bytes, divisor)) return "divisor register forms the address";
            }
            ulong low = bytes == 1 ? _s.Gpr[0] & 0xFF : _s.Gpr[0] & mask;
            ulong high;
            if (!signed) high = _rng.Next() % divisor;
            else
            {
                long sd = SignExtend(divisor, bytes);
                bool neg = SignExtend(low, bytes) < 0;
                high = neg ? mask : 0;
                // Sometimes move the dividend beyond one word, keeping |high| < |divisor| / 2.
                ulong absD = (ulong)Math.Abs(sd == long.MinValue ? long.MaxValue : sd);
                if (_rng.Chance(40) && absD > 2)
                {
                    ulong h = _rng.Next() % (absD / 2);
                    high = neg ? (~h) & mask : h;
                }
            }
            bool ok = bytes == 1 ? SetGprOperand(Register.AH, high) : SetGprOperand(Gpr(bytes * 8, 2), high);
            return ok ? null : "dividend register forms the address";
        }

        private static long SignExtend(ulong v, int bytes) => bytes switch
        {
            1 => (sbyte)v,
            2 => (short)v,
            4 => (int)v,
            _ => (long)v,
        };
    }
}
