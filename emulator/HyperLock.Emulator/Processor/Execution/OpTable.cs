using Iced.Intel;
using HyperLock.Emulator.Processor.Decode;
using HyperLock.Emulator.Processor.Instructions;

namespace HyperLock.Emulator.Processor.Execution;

/// <summary>
/// The dispatch table: Iced <see cref="Code"/> → handler and attributes. Each instruction
/// family registers its forms from its own file; a form nobody registered executes
/// <see cref="Unimplemented"/>, which logs its name once and raises #UD.
/// </summary>
public static unsafe class OpTable
{
    private static readonly int CodeCount = Enum.GetValues<Code>().Length;
    private static readonly nint[] Handlers = new nint[CodeCount];
    private static readonly nint[] RegisterFormHandlers = new nint[CodeCount];
    private static readonly InsnAttr[] Attrs = new InsnAttr[CodeCount];

    static OpTable()
    {
        // One line per family; each family's file lists its forms.
        DataTransfer.Register();
        Arithmetic.Register();
        Logic.Register();
        ShiftRotate.Register();
        BitOps.Register();
        ControlFlow.Register();
        StringOps.Register();
        Misc.Register();
        SystemOps.Register();
        Sse.Register();
        X87.Register();
        VmxOps.Register();
    }

    /// <summary>Registers the handler for one instruction form.</summary>
    public static void Set(Code code, delegate*<Cpu, ref Insn, void> handler, InsnAttr attr = InsnAttr.None)
    {
        Handlers[(int)code] = (nint)handler;
        Attrs[(int)code] = attr;
    }

    /// <summary>
    /// Registers a form with a second, faster handler used when no operand is in memory
    /// (the decoder picks per instruction, so the hot register forms skip the operand-kind tests).
    /// </summary>
    public static void Set(Code code, delegate*<Cpu, ref Insn, void> handler, delegate*<Cpu, ref Insn, void> registerForm,
        InsnAttr attr = InsnAttr.None)
    {
        Set(code, handler, attr);
        RegisterFormHandlers[(int)code] = (nint)registerForm;
    }

    /// <summary>Registers a branch-like form: its handler sets RIP and the block ends after it.</summary>
    public static void SetBranch(Code code, delegate*<Cpu, ref Insn, void> handler) => Set(code, handler, InsnAttr.Terminator);

    public static bool IsImplemented(Code code) => Handlers[(int)code] != 0;

    /// <summary>Every form that has a handler (for coverage reports).</summary>
    public static IEnumerable<Code> ImplementedCodes()
    {
        for (int i = 0; i < Handlers.Length; i++)
            if (Handlers[i] != 0) yield return (Code)i;
    }

    internal static delegate*<Cpu, ref Insn, void> Lookup(Code code, bool hasMemoryOperand, out InsnAttr attr)
    {
        nint h = Handlers[(int)code];
        if (!hasMemoryOperand && RegisterFormHandlers[(int)code] != 0) h = RegisterFormHandlers[(int)code];
        if (h == 0)
        {
            attr = InsnAttr.Terminator;
            return &Unimplemented;
        }
        attr = Attrs[(int)code];
        return (delegate*<Cpu, ref Insn, void>)h;
    }

    /// <summary>Undecodable bytes: #UD.</summary>
    internal static void Invalid(Cpu cpu, ref Insn insn) => cpu.RaiseUd();

    /// <summary>A valid instruction the model does not implement: log once, then #UD.</summary>
    internal static void Unimplemented(Cpu cpu, ref Insn insn)
    {
        cpu.ReportUnimplemented(insn.Code);
        cpu.RaiseUd();
    }
}
