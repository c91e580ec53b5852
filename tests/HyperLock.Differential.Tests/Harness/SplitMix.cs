namespace HyperLock.Differential.Tests.Harness;

/// <summary>SplitMix64: a tiny deterministic generator for the structural choices of one case.</summary>
public struct SplitMix(ulong seed)
{
    private ulong _state = seed;

    public ulong Next()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, n).</summary>
    public int Below(int n) => (int)(Next() % (ulong)n);

    public bool Chance(int percent) => Below(100) < percent;

    public void Fill(Span<byte> bytes)
    {
        int i = 0;
        for (; i + 8 <= bytes.Length; i += 8) BitConverter.TryWriteBytes(bytes.Slice(i, 8), Next());
        if (i < bytes.Length)
        {
            ulong v = Next();
            for (; i < bytes.Length; i++) { bytes[i] = (byte)v; v >>= 8; }
        }
    }
}
