namespace HyperLock.Abi;

/// <summary>The architectural group a VMCS field belongs to (Intel SDM Vol. 3 App. B).</summary>
public enum VmcsFieldGroup : byte
{
    /// <summary>VM-execution, VM-exit and VM-entry control fields.</summary>
    Control,
    /// <summary>VM-entry event-injection fields (part of the entry controls, but the hypervisor's to write).</summary>
    EventInjection,
    /// <summary>VM-exit information and other read-only data fields.</summary>
    ReadOnlyData,
    /// <summary>Guest-state area.</summary>
    GuestState,
    /// <summary>Host-state area.</summary>
    HostState,
}
