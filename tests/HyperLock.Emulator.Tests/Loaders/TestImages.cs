using System.Buffers.Binary;

namespace HyperLock.Emulator.Tests.BootLoaders;

/// <summary>Hand-built kernel images for loader tests.</summary>
internal static class TestImages
{
    public readonly record struct Seg(ulong Paddr, byte[] Data, ulong MemSize);

    /// <summary>An ELF executable with PT_LOAD segments (ELF64 x86-64 or ELF32 i386).</summary>
    public static byte[] Elf(bool is64, ulong entry, params Seg[] segs)
    {
        int ehsize = is64 ? 64 : 52, phentsize = is64 ? 56 : 32;
        int dataStart = ehsize + phentsize * segs.Length;
        int total = dataStart;
        foreach (var s in segs) total += s.Data.Length;
        var f = new byte[total];
        f[0] = 0x7F; f[1] = (byte)'E'; f[2] = (byte)'L'; f[3] = (byte)'F';
        f[4] = (byte)(is64 ? 2 : 1); f[5] = 1; f[6] = 1;
        W16(f, 0x10, 2);
        W16(f, 0x12, (ushort)(is64 ? 62 : 3));
        W32(f, 0x14, 1);
        if (is64)
        {
            W64(f, 0x18, entry); W64(f, 0x20, (ulong)ehsize);
            W16(f, 0x34, (ushort)ehsize); W16(f, 0x36, (ushort)phentsize); W16(f, 0x38, (ushort)segs.Length);
        }
        else
        {
            W32(f, 0x18, (uint)entry); W32(f, 0x1C, (uint)ehsize);
            W16(f, 0x28, (ushort)ehsize); W16(f, 0x2A, (ushort)phentsize); W16(f, 0x2C, (ushort)segs.Length);
        }
        int off = dataStart;
        for (int i = 0; i < segs.Length; i++)
        {
            int ph = ehsize + i * phentsize;
            var s = segs[i];
            W32(f, ph, 1);
            if (is64)
            {
                W32(f, ph + 4, 7);
                W64(f, ph + 8, (ulong)off); W64(f, ph + 16, s.Paddr); W64(f, ph + 24, s.Paddr);
                W64(f, ph + 32, (ulong)s.Data.Length); W64(f, ph + 40, s.MemSize); W64(f, ph + 48, 0x1000);
            }
            else
            {
                W32(f, ph + 4, (uint)off); W32(f, ph + 8, (uint)s.Paddr); W32(f, ph + 12, (uint)s.Paddr);
                W32(f, ph + 16, (uint)s.Data.Length); W32(f, ph + 20, (uint)s.MemSize); W32(f, ph + 24, 7); W32(f, ph + 28, 0x1000);
            }
            s.Data.CopyTo(f, off);
            off += s.Data.Length;
        }
        return f;
    }

    /// <summary>A multiboot header (12 bytes, or 32 with the a.out kludge fields).</summary>
    public static byte[] MultibootHeader(uint flags, uint headerAddr = 0, uint loadAddr = 0, uint loadEnd = 0, uint bssEnd = 0, uint entry = 0)
    {
        bool kludge = (flags & 0x10000) != 0;
        var h = new byte[kludge ? 32 : 12];
        W32(h, 0, 0x1BADB002);
        W32(h, 4, flags);
        W32(h, 8, unchecked(0u - 0x1BADB002u - flags));
        if (kludge)
        {
            W32(h, 12, headerAddr); W32(h, 16, loadAddr); W32(h, 20, loadEnd); W32(h, 24, bssEnd); W32(h, 28, entry);
        }
        return h;
    }

    /// <summary>
    /// A synthetic bzImage: boot sector + <paramref name="setupSects"/> setup sectors with a
    /// setup header of protocol <paramref name="version"/>, then the protected-mode payload.
    /// </summary>
    public static byte[] BzImage(byte[] payload, ushort version = 0x020F, int setupSects = 1, ulong prefAddress = 0x1000000,
        uint initSize = 0x400000, uint cmdlineSize = 2047, uint initrdAddrMax = 0x7FFFFFFF, ushort xloadflags = 0x1, uint? sysSize = null)
    {
        int setupBytes = ((setupSects == 0 ? 4 : setupSects) + 1) * 512; // 0 means 4, as the protocol says
        var f = new byte[setupBytes + payload.Length];
        f[0x1F1] = (byte)setupSects;
        W32(f, 0x1F4, sysSize ?? (uint)((payload.Length + 15) / 16));
        W16(f, 0x1FA, 0xFFFF);
        W16(f, 0x1FE, 0xAA55);
        f[0x200] = 0xEB;
        f[0x201] = 0x6A;                         // jump over the header to 0x26C
        W32(f, 0x202, 0x53726448);
        W16(f, 0x206, version);
        f[0x211] = 0x01;                         // LOADED_HIGH
        W32(f, 0x214, 0x100000);
        W32(f, 0x22C, initrdAddrMax);
        W32(f, 0x230, 0x200000);
        f[0x234] = 1;
        W16(f, 0x236, xloadflags);
        W32(f, 0x238, cmdlineSize);
        W64(f, 0x258, prefAddress);
        W32(f, 0x260, initSize);
        payload.CopyTo(f, setupBytes);
        return f;
    }

    public static void W16(byte[] b, int o, ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(o), v);
    public static void W32(byte[] b, int o, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(o), v);
    public static void W64(byte[] b, int o, ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(o), v);
}
