using Iced.Intel;

namespace HyperLock.Verifier.Decoding;

/// <summary>An Iced code reader over pinned memory, limited to the image's end.</summary>
internal sealed unsafe class PointerCodeReader : CodeReader
{
    private byte* _base;
    private int _limit;

    public int Position { get; set; }

    public void Reset(byte* p, int length)
    {
        _base = p;
        _limit = length;
        Position = 0;
    }

    public override int ReadByte() => Position < _limit ? _base[Position++] : -1;
}
