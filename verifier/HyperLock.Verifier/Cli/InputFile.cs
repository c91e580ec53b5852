using System.IO.MemoryMappedFiles;

namespace HyperLock.Verifier.Cli;

/// <summary>
/// Reads command-line input files with a size limit, so that an endless or huge input
/// (<c>/dev/zero</c>, a pipe that never ends) is refused with a one-line error naming the limit
/// instead of being read until memory runs out. A regular file is checked against the limit
/// before anything is read; anything else (pipes, character devices) is read in chunks up to
/// the limit plus one byte.
/// </summary>
public static class InputFile
{
    private const int ChunkSize = 1 << 16;

    /// <summary>
    /// All bytes of <paramref name="path"/>, at most <paramref name="limit"/> of them.
    /// <paramref name="what"/> names the input in errors ("code file", "kernel").
    /// </summary>
    public static byte[] ReadAll(string path, string what, long limit)
    {
        using var stream = Open(path, what);
        return ReadAll(stream, path, what, limit);
    }

    /// <summary>
    /// The bytes of <paramref name="path"/> as a view that is memory-mapped when the file is a
    /// regular one (no copy: the memory used is the file's page cache) and read with the limit
    /// otherwise. Dispose the view after use.
    /// </summary>
    public static InputBytes Map(string path, string what, long limit)
    {
        var stream = Open(path, what);
        try
        {
            long length = LengthOrMinusOne(stream);
            if (length > limit) throw TooLarge(path, what, limit);
            if (length > 0)
            {
                var file = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
                stream = null;
                return InputBytes.Mapped(file, length);
            }
            return InputBytes.Copied(ReadAll(stream, path, what, limit));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InputFileException($"{path}: cannot read the {what}: {FirstLine(e.Message)}");
        }
        finally
        {
            stream?.Dispose();
        }
    }

    /// <summary>"64 MiB", "1 GiB", "16 KiB": the limit as people read it.</summary>
    public static string Describe(long bytes) =>
        bytes >= 1L << 30 && bytes % (1L << 30) == 0 ? $"{bytes >> 30} GiB"
        : bytes >= 1L << 20 && bytes % (1L << 20) == 0 ? $"{bytes >> 20} MiB"
        : bytes >= 1L << 10 && bytes % (1L << 10) == 0 ? $"{bytes >> 10} KiB"
        : $"{bytes} bytes";

    private static FileStream Open(string path, string what)
    {
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new InputFileException($"{path}: cannot read the {what}: {FirstLine(e.Message)}");
        }
    }

    private static byte[] ReadAll(FileStream stream, string path, string what, long limit)
    {
        try
        {
            long length = LengthOrMinusOne(stream);
            if (length > limit) throw TooLarge(path, what, limit);
            // A regular file is read into a buffer of its size; other files grow the buffer by
            // doubling up to the limit plus one byte, which is enough to tell they are too large.
            var buffer = new byte[length > 0 ? length : Math.Min(limit + 1, ChunkSize)];
            int filled = 0;
            for (; ; )
            {
                if (filled == buffer.Length)
                {
                    if (filled > limit) throw TooLarge(path, what, limit);
                    Array.Resize(ref buffer, (int)Math.Min(Math.Min(limit + 1, Array.MaxLength), (long)buffer.Length * 2));
                }
                int n = stream.Read(buffer, filled, buffer.Length - filled);
                if (n == 0) break;
                filled += n;
                if (filled > limit) throw TooLarge(path, what, limit);
            }
            if (filled != buffer.Length) Array.Resize(ref buffer, filled);
            return buffer;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InputFileException($"{path}: cannot read the {what}: {FirstLine(e.Message)}");
        }
    }

    /// <summary>The length of a regular file; -1 for pipes and devices, whose size is not known before reading.</summary>
    private static long LengthOrMinusOne(FileStream stream)
    {
        if (!stream.CanSeek) return -1;
        long length = stream.Length;
        return length > 0 ? length : -1; // character devices report 0: read them as streams
    }

    private static InputFileException TooLarge(string path, string what, long limit) =>
        new($"{path}: the {what} is larger than the {Describe(limit)} limit");

    /// <summary>The first line of an exception message, for a one-line error.</summary>
    public static string FirstLine(string s)
    {
        int nl = s.IndexOfAny(['\r', '\n']);
        return nl < 0 ? s : s[..nl];
    }
}
