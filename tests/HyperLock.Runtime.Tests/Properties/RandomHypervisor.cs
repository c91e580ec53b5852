using HyperLock.Abi;
using HyperLock.Runtime.Loading;
using HyperLock.Toolchain;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using Label = Iced.Intel.Label;

namespace HyperLock.Runtime.Tests.Properties;

/// <summary>What the random hypervisor emphasises.</summary>
internal enum ProgramFlavour { Mixed, ServiceCalls }

/// <summary>
/// One generated case: a seed for the program and register values, its length, which bundle the
/// run starts from, whether RSP is random too. Shown by FsCheck on failure; the same case always
/// builds the same image.
/// </summary>
internal sealed record RandomCase(int Seed, int Length, int Bundle, bool RandomRsp, ProgramFlavour Flavour)
{
    public override string ToString() => $"seed {Seed}, {Length} instructions, bundle {Bundle}, random rsp {RandomRsp}, {Flavour}";
}

/// <summary>
/// Random hypervisor images for the soundness and shadowing properties: a random instruction
/// sequence (ALU, loads and stores through random registers, stack, branches to random labels,
/// calls, indirect jumps and calls, returns, service gates with random numbers and arguments,
/// CPUID, VMREAD/VMWRITE of random fields, string operations, SSE), written as ordinary x86 and
/// bundled by the toolchain's <see cref="Rewriter"/>. A stub at the entry loads every register
/// with a random value (biased towards interesting addresses: the image's bundles, the
/// trampoline, the data, stack, IST and guest window, host and pool physical addresses), then
/// jumps to the chosen bundle start. Only images the verifier accepts are run (the runtime
/// verifies at load); <see cref="Build"/> returns null for the others.
/// </summary>
internal static class RandomHypervisor
{
    private const ulong Marker = 0x5A17_C0DE_D00D_F00D;
    private static readonly AssemblerRegister64[] Gprs = [rax, rcx, rdx, rbx, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15];
    private static readonly AssemblerRegister64[] StubRegs = [rax, rcx, rdx, rbx, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14];

    public static HypervisorImage? Build(RandomCase c)
    {
        var rng = new Random(c.Seed);
        var a = new Assembler(64);
        foreach (var reg in StubRegs) a.mov(reg, Value(rng));
        if (c.RandomRsp) a.mov(rsp, Value(rng));
        a.mov(r15, Marker);
        a.jmp(r15);

        var labels = new Label[c.Length + 1];
        for (int i = 0; i < labels.Length; i++) labels[i] = a.CreateLabel();
        // The rewriter keeps what is reachable from the entries: the body's start and every
        // instruction after an unconditional transfer are entries too.
        var entryLabels = new List<int> { 0 };
        for (int i = 0; i < c.Length; i++)
        {
            a.Label(ref labels[i]);
            if (Emit(a, rng, labels, c.Flavour)) entryLabels.Add(i + 1);
        }
        a.Label(ref labels[c.Length]);
        a.mov(edi, 0x99);
        a.mov(r11d, (uint)RuntimeService.Abort);
        a.@int(ServiceRegisters.GateVector);
        TestHypervisors.Hang(a);

        var w = new Writer();
        var assembled = a.Assemble(w, 0, BlockEncoderOptions.ReturnNewInstructionOffsets);
        var entries = new List<long> { 0 };
        foreach (int l in entryLabels.Distinct()) entries.Add((long)assembled.GetLabelRIP(labels[l])); // entry 1: the body's start
        var r = Rewriter.Rewrite(w.Bytes.ToArray(), entries);
        if (!r.Succeeded) return null;
        var code = r.Image!.Bytes.ToArray();
        int at = IndexOf(code, BitConverter.GetBytes(Marker));
        if (at < 0) return null;
        // A bundle of the body (a bundle of the stub would only run the stub again).
        int first = (int)(r.Image.EntryPoints[1] / 32), bundles = code.Length / 32;
        BitConverter.GetBytes(ConfinedLayout.Code + (ulong)(first + c.Bundle % (bundles - first)) * 32).CopyTo(code, at);
        return new HypervisorImage(code, new HypervisorManifest { DispatchEntry = r.Image.EntryPoints[0] });
    }

    /// <summary>A register value: random, small, or an address somewhere interesting.</summary>
    public static ulong Value(Random rng) => rng.Next(12) switch
    {
        0 => (ulong)rng.NextInt64() ^ ((ulong)rng.Next() << 33),
        1 => (ulong)rng.Next(0, 300),
        2 => ConfinedLayout.Code + (ulong)rng.Next(0, 256) * 32 + (ulong)(rng.Next(8) == 0 ? rng.Next(1, 32) : 0),
        3 => ConfinedLayout.Data + (ulong)rng.Next(0, 0x4000),
        4 => ConfinedLayout.Stack + (ulong)rng.Next(0, 0x4100),
        5 => ConfinedLayout.GuestWindow + (ulong)rng.Next(0, 600) * 0x1000 + (ulong)rng.Next(0, 0x1000),
        6 => ConfinedLayout.Trampoline + (ulong)rng.Next(0, 400) * 32 + (ulong)rng.Next(0, 2),
        7 => ConfinedLayout.SystemTables + (ulong)rng.Next(0, 0x3000),
        8 => ConfinedLayout.IstStack + (ulong)rng.Next(0, 0x2000),
        9 => (ulong)rng.Next(0, 0x60000),                       // host physical: tables, stack, trampoline
        10 => HostLayout.PoolStart + (ulong)rng.Next(0, 0x200000), // pool and guest physical
        _ => unchecked((ulong)-rng.Next(1, 100)),
    };

