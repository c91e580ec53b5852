using HyperLock.Abi;

namespace HyperLock.Runtime.Loading;

/// <summary>A hypervisor as it is handed to the runtime: bundled code and its manifest. Nothing about it is trusted until <see cref="ImageLoader"/> verified it.</summary>
public sealed record HypervisorImage(byte[] Code, HypervisorManifest Manifest);
