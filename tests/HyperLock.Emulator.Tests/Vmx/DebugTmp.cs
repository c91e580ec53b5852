using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using F = HyperLock.Emulator.Vmx.VmcsField;
namespace HyperLock.Emulator.Tests.Vmx;
public class DebugTmp
{
    [Fact]
    public void Dbg()
    {
        using var m = new VmxMachine();
        var t = new HvTest { Guest = g => { g.vmcall(); } };
        var stop = t.Run(m, 1000);
        Assert.Fail($"stop={stop} rip={m.Cpu.Rip:x} exits={m.Cpu.VmExits} entries={m.Cpu.VmEntries} r12={m.Cpu.R(12):x} r13={m.Cpu.R(13):x} nonroot={m.Cpu.InNonRoot} cf={m.Cpu.CF} zf={m.Cpu.ZF} err={m.Vmcs(F.InstructionError)} chk={m.Cpu.LastVmxCheckFailure} retired={m.Cpu.Retired}");
    }
}
