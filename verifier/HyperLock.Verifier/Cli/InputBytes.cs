using System.IO.MemoryMappedFiles;

namespace HyperLock.Verifier.Cli;

/// <summary>The bytes of an input file: a read-only memory mapping, or an array when the file could not be mapped.</summary>
public sealed unsafe class InputBytes : IDisposable
{
    private readonly MemoryMappedFile? _file;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly byte* _pointer;
    private readonly byte[]? _array;

    /// <summary>Number of bytes.</summary>
    public long Length { get; }

    private InputBytes(MemoryMappedFile? file, MemoryMappedViewAccessor? view, byte* pointer, byte[]? array, long length)
    {
        _file = file;
        _view = view;
        _pointer = pointer;
        _array = array;
        Length = length;
    }

    internal static InputBytes Mapped(MemoryMappedFile file, long length)
    {
        MemoryMappedViewAccessor? view = null;
        try
        {
            view = file.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
            byte* p = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            return new InputBytes(file, view, p + view.PointerOffset, null, length);
        }
        catch
        {
            view?.Dispose();
            file.Dispose();
            throw;
        }
    }

    internal static InputBytes Copied(byte[] bytes) => new(null, null, null, bytes, bytes.Length);

    /// <summary>The bytes (the length must fit a span: callers limit it below 2 GiB).</summary>
    public ReadOnlySpan<byte> Span => _array ?? new ReadOnlySpan<byte>(_pointer, checked((int)Length));

    public void Dispose()
    {
        if (_view != null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
        }
        _file?.Dispose();
    }
}
