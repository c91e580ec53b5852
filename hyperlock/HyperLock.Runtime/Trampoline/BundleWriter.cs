using Iced.Intel;

namespace HyperLock.Runtime.Trampoline;

/// <summary>
/// Lays trusted code out in the trampoline's bundle discipline (SPEC §5): every 32-byte bundle
/// begins with INT3 and ends with a JMP rel32 — to the next bundle just past its INT3 when code
/// runs on, or to a label. Labels always start a bundle, so every branch target is a bundle
/// start + 1 and a jump to a bundle start (a masked jump) meets INT3. Instructions must not be
/// RIP-relative (their length must not depend on where they land).
/// </summary>
internal sealed class BundleWriter
{
    public const int BundleSize = 32;
    private const int JmpSize = 5;
    private const byte Int3 = 0xCC;

    /// <summary>The recommended NOP of each length 1-9 (SDM Vol. 2B, NOP), indexed by length.</summary>
    private static readonly byte[][] LongNops =
    [
        [],
        [0x90],
        [0x66, 0x90],
        [0x0F, 0x1F, 0x00],
        [0x0F, 0x1F, 0x40, 0x00],
        [0x0F, 0x1F, 0x44, 0x00, 0x00],
        [0x66, 0x0F, 0x1F, 0x44, 0x00, 0x00],
        [0x0F, 0x1F, 0x80, 0x00, 0x00, 0x00, 0x00],
        [0x0F, 0x1F, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
        [0x66, 0x0F, 0x1F, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
    ];

    private readonly List<(Instruction Ins, string? Target, string? Label)> _items = new();

    /// <summary>Starts a new bundle and names it; branches to <paramref name="name"/> land just past its INT3.</summary>
    public void Label(string name) => _items.Add((default, null, name));

    public void Add(Instruction ins) => _items.Add((ins, null, null));

    /// <summary>A branch (JMP or Jcc, rel32 form) to a label. A JMP ends its bundle.</summary>
    public void Branch(Code rel32, string label) => _items.Add((Instruction.CreateBranch(rel32, 0), label, null));

    /// <summary>Encodes at <paramref name="baseAddress"/>; returns the bytes and the offset of every label's bundle.</summary>
    public (byte[] Bytes, Dictionary<string, int> Labels) Assemble(ulong baseAddress)
    {
        var labels = new Dictionary<string, int>();
        Layout(labels, null, baseAddress);
        var output = new List<byte>();
        Layout(labels, output, baseAddress);
        return (output.ToArray(), labels);
    }

    private void Layout(Dictionary<string, int> labels, List<byte>? output, ulong baseAddress)
    {
        var bundle = new List<byte>();
        int bundleStart = 0;
        void Open() { bundle.Clear(); bundle.Add(Int3); }
        void Close(long jumpTarget)
        {
            // Padding runs when code runs on into the next bundle: a few long NOPs, not one per byte.
            while (bundle.Count < BundleSize - JmpSize) bundle.AddRange(LongNops[Math.Min(LongNops.Length - 1, BundleSize - JmpSize - bundle.Count)]);
            long from = bundleStart + BundleSize;
            int rel = (int)(jumpTarget - from);
            bundle.Add(0xE9);
            bundle.AddRange(BitConverter.GetBytes(rel));
            output?.AddRange(bundle);
            bundleStart += BundleSize;
            Open();
        }
        long Target(string label) => labels.TryGetValue(label, out int off) ? off + 1 : 1;
        Open();
        foreach (var (ins, target, label) in _items)
        {
            if (label != null)
            {
                if (bundle.Count > 1) Close(bundleStart + BundleSize + 1);
                labels[label] = bundleStart;
                continue;
            }
            if (target != null && ins.Code == Code.Jmp_rel32_64)
            {
                Close(Target(target));
                continue;
            }
            byte[] bytes = Encode(ins, target, baseAddress + (ulong)(bundleStart + bundle.Count), labels, baseAddress);
            if (bundle.Count + bytes.Length > BundleSize - JmpSize)
            {
                Close(bundleStart + BundleSize + 1);
                bytes = Encode(ins, target, baseAddress + (ulong)(bundleStart + bundle.Count), labels, baseAddress);
            }
            bundle.AddRange(bytes);
        }
        if (bundle.Count > 1) Close(bundleStart + BundleSize + 1);
        // A last bundle for the final JMP to land in: HLT forever.
        bundle.Add(0xF4);
        Close(bundleStart + 1);
    }

    private static byte[] Encode(Instruction ins, string? target, ulong rip, Dictionary<string, int> labels, ulong baseAddress)
    {
        if (target != null)
            ins.NearBranch64 = baseAddress + (ulong)(labels.TryGetValue(target, out int off) ? off + 1 : 1);
        var writer = new CodeWriterImpl();
        var encoder = Encoder.Create(64, writer);
        if (!encoder.TryEncode(ins, rip, out _, out string? error))
            throw new InvalidOperationException($"trampoline: cannot encode {ins}: {error}");
        return writer.ToArray();
    }

    private sealed class CodeWriterImpl : CodeWriter
    {
        private readonly List<byte> _bytes = new();
        public override void WriteByte(byte value) => _bytes.Add(value);
        public byte[] ToArray() => _bytes.ToArray();
    }
}
