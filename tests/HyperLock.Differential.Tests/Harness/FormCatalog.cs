using Iced.Intel;

namespace HyperLock.Differential.Tests.Harness;

/// <summary>How the generator fills one operand of a form.</summary>
public enum SlotKind
{
    /// <summary>A general-purpose register of <see cref="Slot.Bits"/> bits (never RSP/ESP/SP/SPL).</summary>
    Gpr,
    /// <summary>An XMM register.</summary>
    Xmm,
    /// <summary>A general-purpose register or a memory operand.</summary>
    GprOrMemory,
    /// <summary>An XMM register or a memory operand.</summary>
    XmmOrMemory,
    /// <summary>A memory operand (ModRM form).</summary>
    Memory,
    /// <summary>A 64-bit absolute address (MOV AL/AX/EAX/RAX, moffs).</summary>
    MemoryOffset,
    /// <summary>An immediate of the given <see cref="Slot.ImmKind"/>.</summary>
    Immediate,
    /// <summary>A register fixed by the form (AL, CL, AX, EAX, RAX).</summary>
    FixedRegister,
    /// <summary>String source [rSI].</summary>
    StringSource,
    /// <summary>String destination ES:[rDI].</summary>
    StringDestination,
    /// <summary>Implicit [rDI] (MASKMOVDQU).</summary>
    ImplicitRdi,
    /// <summary>XLAT's [rBX + AL].</summary>
    Xlat,
    /// <summary>A near branch target (always <see cref="ScratchLayout.BranchTarget"/>).</summary>
    NearBranch,
    /// <summary>An x87 register ST(i).</summary>
    St,
    /// <summary>An MMX register.</summary>
    Mm,
    /// <summary>An MMX register or a 64-bit memory operand.</summary>
    MmOrMemory,
}

public readonly record struct Slot(SlotKind Kind, int Bits = 0, OpKind ImmKind = OpKind.Register, Register Fixed = Register.None);

/// <summary>A form the generator can build cases for.</summary>
public sealed record Form(Code Code, Slot[] Slots, int MemorySize, bool IsBranch)
{
    public Mnemonic Mnemonic => Code.Mnemonic();
    public OpCodeInfo Info => Code.ToOpCode();
}

/// <summary>A form that is never executed, with the class of reason and the details.</summary>
public sealed record Exclusion(Code Code, string Class, string Reason);

