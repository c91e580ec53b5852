namespace HyperLock.Runtime.Services;

/// <summary>
/// A device model (the QEMU role; untrusted, outside the TCB): reached only through the runtime's
/// DeviceRpc service, with a copy of the request. It is isolated by what it can reference.
/// </summary>
public interface IDeviceModel
{
    /// <summary>Handles one request (port I/O: <paramref name="port"/>, <paramref name="isIn"/>, <paramref name="size"/> bytes, the value written); returns the value read (ignored for OUT), or null to refuse.</summary>
    ulong? PortIo(ushort port, bool isIn, int size, ulong value);
}