    /// <summary>Emits one random template; true when it ends in an unconditional transfer.</summary>
    private static bool Emit(Assembler a, Random rng, Label[] labels, ProgramFlavour flavour)
    {
        var d = Gprs[rng.Next(Gprs.Length)];
        var s = Gprs[rng.Next(Gprs.Length)];
        var b = Gprs[rng.Next(Gprs.Length)];
        int disp = rng.Next(-64, 64) * 8;
        Label target = labels[rng.Next(labels.Length - 1)]; // not the final abort: runs go on
        int pick = flavour == ProgramFlavour.ServiceCalls && rng.Next(2) == 0 ? 100 : rng.Next(36);
        if (pick >= 30) pick = pick % 2 == 0 ? 9 : 10; // loads and stores twice as often as the rest
        // Memory operands: usually through a pointer into the instance's data, so runs go deeper
        // than their first random address; otherwise through whatever the register holds.
        if (pick is 9 or 10 or 28 && rng.Next(6) != 0) a.mov(b, ConfinedLayout.Data + 0x400 + (ulong)rng.Next(0, 0x3800) / 8 * 8);
        // Indirect transfers: usually to a code pointer taken from a label (the toolchain places it at a bundle start).
        if (pick is 20 or 21 && rng.Next(3) != 0) a.lea(d, __[target]);
        if (pick == 22 && rng.Next(3) != 0)
        {
            a.lea(d, __[target]);
            a.push(d);
        }
        if (pick == 15 && rng.Next(3) != 0)
        {
            a.xor(edx, edx);
            a.or(s, 1);
        }
        switch (pick)
        {
            case 0: a.add(d, s); break;
            case 1: a.sub(d, s); break;
            case 2: a.xor(d, s); break;
            case 3: a.and(d, (int)rng.Next()); break;
            case 4: a.or(d, rng.Next(-100, 100)); break;
            case 5: a.cmp(d, s); break;
            case 6: a.mov(d, Value(rng)); break;
            case 7: a.mov(d, s); break;
            case 8: a.lea(d, __[s + disp]); break;
            case 9: a.mov(d, __qword_ptr[b + disp]); break;
            case 10: a.mov(__qword_ptr[b + disp], s); break;
            case 11: a.push(s); break;
            case 12: a.pop(d); break;
            case 13: a.shl(d, (byte)rng.Next(64)); break;
            case 14: a.imul(d, s); break;
            case 15: a.div(s); break;
            case 16: a.neg(d); break;
            case 17: a.jne(target); break;
            case 18: a.jmp(target); return true;
            case 19: a.call(target); break;
            case 20: a.jmp(d); return true;
            case 21: a.call(d); break;
            case 22: a.ret(); return true;
            case 23:
                a.mov(r11d, (uint)rng.Next(0, 18));
                a.@int(ServiceRegisters.GateVector);
                break;
            case 24: a.cpuid(); break;
            case 25:
                a.mov(edx, Field(rng, write: false));
                a.vmread(rax, rdx);
                break;
            case 26:
                a.mov(edx, Field(rng, write: true));
                a.vmwrite(rdx, rax);
                break;
            case 27:
                a.mov(ecx, rng.Next(0, 64));
                if (rng.Next(2) == 0) a.rep.stosb(); else a.rep.movsb();
                break;
            case 28:
                a.movq(xmm0, d);
                a.paddq(xmm0, xmm1);
                a.movdqu(xmm1, __xmmword_ptr[b + disp]);
                break;
            case 29: a.cmovne(d, s); break;
            default:
                // A service call with chosen arguments (ServiceCalls flavour), sometimes Halt + EnterGuest: a yield.
                if (rng.Next(6) == 0)
                {
                    a.mov(r11d, (uint)RuntimeService.Halt);
                    a.@int(ServiceRegisters.GateVector);
                    a.mov(r11d, (uint)RuntimeService.EnterGuest);
                    a.@int(ServiceRegisters.GateVector);
                    break;
                }
                a.mov(rdi, Value(rng));
                a.mov(rsi, Value(rng));
                a.mov(rdx, Value(rng));
                a.mov(r10, Value(rng));
                a.mov(rcx, Value(rng));
                a.mov(r11d, (uint)ServiceNumber(rng));
                a.@int(ServiceRegisters.GateVector);
                break;
        }
        return false;
    }

    private static int ServiceNumber(Random rng)
    {
        int n = rng.Next(0, 19);
        // Exit and Abort end the run at once: keep them rare so the other services get their turn.
        return n is (int)RuntimeService.Exit or (int)RuntimeService.Abort && rng.Next(4) != 0 ? (int)RuntimeService.MapGfnToPfn : n;
    }

    private static readonly uint[] Readable = VmcsFieldTable.Fields.Where(f => f.Readable).Select(f => f.Encoding).ToArray();
    private static readonly uint[] Writable = VmcsFieldTable.Fields.Where(f => f.Writable).Select(f => f.Encoding).ToArray();

    /// <summary>A field confined code may access that way, or (rarely: such a program is refused) any encoding.</summary>
    private static uint Field(Random rng, bool write) => rng.Next(16) == 0
        ? (uint)rng.Next(0, 0x8000)
        : write ? Writable[rng.Next(Writable.Length)] : Readable[rng.Next(Readable.Length)];

    private static int IndexOf(byte[] haystack, byte[] needle)
    {
        int found = -1;
        for (int i = 0; i + needle.Length <= haystack.Length; i++)
            if (haystack.AsSpan(i, needle.Length).SequenceEqual(needle))
            {
                if (found >= 0) return -1; // not unique: do not guess
                found = i;
            }
        return found;
    }

    private sealed class Writer : CodeWriter
    {
        public readonly List<byte> Bytes = new();
        public override void WriteByte(byte value) => Bytes.Add(value);
    }
}
