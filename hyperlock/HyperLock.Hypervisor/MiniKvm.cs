using HyperLock.Abi;
using HyperLock.Emulator.Vmx;
using HyperLock.Runtime.Loading;
using HyperLock.Toolchain;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using F = HyperLock.Emulator.Vmx.VmcsField;
using Label = Iced.Intel.Label;

namespace HyperLock.Hypervisor;

/// <summary>
/// The mini-KVM: a small KVM-like hypervisor written as x86-64 (emitted through Iced), bundled by
/// the toolchain's <see cref="Rewriter"/> and verified by the runtime at load. One image serves
/// every guest: the runtime gives each instance its own data, stack, VMCS and EPT.
/// </summary>
/// <remarks>
/// Register use inside the hypervisor: R15 = the instance's data area (the guest's registers are
/// at R15 + 8 × register number), R14 = the basic exit reason. Every handler ends in
/// <c>skip_instruction</c> (the exit was caused by an instruction the hypervisor emulated) or
/// <c>deliver_interrupts</c> (nothing to skip), which injects the device model's pending
/// interrupt when the guest can take it, or asks for an interrupt window, then VMRESUMEs.
/// </remarks>
public static class MiniKvm
{
    /// <summary>Data area offsets (beyond the guest registers at 0).</summary>
    public const int VcpuInitialised = 0x100, ProcControlsWanted = 0x108, TimerValue = 0x110, RpcBuffer = 0x200;

    /// <summary>Preemption-timer value of one time slice (timer ticks; the timer counts TSC >> rate).</summary>
    public const uint SliceTimerValue = 500;

    /// <summary>Abort codes (service Abort): 0x1000 + reason for an exit it does not handle, and these.</summary>
    public const int AbortUnhandledExit = 0x1000, AbortControlRefused = 0x2000, AbortHaltedForever = 0x2001,
        AbortStringIo = 0x2002, AbortMmio = 0x2003, AbortCrAccess = 0x2004;

    private static readonly int[] Handled =
    [
        ExitReason.Cpuid, ExitReason.Hlt, ExitReason.Io, ExitReason.EptViolation, ExitReason.Rdmsr, ExitReason.Wrmsr,
        ExitReason.CrAccess, ExitReason.Xsetbv, ExitReason.ExternalInterrupt, ExitReason.InterruptWindow,
        ExitReason.PreemptionTimer, ExitReason.Vmcall,
    ];

    /// <summary>The exit reasons the mini-KVM has a handler for.</summary>
    public static IReadOnlyList<int> HandledExits => Handled;

    /// <summary>
    /// Test-only vulnerable variant (<c>Build(vulnerable: true)</c>, the attack suite's target): a
    /// guest OUT to <see cref="DebugLogPort"/> appends RAX to a 16-entry debug log with no bounds
    /// check, and the log sits just below a table of exit hooks the dispatcher follows (masked
    /// indirect jump) before its own handlers, so a guest can point a hook anywhere.
    /// </summary>
    public const int DebugLogIndex = 0x3F8, DebugLog = 0x400, DebugLogEntries = 16, ExitHooks = DebugLog + DebugLogEntries * 8;
    public const ushort DebugLogPort = 0xDB;

    /// <summary>Builds the image: x86 at offset 0, rewritten into bundles; one dispatch entry.</summary>
    public static HypervisorImage Build(bool vulnerable = false)
    {
        var a = new Assembler(64);
        new Emitter(a, vulnerable).All();
        var w = new ByteWriter();
        a.Assemble(w, 0);
        var r = Rewriter.Rewrite(w.Bytes.ToArray(), [0]);
        if (!r.Succeeded) throw new InvalidOperationException(r.ToText());
        return new HypervisorImage(r.Image!.Bytes, new HypervisorManifest { DispatchEntry = r.Image.EntryPoints[0], DataSize = 0x1000, StackSize = 0x2000 });
    }

    private sealed class Emitter(Assembler a, bool vulnerable)
    {
        private Label _skip = a.CreateLabel(), _deliver = a.CreateLabel(), _enter = a.CreateLabel(),
            _injectGp = a.CreateLabel(), _controlRefused = a.CreateLabel(), _done = a.CreateLabel();

