using System.Text;

namespace HyperLock.Emulator.Processor;

/// <summary>
/// What CPUID reports: a table of (leaf, subleaf) → EAX, EBX, ECX, EDX, modelled on an Intel
/// Skylake-class core with VMX. The table is data; feature bits name only what the emulator
/// implements, so software that trusts CPUID never reaches an unimplemented instruction.
/// Dynamic bits (OSXSAVE, the APIC ID) are patched in at execution time.
/// </summary>
public sealed class CpuidProfile
{
    public readonly record struct Leaf(uint Eax, uint Ebx, uint Ecx, uint Edx);

    private readonly Dictionary<(uint Leaf, uint Subleaf), Leaf> _leaves = new();
    private readonly HashSet<uint> _subleafIndexed = new();

    public uint MaxBasicLeaf { get; private set; }
    public uint MaxExtendedLeaf { get; private set; }

    /// <summary>Family/model/stepping signature (CPUID.1:EAX).</summary>
    public uint FamilyModelStepping => Get(1, 0).Eax;

    // Feature bits the CPU core itself consults.
    public bool Has1GPages => (Get(0x80000001, 0).Edx & (1u << 26)) != 0;

    public void Set(uint leaf, uint subleaf, Leaf value, bool indexedBySubleaf = false)
    {
        _leaves[(leaf, subleaf)] = value;
        if (indexedBySubleaf) _subleafIndexed.Add(leaf);
        if (leaf < 0x80000000 && leaf > MaxBasicLeaf) MaxBasicLeaf = leaf;
        if (leaf >= 0x80000000 && leaf > MaxExtendedLeaf) MaxExtendedLeaf = leaf;
    }

    /// <summary>The raw table entry; out-of-range leaves return the highest basic leaf, as Intel CPUs do.</summary>
    public Leaf Get(uint leaf, uint subleaf)
    {
        if (leaf < 0x80000000 ? leaf > MaxBasicLeaf : leaf > MaxExtendedLeaf)
            leaf = MaxBasicLeaf;
        if (!_subleafIndexed.Contains(leaf)) subleaf = 0;
        return _leaves.TryGetValue((leaf, subleaf), out var v) ? v : default;
    }

    /// <summary>Register numbers for <see cref="SetBit"/>, <see cref="ClearBit"/> and <see cref="HasBit"/>.</summary>
    public const int Eax = 0, Ebx = 1, Ecx = 2, Edx = 3;

    /// <summary>Clears a feature bit (e.g. to hide VMX from a guest).</summary>
    public void ClearBit(uint leaf, uint subleaf, int register, int bit) => UpdateBit(leaf, subleaf, register, bit, false);

    /// <summary>Sets a feature bit. Only advertise what the emulator implements.</summary>
    public void SetBit(uint leaf, uint subleaf, int register, int bit) => UpdateBit(leaf, subleaf, register, bit, true);

    /// <summary>True when the table has the bit set (static value, before dynamic patching).</summary>
    public bool HasBit(uint leaf, uint subleaf, int register, int bit)
    {
        var v = Get(leaf, subleaf);
        uint r = register switch { Eax => v.Eax, Ebx => v.Ebx, Ecx => v.Ecx, _ => v.Edx };
        return (r & (1u << bit)) != 0;
    }

    private void UpdateBit(uint leaf, uint subleaf, int register, int bit, bool on)
    {
        var v = _leaves.TryGetValue((leaf, _subleafIndexed.Contains(leaf) ? subleaf : 0), out var existing) ? existing : default;
        uint set = on ? 1u << bit : 0, keep = ~(1u << bit);
        Set(leaf, _subleafIndexed.Contains(leaf) ? subleaf : 0, register switch
        {
            Eax => v with { Eax = (v.Eax & keep) | set },
            Ebx => v with { Ebx = (v.Ebx & keep) | set },
            Ecx => v with { Ecx = (v.Ecx & keep) | set },
            _ => v with { Edx = (v.Edx & keep) | set },
        }, _subleafIndexed.Contains(leaf));
    }

    /// <summary>
    /// What CPUID returns on <paramref name="cpu"/>: the table entry with the bits that follow
    /// processor state patched in — CPUID.1:ECX.OSXSAVE (bit 27) mirrors CR4.OSXSAVE, and
    /// CPUID.1:EBX[31:24] is the initial APIC ID (0: one logical processor), and CPUID.1:EDX.APIC
    /// (bit 9) reads as 0 while IA32_APIC_BASE has the APIC globally disabled.
    /// </summary>
    public Leaf Read(uint leaf, uint subleaf, Cpu cpu)
    {
        var v = Get(leaf, subleaf);
        if (leaf == 1)
        {
            uint osxsave = (cpu.Cr4 & Bits.Cr4Osxsave) != 0 ? 1u << 27 : 0;
            uint edx = (cpu.ApicBaseMsr & (1UL << 11)) == 0 ? v.Edx & ~(1u << 9) : v.Edx;
            v = v with { Ecx = (v.Ecx & ~(1u << 27)) | osxsave, Ebx = v.Ebx & 0x00FFFFFF, Edx = edx };
        }
        return v;
    }

