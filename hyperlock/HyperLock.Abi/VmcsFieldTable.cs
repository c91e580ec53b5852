namespace HyperLock.Abi;

/// <summary>
/// The one VMCS field table of the project (SDM Vol. 3 App. B): every architectural field's
/// encoding, name, width and area, and what confined code may do with it (SPEC §5).
/// Guest-state fields: read and write. Exit-information and other read-only data fields: read.
/// VM-entry event injection (interruption information 0x4016, exception error code 0x4018,
/// instruction length 0x401A): read and write. Everything else (host state, all other
/// controls, the VMCS link pointer 0x2800/0x2801, the PML index 0x0812, and any encoding not in
/// the table) is runtime-only. 64-bit fields appear twice: full (even) and high (odd) access,
/// with the same rights. The verifier's rule 7 and the runtime read the rights from here; the
/// emulator's own table (the fields the machine implements) is checked against it by
/// <c>VmcsAbiConsistencyTests</c>.
/// </summary>
public static class VmcsFieldTable
{
    private static readonly Dictionary<uint, VmcsFieldDefinition> ByEncoding = Build();

    /// <summary>Every field the table knows, sorted by encoding.</summary>
    public static IReadOnlyList<VmcsFieldDefinition> Fields { get; } = ByEncoding.Values.OrderBy(f => f.Encoding).ToArray();

    /// <summary>The row for <paramref name="encoding"/>, if the table has one.</summary>
    public static bool TryGet(uint encoding, out VmcsFieldDefinition field) => ByEncoding.TryGetValue(encoding, out field);

    /// <summary>May confined code VMREAD <paramref name="encoding"/>?</summary>
    public static bool MayRead(uint encoding) => ByEncoding.TryGetValue(encoding, out var f) && f.Readable;

    /// <summary>May confined code VMWRITE <paramref name="encoding"/>?</summary>
    public static bool MayWrite(uint encoding) => ByEncoding.TryGetValue(encoding, out var f) && f.Writable;

