using HyperLock.Abi;
using HyperLock.Emulator.Devices;
using Iced.Intel;

namespace HyperLock.Runtime.Trampoline;

/// <summary>
/// The trampoline: all of the runtime's x86 code, assembled at start-up (trusted, not verified,
/// not passed through the toolchain) and mapped at <see cref="ConfinedLayout.Trampoline"/> in
/// the host space and in every confined space. Bundles 0-255 are the vector entries the IDTs
/// point at (bundle v + 1); then the common save path, the VM-exit stub (HOST_RIP), the
/// dispatcher that acts on the runtime's answer, and the start-up stub. docs/runtime.md,
/// "Transitions", walks through it.
/// </summary>
public sealed class TrampolineCode
{
    /// <summary>Vectors whose exception pushes an error code (SDM Vol. 3 §6.15).</summary>
    public static bool HasErrorCode(int vector) => vector is 8 or 10 or 11 or 12 or 13 or 14 or 17 or 21 or 29 or 30;

    private TrampolineCode(byte[] bytes, Dictionary<string, int> labels)
    {
        Bytes = bytes;
        Labels = labels;
    }

    public byte[] Bytes { get; }
    public IReadOnlyDictionary<string, int> Labels { get; }

    /// <summary>The linear address an IDT gate for <paramref name="vector"/> points at: just past the INT3 of bundle <paramref name="vector"/>.</summary>
    public static ulong GateTarget(int vector) => ConfinedLayout.Trampoline + (ulong)vector * BundleWriter.BundleSize + 1;

    public ulong ExitStub => Address("exit");
    public ulong BootStub => Address("boot");
    private ulong Address(string label) => ConfinedLayout.Trampoline + (ulong)Labels[label] + 1;