        private static AssemblerMemoryOperand GuestReg(int reg) => __qword_ptr[r15 + reg * 8];
        private const int Rax = 0, Rcx = 1, Rdx = 2, Rdi = 7;

        public void All()
        {
            var handlers = new Dictionary<int, Label>();
            foreach (int reason in Handled) handlers[reason] = a.CreateLabel();

            Dispatch(handlers);
            Bind(handlers, ExitReason.Cpuid); HandleCpuid();
            Bind(handlers, ExitReason.Hlt); HandleHlt();
            Bind(handlers, ExitReason.Io); HandleIo();
            Bind(handlers, ExitReason.EptViolation); HandleEptViolation();
            Bind(handlers, ExitReason.Rdmsr); HandleRdmsr();
            Bind(handlers, ExitReason.Wrmsr); HandleWrmsr();
            Bind(handlers, ExitReason.CrAccess); HandleCrAccess();
            Bind(handlers, ExitReason.Xsetbv); HandleXsetbv();
            Bind(handlers, ExitReason.ExternalInterrupt); HandleExternalInterrupt();
            Bind(handlers, ExitReason.InterruptWindow); HandleInterruptWindow();
            Bind(handlers, ExitReason.PreemptionTimer); HandlePreemptionTimer();
            Bind(handlers, ExitReason.Vmcall); HandleVmcall();
            InjectGeneralProtection();
            SkipInstruction();
            DeliverInterrupts();
            Enter();
            ControlRefused();
            GuestDone();
        }

        private void Bind(Dictionary<int, Label> handlers, int reason)
        {
            var l = handlers[reason];
            a.Label(ref l);
        }

        // ---- entry --------------------------------------------------------------------------

        /// <summary>Every exit enters here (RDI = reason, RSI = data): set the vCPU up once, then branch on the reason.</summary>
        private void Dispatch(Dictionary<int, Label> handlers)
        {
            Label ready = a.CreateLabel();
            a.mov(r15, rsi);
            a.mov(r14d, edi);
            a.cmp(__qword_ptr[r15 + VcpuInitialised], 0);
            a.jne(ready);
            // vcpu_init: HLT exiting (HLT yields instead of sleeping in the guest), a preemption-timer slice.
            a.mov(__qword_ptr[r15 + VcpuInitialised], 1);
            a.mov(__qword_ptr[r15 + ProcControlsWanted], (int)VmxControls.ProcHlt);
            ControlWrite(F.ProcControls, VmxControls.ProcHlt);
            ControlWrite(F.PinControls, VmxControls.PinPreemptionTimer);
            ControlWrite(F.PreemptionTimerValue, SliceTimerValue);
            a.mov(__qword_ptr[r15 + TimerValue], (int)SliceTimerValue);
            a.Label(ref ready);
            if (vulnerable) FollowExitHook();
            foreach (var (reason, label) in handlers)
            {
                a.cmp(r14d, reason);
                a.je(label);
            }
            a.lea(edi, __[r14 + AbortUnhandledExit]);
            Service(RuntimeService.Abort);
            Hang();
        }

        // ---- one handler per exit reason ----------------------------------------------------

        /// <summary>
        /// CPUID: the runtime's table (CPUID itself is forbidden in confined code; the rewriter turns it
        /// into the Cpuid service), made the guest's: leaf 1 hides VMX (no nested virtualisation) and
        /// reports OSXSAVE from the guest's own CR4.
        /// </summary>
        private void HandleCpuid()
        {
            Label done = a.CreateLabel();
            a.mov(r12d, GuestReg(Rax));
            a.mov(eax, GuestReg(Rax));
            a.mov(ecx, GuestReg(Rcx));
            a.cpuid();
            a.mov(GuestReg(Rax), rax);
            a.mov(GuestReg(Rcx), rcx);
            a.mov(GuestReg(Rdx), rdx);
            a.mov(GuestReg(3), rbx);
            a.cmp(r12d, 1);
            a.jne(done);
            a.and(GuestReg(Rcx), unchecked((int)~((1u << 5) | (1u << 27))));   // VMX, OSXSAVE
            VmRead(rbx, F.GuestCr4);
            a.test(ebx, 1 << 18);
            a.jz(done);
            a.or(GuestReg(Rcx), 1 << 27);
            a.Label(ref done);
            a.jmp(_skip);
        }

