using HyperLock.Verifier;
using HyperLock.Abi;
using HyperLock.Verifier.Policy;
using Iced.Intel;

namespace HyperLock.Toolchain;

/// <summary>
/// The bundling assembler: takes Iced <see cref="Instruction"/>s and label-based branches and
/// lays them out in 32-byte bundles so that the image satisfies SPEC §6. It pads with NOPs so
/// that no instruction crosses a bundle end, places every call so that it ends a bundle,
/// turns indirect branches and returns into masked forms (<c>and rX,-32; jmp/call rX</c>),
/// keeps <c>mov r32,imm32; vmread/vmwrite</c> in one bundle, replaces privileged instructions
/// with runtime-service calls, and re-lays out branches (short or near) until a fixed point.
/// <see cref="Assemble"/> verifies its own output and throws if it does not verify.
/// </summary>
public sealed class BundleAssembler(ToolchainOptions? options = null)
{
    private readonly ToolchainOptions _options = options ?? ToolchainOptions.Default;
    private readonly List<Item> _items = [];
    private readonly List<int> _entries = [];
    private int _labels;

    /// <summary>A new, unbound label.</summary>
    public Label CreateLabel() => new(_labels++);

    /// <summary>Bind <paramref name="label"/> to the current position.</summary>
    public void Bind(Label label) => _items.Add(new Item { Kind = ItemKind.LabelDef, Label = label.Id });

    /// <summary>Pad to the next bundle start.</summary>
    public void AlignBundle() => _items.Add(new Item { Kind = ItemKind.Align });

    /// <summary>Pad to a bundle start, bind <paramref name="label"/> there and declare it an entry point.</summary>
    public void BindEntry(Label label)
    {
        AlignBundle();
        Bind(label);
        _entries.Add(label.Id);
    }

    /// <summary>Direct jump.</summary>
    public void Jmp(Label target) => AddBranch(Code.Jmp_rel8_64, Code.Jmp_rel32_64, target, call: false);

    /// <summary>Conditional jump.</summary>
    public void Jcc(ConditionCode cc, Label target)
    {
        var near = cc switch
        {
            ConditionCode.o => Code.Jo_rel32_64, ConditionCode.no => Code.Jno_rel32_64, ConditionCode.b => Code.Jb_rel32_64,
            ConditionCode.ae => Code.Jae_rel32_64, ConditionCode.e => Code.Je_rel32_64, ConditionCode.ne => Code.Jne_rel32_64,
            ConditionCode.be => Code.Jbe_rel32_64, ConditionCode.a => Code.Ja_rel32_64, ConditionCode.s => Code.Js_rel32_64,
            ConditionCode.ns => Code.Jns_rel32_64, ConditionCode.p => Code.Jp_rel32_64, ConditionCode.np => Code.Jnp_rel32_64,
            ConditionCode.l => Code.Jl_rel32_64, ConditionCode.ge => Code.Jge_rel32_64, ConditionCode.le => Code.Jle_rel32_64,
            ConditionCode.g => Code.Jg_rel32_64,
            _ => throw new ArgumentOutOfRangeException(nameof(cc)),
        };
        AddBranch(near.ToShortBranch(), near, target, call: false);
    }

    /// <summary>Direct call; it is placed to end a bundle.</summary>
    public void Call(Label target) => AddBranch(Code.Call_rel32_64, Code.Call_rel32_64, target, call: true);

    /// <summary><c>and r,-32; jmp r</c> in one bundle.</summary>
    public void JmpIndirect(Register r64) => Throw(TryIndirect(r64, call: false));

    /// <summary><c>and r,-32; call r</c> in one bundle, ending it.</summary>
    public void CallIndirect(Register r64) => Throw(TryIndirect(r64, call: true));

    /// <summary>A return: <c>pop r11; and r11,-32; jmp r11</c>.</summary>
    public void Ret() => Throw(TryAdd(Instruction.Create(Code.Retnq)));

    /// <summary><c>mov r11d, field; vmread dst, r11</c> in one bundle (field must be readable).</summary>
    public void Vmread(Register dst64, uint field)
    {
        Throw(TryAdd(Instruction.Create(Code.Mov_r32_imm32, Register.R11D, field)));
        Throw(TryAdd(Instruction.Create(Code.Vmread_rm64_r64, dst64, ToolchainOptions.Scratch)));
    }

    /// <summary><c>mov r11d, field; vmwrite r11, src</c> in one bundle (field must be writable).</summary>
    public void Vmwrite(uint field, Register src64)
    {
        Throw(TryAdd(Instruction.Create(Code.Mov_r32_imm32, Register.R11D, field)));
        Throw(TryAdd(Instruction.Create(Code.Vmwrite_r64_rm64, ToolchainOptions.Scratch, src64)));
    }

