using HyperLock.Runtime;
using Iced.Intel;

namespace HyperLock.DeviceModel;

/// <summary>
/// The guest instruction behind an MMIO access, as QEMU and KVM find it: the device model walks the
/// guest's own 4-level page tables (from its CR3, in the guest's memory) to fetch the bytes at RIP
/// and decodes them with Iced. Only the forms a kernel uses for device registers are emulated:
/// <c>mov</c> between a 32- or 64-bit general register (not RSP) and memory, and <c>mov</c> of an
/// immediate to memory. Anything else is refused (the hypervisor then stops the guest).
/// </summary>
public readonly record struct MmioInstruction(int Length, bool IsWrite, int Size, int Register, ulong? Immediate)
{
    /// <summary>Decodes the instruction at <paramref name="rip"/>; null when it cannot be fetched or is not an emulated form.</summary>
    public static MmioInstruction? Decode(GuestMemory memory, ulong cr3, ulong rip)
    {
        Span<byte> bytes = stackalloc byte[15];
        for (int k = 0; k < bytes.Length; k++)
        {
            if (Translate(memory, cr3, rip + (ulong)k) is not ulong gpa) { if (k == 0) return null; bytes = bytes[..k]; break; }
            memory.Read(gpa, bytes.Slice(k, 1));
        }
        var decoder = Decoder.Create(64, new ByteArrayCodeReader(bytes.ToArray()), rip);
        decoder.Decode(out var i);
        if (i.IsInvalid || i.Mnemonic != Mnemonic.Mov) return null;
        if (i.Op0Kind == OpKind.Memory)
        {
            int size = i.MemorySize switch { MemorySize.UInt32 => 4, MemorySize.UInt64 => 8, _ => 0 };
            if (size == 0) return null;
            if (i.Op1Kind == OpKind.Register)
                return GeneralRegister(i.Op1Register) is int reg ? new MmioInstruction(i.Length, true, size, reg, null) : null;
            if (i.Op1Kind is OpKind.Immediate32 or OpKind.Immediate32to64)
                return new MmioInstruction(i.Length, true, size, 0, i.GetImmediate(1));
            return null;
        }
        if (i.Op1Kind == OpKind.Memory && i.Op0Kind == OpKind.Register)
        {
            int size = i.MemorySize switch { MemorySize.UInt32 => 4, MemorySize.UInt64 => 8, _ => 0 };
            return size != 0 && GeneralRegister(i.Op0Register) is int reg ? new MmioInstruction(i.Length, false, size, reg, null) : null;
        }
        return null;
    }

    /// <summary>The register's number in the x86 encoding (the order of the guest-register area), for 32- and 64-bit GPRs other than RSP.</summary>
    private static int? GeneralRegister(Iced.Intel.Register r)
    {
        int n = r >= Iced.Intel.Register.EAX && r <= Iced.Intel.Register.R15D ? r - Iced.Intel.Register.EAX
            : r >= Iced.Intel.Register.RAX && r <= Iced.Intel.Register.R15 ? r - Iced.Intel.Register.RAX : -1;
        return n is < 0 or 4 ? null : n;
    }

    /// <summary>Guest-virtual to guest-physical through the guest's page tables (4 KiB, 2 MiB and 1 GiB pages); null when not present.</summary>
    private static ulong? Translate(GuestMemory memory, ulong cr3, ulong va)
    {
        const ulong AddressMask = 0x000F_FFFF_FFFF_F000;
        ulong table = cr3 & AddressMask;
        Span<byte> entry = stackalloc byte[8];
        for (int shift = 39; shift >= 12; shift -= 9)
        {
            ulong at = table + ((va >> shift) & 0x1FF) * 8;
            if (at + 8 > memory.Size) return null;
            memory.Read(at, entry);
            ulong e = BitConverter.ToUInt64(entry);
            if ((e & 1) == 0) return null;
            if (shift is 30 or 21 && (e & 0x80) != 0)
            {
                ulong pageMask = (1UL << shift) - 1;
                return ((e & AddressMask) & ~pageMask) | (va & pageMask);
            }
            table = e & AddressMask;
        }
        ulong gpa = table | (va & 0xFFF);
        return gpa < memory.Size ? gpa : null;
    }
}