        /// <summary>
        /// HLT: yield (Halt), then tell the device model (with the guest's RFLAGS). A model whose clock
        /// the hypervisor drives skips to its next event; a model on the TSC has the guest wait in the
        /// HLT activity state (woken by the preemption timer at the model's next event, or by an
        /// injected interrupt); a guest that waits for nothing is stopped.
        /// </summary>
        private void HandleHlt()
        {
            Label wakes = a.CreateLabel(), notDone = a.CreateLabel();
            Service(RuntimeService.Halt);
            VmRead(rbx, F.GuestRflags);
            a.mov(__qword_ptr[r15 + RpcBuffer + 8], rbx);
            Rpc(MiniKvmAbi.PortIdle, isIn: true, size: 4, valueSet: true);
            a.mov(eax, __dword_ptr[r15 + RpcBuffer + 8]);
            a.cmp(eax, unchecked((int)MiniKvmAbi.GuestDone));
            a.je(_done);
            a.cmp(eax, unchecked((int)MiniKvmAbi.NoInterrupt));
            a.jne(wakes);
            a.mov(edi, AbortHaltedForever);
            Service(RuntimeService.Abort);
            Hang();
            a.Label(ref wakes);
            a.cmp(eax, unchecked((int)MiniKvmAbi.HaltInGuest));
            a.jne(notDone);
            a.mov(ebx, 1);                                         // activity state HLT, past the instruction
            VmWrite(F.GuestActivityState, rbx);
            a.Label(ref notDone);
            a.jmp(_skip);
        }

        /// <summary>Port I/O: forwarded to the device model (DeviceRpc); IN results land in AL/AX/EAX.</summary>
        private void HandleIo()
        {
            Label isOut = a.CreateLabel(), rpcOk = a.CreateLabel(), size2 = a.CreateLabel(), size4 = a.CreateLabel(), notString = a.CreateLabel();
            VmRead(r12, F.ExitQualification);
            a.test(r12d, 0x10);
            a.jz(notString);
            a.mov(edi, AbortStringIo);
            Service(RuntimeService.Abort);
            Hang();
            a.Label(ref notString);
            if (vulnerable) AppendToDebugLog();
            a.mov(rbx, r12);
            a.shr(rbx, 16);
            a.mov(__word_ptr[r15 + RpcBuffer], bx);                // port
            a.mov(rcx, r12);
            a.shr(ecx, 3);
            a.and(ecx, 1);
            a.mov(__byte_ptr[r15 + RpcBuffer + 2], cl);            // 1 = IN
            a.mov(r13, r12);
            a.and(r13d, 7);
            a.inc(r13d);
            a.mov(__byte_ptr[r15 + RpcBuffer + 3], r13b);          // size
            a.mov(__dword_ptr[r15 + RpcBuffer + 4], 0);
            a.mov(rcx, GuestReg(Rax));
            a.mov(__qword_ptr[r15 + RpcBuffer + 8], rcx);          // value (OUT)
            CallRpc();
            a.test(r12d, 8);
            a.jz(isOut);
            a.test(rax, rax);
            a.jns(rpcOk);
            a.mov(__qword_ptr[r15 + RpcBuffer + 8], -1);           // no device: the bus floats high
            a.Label(ref rpcOk);
            a.mov(rcx, __qword_ptr[r15 + RpcBuffer + 8]);
            a.cmp(r13d, 2);
            a.je(size2);
            a.cmp(r13d, 4);
            a.je(size4);
            a.mov(__byte_ptr[r15 + Rax * 8], cl);
            a.jmp(_skip);
            a.Label(ref size2);
            a.mov(__word_ptr[r15 + Rax * 8], cx);
            a.jmp(_skip);
            a.Label(ref size4);
            a.mov(ecx, ecx);                                       // IN EAX zero-extends into RAX
            a.mov(GuestReg(Rax), rcx);
            a.Label(ref isOut);
            a.jmp(_skip);
        }

