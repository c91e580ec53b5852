using System.Text;
using HyperLock.Emulator.Loaders;
using HyperLock.Emulator.Machine;
using Iced.Intel;

namespace HyperLock.Emulator.Tests.Machine;

/// <summary>
/// Bare-metal guest programs for machine tests: 64-bit code assembled with Iced at the flat
/// loader's address (0x100000), booted on an <see cref="X86Machine"/>. Interrupt handlers are
/// labels; the harness writes their 64-bit interrupt gates into an IDT at 0x30000 and loads
/// IDTR, as a guest's own LIDT would.
/// </summary>
internal sealed class GuestHarness : IDisposable
{
    public const ulong LoadAddress = 0x100000;
    public const ulong IdtAddress = 0x30000;
    /// <summary>A scratch data area guests may use (identity-mapped RAM).</summary>
    public const ulong DataAddress = 0x200000;

    public X86Machine Machine { get; }
    public MemoryStream Serial { get; } = new();

    public GuestHarness(Action<Assembler, Dictionary<int, Label>> build, ulong instructionLimit = 100_000_000,
        DateTime? rtcStart = null, bool x2apic = false, ulong memory = 64UL << 20, ulong virtualTimeLimitNs = ulong.MaxValue)
    {
        var a = new Assembler(64);
        var handlers = new Dictionary<int, Label>();
        build(a, handlers);
        byte[] code = AssembledCode.Bytes(a, LoadAddress, out var result);
        Machine = new X86Machine(new MachineConfig
        {
            Boot = new BootImage { Kernel = code, KernelName = "guest.bin" },
            MemorySize = memory,
            SerialOutput = Serial,
            InstructionLimit = instructionLimit,
            RtcStart = rtcStart,
            X2Apic = x2apic,
            VirtualTimeLimitNs = virtualTimeLimitNs,
        });
        if (handlers.Count > 0)
        {
            foreach (var (vector, label) in handlers)
            {
                ulong h = result.GetLabelRIP(label);
                ulong lo = (h & 0xFFFF) | ((ulong)0x08 << 16) | (0x8EUL << 40) | ((h >> 16 & 0xFFFF) << 48);
                Machine.Memory.Write(IdtAddress + (ulong)vector * 16, 8, lo);
                Machine.Memory.Write(IdtAddress + (ulong)vector * 16 + 8, 8, h >> 32);
            }
            Machine.Cpu.Idtr = new HyperLock.Emulator.Processor.TableRegister { Base = IdtAddress, Limit = 0xFFF };
        }
    }

    public MachineResult Run() => Machine.Run();

    public string SerialText => Encoding.ASCII.GetString(Serial.ToArray());

    public ulong Data(int index) => Machine.Memory.Read(DataAddress + (ulong)index * 8, 8);

    public void Dispose() => Machine.Dispose();

}

/// <summary>Assembly snippets guests share.</summary>
internal static class Asm
{
    public static void Out(Assembler a, ushort port, byte value)
    {
        a.mov(AssemblerRegisters.al, value);
        if (port < 256) a.@out((byte)port, AssemblerRegisters.al);
        else
        {
            a.mov(AssemblerRegisters.dx, port);
            a.@out(AssemblerRegisters.dx, AssemblerRegisters.al);
        }
    }

    /// <summary>Ends the run through the debug-exit port with status (value &lt;&lt; 1) | 1.</summary>
    public static void Exit(Assembler a, byte value) => Out(a, 0xF4, value);

    /// <summary>Exits with the low byte of a register as the value.</summary>
    public static void ExitWith(Assembler a, AssemblerRegister64 reg)
    {
        a.mov(AssemblerRegisters.rax, reg);
        a.@out(0xF4, AssemblerRegisters.al);
    }

    /// <summary>Initializes the 8259 pair: master at <paramref name="masterBase"/>, slave at +8, all masked but <paramref name="unmaskMaster"/>.</summary>
    public static void InitPic(Assembler a, byte masterBase, byte unmaskMaster)
    {
        Out(a, 0x20, 0x11); Out(a, 0x21, masterBase); Out(a, 0x21, 0x04); Out(a, 0x21, 0x01);
        Out(a, 0xA0, 0x11); Out(a, 0xA1, (byte)(masterBase + 8)); Out(a, 0xA1, 0x02); Out(a, 0xA1, 0x01);
        Out(a, 0x21, (byte)~unmaskMaster); Out(a, 0xA1, 0xFF);
    }

    /// <summary>Writes a UART string through the data port, waiting for THRE like a polled driver.</summary>
    public static void Print(Assembler a, string s)
    {
        foreach (char ch in s)
        {
            var wait = a.CreateLabel();
            a.Label(ref wait);
            a.mov(AssemblerRegisters.dx, (ushort)0x3FD);
            a.@in(AssemblerRegisters.al, AssemblerRegisters.dx);
            a.test(AssemblerRegisters.al, 0x20);
            a.jz(wait);
            Out(a, 0x3F8, (byte)ch);
        }
    }
}