/// <summary>
/// Enumerates every Iced <see cref="Code"/> and sorts it into a testable <see cref="Form"/> or an
/// <see cref="Exclusion"/>. The exclusion classes (with why each exists) are listed in
/// <see cref="ExclusionClasses"/> and in docs/differential.md.
/// </summary>
public static class FormCatalog
{
    /// <summary>Every exclusion class and the reason it exists.</summary>
    public static readonly IReadOnlyDictionary<string, string> ExclusionClasses = new Dictionary<string, string>
    {
        ["pseudo"] = "not a real instruction (Iced pseudo-op such as db/dw)",
        ["not-64-bit"] = "invalid in 64-bit mode (#UD natively)",
        ["amd-only-form"] = "not decoded by Intel CPUs in 64-bit mode (e.g. 66h-prefixed near branches); the emulator models an Intel core",
        ["encoding"] = "EVEX/XOP/3DNow!/MVEX encoding: outside the emulated ISA",
        ["avx"] = "VEX-encoded vector form (AVX): outside the emulated ISA (SSE..SSE4.2); VEX GPR forms (BMI1/BMI2) are tested",
        ["privileged"] = "CPL0 only: #GP natively at CPL3 (the process would die)",
        ["os-controlled"] = "may require CPL0 depending on CR4 bits the OS controls (TSD, UMIP, PCE...): outcome is host-specific",
        ["io"] = "port I/O: #GP natively at IOPL 0",
        ["iopl"] = "IOPL-sensitive (CLI/STI): #GP natively at CPL3 with IOPL 0",
        ["leaves-harness"] = "interrupt, exception, far transfer, SYSCALL or TSX abort: control leaves the harness natively",
        ["segment"] = "reads or writes segment registers or segment bases: would change the host's FS/GS (TLS) or selectors",
        ["x87-environment"] = "x87 environment/state images (FLDENV, FNSTENV, FNSAVE, FRSTOR): they hold the last-instruction pointers and load unmasked-exception state",
        ["other-registers"] = "CR/DR/TR/bound/mask/tile registers: privileged or outside the emulated ISA",
        ["feature-out-of-scope"] = "CPUID feature outside the emulated ISA",
        ["host-lacks-feature"] = "the host CPU lacks the feature: #UD natively (SIGILL would kill the process)",
        ["host-specific"] = "result depends on the host by design (CPUID, XGETBV, descriptor tables) or is non-deterministic (RDTSC, RDRAND)",
        ["faults"] = "raises an exception by design (UD0/UD1/UD2, INT3...)",
        ["save-restore"] = "XSAVE/FXSAVE family: the image holds host-specific x87 and reserved fields",
        ["approximate"] = "approximate result whose exact bits are implementation-specific (RCP*, RSQRT*; x87 transcendentals, for which the SDM gives error bounds only)",
        ["undefined-result"] = "the SDM leaves the whole result undefined (BSWAP r16)",
        ["address-operand"] = "a register operand is used as an address (MOVDIR64B, ENQCMD...): not generated",
        ["fwait-form"] = "FWAIT-prefixed x87 form (FSTCW, FINIT...): it is two instructions, WAIT plus the no-wait form, both tested on their own",
        ["operand-kind"] = "operand kind the generator does not build",
    };

    private static readonly Lazy<(Form[] Forms, Exclusion[] Excluded)> All = new(Build);

    public static IReadOnlyList<Form> Forms => All.Value.Forms;
    public static IReadOnlyList<Exclusion> Excluded => All.Value.Excluded;

    private static (Form[], Exclusion[]) Build()
    {
        var forms = new List<Form>();
        var excluded = new List<Exclusion>();
        foreach (var code in Enum.GetValues<Code>())
        {
            if (code == Code.INVALID) continue;
            var (form, exclusion) = Classify(code);
            if (form != null) forms.Add(form);
            else excluded.Add(exclusion!);
        }
        return (forms.ToArray(), excluded.ToArray());
    }