        /// <summary>
        /// EPT violation: a guest page not mapped yet is mapped RWX (MapGfnToPfn checks it is the guest's,
        /// EptUpdate maps it); anything else is MMIO, forwarded to the device model, which decodes the
        /// instruction and performs the access; the hypervisor moves the register value and steps over it.
        /// </summary>
        private void HandleEptViolation()
        {
            Label ram = a.CreateLabel(), mmioFailed = a.CreateLabel(), notWrite = a.CreateLabel(), advance = a.CreateLabel(), noShadow = a.CreateLabel();
            VmRead(rbx, F.GuestPhysicalAddress);
            a.shr(rbx, 12);
            a.mov(rdi, rbx);
            Service(RuntimeService.MapGfnToPfn);
            a.test(rax, rax);
            a.jns(ram);
            VmRead(rbx, F.GuestPhysicalAddress);
            a.mov(__qword_ptr[r15 + RpcBuffer + 8], rbx);
            Rpc(MiniKvmAbi.PortMmioAddress, isIn: false, size: 4, valueSet: true);
            VmRead(rbx, F.GuestRip);
            a.mov(__qword_ptr[r15 + RpcBuffer + 8], rbx);
            Rpc(MiniKvmAbi.PortMmioRip, isIn: false, size: 4, valueSet: true);
            VmRead(rbx, F.GuestCr3);
            a.mov(__qword_ptr[r15 + RpcBuffer + 8], rbx);
            Rpc(MiniKvmAbi.PortMmioDecode, isIn: true, size: 4, valueSet: true);
            a.test(rax, rax);
            a.js(mmioFailed);
            a.mov(r12, __qword_ptr[r15 + RpcBuffer + 8]);
            a.mov(r13d, r12d);
            a.shr(r13d, 12);
            a.and(r13d, 15);                                       // the register
            a.test(r12d, MiniKvmAbi.MmioWriteFromRegister);
            a.jz(notWrite);
            a.mov(rcx, __qword_ptr[r15 + r13 * 8]);
            a.mov(__qword_ptr[r15 + RpcBuffer + 8], rcx);
            Rpc(MiniKvmAbi.PortMmioData, isIn: false, size: 4, valueSet: true);
            a.test(rax, rax);
            a.js(mmioFailed);
            a.jmp(advance);
            a.Label(ref notWrite);
            a.test(r12d, MiniKvmAbi.MmioReadToRegister);
            a.jz(advance);
            Rpc(MiniKvmAbi.PortMmioData, isIn: true, size: 4);
            a.test(rax, rax);
            a.js(mmioFailed);
            a.mov(rcx, __qword_ptr[r15 + RpcBuffer + 8]);
            a.mov(__qword_ptr[r15 + r13 * 8], rcx);
            a.Label(ref advance);
            a.movzx(eax, r12b);                                    // step over the instruction
            VmRead(rbx, F.GuestRip);
            a.add(rbx, rax);
            VmWrite(F.GuestRip, rbx);
            VmRead(rbx, F.GuestInterruptibility);
            a.test(ebx, 3);
            a.jz(noShadow);
            a.and(ebx, ~3);
            VmWrite(F.GuestInterruptibility, rbx);
            a.Label(ref noShadow);
            a.jmp(_deliver);
            a.Label(ref mmioFailed);
            a.mov(edi, AbortMmio);
            Service(RuntimeService.Abort);
            Hang();
            a.Label(ref ram);
            a.mov(rdi, rbx);
            a.shl(rdi, 12);
            a.mov(esi, 7);
            a.mov(edx, 1);
            Service(RuntimeService.EptUpdate);
            a.test(rax, rax);
            a.js(_controlRefused);
            a.jmp(_deliver);                                       // re-execute the access
        }

        private const uint MsrEfer = 0xC0000080, MsrFsBase = 0xC0000100, MsrGsBase = 0xC0000101;

