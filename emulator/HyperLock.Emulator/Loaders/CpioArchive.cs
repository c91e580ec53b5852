using System.Text;

namespace HyperLock.Emulator.Loaders;

/// <summary>
/// Builds a newc-format cpio archive ("070701" headers, the format the Linux initramfs
/// unpacker reads): each entry is a 110-byte ASCII header (magic and thirteen 8-digit hex
/// fields: ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor,
/// rdevminor, namesize, check), the NUL-terminated name padded to a multiple of 4 bytes,
/// then the data padded to 4; the archive ends with "TRAILER!!!". Entries are owned by root,
/// have mtime 0 and sequential inode numbers, so the same input gives the same bytes.
/// </summary>
public sealed class CpioArchive
{
    /// <summary>Header magic of the newc format (no checksum).</summary>
    public const string MagicNewc = "070701";
    /// <summary>Header magic of the newc format with checksum.</summary>
    public const string MagicCrc = "070702";
    /// <summary>Name of the end-of-archive entry.</summary>
    public const string Trailer = "TRAILER!!!";
    /// <summary>Header length: 6-byte magic + 13 × 8 hex digits.</summary>
    public const int HeaderSize = 110;
    /// <summary>File type bits: directory.</summary>
    public const uint TypeDirectory = 0x4000;
    /// <summary>File type bits: regular file.</summary>
    public const uint TypeRegular = 0x8000;
    /// <summary>File type bits: symbolic link.</summary>
    public const uint TypeSymlink = 0xA000;
    /// <summary>File type bits: character device.</summary>
    public const uint TypeCharDevice = 0x2000;
    /// <summary>File type bits: block device.</summary>
    public const uint TypeBlockDevice = 0x6000;
    /// <summary>Mask of the file type bits.</summary>
    public const uint TypeMask = 0xF000;

    /// <summary>One archive member.</summary>
    public sealed record Entry(string Name, uint Mode, byte[] Data, uint RdevMajor = 0, uint RdevMinor = 0);

