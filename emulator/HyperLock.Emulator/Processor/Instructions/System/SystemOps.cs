using HyperLock.Emulator.Processor.Decode;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;

namespace HyperLock.Emulator.Processor.Instructions;

/// <summary>
/// The privileged and system instructions, one file per concern: control and debug registers
/// (ControlRegisters.cs), RFLAGS privilege (FlagsOps.cs), segment loads (SegmentLoads.cs), far
/// transfers (FarTransfers.cs), INT/IRET (Interrupts.cs), SYSCALL/SYSENTER/SWAPGS
/// (SyscallSysret.cs), MSRs (MsrOps.cs), descriptor tables (DescriptorTables.cs), port I/O (PortIo.cs), fences and CLFLUSH (CacheControl.cs).
/// </summary>
internal static unsafe partial class SystemOps
{
    public static void Register()
    {
        RegisterControlRegisters();
        RegisterFlags();
        RegisterSegmentLoads();
        RegisterFarTransfers();
        RegisterInterrupts();
        RegisterFastSystemCalls();
        RegisterMsrs();
        RegisterDescriptorTables();
        RegisterPortIo();
        RegisterCacheControl();
        // MONITOR/MWAIT are not advertised (CPUID.1:ECX.MONITOR = 0): left unregistered, they raise #UD.
    }
}