        /// <summary>
        /// RDMSR: EFER, FS and GS base from the VMCS; the runtime's per-guest value for its allow-list;
        /// every other MSR from the device model (local APIC in x2APIC mode, MTRRs, TSC deadline, …).
        /// A refused MSR is a #GP in the guest.
        /// </summary>
        private void HandleRdmsr()
        {
            Label notEfer = a.CreateLabel(), notFs = a.CreateLabel(), notGs = a.CreateLabel(), split = a.CreateLabel(), allowed = a.CreateLabel();
            a.mov(ecx, GuestReg(Rcx));
            a.cmp(ecx, unchecked((int)MsrEfer));
            a.jne(notEfer);
            VmRead(rax, F.GuestEfer);
            a.jmp(split);
            a.Label(ref notEfer);
            a.cmp(ecx, unchecked((int)MsrFsBase));
            a.jne(notFs);
            VmRead(rax, F.GuestFsBase);
            a.jmp(split);
            a.Label(ref notFs);
            a.cmp(ecx, unchecked((int)MsrGsBase));
            a.jne(notGs);
            VmRead(rax, F.GuestGsBase);
            a.jmp(split);
            a.Label(ref notGs);
            Service(RuntimeService.ReadMsr);
            a.test(rax, rax);
            a.jns(allowed);
            a.cmp(rax, (int)RuntimeStatus.MsrNotAllowed);
            a.jne(_injectGp);
            a.mov(ecx, GuestReg(Rcx));
            a.mov(__qword_ptr[r15 + RpcBuffer + 8], rcx);
            Rpc(MiniKvmAbi.PortMsrIndex, isIn: false, size: 4, valueSet: true);
            Rpc(MiniKvmAbi.PortMsrData, isIn: true, size: 4);
            a.test(rax, rax);
            a.js(_injectGp);
            a.mov(rax, __qword_ptr[r15 + RpcBuffer + 8]);
            a.Label(ref split);
            a.mov(rdx, rax);
            a.shr(rdx, 32);
            a.Label(ref allowed);
            a.mov(eax, eax);
            a.mov(GuestReg(Rax), rax);
            a.mov(edx, edx);
            a.mov(GuestReg(Rdx), rdx);
            a.jmp(_skip);
        }

        /// <summary>WRMSR: EFER (defined bits only), FS and GS base (canonical) into the VMCS; the allow-list through the runtime; the rest to the device model. Refused = #GP.</summary>
        private void HandleWrmsr()
        {
            Label notEfer = a.CreateLabel(), notFs = a.CreateLabel(), notGs = a.CreateLabel(), forward = a.CreateLabel();
            a.mov(ecx, GuestReg(Rcx));
            a.mov(eax, GuestReg(Rax));
            a.mov(edx, GuestReg(Rdx));
            a.mov(ebx, edx);
            a.shl(rbx, 32);
            a.or(rbx, rax);                                        // the value, EDX:EAX
            a.cmp(ecx, unchecked((int)MsrEfer));
            a.jne(notEfer);
            a.test(rbx, ~0xD01);                                   // SCE, LME, LMA, NXE
            a.jnz(_injectGp);
            VmWrite(F.GuestEfer, rbx);
            a.jmp(_skip);
            a.Label(ref notEfer);
            a.mov(r12, rbx);
            a.shl(r12, 16);
            a.sar(r12, 16);                                        // r12 = rbx if canonical
            a.cmp(ecx, unchecked((int)MsrFsBase));
            a.jne(notFs);
            a.cmp(r12, rbx);
            a.jne(_injectGp);
            VmWrite(F.GuestFsBase, rbx);
            a.jmp(_skip);
            a.Label(ref notFs);
            a.cmp(ecx, unchecked((int)MsrGsBase));
            a.jne(notGs);
            a.cmp(r12, rbx);
            a.jne(_injectGp);
            VmWrite(F.GuestGsBase, rbx);
            a.jmp(_skip);
            a.Label(ref notGs);
            Service(RuntimeService.WriteMsr);
            a.test(rax, rax);
            a.jns(_skip);
            a.cmp(rax, (int)RuntimeStatus.MsrNotAllowed);
            a.jne(_injectGp);
            a.Label(ref forward);
            a.mov(ecx, GuestReg(Rcx));
            a.mov(__qword_ptr[r15 + RpcBuffer + 8], rcx);
            Rpc(MiniKvmAbi.PortMsrIndex, isIn: false, size: 4, valueSet: true);
            a.mov(__qword_ptr[r15 + RpcBuffer + 8], rbx);
            Rpc(MiniKvmAbi.PortMsrData, isIn: false, size: 4, valueSet: true);
            a.test(rax, rax);
            a.js(_injectGp);
            a.jmp(_skip);
        }

