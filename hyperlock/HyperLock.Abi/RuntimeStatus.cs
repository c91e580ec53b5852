namespace HyperLock.Abi;

/// <summary>
/// What a runtime service returns in RAX: 0 for success, a negative value for a refused
/// request. A refused request has changed nothing (SPEC §5: never half-applied).
/// </summary>
public enum RuntimeStatus : long
{
    Ok = 0,
    /// <summary>R11D names no service.</summary>
    UnknownService = -1,
    /// <summary>An address, frame number or length lies outside the instance's own resources.</summary>
    OutOfRange = -2,
    /// <summary>Permissions outside what the service accepts (e.g. EPT bits other than R/W/X).</summary>
    BadPermissions = -3,
    /// <summary>An MSR that is not on the allow-list.</summary>
    MsrNotAllowed = -4,
    /// <summary>A VMCS field the control-write service does not cover.</summary>
    FieldNotAllowed = -5,
    /// <summary>The value changes bits outside the field's mask.</summary>
    MaskViolation = -6,
    /// <summary>The value is not valid for the register (e.g. an XCR0 without x87).</summary>
    InvalidValue = -7,
    /// <summary>The instance has no device model, or the device model refused the request.</summary>
    DeviceError = -8,
}
