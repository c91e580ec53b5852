using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using HyperLock.Abi;
using HyperLock.Demo;
using HyperLock.Emulator.Loaders;
using HyperLock.Emulator.Machine;
using HyperLock.Emulator.Tests.Machine;
using HyperLock.Runtime;

namespace HyperLock.Demo.Tests.Linux;

/// <summary>
/// Debian's cloud kernel as a VMX guest of the mini-KVM (<see cref="LinuxRunner"/>): the confined
/// boot prints what the bare boot prints; two confined guests both finish; one guest's instance
/// contained leaves the other guest running to completion with its memory and the host's page
/// tables untouched by the contained party. The guest is fetched as the emulator's boot test does.
/// </summary>
[Trait("Category", "Linux")]
public class LinuxUnderHyperLockTests
{
    private const string CommandLine = "console=ttyS0 reboot=k panic=-1 nokaslr";
    private const ulong Memory = 256UL << 20;
    private const string Start = "=== init start ===", End = "=== init end ===";

    /// <summary>/init: deterministic work (no /proc/cpuinfo: the guest's CPUID hides VMX), then power off.</summary>
    private const string Init = """
        #!/bin/busybox sh
        /bin/busybox --install -s /bin
        export PATH=/bin
        echo "=== init start ==="
        uname -a
        seq 1 2000 | awk '{ s += $1 * $1 } END { print "squares", s }'
        echo "the quick brown fox" | md5sum
        echo "=== init end ==="
        poweroff -f
        """;

    private static readonly Lazy<(string Dir, BootImage Boot)> Guest = new(() =>
    {
        string dir = GuestDirectory();
        var a = new CpioArchive();
        a.AddFile("bin/busybox", File.ReadAllBytes(Path.Combine(dir, "busybox")), 0x1ED);
        a.AddFile("init", Encoding.ASCII.GetBytes(Init.Replace("\r", "") + "\n"), 0x1ED);
        a.AddDirectory("proc");
        var boot = new BootImage { Kernel = File.ReadAllBytes(Path.Combine(dir, "vmlinuz")), KernelName = "vmlinuz", CommandLine = CommandLine, Initrd = a.ToArray() };
        return (dir, boot);
    });