    /// <summary>Assembles the trampoline for a host whose PML4 is <paramref name="hostCr3"/>.</summary>
    public static TrampolineCode Build(ulong hostCr3, ushort hostCallPort = HostCallPort.DefaultPort)
    {
        var w = new BundleWriter();
        for (int v = 0; v < 256; v++)
        {
            w.Label("v" + v);
            if (!HasErrorCode(v)) w.Add(Instruction.Create(Code.Pushq_imm8, 0));
            w.Add(Instruction.Create(Code.Pushq_imm32, v));
            w.Branch(Code.Jmp_rel32_64, "common");
        }

        // Save the interrupted code's registers on the IST stack, then leave for the host space
        // (unless already there: the unconfined baseline), then call the runtime with the frame
        // (RSI) and the CR3 it arrived in (RDI): NMI, #DF and #MC have stacks of their own.
        w.Label("common");
        PushAll(w);
        w.Add(Instruction.Create(Code.Mov_r64_cr, Register.RAX, Register.CR3));
        w.Add(Instruction.Create(Code.Mov_r64_rm64, Register.RSI, Register.RSP));
        w.Add(Instruction.Create(Code.Mov_r64_rm64, Register.RDI, Register.RAX));
        w.Add(Instruction.Create(Code.Mov_r64_imm64, Register.RCX, hostCr3));
        w.Add(Instruction.Create(Code.Cmp_rm64_r64, Register.RAX, Register.RCX));
        w.Branch(Code.Je_rel32_64, "inhost");
        w.Add(Instruction.Create(Code.Bts_rm64_imm8, Register.RCX, 63)); // no flush: the confined PCID's translations stay
        w.Add(Instruction.Create(Code.Mov_cr_r64, Register.CR3, Register.RCX));
        w.Label("inhost");
        w.Add(Instruction.Create(Code.Mov_rm64_imm32, Register.RSP, (int)HostLayout.HostStackTop));
        Call(w, HostCall.Event, hostCallPort);
        w.Branch(Code.Jmp_rel32_64, "dispatch");

        // HOST_RIP: the guest's registers are still live; push them where the runtime reads them.
        w.Label("exit");
        PushAll(w);
        w.Add(Instruction.Create(Code.Fxsave64_m512byte, Absolute(HostLayout.GuestFxArea)));
        Call(w, HostCall.VmExit, hostCallPort);
        w.Branch(Code.Jmp_rel32_64, "dispatch");

        w.Label("dispatch");
        w.Add(Instruction.Create(Code.Cmp_rm64_imm32, Register.RAX, (int)DispatchAction.EnterConfinedMinimum));
        w.Branch(Code.Jae_rel32_64, "enterconfined");
        Case(w, DispatchAction.ResumeGuest, "resumeguest");
        Case(w, DispatchAction.LaunchGuest, "launchguest");
        Case(w, DispatchAction.ResumeInPlace, "resumeinplace");
        Case(w, DispatchAction.ClearAndLoadVmcs, "clearvmcs");
        Case(w, DispatchAction.LoadVmcs, "loadvmcs");
        w.Branch(Code.Jmp_rel32_64, "stop");

        w.Label("enterconfined");
        w.Add(Instruction.Create(Code.Mov_cr_r64, Register.CR3, Register.RAX));
        w.Branch(Code.Jmp_rel32_64, "resumeinplace");

        w.Label("resumeinplace");
        w.Add(Instruction.Create(Code.Mov_r64_rm64, Register.RSP, Register.RSI)); // the frame the runtime names
        PopAll(w);
        w.Add(Instruction.Create(Code.Add_rm64_imm8, Register.RSP, 16));
        w.Add(Instruction.Create(Code.Iretq));

        foreach (var (label, entry) in new[] { ("resumeguest", Code.Vmresume), ("launchguest", Code.Vmlaunch) })
        {
            // Guests run with VPIDs, so entries and exits keep translations: after an EPT change
            // the runtime asks for an INVEPT of the guest's EPTP before the entry.
            w.Label(label);
            w.Add(Instruction.Create(Code.Cmp_rm64_imm8, Absolute(HostLayout.SlotInveptPending), 0));
            w.Branch(Code.Je_rel32_64, label + "-fx");
            w.Add(Instruction.Create(Code.Mov_r32_imm32, Register.ECX, 1u)); // single context
            w.Add(Instruction.Create(Code.Invept_r64_m128, Register.RCX, Absolute(HostLayout.SlotInveptDescriptor)));
            w.Add(Instruction.Create(Code.Mov_rm64_imm32, Absolute(HostLayout.SlotInveptPending), 0));
            w.Branch(Code.Jmp_rel32_64, label + "-fx");
            w.Label(label + "-fx");
            w.Add(Instruction.Create(Code.Fxrstor64_m512byte, Absolute(HostLayout.GuestFxArea)));
            w.Add(Instruction.Create(Code.Mov_rm64_imm32, Register.RSP, (int)HostLayout.GuestRegisterFrame));
            PopAll(w);
            w.Add(Instruction.Create(entry));
            w.Add(Instruction.Create(Code.Mov_rm64_imm32, Register.RSP, (int)HostLayout.HostStackTop));
            Call(w, HostCall.EntryFailed, hostCallPort);
            w.Branch(Code.Jmp_rel32_64, "dispatch");
        }

        w.Label("clearvmcs");
        w.Add(Instruction.Create(Code.Vmclear_m64, Absolute(HostLayout.SlotVmcs)));
        w.Branch(Code.Jmp_rel32_64, "loadvmcs");
        w.Label("loadvmcs");
        w.Add(Instruction.Create(Code.Vmptrld_m64, Absolute(HostLayout.SlotVmcs)));
        Call(w, HostCall.VmcsLoaded, hostCallPort);
        w.Branch(Code.Jmp_rel32_64, "dispatch");

        w.Label("stop");
        w.Add(Instruction.Create(Code.Hlt));
        w.Branch(Code.Jmp_rel32_64, "stop");

        w.Label("boot");
        w.Add(Instruction.Create(Code.Vmxon_m64, Absolute(HostLayout.SlotVmxon)));
        Call(w, HostCall.Boot, hostCallPort);
        w.Branch(Code.Jmp_rel32_64, "dispatch");

        var (bytes, labels) = w.Assemble(ConfinedLayout.Trampoline);
        return new TrampolineCode(bytes, labels);
    }

    private static MemoryOperand Absolute(ulong address) => new(Register.None, (long)address);

    private static void Call(BundleWriter w, HostCall call, ushort port)
    {
        w.Add(Instruction.Create(Code.Mov_r32_imm32, Register.EAX, (uint)call));
        if (port < 0x100) w.Add(Instruction.Create(Code.Out_imm8_EAX, (uint)port, Register.EAX));
        else
        {
            w.Add(Instruction.Create(Code.Mov_r32_imm32, Register.EDX, (uint)port));
            w.Add(Instruction.Create(Code.Out_DX_EAX, Register.DX, Register.EAX));
        }
    }

    private static void Case(BundleWriter w, ulong action, string label)
    {
        w.Add(Instruction.Create(Code.Cmp_rm64_imm8, Register.RAX, (int)action));
        w.Branch(Code.Je_rel32_64, label);
    }

    private static readonly Register[] Gprs =
    [
        Register.RAX, Register.RCX, Register.RDX, Register.RBX, Register.RSP, Register.RBP, Register.RSI, Register.RDI,
        Register.R8, Register.R9, Register.R10, Register.R11, Register.R12, Register.R13, Register.R14, Register.R15,
    ];

    private static void PushAll(BundleWriter w)
    {
        foreach (int r in SaveFrame.PushOrder) w.Add(Instruction.Create(Code.Push_r64, Gprs[r]));
    }

    private static void PopAll(BundleWriter w)
    {
        for (int k = SaveFrame.PushOrder.Length - 1; k >= 0; k--) w.Add(Instruction.Create(Code.Pop_r64, Gprs[SaveFrame.PushOrder[k]]));
    }
}
