using HyperLock.Abi;
using HyperLock.Runtime.Loading;
using HyperLock.Toolchain;
using Iced.Intel;
using Label = Iced.Intel.Label;
using static Iced.Intel.AssemblerRegisters;
using F = HyperLock.Emulator.Vmx.VmcsField;

namespace HyperLock.Runtime.Tests;

/// <summary>
/// Small hypervisors for the tests, written as ordinary x86 and turned into verifiable images by
/// the toolchain's <see cref="Rewriter"/> (so they go through the same verify-then-load path as
/// any image).
/// </summary>
internal static class TestHypervisors
{
    public const int ExitCpuid = 10, ExitIo = 30;
    public const ulong RpcBuffer = 0x200;

    /// <summary>Assembles flat x86 at offset 0 and rewrites it into bundles; entry = offset 0.</summary>
    public static HypervisorImage Build(Action<Assembler> code)
    {
        var a = new Assembler(64);
        code(a);
        var w = new ByteWriter();
        a.Assemble(w, 0);
        var r = Rewriter.Rewrite(w.Bytes.ToArray(), [0]);
        if (!r.Succeeded) throw new InvalidOperationException(r.ToText());
        return new HypervisorImage(r.Image!.Bytes, new HypervisorManifest { DispatchEntry = r.Image.EntryPoints[0] });
    }

    private static void Service(Assembler a, RuntimeService s)
    {
        a.mov(r11d, (uint)s);
        a.@int(ServiceRegisters.GateVector);
    }

    /// <summary>
    /// Handles CPUID (from the runtime's table), port I/O (0xE9: print, 0xF4: the guest is done
    /// with the byte written as status, anything else: DeviceRpc, byte-sized) and aborts on
    /// anything else. Guest registers live in the data area (RSI at entry).
    /// </summary>
    public static HypervisorImage CpuidAndIo() => Build(a =>
    {
        Label cpuid = a.CreateLabel(), io = a.CreateLabel(), skip = a.CreateLabel(), print = a.CreateLabel(),
            done = a.CreateLabel(), isOut = a.CreateLabel();
        a.cmp(edi, ExitCpuid);
        a.je(cpuid);
        a.cmp(edi, ExitIo);
        a.je(io);
        a.mov(edi, 0xBAD);
        Service(a, RuntimeService.Abort);
        Hang(a);

        a.Label(ref cpuid);
        a.mov(eax, __dword_ptr[rsi + 0]);
        a.mov(ecx, __dword_ptr[rsi + 8]);
        a.cpuid();
        a.mov(__qword_ptr[rsi + 0], rax);
        a.mov(__qword_ptr[rsi + 8], rcx);
        a.mov(__qword_ptr[rsi + 16], rdx);
        a.mov(__qword_ptr[rsi + 24], rbx);
        a.jmp(skip);

        a.Label(ref io);
        a.mov(edx, F.ExitQualification);
        a.vmread(r12, rdx);
        a.mov(rbx, r12);
        a.shr(rbx, 16);
        a.and(ebx, 0xFFFF);
        a.cmp(ebx, 0xF4);
        a.je(done);
        a.cmp(ebx, 0xE9);
        a.je(print);
        a.mov(__word_ptr[rsi + (int)RpcBuffer], bx);
        a.mov(rcx, r12);
        a.shr(ecx, 3);
        a.and(ecx, 1);
        a.mov(__byte_ptr[rsi + (int)RpcBuffer + 2], cl);
        a.mov(rcx, r12);
        a.and(ecx, 7);
        a.inc(ecx);
        a.mov(__byte_ptr[rsi + (int)RpcBuffer + 3], cl);
        a.mov(rcx, __qword_ptr[rsi + 0]);
        a.mov(__qword_ptr[rsi + (int)RpcBuffer + 8], rcx);
        a.mov(r13, rsi);
        a.lea(rdi, __[rsi + (int)RpcBuffer]);
        a.mov(esi, 16);
        Service(a, RuntimeService.DeviceRpc);
        a.mov(rsi, r13);
        a.test(r12d, 8);
        a.jz(isOut);
        a.mov(cl, __byte_ptr[rsi + (int)RpcBuffer + 8]);
        a.mov(__byte_ptr[rsi + 0], cl);
        a.Label(ref isOut);
        a.jmp(skip);

        a.Label(ref print);
        a.movzx(edi, __byte_ptr[rsi + 0]);
        Service(a, RuntimeService.Print);
        a.jmp(skip);

        a.Label(ref done);
        a.movzx(edi, __byte_ptr[rsi + 0]);
        Service(a, RuntimeService.Exit);
        Hang(a);

        a.Label(ref skip);
        a.mov(edx, F.ExitInstructionLength);
        a.vmread(rax, rdx);
        a.mov(edx, F.GuestRip);
        a.vmread(rbx, rdx);
        a.add(rbx, rax);
        a.mov(edx, F.GuestRip);
        a.vmwrite(rdx, rbx);
        a.vmresume();
        Hang(a);
    });

    /// <summary>The services that do not return still need code after them for the rewriter: a jump to itself.</summary>
    public static void Hang(Assembler a)
    {
        var self = a.CreateLabel();
        a.Label(ref self);
        a.jmp(self);
    }

    /// <summary>A hypervisor whose every entry runs <paramref name="body"/> (e.g. something that faults).</summary>
    public static HypervisorImage Faulting(Action<Assembler> body) => Build(body);

    private sealed class ByteWriter : CodeWriter
    {
        public readonly List<byte> Bytes = new();
        public override void WriteByte(byte value) => Bytes.Add(value);
    }
}
