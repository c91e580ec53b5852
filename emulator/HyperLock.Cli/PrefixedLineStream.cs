namespace HyperLock.Cli;

/// <summary>
/// One guest's console on a shared output: every line it writes goes out whole, prefixed with the
/// guest's name (<c>guest1: …</c>), so the consoles of several guests interleave line by line.
/// A partial last line is written by <see cref="Flush"/> at the end of the run.
/// </summary>
public sealed class PrefixedLineStream(Stream output, string prefix) : Stream
{
    private readonly List<byte> _line = new();
    private readonly byte[] _prefix = System.Text.Encoding.UTF8.GetBytes(prefix);

    public override void WriteByte(byte value)
    {
        _line.Add(value);
        if (value == (byte)'\n') Emit();
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> data)
    {
        foreach (byte b in data) WriteByte(b);
    }

    private void Emit()
    {
        if (_line.Count == 0) return;
        var bytes = new byte[_prefix.Length + _line.Count];
        _prefix.CopyTo(bytes, 0);
        _line.CopyTo(bytes, _prefix.Length);
        _line.Clear();
        lock (output) output.Write(bytes);
    }

    /// <summary>Writes what is left of the last line (with a newline) and flushes the shared output.</summary>
    public void Finish()
    {
        if (_line.Count > 0)
        {
            _line.Add((byte)'\n');
            Emit();
        }
        output.Flush();
    }

    public override void Flush() => output.Flush();
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