    private readonly List<Entry> _entries = new();
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);

    public IReadOnlyList<Entry> Entries => _entries;

    /// <summary>True when an entry of that name exists.</summary>
    public bool Contains(string path) => _names.Contains(Normalize(path));

    private static string Normalize(string path)
    {
        string p = path.Replace('\\', '/').Trim('/');
        if (p.Length == 0) throw new ArgumentException("Empty path in a cpio archive.", nameof(path));
        if (p == Trailer) throw new ArgumentException($"'{Trailer}' is reserved.", nameof(path));
        return p;
    }

    private void Add(string path, uint mode, byte[] data, uint major = 0, uint minor = 0)
    {
        string name = Normalize(path);
        if (!_names.Add(name)) throw new ArgumentException($"Duplicate cpio entry '{name}'.", nameof(path));
        // Parent directories first, as the unpacker creates entries in order.
        int slash = name.LastIndexOf('/');
        if (slash > 0 && !_names.Contains(name[..slash]))
        {
            _names.Remove(name);
            AddDirectory(name[..slash]);
            _names.Add(name);
        }
        _entries.Add(new Entry(name, mode, data, major, minor));
    }

    public CpioArchive AddDirectory(string path, uint permissions = 0x1ED /* 0755 */)
    {
        if (!Contains(path)) Add(path, TypeDirectory | (permissions & 0xFFF), []);
        return this;
    }

    public CpioArchive AddFile(string path, byte[] data, uint permissions = 0x1A4 /* 0644 */)
    {
        Add(path, TypeRegular | (permissions & 0xFFF), data);
        return this;
    }

    public CpioArchive AddSymlink(string path, string target)
    {
        Add(path, TypeSymlink | 0x1FF, Encoding.UTF8.GetBytes(target));
        return this;
    }

    public CpioArchive AddCharDevice(string path, uint major, uint minor, uint permissions = 0x180 /* 0600 */)
    {
        Add(path, TypeCharDevice | (permissions & 0xFFF), [], major, minor);
        return this;
    }

    public CpioArchive AddBlockDevice(string path, uint major, uint minor, uint permissions = 0x180)
    {
        Add(path, TypeBlockDevice | (permissions & 0xFFF), [], major, minor);
        return this;
    }

    /// <summary>Adds the device nodes an initramfs needs before devtmpfs is mounted, where absent: /dev/console, /dev/null, /dev/ttyS0.</summary>
    public CpioArchive AddStandardDevices()
    {
        AddDirectory("dev");
        if (!Contains("dev/console")) AddCharDevice("dev/console", 5, 1, 0x180);
        if (!Contains("dev/null")) AddCharDevice("dev/null", 1, 3, 0x1B6);
        if (!Contains("dev/ttyS0")) AddCharDevice("dev/ttyS0", 4, 64, 0x1B0);
        return this;
    }

    /// <summary>
    /// An archive of a directory tree: directories, regular files and symbolic links, in
    /// ordinal name order, with their permission bits (on Unix hosts; 0755/0644 elsewhere),
    /// plus the standard device nodes. Anything else in the tree (a FIFO, a device, a socket) is
    /// refused without being opened, and the files may hold at most <paramref name="maxBytes"/>
    /// in all; both are a <see cref="MachineConfigException"/>.
    /// </summary>
    public static CpioArchive FromDirectory(string directory, bool addStandardDevices = true, long maxBytes = DefaultMaxDirectoryBytes)
    {
        var root = new DirectoryInfo(directory);
        if (!root.Exists) throw new MachineConfigException($"initrd directory '{directory}' does not exist");
        var a = new CpioArchive();
        long total = 0;
        AddTree(a, root, "", ref total, maxBytes);
        if (addStandardDevices) a.AddStandardDevices();
        return a;
    }

    /// <summary>The default limit on the bytes of the files a directory archive holds.</summary>
    public const long DefaultMaxDirectoryBytes = 1L << 30;

    private static void AddTree(CpioArchive a, DirectoryInfo dir, string prefix, ref long total, long maxBytes)
    {
        var children = dir.GetFileSystemInfos();
        Array.Sort(children, (x, y) => string.CompareOrdinal(x.Name, y.Name));
        foreach (var fsi in children)
        {
            string path = prefix.Length == 0 ? fsi.Name : prefix + "/" + fsi.Name;
            uint perms = Permissions(fsi);
            if (fsi.LinkTarget != null) a.AddSymlink(path, fsi.LinkTarget);
            else if (fsi is DirectoryInfo sub)
            {
                a.AddDirectory(path, perms);
                AddTree(a, sub, path, ref total, maxBytes);
            }
            else if (fsi is FileInfo f)
            {
                // Opening a FIFO would block until something writes to it; a device may never end.
                if (HostFileType.Of(f.FullName) is uint type && type != HostFileType.Regular)
                    throw new MachineConfigException($"initrd directory: '{f.FullName}' is a {HostFileType.Describe(type)}, not a regular file");
                total += f.Length;
                if (total > maxBytes)
                    throw new MachineConfigException($"initrd directory: its files hold more than the {maxBytes >> 20} MiB limit");
                a.AddFile(path, File.ReadAllBytes(f.FullName), perms);
            }
        }
    }

    private static uint Permissions(FileSystemInfo fsi)
    {
        if (OperatingSystem.IsWindows()) return fsi is DirectoryInfo ? 0x1EDu : 0x1A4u;
        return (uint)fsi.UnixFileMode & 0xFFF;
    }

    /// <summary>The archive bytes.</summary>
    public byte[] ToArray()
    {
        var ms = new MemoryStream();
        uint ino = 1;
        foreach (var e in _entries) WriteEntry(ms, e, ino++);
        WriteEntry(ms, new Entry(Trailer, 0, []), 0);
        return ms.ToArray();
    }

    private static void WriteEntry(Stream s, Entry e, uint ino)
    {
        byte[] name = Encoding.UTF8.GetBytes(e.Name);
        uint type = e.Mode & TypeMask;
        uint nlink = type == TypeDirectory ? 2u : 1u;
        var sb = new StringBuilder(HeaderSize);
        sb.Append(MagicNewc);
        foreach (uint f in new[] { ino, e.Mode, 0u, 0u, nlink, 0u, (uint)e.Data.Length, 0u, 0u, e.RdevMajor, e.RdevMinor, (uint)name.Length + 1, 0u })
            sb.Append(f.ToString("X8"));
        s.Write(Encoding.ASCII.GetBytes(sb.ToString()));
        s.Write(name);
        s.WriteByte(0);
        Pad(s);
        s.Write(e.Data);
        Pad(s);
    }

    private static void Pad(Stream s)
    {
        while (s.Position % 4 != 0) s.WriteByte(0);
    }

    /// <summary>
    /// Reads a newc archive back (the entries before the trailer), checking the format as the
    /// kernel's unpacker does; anything malformed or truncated is a <see cref="MachineConfigException"/>.
    /// </summary>
    public static List<Entry> Read(ReadOnlySpan<byte> data, string what = "initrd")
    {
        var list = new List<Entry>();
        int pos = 0;
        for (; ; )
        {
            // The kernel accepts zero padding between archives (concatenated initramfs parts).
            while (pos + 4 <= data.Length && data[pos] == 0 && data[pos + 1] == 0 && data[pos + 2] == 0 && data[pos + 3] == 0) pos += 4;
            if (pos >= data.Length)
            {
                if (list.Count == 0) throw new MachineConfigException($"{what}: empty cpio archive");
                throw new MachineConfigException($"{what}: truncated cpio archive (no {Trailer} entry)");
            }
            if (data.Length - pos < HeaderSize) throw new MachineConfigException($"{what}: truncated cpio header at offset {pos}");
            string magic = Encoding.ASCII.GetString(data.Slice(pos, 6));
            if (magic != MagicNewc && magic != MagicCrc) throw new MachineConfigException($"{what}: bad cpio magic at offset {pos} (not newc)");
            var f = new uint[13];
            for (int i = 0; i < 13; i++)
            {
                var hex = data.Slice(pos + 6 + i * 8, 8);
                if (!uint.TryParse(Encoding.ASCII.GetString(hex), System.Globalization.NumberStyles.HexNumber, null, out f[i]))
                    throw new MachineConfigException($"{what}: corrupt cpio header at offset {pos}");
            }
            uint mode = f[1], fileSize = f[6], nameSize = f[11];
            if (nameSize == 0 || nameSize > 4096) throw new MachineConfigException($"{what}: corrupt cpio name size at offset {pos}");
            int nameStart = pos + HeaderSize;
            if ((long)nameStart + nameSize > data.Length) throw new MachineConfigException($"{what}: truncated cpio archive at offset {pos}");
            string name = Encoding.UTF8.GetString(data.Slice(nameStart, (int)nameSize - 1));
            long dataStart = (nameStart + nameSize + 3) & ~3L;
            if (dataStart + fileSize > data.Length) throw new MachineConfigException($"{what}: truncated cpio archive in '{name}'");
            if (name == Trailer) return list;
            list.Add(new Entry(name, mode, data.Slice((int)dataStart, (int)fileSize).ToArray(), f[9], f[10]));
            pos = (int)((dataStart + fileSize + 3) & ~3L);
        }
    }
}