        /// <summary>MOV to/from a control register the runtime makes exit: CR0/CR4 (guest value and read shadow), CR3.</summary>
        private void HandleCrAccess()
        {
            Label toCr = a.CreateLabel(), cr0 = a.CreateLabel(), cr4 = a.CreateLabel(), bad = a.CreateLabel(), fromCr3 = a.CreateLabel();
            VmRead(r12, F.ExitQualification);
            a.mov(r13, r12);
            a.shr(r13d, 8);
            a.and(r13d, 15);                                        // general register
            a.cmp(r13d, 4);
            a.je(bad);                                              // RSP lives in the VMCS; not supported
            a.mov(ebx, r12d);
            a.shr(ebx, 4);
            a.and(ebx, 3);                                          // access type
            a.cmp(ebx, 1);
            a.je(fromCr3);
            a.test(ebx, ebx);
            a.jne(bad);
            a.Label(ref toCr);
            a.mov(rbx, __qword_ptr[r15 + r13 * 8]);                 // value written
            a.mov(ecx, r12d);
            a.and(ecx, 15);
            a.cmp(ecx, 0);
            a.je(cr0);
            a.cmp(ecx, 4);
            a.je(cr4);
            a.cmp(ecx, 3);
            a.jne(bad);
            VmWrite(F.GuestCr3, rbx);
            a.jmp(_skip);
            a.Label(ref cr0);
            VmWrite(F.GuestCr0, rbx);
            ControlWrite(F.Cr0ReadShadow, rbx);
            a.jmp(_skip);
            a.Label(ref cr4);
            ControlWrite(F.Cr4ReadShadow, rbx);
            a.or(rbx, 0x2000);                                      // VMXE stays on under VMX
            VmWrite(F.GuestCr4, rbx);
            a.jmp(_skip);
            a.Label(ref fromCr3);
            a.mov(ecx, r12d);
            a.and(ecx, 15);
            a.cmp(ecx, 3);
            a.jne(bad);
            VmRead(rbx, F.GuestCr3);
            a.mov(__qword_ptr[r15 + r13 * 8], rbx);
            a.jmp(_skip);
            a.Label(ref bad);
            a.mov(edi, AbortCrAccess);
            Service(RuntimeService.Abort);
            Hang();
        }

        /// <summary>XSETBV: XCR0 (ECX = 0) through the runtime's SetXcr0 check; anything refused is a #GP.</summary>
        private void HandleXsetbv()
        {
            a.cmp(__dword_ptr[r15 + Rcx * 8], 0);
            a.jne(_injectGp);
            a.mov(edi, GuestReg(Rdx));
            a.shl(rdi, 32);
            a.mov(eax, GuestReg(Rax));
            a.or(rdi, rax);
            Service(RuntimeService.SetXcr0);
            a.test(rax, rax);
            a.js(_injectGp);
            a.jmp(_skip);
        }

        /// <summary>An external interrupt belongs to the host (it has been handled by the time we run): just re-enter.</summary>
        private void HandleExternalInterrupt() => a.jmp(_deliver);

        /// <summary>The guest can take interrupts again: stop asking for the window and inject.</summary>
        private void HandleInterruptWindow()
        {
            a.and(__qword_ptr[r15 + ProcControlsWanted], ~(int)VmxControls.ProcIntWindow);
            a.mov(rsi, __qword_ptr[r15 + ProcControlsWanted]);
            ControlWriteRsi(F.ProcControls);
            a.jmp(_deliver);
        }

        /// <summary>A time slice ended: the device model's clock advances by one slice (its PIT may raise IRQ 0), and the CPU is yielded (Halt) to the next instance.</summary>
        private void HandlePreemptionTimer()
        {
            Service(RuntimeService.Halt);
            a.mov(__qword_ptr[r15 + RpcBuffer + 8], (int)MiniKvmAbi.ClocksPerSlice);
            Rpc(MiniKvmAbi.PortAdvance, isIn: false, size: 4, valueSet: true);
            a.jmp(_deliver);
        }

