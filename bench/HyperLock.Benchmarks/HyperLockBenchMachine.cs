using HyperLock.DeviceModel;
using HyperLock.Hypervisor;
using HyperLock.Runtime;
using HyperLock.Runtime.Loading;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using Label = Iced.Intel.Label;

namespace HyperLock.Benchmarks;

/// <summary>
/// One run of the mini-KVM on the isolation runtime (issue 11 item 7): guests that make a known
/// number of exits, confined or unconfined, one or two guests. A run builds a fresh runtime (the
/// image is built and verified once per process), so every operation starts from reset.
/// </summary>
public sealed class HyperLockBenchMachine : IDisposable
{
    /// <summary>The port the workload guest writes: nothing is there (POST code port), the device model drops the byte.</summary>
    public const ushort WorkloadPort = 0x80;

    private static readonly Lazy<HypervisorImage> Image = new(() => MiniKvm.Build());

    private readonly IsolationRuntime _rt;

    /// <summary>Builds a runtime with <paramref name="guests"/> guests from <paramref name="guest"/>, each under its own mini-KVM instance.</summary>
    public HyperLockBenchMachine(Func<string, GuestSpec> guest, bool confined, int guests = 1)
    {
        if (!confined && guests != 1) throw new ArgumentException("the runtime holds one unconfined instance");
        _rt = new IsolationRuntime();
        var image = _rt.Load(Image.Value);
        for (int k = 0; k < guests; k++)
        {
            string name = ((char)('a' + k)).ToString();
            _rt.AddGuest(guest(name), image, confined, new GuestDeviceModel(name));
        }
    }

    public IsolationRuntime Runtime => _rt;

    /// <summary>Runs every guest to its end; returns the instructions retired. Throws if a guest did not finish with status 0.</summary>
    public ulong Run()
    {
        ulong start = _rt.Board.Cpu.Retired;
        _rt.Run(2_000_000_000);
        foreach (var inst in _rt.Instances)
            if (inst.State != InstanceState.Finished || inst.ExitStatus != 0)
                throw new InvalidOperationException($"guest {inst.Guest.Name}: {inst.State} {inst.ExitStatus} {inst.Report}");
        return _rt.Board.Cpu.Retired - start;
    }

    /// <summary><paramref name="exits"/> CPUID exits back to back (leaf 0), then the exit hypercall.</summary>
    public static GuestSpec CpuidGuest(string name, int exits) => new(name, Assemble(a =>
    {
        Label loop = a.CreateLabel();
        a.mov(r8d, exits);
        a.Label(ref loop);
        a.xor(eax, eax);
        a.xor(ecx, ecx);
        a.cpuid();
        a.dec(r8d);
        a.jnz(loop);
        ExitHypercall(a);
    }));

    /// <summary>
    /// <paramref name="exits"/> rounds of <paramref name="between"/> guest instructions (a
    /// two-instruction countdown loop) followed by one OUT to <see cref="WorkloadPort"/> (a
    /// port-I/O exit forwarded to the device model), then the exit hypercall.
    /// </summary>
    public static GuestSpec IoWorkloadGuest(string name, int exits, int between) => new(name, Assemble(a =>
    {
        Label outer = a.CreateLabel(), inner = a.CreateLabel();
        a.mov(r8d, exits);
        a.Label(ref outer);
        a.mov(ecx, (between - 4) / 2); // + mov, out, dec, jnz of the outer loop
        a.Label(ref inner);
        a.dec(ecx);
        a.jnz(inner);
        a.@out((byte)WorkloadPort, al);
        a.dec(r8d);
        a.jnz(outer);
        ExitHypercall(a);
    }));

    private static void ExitHypercall(Assembler a)
    {
        a.mov(eax, MiniKvmAbi.HypercallExit);
        a.xor(edi, edi);
        a.vmcall();
        a.hlt();
    }

    private static byte[] Assemble(Action<Assembler> build)
    {
        var a = new Assembler(64);
        build(a);
        var w = new Writer();
        a.Assemble(w, GuestSpec.CodeAddress);
        return w.Bytes.ToArray();
    }

    private sealed class Writer : CodeWriter
    {
        public readonly List<byte> Bytes = new();
        public override void WriteByte(byte value) => Bytes.Add(value);
    }

    public void Dispose() => _rt.Dispose();
}