    /// <summary>A runtime-service call: <c>mov r11d, service; int GATE</c>.</summary>
    public void Service(RuntimeService service) => AddCode([
        Instruction.Create(Code.Mov_r32_imm32, Register.R11D, (uint)service),
        Instruction.Create(Code.Int_imm8, (uint)_options.GateVector),
    ]);

    /// <summary>
    /// Add one instruction, lowered as needed (see the type's summary). Direct branches must
    /// use <see cref="Jmp"/>, <see cref="Jcc"/> or <see cref="Call"/>. Throws
    /// <see cref="ToolchainException"/> for instructions that have no verified form.
    /// </summary>
    public void Add(in Instruction instruction) => Throw(TryAdd(instruction));

    /// <summary>Add an instruction whose RIP-relative operand points at <paramref name="target"/> (a code pointer).</summary>
    public void AddWithCodePointer(in Instruction instruction, Label target)
    {
        if (!instruction.IsIPRelativeMemoryOperand) throw new ToolchainException("instruction has no RIP-relative operand");
        var problem = CheckPlain(instruction);
        if (problem is not null) throw new ToolchainException(problem);
        AddCode([Canonical(instruction)], ripLabel: target.Id);
    }

    /// <summary>Lay out, encode and verify. Throws <see cref="ToolchainException"/> if the output does not verify.</summary>
    public AssembledImage Assemble() => Assembly.Run(_items, _entries, _labels, _options);

    private static void Throw(string? problem)
    {
        if (problem is not null) throw new ToolchainException(problem);
    }

    internal void AddBranch(Code shortCode, Code nearCode, Label target, bool call) =>
        _items.Add(new Item
        {
            Kind = ItemKind.Branch, ShortCode = shortCode, NearCode = nearCode, Label = target.Id, IsCall = call, EndsBundle = call,
            // Start short; a form with only rel32 (call) is near from the start.
            Form = shortCode.ToOpCode().GetOpKind(0) == OpCodeOperandKind.br64_1 ? BranchForm.Short : BranchForm.Near,
        });

    private void AddCode(Instruction[] parts, bool endsBundle = false, int ripLabel = -1)
    {
        var item = new Item { Kind = ItemKind.Code, Parts = parts, EndsBundle = endsBundle, RipLabel = ripLabel };
        item.CodeSize = Assembly.MeasureParts(parts, ripLabel);
        _items.Add(item);
    }

    private string? TryIndirect(Register r64, bool call)
    {
        if (!r64.IsGPR64()) return $"indirect {(call ? "call" : "jmp")} needs a 64-bit register, not {r64}";
        if (r64 == Register.RSP) return "indirect branch through rsp has no verified form";
        AddCode([
            Instruction.Create(Code.And_rm64_imm8, r64, -32),
            Instruction.Create(call ? Code.Call_rm64 : Code.Jmp_rm64, r64),
        ], endsBundle: call);
        return null;
    }

    /// <summary>Lower one instruction; null on success, else why it has no verified form.</summary>
    internal string? TryAdd(in Instruction instr)
    {
        var code = instr.Code;
        switch (code)
        {
            case Code.Retnq or Code.Retnq_imm16:
            {
                var parts = new List<Instruction> { Instruction.Create(Code.Pop_r64, ToolchainOptions.Scratch) };
                if (code == Code.Retnq_imm16 && instr.Immediate16 != 0)
                    parts.Add(Instruction.Create(Code.Lea_r64_m, Register.RSP, new MemoryOperand(Register.RSP, (long)instr.Immediate16)));
                AddCode([.. parts]);
                AddCode([
                    Instruction.Create(Code.And_rm64_imm8, ToolchainOptions.Scratch, -32),
                    Instruction.Create(Code.Jmp_rm64, ToolchainOptions.Scratch),
                ]);
                return null;
            }
            case Code.Jmp_rm64 or Code.Call_rm64:
            {
                bool call = code == Code.Call_rm64;
                if (instr.Op0Kind == OpKind.Register) return TryIndirect(instr.Op0Register, call);
                var load = Instruction.Create(Code.Mov_r64_rm64, ToolchainOptions.Scratch, instr.MemoryOperandOf());
                var problem = CheckPlain(load);
                if (problem is not null) return problem;
                AddCode([Canonical(load)]);
                return TryIndirect(ToolchainOptions.Scratch, call);
            }
            case Code.Vmread_rm64_r64 or Code.Vmwrite_r64_rm64:
                return TryVmx(instr);
            case Code.Int_imm8:
                if (instr.Immediate8 != _options.GateVector)
                    return $"int 0x{instr.Immediate8:x2} is not the runtime gate int 0x{_options.GateVector:x2}";
                AddCode([Instruction.Create(Code.Int_imm8, (uint)_options.GateVector)]);
                return null;
        }
        if (ServiceFor(code) is { } service)
        {
            Service(service);
            return null;
        }
        switch (instr.FlowControl)
        {
            case FlowControl.UnconditionalBranch or FlowControl.ConditionalBranch or FlowControl.Call:
                if (instr.Op0Kind is OpKind.NearBranch64)
                    return "direct branches take a label: use Jmp/Jcc/Call (the rewriter maps targets to labels)";
                break;
        }
        var p = CheckPlain(instr);
        if (p is not null) return p;
        AddCode([Canonical(instr)]);
        return null;
    }

