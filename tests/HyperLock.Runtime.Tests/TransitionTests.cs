using HyperLock.Emulator.Processor.Execution;

namespace HyperLock.Runtime.Tests;

/// <summary>
/// The whole path (docs/runtime.md, "Transitions"): guest exit → trampoline exit stub → host call
/// → IRETQ into the confined handler → gate → service → VMRESUME; confined and unconfined.
/// </summary>
public class TransitionTests
{
    private static (Instance Inst, IsolationRuntime Rt, CountingDevice Dev, StopReason Stop) RunOne(bool confined)
    {
        var rt = new IsolationRuntime();
        var image = rt.Load(TestHypervisors.CpuidAndIo());
        var dev = new CountingDevice();
        var inst = rt.AddGuest(TestGuests.CpuidAndIo(), image, confined, dev);
        var stop = rt.Run(5_000_000);
        return (inst, rt, dev, stop);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AGuestsCpuidAndIoExitsAreServedByTheHandler(bool confined)
    {
        var (inst, rt, dev, stop) = RunOne(confined);
        using (rt)
        {
            Assert.True(inst.State == InstanceState.Finished, inst.Report?.ToString() ?? $"state {inst.State}, stop {stop}");
            Assert.Equal(7, inst.ExitStatus);
            Assert.Equal("Hi", System.Text.Encoding.ASCII.GetString(inst.Output.ToArray()));
            var mem = rt.Board.Memory;
            ulong results = inst.GuestBase + TestGuests.Results;
            var leaf0 = rt.Board.Cpu.Cpuid.Get(0, 0);
            Assert.Equal(leaf0.Eax, (uint)mem.Read(results, 4));
            Assert.Equal(leaf0.Ebx, (uint)mem.Read(results + 4, 4));
            var leaf1 = rt.Board.Cpu.Cpuid.Get(1, 0);
            Assert.Equal(leaf1.Ecx, (uint)mem.Read(results + 16 + 8, 4));
            Assert.Equal(0x11UL + 1, mem.Read(results + 0x20, 1));
            Assert.Equal(0x22UL + 2, mem.Read(results + 0x21, 1));
            Assert.Equal(["out 0x60/1 0x11", "in 0x61/1 0x11", "out 0x60/1 0x22", "in 0x61/1 0x22"], dev.Log);
            Assert.Equal(9, inst.Exits); // 2 CPUID, 2 print, 2 OUT, 2 IN, 1 exit port
        }
    }

    [Fact]
    public void ConfinedAndUnconfinedGiveTheGuestIdenticalResults()
    {
        var (ci, crt, cdev, _) = RunOne(true);
        var (ui, urt, udev, _) = RunOne(false);
        using (crt)
        using (urt)
        {
            var c = new byte[0x40];
            var u = new byte[0x40];
            crt.Board.Memory.ReadBytes(ci.GuestBase + TestGuests.Results, c);
            urt.Board.Memory.ReadBytes(ui.GuestBase + TestGuests.Results, u);
            Assert.Equal(u, c);
            Assert.Equal(ui.Output, ci.Output);
            Assert.Equal(udev.Log, cdev.Log);
            Assert.Equal(ui.ExitStatus, ci.ExitStatus);
            Assert.Equal(ui.Exits, ci.Exits);
            Assert.Equal(ui.GateCalls, ci.GateCalls);
        }
    }
}
