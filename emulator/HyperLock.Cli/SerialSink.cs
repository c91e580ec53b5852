namespace HyperLock.Cli;

/// <summary>
/// Where <c>hyperlock run</c> writes the guest's serial output: a buffer in front of the real
/// output that turns a write failure (a full disk, <c>/dev/full</c>, a closed pipe) into a
/// recorded error and a stop request instead of an exception inside the guest's OUT
/// instruction. After the first failure further output is dropped. The buffer is written out
/// at each newline when <c>lineBuffered</c> (a terminal or pipe someone reads), when it is full,
/// and on <see cref="Flush"/>.
/// </summary>
public sealed class SerialSink(Stream output, bool lineBuffered, Action onFailure) : Stream
{
    private readonly byte[] _buffer = new byte[1 << 16];
    private int _count;

    /// <summary>The first write error's message, or null.</summary>
    public string? Error { get; private set; }

    /// <summary>True when the failure was a closed pipe: the reader went away, which is not an error to report.</summary>
    public bool ReaderClosed { get; private set; }

    public override void WriteByte(byte value)
    {
        if (Error != null) return;
        _buffer[_count++] = value;
        if (_count == _buffer.Length || (lineBuffered && value == (byte)'\n')) WriteOut();
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> data)
    {
        foreach (byte b in data) WriteByte(b);
    }

    public override void Flush()
    {
        WriteOut();
        if (Error != null) return;
        try
        {
            output.Flush();
        }
        catch (IOException e)
        {
            Fail(e);
        }
    }

    private void WriteOut()
    {
        if (_count == 0 || Error != null)
        {
            _count = 0;
            return;
        }
        try
        {
            output.Write(_buffer, 0, _count);
        }
        catch (IOException e)
        {
            Fail(e);
        }
        _count = 0;
    }

    private void Fail(IOException e)
    {
        // EPIPE: the runtime ignores SIGPIPE, so a closed pipe shows up as this error.
        ReaderClosed = e.HResult == 32 || e.Message.Contains("Broken pipe", StringComparison.OrdinalIgnoreCase);
        int nl = e.Message.IndexOfAny(['\r', '\n']);
        Error = nl < 0 ? e.Message : e.Message[..nl];
        onFailure();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Flush();
            try
            {
                output.Dispose();
            }
            catch (IOException e)
            {
                if (Error == null) Fail(e);
            }
        }
        base.Dispose(disposing);
    }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
