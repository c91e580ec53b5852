using System.Runtime.InteropServices;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.Differential.Tests.Harness.Native;

/// <summary>
/// Runs one instruction on the host CPU. The instruction sits at <see cref="ScratchLayout.CodeBase"/>
/// in an executable mapping; a stub generated with Iced's assembler (at <see cref="StubBase"/>)
/// saves the host's callee-saved registers, RSP and x87/SSE state (FXSAVE), loads every GPR,
/// RFLAGS (popfq) and the x87/MMX/SSE state (FXRSTOR: ST0-7, FCW/FSW/FTW, XMM0-15, MXCSR) from a state block, and jumps to the instruction. The instruction is
/// followed by a jump back into the stub (and <see cref="ScratchLayout.BranchTarget"/> holds a
/// second one, for branch forms); the stub records which exit was taken, stores the state
/// back, restores the host state and returns.
///
/// Everything lives at fixed addresses below 2 GiB, so the stub addresses its state block with
/// absolute disp32 operands and never needs a free register. While the instruction runs RSP
/// points into scratch (never into host memory), with free scratch below it so that a signal
/// delivered at that moment has room for its frame.
///
/// A case that faults natively (SIGILL, SIGSEGV, SIGFPE, SIGBUS, SIGTRAP) does not kill the
/// process: a signal handler, generated with the stub, recognises a fault raised while a case
/// runs (the faulting thread's RSP lies in scratch or its RIP in the code page, which no .NET
/// thread ever has), records the signal and the faulting RIP, and resumes at a third exit
/// that restores the host like the others. Every other signal goes on to the handler that was
/// installed before (the .NET runtime's), unchanged. <see cref="MachineState.HostSignal"/> tells
/// the caller. The safety gate still keeps faulting cases out: the handler is the net under it.
/// </summary>
public sealed unsafe class NativeExecutor
{
    public const ulong StubBase = 0x20000000;
    public const ulong StateBase = 0x20001000;
    private const ulong StateSize = 0x8000;
    private const ulong FlagsSlot = StateBase + StateSize - 0x100;

    private const ulong OffGpr = 0x000, OffRflags = 0x080, OffExit = 0x08C;
    private const ulong OffHostRsp = 0x090;

    /// <summary>Fault handler slots: the signal and RIP of the last native fault, the fault exit's address, the previous handlers by signal number (32 slots).</summary>
    private const ulong OffSignal = 0x0A0, OffFaultRip = 0x0A8, OffFaultExit = 0x0B0, OffPreviousHandlers = 0x100;

    /// <summary>Offsets of REG_RSP and REG_RIP in the ucontext_t a SA_SIGINFO handler receives (x86-64 Linux: gregs at 40).</summary>
    private const int UcontextRsp = 40 + 15 * 8, UcontextRip = 40 + 16 * 8;

    /// <summary>The signals a case can raise natively.</summary>
    public static readonly int[] CaughtSignals = [Libc.SigIll, Libc.SigTrap, Libc.SigBus, Libc.SigFpe, Libc.SigSegv];

    /// <summary>FXSAVE images (512 bytes, 16-byte aligned): the case's x87/MMX/SSE state and the host's.</summary>
    private const ulong OffFx = 0x200, OffHostFx = 0x400;

    private static readonly object Gate = new();
    private static NativeExecutor? _instance;
    private static string? _failure;

    private readonly ulong _exit0, _exit1, _faultExit, _handler;
    private readonly delegate* unmanaged<void> _entry;

    /// <summary>The process-wide executor (the fixed mappings exist once); null when the host cannot run cases.</summary>
    public static NativeExecutor? TryGet(out string failure)
    {
        lock (Gate)
        {
            if (_instance == null && _failure == null)
            {
                try { _instance = new NativeExecutor(); }
                catch (InvalidOperationException e) { _failure = e.Message; }
            }
            failure = _failure ?? "";
            return _instance;
        }
    }

    /// <summary>Serializes native runs: the mappings and the state block are shared.</summary>
    public static object Lock => Gate;

    private NativeExecutor()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
            throw new InvalidOperationException("native differential execution needs x86-64 Linux");
        Map(ScratchLayout.CodeBase, 0x1000, Libc.ProtRead | Libc.ProtWrite | Libc.ProtExec);
        Map(ScratchLayout.ScratchBase, ScratchLayout.ScratchSize, Libc.ProtRead | Libc.ProtWrite);
        Map(StubBase, 0x1000, Libc.ProtRead | Libc.ProtWrite);
        Map(StateBase, StateSize, Libc.ProtRead | Libc.ProtWrite);