    private static string GuestDirectory()
    {
        string root = AppContext.BaseDirectory;
        for (var d = new DirectoryInfo(root); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "HyperLock.sln"))) { root = d.FullName; break; }
        var outcome = LinuxGuestFetch.Ensure(root);
        Skip.If(outcome.SkipReason != null, outcome.SkipReason);
        if (outcome.Failure != null) Assert.Fail(outcome.Failure);
        return outcome.Directory;
    }

    private static (LinuxRunner.RunResult Result, string[] Consoles) RunUnderHyperLock(int guests, bool confined = true,
        Action<IsolationRuntime, IReadOnlyList<LinuxRunner.LinuxGuest>>? afterSlice = null)
    {
        var boot = Guest.Value.Boot;
        var streams = Enumerable.Range(0, guests).Select(_ => new MemoryStream()).ToArray();
        var result = LinuxRunner.Run(new LinuxRunner.Options(boot, Memory, guests, confined, k => streams[k])
        {
            InstructionLimit = 4_000_000_000UL * (ulong)guests,
            AfterSlice = afterSlice,
        });
        return (result, streams.Select(s => Encoding.UTF8.GetString(s.ToArray())).ToArray());
    }

    private static string InitOutput(string console)
    {
        int s = console.IndexOf(Start, StringComparison.Ordinal), e = console.IndexOf(End, StringComparison.Ordinal);
        Assert.True(s >= 0 && e > s, "no /init output in:\n" + console[^Math.Min(console.Length, 2000)..]);
        return console[s..(e + End.Length)];
    }

    /// <summary>
    /// The kernel log with timing masked: the printk timestamps, and the numbers of the two lines that
    /// print measured times (audit's event time, sched_clock's offsets). Lines are compared as a sorted
    /// list: kauditd prints its line from its own thread, so exits can move it by a line or two.
    /// </summary>
    private static List<string> KernelLogWithoutTiming(string console)
    {
        var lines = new List<string>();
        foreach (var raw in console.Replace("\r", "").Split('\n'))
        {
            string line = Regex.Replace(raw, @"^\[ *\d+\.\d+\] ", "[T] ");
            if (line.StartsWith("[T] audit: ", StringComparison.Ordinal) || line.StartsWith("[T] sched_clock: ", StringComparison.Ordinal))
                line = Regex.Replace(line, @"-?\d+", "N");
            lines.Add(line);
        }
        lines.Sort(StringComparer.Ordinal);
        return lines;
    }

    [SkippableFact]
    public void TheConfinedBootPrintsWhatTheBareBootPrints()
    {
        var boot = Guest.Value.Boot;
        var bareConsole = new MemoryStream();
        MachineResult bare;
        using (var machine = new X86Machine(new MachineConfig { Boot = boot, MemorySize = Memory, SerialOutput = bareConsole, InstructionLimit = 4_000_000_000 }))
            bare = machine.Run();
        var (result, consoles) = RunUnderHyperLock(1);

        string bareText = Encoding.UTF8.GetString(bareConsole.ToArray());
        Assert.Equal(MachineOutcome.Halted, bare.Outcome);
        Assert.Equal(bare.Description, result.Machine.Description);
        Assert.Equal(bare.ExitStatus, result.Machine.ExitStatus);
        Assert.Equal(InitOutput(bareText), InitOutput(consoles[0]));
        Assert.Equal(KernelLogWithoutTiming(bareText), KernelLogWithoutTiming(consoles[0]));
        var inst = result.Guests[0].Instance;
        Assert.True(inst.Confined);
        Assert.True(inst.ExitsByReason[Emulator.Vmx.ExitReason.Io] > 0 && inst.ExitsByReason[Emulator.Vmx.ExitReason.EptViolation] > 0);
        Assert.True(inst.Transitions > inst.Exits);
    }

    [SkippableFact]
    public void TwoConfinedGuestsBothRunToCompletionWithTheSameInitOutput()
    {
        var (result, consoles) = RunUnderHyperLock(2);
        Assert.All(result.Guests, g => Assert.Equal("halted with interrupts disabled", g.Description));
        Assert.Equal(InitOutput(consoles[0]), InitOutput(consoles[1]));
        Assert.Contains("squares 2668667000", consoles[0]);
        Assert.Equal(0, result.Machine.ExitStatus);
    }

    /// <summary>
    /// After the first slice the first guest's hypervisor loses the mapping of its data page (a
    /// stand-in for a hypervisor bug): its next access there faults, the trampoline contains the instance. The second guest
    /// then runs to completion, and across every slice of the first instance from the fault on, the
    /// second guest's memory and the host's page tables are unchanged.
    /// </summary>
    [SkippableFact]
    public void AContainedInstanceLeavesTheOtherGuestRunningAndItsMemoryUnchanged()
    {
        bool broken = false;
        var changedDuringContainedSlices = new List<string>();
        (byte[] Guest2, byte[] Host)? atStart = null;
        IsolationRuntime? runtime = null;
        LinuxRunner.LinuxGuest? first = null, second = null;
        var (result, consoles) = RunUnderHyperLock(2, afterSlice: (rt, guests) =>
        {
            if (broken) return;
            broken = true;
            runtime = rt;
            (first, second) = (guests[0], guests[1]);
            Assert.NotNull(first.Instance.Space.Walk(ConfinedLayout.Data));
            ulong pte = LeafEntryAddress(rt, first.Instance.Space.Root, ConfinedLayout.Data);
            rt.Board.Memory.Write(pte, 8, rt.Board.Memory.Read(pte, 8) & ~1UL);   // not present
            rt.InstanceScheduled += inst =>
            {
                if (atStart is { } s)
                {
                    if (!s.Guest2.AsSpan().SequenceEqual(HashGuest(rt, second!.Instance))) changedDuringContainedSlices.Add("guest2 memory");
                    if (!s.Host.AsSpan().SequenceEqual(HashHostTables(rt))) changedDuringContainedSlices.Add("host page tables");
                    atStart = null;
                }
                if (inst == first!.Instance) atStart = (HashGuest(rt, second!.Instance), HashHostTables(rt));
            };
        });
        Assert.True(broken);
        Assert.Equal(InstanceState.Contained, result.Guests[0].Instance.State);
        Assert.Contains("exception in confined code", result.Guests[0].Description);
        Assert.Equal(InstanceState.Finished, result.Guests[1].Instance.State);
        Assert.Equal("halted with interrupts disabled", result.Guests[1].Description);
        Assert.Contains("squares 2668667000", consoles[1]);
        Assert.Empty(changedDuringContainedSlices);
        Assert.Equal(LinuxRunner.ContainedStatus, result.Machine.ExitStatus);
    }

    /// <summary>Physical address of the 4 KiB leaf entry mapping <paramref name="linear"/> in the tables at <paramref name="root"/>.</summary>
    private static ulong LeafEntryAddress(IsolationRuntime rt, ulong root, ulong linear)
    {
        ulong table = root;
        for (int shift = 39; shift > 12; shift -= 9)
            table = rt.Board.Memory.Read(table + ((linear >> shift) & 0x1FF) * 8, 8) & 0x000F_FFFF_FFFF_F000;
        return table + ((linear >> 12) & 0x1FF) * 8;
    }

    private static byte[] HashGuest(IsolationRuntime rt, Instance inst)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var page = new byte[0x1000];
        var mem = rt.Board.Memory;
        for (ulong off = 0; off < inst.GuestSize; off += 0x1000)
        {
            if (!mem.IsAllocated((inst.GuestBase + off) >> 12)) continue;
            mem.ReadBytes(inst.GuestBase + off, page);
            h.AppendData(BitConverter.GetBytes(off));
            h.AppendData(page);
        }
        return h.GetHashAndReset();
    }

    /// <summary>The host's page-table frames with the accessed and dirty bits masked (the CPU's walks set them).</summary>
    private static byte[] HashHostTables(IsolationRuntime rt)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var mem = rt.Board.Memory;
        for (ulong a = HostLayout.HostTables; a < HostLayout.HostTablesEnd; a += 8)
            h.AppendData(BitConverter.GetBytes(mem.Read(a, 8) & ~0x60UL));
        return h.GetHashAndReset();
    }
}
