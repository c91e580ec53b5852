namespace HyperLock.Runtime.Services;

/// <summary>What happens after a service: back to the hypervisor, into the guest, or the instance stopped.</summary>
public enum ServiceOutcome { Resume, EnterGuest, Stopped }