    private static Dictionary<uint, VmcsFieldDefinition> Build()
    {
        var d = new Dictionary<uint, VmcsFieldDefinition>();
        void Add(uint enc, string name, VmcsFieldGroup g, bool r, bool w)
        {
            d.Add(enc, new VmcsFieldDefinition(enc, name, g, r, w));
            // 64-bit fields (encoding bits 14:13 = 01) also have a high-half access encoding.
            if (((enc >> 13) & 3) == 1) d.Add(enc | 1, new VmcsFieldDefinition(enc | 1, name + " (high)", g, r, w));
        }
        void Ctl(uint enc, string name) => Add(enc, name, VmcsFieldGroup.Control, false, false);
        void Inj(uint enc, string name) => Add(enc, name, VmcsFieldGroup.EventInjection, true, true);
        void Ro(uint enc, string name) => Add(enc, name, VmcsFieldGroup.ReadOnlyData, true, false);
        void Guest(uint enc, string name) => Add(enc, name, VmcsFieldGroup.GuestState, true, true);
        void GuestRuntimeOnly(uint enc, string name) => Add(enc, name, VmcsFieldGroup.GuestState, false, false);
        void Host(uint enc, string name) => Add(enc, name, VmcsFieldGroup.HostState, false, false);

        // 16-bit control fields.
        Ctl(0x0000, "virtual-processor identifier (VPID)");
        Ctl(0x0002, "posted-interrupt notification vector");
        Ctl(0x0004, "EPTP index");
        Ctl(0x0006, "HLAT prefix size");
        Ctl(0x0008, "last PID-pointer index");
        // 16-bit guest-state fields.
        Guest(0x0800, "guest ES selector");
        Guest(0x0802, "guest CS selector");
        Guest(0x0804, "guest SS selector");
        Guest(0x0806, "guest DS selector");
        Guest(0x0808, "guest FS selector");
        Guest(0x080A, "guest GS selector");
        Guest(0x080C, "guest LDTR selector");
        Guest(0x080E, "guest TR selector");
        Guest(0x0810, "guest interrupt status");
        GuestRuntimeOnly(0x0812, "PML index");
        Guest(0x0814, "guest UINV");
        // 16-bit host-state fields.
        Host(0x0C00, "host ES selector");
        Host(0x0C02, "host CS selector");
        Host(0x0C04, "host SS selector");
        Host(0x0C06, "host DS selector");
        Host(0x0C08, "host FS selector");
        Host(0x0C0A, "host GS selector");
        Host(0x0C0C, "host TR selector");
        // 64-bit control fields.
        Ctl(0x2000, "address of I/O bitmap A");
        Ctl(0x2002, "address of I/O bitmap B");
        Ctl(0x2004, "address of MSR bitmaps");
        Ctl(0x2006, "VM-exit MSR-store address");
        Ctl(0x2008, "VM-exit MSR-load address");
        Ctl(0x200A, "VM-entry MSR-load address");
        Ctl(0x200C, "executive-VMCS pointer");
        Ctl(0x200E, "PML address");
        Ctl(0x2010, "TSC offset");
        Ctl(0x2012, "virtual-APIC address");
        Ctl(0x2014, "APIC-access address");
        Ctl(0x2016, "posted-interrupt descriptor address");
        Ctl(0x2018, "VM-function controls");
        Ctl(0x201A, "EPT pointer (EPTP)");
        Ctl(0x201C, "EOI-exit bitmap 0");
        Ctl(0x201E, "EOI-exit bitmap 1");
        Ctl(0x2020, "EOI-exit bitmap 2");
        Ctl(0x2022, "EOI-exit bitmap 3");
        Ctl(0x2024, "EPTP-list address");
        Ctl(0x2026, "VMREAD-bitmap address");
        Ctl(0x2028, "VMWRITE-bitmap address");
        Ctl(0x202A, "virtualization-exception information address");
        Ctl(0x202C, "XSS-exiting bitmap");
        Ctl(0x202E, "ENCLS-exiting bitmap");
        Ctl(0x2030, "sub-page-permission-table pointer");
        Ctl(0x2032, "TSC multiplier");
        Ctl(0x2034, "tertiary processor-based VM-execution controls");
        Ctl(0x2036, "ENCLV-exiting bitmap");
        // 64-bit read-only data field.
        Ro(0x2400, "guest-physical address");
        // 64-bit guest-state fields.
        GuestRuntimeOnly(0x2800, "VMCS link pointer");
        Guest(0x2802, "guest IA32_DEBUGCTL");
        Guest(0x2804, "guest IA32_PAT");
        Guest(0x2806, "guest IA32_EFER");
        Guest(0x2808, "guest IA32_PERF_GLOBAL_CTRL");
        Guest(0x280A, "guest PDPTE0");
        Guest(0x280C, "guest PDPTE1");
        Guest(0x280E, "guest PDPTE2");
        Guest(0x2810, "guest PDPTE3");
        Guest(0x2812, "guest IA32_BNDCFGS");
        Guest(0x2814, "guest IA32_RTIT_CTL");
        Guest(0x2816, "guest IA32_LBR_CTL");
        Guest(0x2818, "guest IA32_PKRS");
        // 64-bit host-state fields.
        Host(0x2C00, "host IA32_PAT");
        Host(0x2C02, "host IA32_EFER");
        Host(0x2C04, "host IA32_PERF_GLOBAL_CTRL");
        Host(0x2C06, "host IA32_PKRS");
        // 32-bit control fields.
        Ctl(0x4000, "pin-based VM-execution controls");
        Ctl(0x4002, "primary processor-based VM-execution controls");
        Ctl(0x4004, "exception bitmap");
        Ctl(0x4006, "page-fault error-code mask");
        Ctl(0x4008, "page-fault error-code match");
        Ctl(0x400A, "CR3-target count");
        Ctl(0x400C, "primary VM-exit controls");
        Ctl(0x400E, "VM-exit MSR-store count");
        Ctl(0x4010, "VM-exit MSR-load count");
        Ctl(0x4012, "VM-entry controls");
        Ctl(0x4014, "VM-entry MSR-load count");
        Inj(0x4016, "VM-entry interruption-information field");
        Inj(0x4018, "VM-entry exception error code");
        Inj(0x401A, "VM-entry instruction length");
        Ctl(0x401C, "TPR threshold");
        Ctl(0x401E, "secondary processor-based VM-execution controls");
        Ctl(0x4020, "PLE_Gap");
        Ctl(0x4022, "PLE_Window");
        // 32-bit read-only data fields.
        Ro(0x4400, "VM-instruction error");
        Ro(0x4402, "exit reason");
        Ro(0x4404, "VM-exit interruption information");
        Ro(0x4406, "VM-exit interruption error code");
        Ro(0x4408, "IDT-vectoring information field");
        Ro(0x440A, "IDT-vectoring error code");
        Ro(0x440C, "VM-exit instruction length");
        Ro(0x440E, "VM-exit instruction information");
        // 32-bit guest-state fields.
        Guest(0x4800, "guest ES limit");
        Guest(0x4802, "guest CS limit");
        Guest(0x4804, "guest SS limit");
        Guest(0x4806, "guest DS limit");
        Guest(0x4808, "guest FS limit");
        Guest(0x480A, "guest GS limit");
        Guest(0x480C, "guest LDTR limit");
        Guest(0x480E, "guest TR limit");
        Guest(0x4810, "guest GDTR limit");
        Guest(0x4812, "guest IDTR limit");
        Guest(0x4814, "guest ES access rights");
        Guest(0x4816, "guest CS access rights");
        Guest(0x4818, "guest SS access rights");
        Guest(0x481A, "guest DS access rights");
        Guest(0x481C, "guest FS access rights");
        Guest(0x481E, "guest GS access rights");
        Guest(0x4820, "guest LDTR access rights");
        Guest(0x4822, "guest TR access rights");
        Guest(0x4824, "guest interruptibility state");
        Guest(0x4826, "guest activity state");
        Guest(0x4828, "guest SMBASE");
        Guest(0x482A, "guest IA32_SYSENTER_CS");
        Guest(0x482E, "VMX-preemption timer value");
        // 32-bit host-state field.
        Host(0x4C00, "host IA32_SYSENTER_CS");
        // Natural-width control fields.
        Ctl(0x6000, "CR0 guest/host mask");
        Ctl(0x6002, "CR4 guest/host mask");
        Ctl(0x6004, "CR0 read shadow");
        Ctl(0x6006, "CR4 read shadow");
        Ctl(0x6008, "CR3-target value 0");
        Ctl(0x600A, "CR3-target value 1");
        Ctl(0x600C, "CR3-target value 2");
        Ctl(0x600E, "CR3-target value 3");
        // Natural-width read-only data fields.
        Ro(0x6400, "exit qualification");
        Ro(0x6402, "I/O RCX");
        Ro(0x6404, "I/O RSI");
        Ro(0x6406, "I/O RDI");
        Ro(0x6408, "I/O RIP");
        Ro(0x640A, "guest-linear address");
        // Natural-width guest-state fields.
        Guest(0x6800, "guest CR0");
        Guest(0x6802, "guest CR3");
        Guest(0x6804, "guest CR4");
        Guest(0x6806, "guest ES base");
        Guest(0x6808, "guest CS base");
        Guest(0x680A, "guest SS base");
        Guest(0x680C, "guest DS base");
        Guest(0x680E, "guest FS base");
        Guest(0x6810, "guest GS base");
        Guest(0x6812, "guest LDTR base");
        Guest(0x6814, "guest TR base");
        Guest(0x6816, "guest GDTR base");
        Guest(0x6818, "guest IDTR base");
        Guest(0x681A, "guest DR7");
        Guest(0x681C, "guest RSP");
        Guest(0x681E, "guest RIP");
        Guest(0x6820, "guest RFLAGS");
        Guest(0x6822, "guest pending debug exceptions");
        Guest(0x6824, "guest IA32_SYSENTER_ESP");
        Guest(0x6826, "guest IA32_SYSENTER_EIP");
        Guest(0x6828, "guest IA32_S_CET");
        Guest(0x682A, "guest SSP");
        Guest(0x682C, "guest IA32_INTERRUPT_SSP_TABLE_ADDR");
        // Natural-width host-state fields.
        Host(0x6C00, "host CR0");
        Host(0x6C02, "host CR3");
        Host(0x6C04, "host CR4");
        Host(0x6C06, "host FS base");
        Host(0x6C08, "host GS base");
        Host(0x6C0A, "host TR base");
        Host(0x6C0C, "host GDTR base");
        Host(0x6C0E, "host IDTR base");
        Host(0x6C10, "host IA32_SYSENTER_ESP");
        Host(0x6C12, "host IA32_SYSENTER_EIP");
        Host(0x6C14, "host RSP");
        Host(0x6C16, "host RIP");
        Host(0x6C18, "host IA32_S_CET");
        Host(0x6C1A, "host SSP");
        Host(0x6C1C, "host IA32_INTERRUPT_SSP_TABLE_ADDR");
        return d;
    }
}