    /// <summary>The service that replaces a privileged instruction, if there is one.</summary>
    public static RuntimeService? ServiceFor(Code code) => code switch
    {
        Code.Vmlaunch or Code.Vmresume => RuntimeService.EnterGuest,
        Code.Rdmsr => RuntimeService.ReadMsr,
        Code.Wrmsr => RuntimeService.WriteMsr,
        Code.Hlt => RuntimeService.Halt,
        Code.Cpuid => RuntimeService.Cpuid,
        Code.Rdtsc => RuntimeService.ReadTsc,
        _ => null,
    };

    private string? TryVmx(in Instruction instr)
    {
        bool read = instr.Code == Code.Vmread_rm64_r64;
        var fieldReg = read ? instr.Op1Register : instr.Op0Register;
        string what = read ? "vmread" : "vmwrite";
        if (_items.Count == 0 || _items[^1] is not { Kind: ItemKind.Code, Parts.Length: 1 } prev
            || prev.Parts[0].Code is not (Code.Mov_r32_imm32 or Code.Mov_rm32_imm32)
            || prev.Parts[0].Op0Kind != OpKind.Register
            || prev.Parts[0].Op0Register.GetFullRegister() != fieldReg.GetFullRegister())
            return $"{what} field operand {fieldReg.ToString().ToLowerInvariant()} is not set by an immediately preceding 'mov r32, imm32'";
        uint field = prev.Parts[0].Immediate32;
        if (read ? !VmcsFieldPolicy.MayRead(field) : !VmcsFieldPolicy.MayWrite(field))
        {
            string name = VmcsFieldPolicy.TryGet(field, out var f) ? f.Name : "unknown field";
            return $"VMCS field 0x{field:x4} ({name}) may not be {(read ? "read" : "written")} by the confined hypervisor";
        }
        if (instr.Op0Kind == OpKind.Memory || instr.Op1Kind == OpKind.Memory)
        {
            var m = CheckMemory(instr);
            if (m is not null) return m;
        }
        _items.RemoveAt(_items.Count - 1);
        AddCode([prev.Parts[0], Canonical(instr)]);
        return null;
    }

    /// <summary>Why a non-branch instruction cannot be emitted as is (null when it can).</summary>
    internal string? CheckPlain(in Instruction instr)
    {
        var policy = AllowList.Classify(instr.Code);
        if (policy.Kind != PolicyKind.Allowed)
            return policy.Kind == PolicyKind.Unclassified ? $"{instr.Code} has no allow-list classification" : $"{policy.Reason} ({instr.Code})";
        return CheckMemory(instr);
    }

    private static string? CheckMemory(in Instruction instr)
    {
        for (int i = 0; i < instr.OpCount; i++)
        {
            if (instr.GetOpKind(i) != OpKind.Memory) continue;
            if (instr.MemoryBase.IsGPR32() || instr.MemoryIndex.IsGPR32() || instr.MemoryBase == Register.EIP)
                return "32-bit addressing needs prefix 0x67, which the verifier rejects";
        }
        return null;
    }

    /// <summary>Drop prefixes that have no effect (and that the verifier rejects).</summary>
    private static Instruction Canonical(Instruction instr)
    {
        if (instr.SegmentPrefix is Register.ES or Register.CS or Register.SS or Register.DS) instr.SegmentPrefix = Register.None;
        var op = instr.Code.ToOpCode();
        if (!op.CanUseRepPrefix) instr.HasRepePrefix = false;
        if (!op.CanUseRepnePrefix) instr.HasRepnePrefix = false;
        instr.HasXacquirePrefix = false;
        instr.HasXreleasePrefix = false;
        if (instr.SegmentPrefix != Register.None && !HasMemory(instr)) instr.SegmentPrefix = Register.None;
        return instr;
    }

    private static bool HasMemory(in Instruction instr)
    {
        for (int i = 0; i < instr.OpCount; i++)
            if (instr.GetOpKind(i) is OpKind.Memory or OpKind.MemorySegRSI or OpKind.MemorySegRDI) return true;
        return false;
    }
}

internal static class InstructionExtensions
{
    public static MemoryOperand MemoryOperandOf(this in Instruction i) => new(
        i.MemoryBase, i.MemoryIndex, i.MemoryIndexScale, (long)i.MemoryDisplacement64, i.MemoryDisplSize, false, i.SegmentPrefix);
}