        /// <summary>VMCALL hypercalls: RAX = 1 print RDI's byte, 2 exit with code RDI; others return -1000 (KVM's -KVM_ENOSYS).</summary>
        private void HandleVmcall()
        {
            Label print = a.CreateLabel(), exit = a.CreateLabel();
            a.mov(rax, GuestReg(Rax));
            a.cmp(rax, MiniKvmAbi.HypercallPrint);
            a.je(print);
            a.cmp(rax, MiniKvmAbi.HypercallExit);
            a.je(exit);
            a.mov(GuestReg(Rax), -1000);
            a.jmp(_skip);
            a.Label(ref print);
            a.movzx(edi, __byte_ptr[r15 + Rdi * 8]);
            Service(RuntimeService.Print);
            a.mov(GuestReg(Rax), 0);
            a.jmp(_skip);
            a.Label(ref exit);
            a.mov(rdi, GuestReg(Rdi));
            Service(RuntimeService.Exit);
            Hang();
        }

        // ---- shared tails ---------------------------------------------------------------------

        /// <summary>#GP(0) into the guest, at the faulting instruction (no skip, no other injection).</summary>
        private void InjectGeneralProtection()
        {
            a.Label(ref _injectGp);
            a.mov(ebx, 0);
            VmWrite(F.EntryExceptionErrorCode, rbx);
            a.mov(ebx, 13 | (3 << 8) | (1 << 11) | unchecked((int)0x8000_0000));
            VmWrite(F.EntryInterruptionInfo, rbx);
            a.jmp(_enter);
        }

        /// <summary>The exiting instruction was emulated: step over it (an STI or MOV-SS shadow ends with it, as on hardware).</summary>
        private void SkipInstruction()
        {
            a.Label(ref _skip);
            VmRead(rax, F.ExitInstructionLength);
            VmRead(rbx, F.GuestRip);
            a.add(rbx, rax);
            VmWrite(F.GuestRip, rbx);
            VmRead(rbx, F.GuestInterruptibility);
            a.test(ebx, 3);
            a.jz(_deliver);
            a.and(ebx, ~3);
            VmWrite(F.GuestInterruptibility, rbx);
        }

        /// <summary>
        /// KVM's inject-before-entry: ask the device model for its highest pending interrupt; inject it
        /// (VM-entry interruption information, external interrupt) if the guest has IF = 1 and no
        /// STI/MOV-SS blocking, else ask for an interrupt-window exit.
        /// </summary>
        private void DeliverInterrupts()
        {
            Label window = a.CreateLabel(), ask = a.CreateLabel(), timerSet = a.CreateLabel(), timerSame = a.CreateLabel();
            a.Label(ref _deliver);
            a.xor(ecx, ecx);                                                        // can the guest take one now?
            VmRead(rbx, F.GuestRflags);
            a.test(ebx, 0x200);
            a.jz(ask);
            VmRead(rbx, F.GuestInterruptibility);
            a.test(ebx, 3);
            a.jnz(ask);
            a.mov(ecx, 1);
            a.Label(ref ask);
            a.mov(__qword_ptr[r15 + RpcBuffer + 8], rcx);
            Rpc(MiniKvmAbi.PortInterrupt, isIn: true, size: 4, valueSet: true);    // acknowledged when it can
            a.mov(r12, __qword_ptr[r15 + RpcBuffer + 8]);
            a.mov(rsi, r12);
            a.shr(rsi, 32);                                                         // preemption timer for this entry
            a.jnz(timerSet);
            a.mov(esi, SliceTimerValue);
            a.Label(ref timerSet);
            a.cmp(rsi, __qword_ptr[r15 + TimerValue]);
            a.je(timerSame);
            a.mov(__qword_ptr[r15 + TimerValue], rsi);
            ControlWriteRsi(F.PreemptionTimerValue);
            a.Label(ref timerSame);
            a.cmp(r12d, unchecked((int)MiniKvmAbi.NoInterrupt));
            a.je(_enter);
            a.cmp(r12d, unchecked((int)MiniKvmAbi.GuestDone));
            a.je(_done);
            a.cmp(r12d, unchecked((int)MiniKvmAbi.InterruptBlocked));
            a.je(window);
            a.mov(ebx, r12d);
            a.or(ebx, unchecked((int)0x8000_0000));                                 // valid, type 0 (external interrupt)
            VmWrite(F.EntryInterruptionInfo, rbx);
            a.jmp(_enter);
            a.Label(ref window);
            a.or(__qword_ptr[r15 + ProcControlsWanted], (int)VmxControls.ProcIntWindow);
            a.mov(rsi, __qword_ptr[r15 + ProcControlsWanted]);
            ControlWriteRsi(F.ProcControls);
        }