    private static uint Str(string s, int offset) =>
        BitConverter.ToUInt32(Encoding.ASCII.GetBytes(s.PadRight(offset + 4, '\0')), offset);

    /// <summary>The default profile.</summary>
    public static CpuidProfile Default()
    {
        var p = new CpuidProfile();
        const string vendor = "GenuineIntel";
        p.Set(0, 0, new Leaf(0xD, Str(vendor, 0), Str(vendor, 8), Str(vendor, 4)));

        uint ecx1 = Bit(0) /*SSE3*/ | Bit(1) /*PCLMULQDQ*/ | Bit(5) /*VMX*/ | Bit(9) /*SSSE3*/ | Bit(13) /*CX16*/
            | Bit(17) /*PCID*/ | Bit(19) /*SSE4.1*/ | Bit(20) /*SSE4.2*/ | Bit(21) /*x2APIC*/ | Bit(23) /*POPCNT*/ | Bit(24) /*TSC-deadline*/
            | Bit(26) /*XSAVE*/;
        ecx1 |= Bit(22) /*MOVBE*/ | Bit(25) /*AES-NI*/;
        uint edx1 = Bit(0) /*FPU*/ | Bit(2) /*DE*/ | Bit(3) /*PSE*/ | Bit(4) /*TSC*/ | Bit(5) /*MSR*/ | Bit(6) /*PAE*/
            | Bit(8) /*CX8*/ | Bit(9) /*APIC*/ | Bit(11) /*SEP*/ | Bit(13) /*PGE*/ | Bit(15) /*CMOV*/ | Bit(16) /*PAT*/
            | Bit(17) /*PSE-36*/ | Bit(19) /*CLFSH*/ | Bit(23) /*MMX*/ | Bit(24) /*FXSR*/ | Bit(25) /*SSE*/ | Bit(26) /*SSE2*/;
        // Family 6, model 0x55, stepping 7 (Cascade Lake, a Skylake-SP derivative); CLFLUSH line 8 qwords; 1 logical processor.
        p.Set(1, 0, new Leaf(0x00050657, (8u << 8) | (1u << 16), ecx1, edx1));
        p.Set(7, 0, new Leaf(0, Bit(3) /*BMI1*/ | Bit(7) /*SMEP*/ | Bit(8) /*BMI2*/ | Bit(9) /*ERMS*/ | Bit(10) /*INVPCID*/, 0, 0), indexedBySubleaf: true);
        // Stepping 7 is Cascade Lake: MTRRs (Cpu/System/Mtrrs.cs), IA32_TSC_ADJUST, and the
        // speculation-control enumeration such a core has (Cpu/System/SpeculationControl.cs).
        p.SetBit(1, 0, Edx, 12);  // MTRR
        p.SetBit(7, 0, Ebx, 1);   // IA32_TSC_ADJUST
        p.SetBit(7, 0, Edx, 10);  // MD_CLEAR
        p.SetBit(7, 0, Edx, 26);  // IBRS and IBPB
        p.SetBit(7, 0, Edx, 27);  // STIBP
        p.SetBit(7, 0, Edx, 28);  // L1D_FLUSH
        p.SetBit(7, 0, Edx, 29);  // IA32_ARCH_CAPABILITIES
        p.SetBit(7, 0, Edx, 31);  // SSBD
        p.SetBit(7, 0, Ebx, 19); // ADX (ADCX/ADOX)
        p.SetBit(7, 0, Ebx, 23); // CLFLUSHOPT
        p.SetBit(7, 0, Ebx, 24); // CLWB
        p.SetBit(7, 0, Ebx, 29); // SHA extensions
        // XSAVE: x87 and SSE state only (XCR0 bits 0-1); legacy area 512 + header 64 bytes.
        p.Set(0xD, 0, new Leaf(3, 576, 576, 0), indexedBySubleaf: true);
        // XSAVEOPT (EAX bit 0): executes as XSAVE, which the SDM permits (it need not optimise).
        p.Set(0xD, 1, new Leaf(Bit(0), 0, 0, 0), indexedBySubleaf: true);

        p.Set(0x80000000, 0, new Leaf(0x80000008, 0, 0, 0));
        p.Set(0x80000001, 0, new Leaf(0, 0,
            Bit(0) /*LAHF in 64-bit*/ | Bit(5) /*LZCNT*/ | Bit(8) /*PREFETCHW*/,
            Bit(11) /*SYSCALL*/ | Bit(20) /*NX*/ | Bit(26) /*1 GiB pages*/ | Bit(27) /*RDTSCP*/ | Bit(29) /*LM*/));
        const string brand = "HyperLock Testbed x86-64 CPU @ 1.00GHz";
        for (uint i = 0; i < 3; i++)
        {
            int o = (int)i * 16;
            p.Set(0x80000002 + i, 0, new Leaf(Str(brand, o), Str(brand, o + 4), Str(brand, o + 8), Str(brand, o + 12)));
        }
        p.Set(0x80000008, 0, new Leaf((48u << 8) | Cpu.MaxPhysAddrBits, 0, 0, 0));
        return p;
    }

    private static uint Bit(int n) => 1u << n;
}
