using HyperLock.Verifier.Cli;

namespace HyperLock.Cli;

/// <summary>Input files of the commands, read with a size limit; problems become <see cref="UsageException"/>s.</summary>
public static class CliInput
{
    /// <summary>All bytes of <paramref name="path"/>, refusing more than <paramref name="limit"/> with an error that names it.</summary>
    public static byte[] Read(string path, string what, long limit)
    {
        try
        {
            return InputFile.ReadAll(path, what, limit);
        }
        catch (InputFileException e)
        {
            throw new UsageException(e.Message);
        }
    }
}