        /// <summary>Back into the guest (the rewriter turns VMRESUME into the EnterGuest service).</summary>
        private void Enter()
        {
            a.Label(ref _enter);
            a.vmresume();
            Hang();
        }

        /// <summary>The device model says the guest is done (debug exit, reset, halted for good): exit with its status.</summary>
        private void GuestDone()
        {
            a.Label(ref _done);
            Rpc(MiniKvmAbi.PortExitStatus, isIn: true, size: 4);
            a.mov(rdi, __qword_ptr[r15 + RpcBuffer + 8]);
            Service(RuntimeService.Exit);
            Hang();
        }

        private void ControlRefused()
        {
            a.Label(ref _controlRefused);
            a.mov(edi, AbortControlRefused);
            Service(RuntimeService.Abort);
            Hang();
        }

        // ---- the deliberate bug of the vulnerable variant ----------------------------------------

        /// <summary>A hook set for this exit reason runs instead of the built-in handler.</summary>
        private void FollowExitHook()
        {
            Label none = a.CreateLabel();
            a.mov(rax, __qword_ptr[r15 + r14 * 8 + ExitHooks]);
            a.test(rax, rax);
            a.jz(none);
            a.jmp(rax);                                            // the toolchain masks it (and rax, -32)
            a.Label(ref none);
        }

        /// <summary>OUT to the debug-log port: log[index++] = guest RAX, without checking index (the bug).</summary>
        private void AppendToDebugLog()
        {
            Label other = a.CreateLabel();
            a.mov(rbx, r12);
            a.shr(rbx, 16);
            a.cmp(bx, DebugLogPort);
            a.jne(other);
            a.test(r12d, 8);
            a.jnz(other);
            a.mov(rcx, __qword_ptr[r15 + DebugLogIndex]);
            a.mov(rax, GuestReg(Rax));
            a.mov(__qword_ptr[r15 + rcx * 8 + DebugLog], rax);
            a.inc(__qword_ptr[r15 + DebugLogIndex]);
            a.jmp(_skip);
            a.Label(ref other);
        }

        // ---- helpers ----------------------------------------------------------------------------

        private void Service(RuntimeService s)
        {
            a.mov(r11d, (uint)s);
            a.@int(ServiceRegisters.GateVector);
        }

        private void VmRead(AssemblerRegister64 dst, uint field)
        {
            a.mov(edx, field);
            a.vmread(dst, rdx);
        }

        private void VmWrite(uint field, AssemblerRegister64 src)
        {
            a.mov(edx, field);
            a.vmwrite(rdx, src);
        }

        private void ControlWrite(uint field, uint value)
        {
            a.mov(esi, value);
            ControlWriteRsi(field);
        }

        private void ControlWrite(uint field, AssemblerRegister64 value)
        {
            a.mov(rsi, value);
            ControlWriteRsi(field);
        }

        private void ControlWriteRsi(uint field)
        {
            a.mov(edi, field);
            Service(RuntimeService.ControlWrite);
            a.test(rax, rax);
            a.js(_controlRefused);
        }

        /// <summary>A DeviceRpc request to a control port of the device model; the reply value is at RpcBuffer + 8.</summary>
        private void Rpc(ushort port, bool isIn, int size, bool valueSet = false)
        {
            a.mov(__word_ptr[r15 + RpcBuffer], port);
            a.mov(__byte_ptr[r15 + RpcBuffer + 2], isIn ? 1 : 0);
            a.mov(__byte_ptr[r15 + RpcBuffer + 3], size);
            a.mov(__dword_ptr[r15 + RpcBuffer + 4], 0);
            if (!valueSet) a.mov(__qword_ptr[r15 + RpcBuffer + 8], 0);
            CallRpc();
        }

        private void CallRpc()
        {
            a.lea(rdi, __[r15 + RpcBuffer]);
            a.mov(esi, 16);
            Service(RuntimeService.DeviceRpc);
        }

        private void Hang()
        {
            var self = a.CreateLabel();
            a.Label(ref self);
            a.jmp(self);
        }
    }

    private sealed class ByteWriter : CodeWriter
    {
        public readonly List<byte> Bytes = new();
        public override void WriteByte(byte value) => Bytes.Add(value);
    }
}