        byte[] stub = BuildStub(out _exit0, out _exit1, out _faultExit, out _handler);
        new ReadOnlySpan<byte>(stub).CopyTo(new Span<byte>((void*)StubBase, 0x1000));
        if (Libc.Mprotect((nint)StubBase, 0x1000, Libc.ProtRead | Libc.ProtExec) != 0)
            throw new InvalidOperationException("mprotect of the stub page failed");
        _entry = (delegate* unmanaged<void>)StubBase;
        InstallFaultHandler();

        // One NOP to learn the host's MXCSR_MASK from its FXSAVE image (0 there means the
        // architectural default 0xFFBF: no DAZ). FXRSTOR of a reserved MXCSR bit would #GP.
        var probe = new MachineState { Rflags = 0x202, Mxcsr = 0x1F80 };
        probe.Gpr[4] = ScratchLayout.StackTop;
        Run([0x90], probe);
        uint mask = *(uint*)(StateBase + OffHostFx + 28);
        MxcsrMask = mask == 0 ? 0xFFBFu : mask;
    }

    /// <summary>The MXCSR bits the host supports (FXSAVE's MXCSR_MASK).</summary>
    public uint MxcsrMask { get; }

    private static void Map(ulong address, ulong size, int prot)
    {
        if (!Libc.MapFixed(address, size, prot, out string error)) throw new InvalidOperationException(error);
    }

    /// <summary>
    /// Puts the generated handler in front of the current handler of each caught signal, keeping
    /// that handler's mask and flags (the runtime's SIGSEGV handler runs on an alternate stack).
    /// </summary>
    private void InstallFaultHandler()
    {
        *(ulong*)(StateBase + OffFaultExit) = _faultExit;
        byte* old = stackalloc byte[256];
        byte* act = stackalloc byte[256];
        foreach (int sig in CaughtSignals)
        {
            new Span<byte>(old, 256).Clear();
            if (Libc.Sigaction(sig, null, old) != 0)
                throw new InvalidOperationException($"sigaction({Libc.SignalName(sig)}) failed: errno {Marshal.GetLastPInvokeError()}");
            ((ulong*)(StateBase + OffPreviousHandlers))[sig] = *(ulong*)old;
            new Span<byte>(old, Libc.SigactionSize).CopyTo(new Span<byte>(act, 256));
            *(ulong*)act = _handler;
            *(int*)(act + Libc.SigactionFlagsOffset) |= Libc.SaSigInfo;
            if (Libc.Sigaction(sig, act, null) != 0)
                throw new InvalidOperationException($"sigaction({Libc.SignalName(sig)}) failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    private static byte[] BuildStub(out ulong exit0, out ulong exit1, out ulong faultExit, out ulong handler)
    {
        var a = new Assembler(64);
        var lExit0 = a.CreateLabel();
        var lExit1 = a.CreateLabel();
        var lFaultExit = a.CreateLabel();
        var lStore = a.CreateLabel();
        var lHandler = a.CreateLabel();
        var lOurs = a.CreateLabel();
        var lNoPrevious = a.CreateLabel();

        // Entry: save the host, load the guest state, jump to the instruction.
        a.push(rbx); a.push(rbp); a.push(r12); a.push(r13); a.push(r14); a.push(r15);
        a.mov(__qword_ptr[(long)(StateBase + OffHostRsp)], rsp);
        a.fxsave64(__[(long)(StateBase + OffHostFx)]);
        a.fxrstor64(__[(long)(StateBase + OffFx)]);
        a.mov(rax, __qword_ptr[(long)(StateBase + OffRflags)]);
        a.mov(__qword_ptr[(long)FlagsSlot], rax);
        a.mov(rsp, (long)FlagsSlot);
        a.popfq();
        for (int i = 0; i < 16; i++)
            if (i != 4) a.mov(Gpr(i), __qword_ptr[(long)(StateBase + OffGpr + (ulong)(8 * i))]);
        a.mov(rsp, __qword_ptr[(long)(StateBase + OffGpr + 4 * 8)]);
        a.jmp(ScratchLayout.CodeBase);

        // Exits: record which one was taken (MOV leaves flags alone), then store.
        a.Label(ref lExit0);
        a.mov(__dword_ptr[(long)(StateBase + OffExit)], 0);
        a.jmp(lStore);
        a.Label(ref lExit1);
        a.mov(__dword_ptr[(long)(StateBase + OffExit)], 1);
        a.jmp(lStore);
        // Where the fault handler resumes a case that faulted (the registers are the case's).
        a.Label(ref lFaultExit);
        a.mov(__dword_ptr[(long)(StateBase + OffExit)], 2);
        a.jmp(lStore);

        a.Label(ref lStore);
        for (int i = 0; i < 16; i++) a.mov(__qword_ptr[(long)(StateBase + OffGpr + (ulong)(8 * i))], Gpr(i));
        a.mov(rsp, (long)(FlagsSlot + 8));
        a.pushfq();
        a.cld();
        a.mov(rax, __qword_ptr[(long)FlagsSlot]);
        a.mov(__qword_ptr[(long)(StateBase + OffRflags)], rax);
        a.fxsave64(__[(long)(StateBase + OffFx)]);
        a.fxrstor64(__[(long)(StateBase + OffHostFx)]);
        a.mov(rsp, __qword_ptr[(long)(StateBase + OffHostRsp)]);
        a.pop(r15); a.pop(r14); a.pop(r13); a.pop(r12); a.pop(rbp); a.pop(rbx);
        a.ret();

        // Signal handler (rdi = signal, rsi = siginfo, rdx = ucontext). A fault of a case (RSP in
        // scratch, or RIP in the code page) is redirected to the fault exit; anything else jumps
        // to the previous handler with the same arguments.
        a.Label(ref lHandler);
        a.mov(rax, __qword_ptr[rdx + UcontextRsp]);
        a.sub(rax, (int)ScratchLayout.ScratchBase);
        a.cmp(rax, (int)ScratchLayout.ScratchSize);
        a.jb(lOurs);
        a.mov(rax, __qword_ptr[rdx + UcontextRip]);
        a.sub(rax, (int)ScratchLayout.CodeBase);
        a.cmp(rax, 0x1000);
        a.jb(lOurs);
        a.mov(eax, edi);
        a.and(eax, 31);
        a.mov(rax, __qword_ptr[rax * 8 + (long)(StateBase + OffPreviousHandlers)]);
        a.cmp(rax, 1);
        a.jbe(lNoPrevious);
        a.jmp(rax);
        // SIG_DFL/SIG_IGN before us: fault again inside the handler, which the kernel answers
        // with the default action (the process dies, as it would have without this handler).
        a.Label(ref lNoPrevious);
        a.ud2();
        a.Label(ref lOurs);
        a.mov(__dword_ptr[(long)(StateBase + OffSignal)], edi);
        a.mov(rax, __qword_ptr[rdx + UcontextRip]);
        a.mov(__qword_ptr[(long)(StateBase + OffFaultRip)], rax);
        a.mov(rax, __qword_ptr[(long)(StateBase + OffFaultExit)]);
        a.mov(__qword_ptr[rdx + UcontextRip], rax);
        a.ret();

        var writer = new ByteWriter();
        var result = a.Assemble(writer, StubBase, BlockEncoderOptions.ReturnNewInstructionOffsets);
        exit0 = result.GetLabelRIP(lExit0);
        exit1 = result.GetLabelRIP(lExit1);
        faultExit = result.GetLabelRIP(lFaultExit);
        handler = result.GetLabelRIP(lHandler);
        if (writer.Length > 0x1000) throw new InvalidOperationException("the stub does not fit in a page");
        // The stub must address its state absolutely (no RIP-relative operand may have slipped in).
        var decoder = Iced.Intel.Decoder.Create(64, new ByteArrayCodeReader(writer.ToArray()), StubBase);
        while (decoder.IP < StubBase + (ulong)writer.Length)
        {
            decoder.Decode(out var ins);
            if (ins.IsIPRelativeMemoryOperand) throw new InvalidOperationException("the stub contains a RIP-relative operand: " + ins);
        }
        return writer.ToArray();
    }

    private static AssemblerRegister64 Gpr(int i) => i switch
    {
        0 => rax, 1 => rcx, 2 => rdx, 3 => rbx, 4 => rsp, 5 => rbp, 6 => rsi, 7 => rdi,
        8 => r8, 9 => r9, 10 => r10, 11 => r11, 12 => r12, 13 => r13, 14 => r14, _ => r15,
    };

    /// <summary>
    /// Runs <paramref name="code"/> (one instruction, already encoded for <see cref="ScratchLayout.CodeBase"/>)
    /// from <paramref name="initial"/> and returns the final state. RIP in the result is the
    /// address of the exit that was reached: right after the instruction, or the branch target.
    /// When the instruction faulted natively, <see cref="MachineState.HostSignal"/> is the
    /// signal, RIP is the faulting address, and the rest is the state at the fault.
    /// Callers hold <see cref="Lock"/>.
    /// </summary>
    public MachineState Run(ReadOnlySpan<byte> code, MachineState initial)
    {
        if (code.Length > 0x30) throw new ArgumentException("instruction too long", nameof(code));
        var page = new Span<byte>((void*)ScratchLayout.CodeBase, 0x1000);
        page[..0x60].Fill(0xCC);
        code.CopyTo(page);
        WriteJump(page, code.Length, _exit0);
        WriteJump(page, (int)(ScratchLayout.BranchTarget - ScratchLayout.CodeBase), _exit1);

        // Scratch: the compared windows get the case's bytes; the rest is zeroed.
        var scratch = new Span<byte>((void*)ScratchLayout.ScratchBase, (int)ScratchLayout.ScratchSize);
        scratch.Clear();
        initial.Data.CopyTo(scratch[(int)(ScratchLayout.DataBase - ScratchLayout.ScratchBase)..]);
        initial.Stack.CopyTo(scratch[(int)(ScratchLayout.StackWindowBase - ScratchLayout.ScratchBase)..]);

        ulong* st = (ulong*)StateBase;
        for (int i = 0; i < 16; i++) st[(OffGpr / 8) + (ulong)i] = initial.Gpr[i];
        st[OffRflags / 8] = initial.Rflags;
        *(uint*)(StateBase + OffExit) = 0xFFFFFFFF;
        *(int*)(StateBase + OffSignal) = 0;
        WriteFxImage(new Span<byte>((void*)(StateBase + OffFx), 512), initial);

        _entry();

        var r = new MachineState();
        for (int i = 0; i < 16; i++) r.Gpr[i] = st[(OffGpr / 8) + (ulong)i];
        r.Rflags = st[OffRflags / 8];
        ReadFxImage(new ReadOnlySpan<byte>((void*)(StateBase + OffFx), 512), r);
        uint exit = *(uint*)(StateBase + OffExit);
        r.Rip = exit switch
        {
            0 => ScratchLayout.CodeBase + (ulong)code.Length,
            1 => ScratchLayout.BranchTarget,
            2 => *(ulong*)(StateBase + OffFaultRip),
            _ => 0,
        };
        if (exit == 2) r.HostSignal = *(int*)(StateBase + OffSignal);
        scratch.Slice((int)(ScratchLayout.DataBase - ScratchLayout.ScratchBase), ScratchLayout.DataSize).CopyTo(r.Data);
        scratch.Slice((int)(ScratchLayout.StackWindowBase - ScratchLayout.ScratchBase), ScratchLayout.StackWindowSize).CopyTo(r.Stack);
        return r;
    }

    /// <summary>Fills a 64-bit FXSAVE image: FCW, FSW, abridged FTW, MXCSR, ST(0)-ST(7), XMM0-15 (FOP/FIP/FDP zero).</summary>
    public static void WriteFxImage(Span<byte> fx, MachineState s)
    {
        fx.Clear();
        BitConverter.TryWriteBytes(fx[0..], s.Fcw);
        BitConverter.TryWriteBytes(fx[2..], s.Fsw);
        fx[4] = s.Ftw;
        BitConverter.TryWriteBytes(fx[24..], s.Mxcsr);
        for (int i = 0; i < 8; i++)
        {
            BitConverter.TryWriteBytes(fx[(32 + 16 * i)..], s.StMantissa[i]);
            BitConverter.TryWriteBytes(fx[(40 + 16 * i)..], s.StSignExp[i]);
        }
        for (int i = 0; i < 32; i++) BitConverter.TryWriteBytes(fx[(160 + 8 * i)..], s.Xmm[i]);
    }

    /// <summary>Reads the fields <see cref="WriteFxImage"/> writes (FOP/FIP/FDP are not compared).</summary>
    public static void ReadFxImage(ReadOnlySpan<byte> fx, MachineState s)
    {
        s.Fcw = BitConverter.ToUInt16(fx[0..]);
        s.Fsw = BitConverter.ToUInt16(fx[2..]);
        s.Ftw = fx[4];
        s.Mxcsr = BitConverter.ToUInt32(fx[24..]);
        for (int i = 0; i < 8; i++)
        {
            s.StMantissa[i] = BitConverter.ToUInt64(fx[(32 + 16 * i)..]);
            s.StSignExp[i] = BitConverter.ToUInt16(fx[(40 + 16 * i)..]);
        }
        for (int i = 0; i < 32; i++) s.Xmm[i] = BitConverter.ToUInt64(fx[(160 + 8 * i)..]);
    }

    private static void WriteJump(Span<byte> page, int at, ulong target)
    {
        long rel = (long)target - (long)(ScratchLayout.CodeBase + (ulong)at + 5);
        page[at] = 0xE9;
        BitConverter.TryWriteBytes(page.Slice(at + 1, 4), checked((int)rel));
    }
}

/// <summary>An Iced <see cref="CodeWriter"/> that collects bytes.</summary>
public sealed class ByteWriter : CodeWriter
{
    private readonly List<byte> _bytes = new();
    public int Length => _bytes.Count;
    public override void WriteByte(byte value) => _bytes.Add(value);
    public byte[] ToArray() => _bytes.ToArray();
}
