using HyperLock.Emulator.Builders;

namespace HyperLock.Runtime;

/// <summary>
/// Where and how a guest starts when its memory was filled by an untrusted loader (the QEMU role:
/// a Linux kernel, its initrd and command line): the long-mode system state, RIP, RSP and RSI.
/// The runtime puts these into the guest-state area of the guest's VMCS; VM entry checks them.
/// </summary>
public sealed record GuestEntry(LongModeState State, ulong Rip, ulong Rsp, ulong Rsi);