    public static (Form? Form, Exclusion? Exclusion) Classify(Code code)
    {
        var info = code.ToOpCode();
        Exclusion X(string cls, string? detail = null) =>
            new(code, cls, detail ?? ExclusionClasses[cls]);

        if (!info.IsInstruction) return (null, X("pseudo"));
        if (!info.Mode64) return (null, X("not-64-bit"));
        if (!info.IntelDecoder64) return (null, X("amd-only-form"));
        if (info.Fwait) return (null, X("fwait-form"));
        if (info.Encoding is EncodingKind.EVEX or EncodingKind.XOP or EncodingKind.D3NOW or EncodingKind.MVEX)
            return (null, X("encoding", $"{info.Encoding} encoding: outside the emulated ISA"));

        var m = code.Mnemonic();
        if (m is Mnemonic.Cli or Mnemonic.Sti) return (null, X("iopl"));
        if (info.MustBeCpl0 || !info.Cpl3) return (null, X("privileged"));
        if (info.IsInputOutput) return (null, X("io"));

        var flow = code.FlowControl();
        if (flow is FlowControl.Interrupt or FlowControl.XbeginXabortXend or FlowControl.Exception)
            return (null, X(m is Mnemonic.Ud0 or Mnemonic.Ud1 or Mnemonic.Ud2 ? "faults" : "leaves-harness"));
        if (m is Mnemonic.Syscall or Mnemonic.Sysret or Mnemonic.Sysenter or Mnemonic.Sysexit or Mnemonic.Iret
            or Mnemonic.Iretd or Mnemonic.Iretq or Mnemonic.Retf or Mnemonic.Jmpe or Mnemonic.Hlt)
            return (null, X("leaves-harness"));
        if (info.MayRequireCpl0) return (null, X("os-controlled"));

        if (m is Mnemonic.Cpuid or Mnemonic.Rdtsc or Mnemonic.Rdtscp or Mnemonic.Rdrand or Mnemonic.Rdseed
            or Mnemonic.Rdpid or Mnemonic.Rdpmc or Mnemonic.Rdpru or Mnemonic.Xgetbv or Mnemonic.Rdpkru
            or Mnemonic.Lar or Mnemonic.Lsl or Mnemonic.Verr or Mnemonic.Verw or Mnemonic.Sgdt or Mnemonic.Sidt
            or Mnemonic.Sldt or Mnemonic.Str or Mnemonic.Smsw)
            return (null, X("host-specific", $"{m}: " + ExclusionClasses["host-specific"]));
        if (info.IsSaveRestore || m is Mnemonic.Fxsave or Mnemonic.Fxsave64 or Mnemonic.Fxrstor or Mnemonic.Fxrstor64)
            return (null, X("save-restore"));
        if (m is Mnemonic.Rcpps or Mnemonic.Rcpss or Mnemonic.Rsqrtps or Mnemonic.Rsqrtss or Mnemonic.Fsin or Mnemonic.Fcos
            or Mnemonic.Fsincos or Mnemonic.Fptan or Mnemonic.Fpatan or Mnemonic.F2xm1 or Mnemonic.Fyl2x or Mnemonic.Fyl2xp1)
            return (null, X("approximate"));
        if (m is Mnemonic.Fldenv or Mnemonic.Fnstenv or Mnemonic.Fstenv or Mnemonic.Fnsave or Mnemonic.Fsave or Mnemonic.Frstor)
            return (null, X("x87-environment"));
        if (code == Code.Bswap_r16) return (null, X("undefined-result"));
        if (m is Mnemonic.Movdir64b or Mnemonic.Enqcmd or Mnemonic.Enqcmds) return (null, X("address-operand"));
        if (m is Mnemonic.Femms) return (null, X("encoding", "FEMMS is 3DNow!"));
        if (m is Mnemonic.Lahf or Mnemonic.Sahf && !HostFeatures.HostHasLahfSahf64)
            return (null, X("host-lacks-feature", "LAHF/SAHF in 64-bit mode: the host CPU lacks LAHF-SAHF"));

        // Operand kinds.
        var slots = new Slot[info.OpCount];
        bool hasImm8 = false;
        for (int k = 0; k < info.OpCount; k++)
        {
            var ok = info.GetOpKind(k);
            Slot? s = ok switch
            {
                OpCodeOperandKind.r8_reg or OpCodeOperandKind.r8_opcode => new Slot(SlotKind.Gpr, 8),
                OpCodeOperandKind.r16_reg or OpCodeOperandKind.r16_rm or OpCodeOperandKind.r16_opcode or OpCodeOperandKind.r16_reg_mem => new Slot(SlotKind.Gpr, 16),
                OpCodeOperandKind.r32_reg or OpCodeOperandKind.r32_rm or OpCodeOperandKind.r32_opcode or OpCodeOperandKind.r32_vvvv or OpCodeOperandKind.r32_reg_mem => new Slot(SlotKind.Gpr, 32),
                OpCodeOperandKind.r64_reg or OpCodeOperandKind.r64_rm or OpCodeOperandKind.r64_opcode or OpCodeOperandKind.r64_vvvv or OpCodeOperandKind.r64_reg_mem => new Slot(SlotKind.Gpr, 64),
                OpCodeOperandKind.r8_or_mem => new Slot(SlotKind.GprOrMemory, 8),
                OpCodeOperandKind.r16_or_mem => new Slot(SlotKind.GprOrMemory, 16),
                OpCodeOperandKind.r32_or_mem => new Slot(SlotKind.GprOrMemory, 32),
                OpCodeOperandKind.r64_or_mem => new Slot(SlotKind.GprOrMemory, 64),
                OpCodeOperandKind.xmm_reg or OpCodeOperandKind.xmm_rm => new Slot(SlotKind.Xmm, 128),
                OpCodeOperandKind.xmm_or_mem => new Slot(SlotKind.XmmOrMemory, 128),
                OpCodeOperandKind.mem => new Slot(SlotKind.Memory),
                OpCodeOperandKind.mem_offs => new Slot(SlotKind.MemoryOffset),
                OpCodeOperandKind.al => new Slot(SlotKind.FixedRegister, 8, Fixed: Register.AL),
                OpCodeOperandKind.cl => new Slot(SlotKind.FixedRegister, 8, Fixed: Register.CL),
                OpCodeOperandKind.ax => new Slot(SlotKind.FixedRegister, 16, Fixed: Register.AX),
                OpCodeOperandKind.eax => new Slot(SlotKind.FixedRegister, 32, Fixed: Register.EAX),
                OpCodeOperandKind.rax => new Slot(SlotKind.FixedRegister, 64, Fixed: Register.RAX),
                OpCodeOperandKind.imm8 => new Slot(SlotKind.Immediate, 8, hasImm8 || (k > 0 && slots[k - 1].ImmKind == OpKind.Immediate16) ? OpKind.Immediate8_2nd : OpKind.Immediate8),
                OpCodeOperandKind.imm8_const_1 => new Slot(SlotKind.Immediate, 8, OpKind.Immediate8),
                OpCodeOperandKind.imm8sex16 => new Slot(SlotKind.Immediate, 8, OpKind.Immediate8to16),
                OpCodeOperandKind.imm8sex32 => new Slot(SlotKind.Immediate, 8, OpKind.Immediate8to32),
                OpCodeOperandKind.imm8sex64 => new Slot(SlotKind.Immediate, 8, OpKind.Immediate8to64),
                OpCodeOperandKind.imm16 => new Slot(SlotKind.Immediate, 16, OpKind.Immediate16),
                OpCodeOperandKind.imm32 => new Slot(SlotKind.Immediate, 32, OpKind.Immediate32),
                OpCodeOperandKind.imm32sex64 => new Slot(SlotKind.Immediate, 32, OpKind.Immediate32to64),
                OpCodeOperandKind.imm64 => new Slot(SlotKind.Immediate, 64, OpKind.Immediate64),
                OpCodeOperandKind.seg_rSI => new Slot(SlotKind.StringSource),
                OpCodeOperandKind.es_rDI => new Slot(SlotKind.StringDestination),
                OpCodeOperandKind.seg_rDI => new Slot(SlotKind.ImplicitRdi),
                OpCodeOperandKind.seg_rBX_al => new Slot(SlotKind.Xlat),
                OpCodeOperandKind.br64_1 or OpCodeOperandKind.br64_4 => new Slot(SlotKind.NearBranch),
                OpCodeOperandKind.st0 => new Slot(SlotKind.FixedRegister, 80, Fixed: Register.ST0),
                OpCodeOperandKind.sti_opcode => new Slot(SlotKind.St, 80),
                OpCodeOperandKind.mm_reg or OpCodeOperandKind.mm_rm => new Slot(SlotKind.Mm, 64),
                OpCodeOperandKind.mm_or_mem => new Slot(SlotKind.MmOrMemory, 64),
                _ => null,
            };
            if (s == null)
            {
                string cls = ok switch
                {
                    OpCodeOperandKind.seg_reg or OpCodeOperandKind.es or OpCodeOperandKind.cs or OpCodeOperandKind.ss
                        or OpCodeOperandKind.ds or OpCodeOperandKind.fs or OpCodeOperandKind.gs => "segment",
                    OpCodeOperandKind.ymm_reg or OpCodeOperandKind.ymm_rm or OpCodeOperandKind.ymm_vvvv or OpCodeOperandKind.ymm_or_mem
                        or OpCodeOperandKind.ymm_is4 or OpCodeOperandKind.xmm_vvvv or OpCodeOperandKind.xmm_is4
                        or OpCodeOperandKind.xmm_is5 or OpCodeOperandKind.ymm_is5 or OpCodeOperandKind.xmmp3_vvvv
                        or OpCodeOperandKind.mem_vsib32x or OpCodeOperandKind.mem_vsib64x or OpCodeOperandKind.mem_vsib32y
                        or OpCodeOperandKind.mem_vsib64y or OpCodeOperandKind.imm4_m2z => "avx",
                    OpCodeOperandKind.cr_reg or OpCodeOperandKind.dr_reg or OpCodeOperandKind.tr_reg or OpCodeOperandKind.bnd_reg
                        or OpCodeOperandKind.bnd_or_mem_mpx or OpCodeOperandKind.k_reg or OpCodeOperandKind.k_rm
                        or OpCodeOperandKind.k_vvvv or OpCodeOperandKind.k_or_mem or OpCodeOperandKind.tmm_reg
                        or OpCodeOperandKind.tmm_rm or OpCodeOperandKind.tmm_vvvv or OpCodeOperandKind.mem_mpx
                        or OpCodeOperandKind.mem_mib or OpCodeOperandKind.r32_or_mem_mpx or OpCodeOperandKind.r64_or_mem_mpx
                        or OpCodeOperandKind.sibmem => "other-registers",
                    OpCodeOperandKind.farbr2_2 or OpCodeOperandKind.farbr4_2 => "leaves-harness",
                    OpCodeOperandKind.dx => "io",
                    _ => "operand-kind",
                };
                return (null, cls == "operand-kind" ? X(cls, $"operand kind {ok} is not generated") : X(cls));
            }
            if (s.Value.ImmKind == OpKind.Immediate8) hasImm8 = true;
            slots[k] = s.Value;
        }
        if (info.Encoding == EncodingKind.VEX)
        {
            // VEX forms without vector operands are the BMI1/BMI2 GPR instructions.
            foreach (var s in slots)
                if (s.Kind is SlotKind.Xmm or SlotKind.XmmOrMemory) return (null, X("avx"));
        }

        // A far pointer in memory (JMP/CALL m16:64, LFS/LGS/LSS) loads a segment.
        var ms = info.MemorySize;
        if (ms is MemorySize.SegPtr16 or MemorySize.SegPtr32 or MemorySize.SegPtr64)
            return (null, X(flow == FlowControl.Next ? "segment" : "leaves-harness"));
        if (m is Mnemonic.Rdfsbase or Mnemonic.Rdgsbase or Mnemonic.Wrfsbase or Mnemonic.Wrgsbase or Mnemonic.Swapgs)
            return (null, X("segment"));

        foreach (var f in code.CpuidFeatures())
        {
            if (f is CpuidFeature.AVX or CpuidFeature.AVX2 or CpuidFeature.F16C or CpuidFeature.FMA) return (null, X("avx"));
            if (!HostFeatures.InScope(f)) return (null, X("feature-out-of-scope", $"CPUID feature {f} is outside the emulated ISA"));
            if (!HostFeatures.HostHas(f)) return (null, X("host-lacks-feature", $"the host CPU lacks {f}: #UD natively"));
        }

        bool isBranch = flow is FlowControl.ConditionalBranch or FlowControl.UnconditionalBranch or FlowControl.IndirectBranch
            or FlowControl.Call or FlowControl.IndirectCall or FlowControl.Return;
        return (new Form(code, slots, ms.GetSize(), isBranch), null);
    }
}
