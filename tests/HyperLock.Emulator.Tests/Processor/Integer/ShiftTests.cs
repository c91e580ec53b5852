using HyperLock.Emulator.Processor;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.Emulator.Tests.Processor.Integer;

public class IntegerShiftTests
{
    /// <summary>
    /// Samples recorded on an Intel host (Xeon, /tmp oracle program run at development time):
    /// op, width, value, CL, arithmetic flags in, result, arithmetic flags out. Includes counts
    /// above 1 (OF/AF undefined in the SDM) and RCL/RCR counts that are multiples of width+1.
    /// </summary>
    public static TheoryData<string, int, ulong, int, ulong, ulong, ulong> HostShifts => new()
    {
        { "rcl", 32, 0xa7beb6c8UL, 5, 0x814UL, 0xf7d6d90aUL, 0x814UL },
        { "rcl", 32, 0x5f1a9cf8UL, 1, 0x884UL, 0xbe3539f0UL, 0x884UL },
        { "rcl", 32, 0x58d496f4UL, 25, 0x894UL, 0xe858d496UL, 0x895UL },
        { "rcl", 32, 0x5bd63ca8UL, 17, 0x8c4UL, 0x79505bd6UL, 0x8c4UL },
        { "rcl", 32, 0x3560babfUL, 10, 0x8c0UL, 0x82eafc6aUL, 0xc1UL },
        { "rcl", 32, 0x65cd5ebeUL, 3, 0x814UL, 0x2e6af5f1UL, 0x815UL },
        { "rcl", 8, 0xbbUL, 24, 0x85UL, 0xf7UL, 0x884UL },
        { "rcl", 8, 0x57UL, 29, 0x855UL, 0x5eUL, 0x855UL },
        { "rcl", 8, 0xb3UL, 22, 0xd0UL, 0x35UL, 0x8d1UL },
        { "rcl", 8, 0x3eUL, 22, 0x8d5UL, 0xe9UL, 0xd5UL },
        { "rcl", 8, 0xfUL, 21, 0x804UL, 0x78UL, 0x4UL },
        { "rcl", 8, 0x71UL, 1, 0x1UL, 0xe3UL, 0x800UL },
        { "rcr", 32, 0xc8c0b40bUL, 3, 0x8c4UL, 0xd9181681UL, 0x8c4UL },
        { "rcr", 32, 0x1587e688UL, 5, 0x91UL, 0x88ac3f34UL, 0x890UL },
        { "rcr", 32, 0xff22a05fUL, 31, 0x10UL, 0xfc8a817dUL, 0x811UL },
        { "rcr", 32, 0x6be3f847UL, 23, 0x801UL, 0x8fe11ed7UL, 0x801UL },
        { "rcr", 32, 0x59296ae4UL, 17, 0x51UL, 0x6ae4ac94UL, 0x851UL },
        { "rcr", 32, 0xe100d31cUL, 26, 0x811UL, 0x80698e78UL, 0x10UL },
        { "rcr", 8, 0x62UL, 24, 0x810UL, 0x11UL, 0x11UL },
        { "rcr", 8, 0x34UL, 16, 0x8c0UL, 0xd0UL, 0xc0UL },
        { "rcr", 8, 0x12UL, 20, 0x8c1UL, 0x44UL, 0x8c1UL },
        { "rcr", 8, 0x95UL, 0, 0x840UL, 0x95UL, 0x840UL },
        { "rcr", 8, 0xb8UL, 9, 0xc5UL, 0xb8UL, 0xc5UL },
        { "rcr", 8, 0x7eUL, 26, 0x8c0UL, 0xfcUL, 0xc0UL },
        { "rol", 32, 0x36caa1aUL, 14, 0x805UL, 0x2a8680dbUL, 0x5UL },
        { "rol", 32, 0x5a2d0ae4UL, 17, 0x840UL, 0x15c8b45aUL, 0x840UL },
        { "rol", 32, 0x7bdce893UL, 2, 0x801UL, 0xef73a24dUL, 0x801UL },
        { "rol", 32, 0xf5f59d6bUL, 17, 0x40UL, 0x3ad7ebebUL, 0x41UL },
        { "rol", 32, 0x99b10729UL, 7, 0x91UL, 0xd88394ccUL, 0x890UL },
        { "rol", 32, 0xa1e12766UL, 8, 0x851UL, 0xe12766a1UL, 0x851UL },
        { "rol", 8, 0xf2UL, 27, 0x80UL, 0x97UL, 0x81UL },
        { "rol", 8, 0x62UL, 12, 0x851UL, 0x26UL, 0x850UL },
        { "rol", 8, 0xbeUL, 7, 0x895UL, 0x5fUL, 0x895UL },
        { "rol", 8, 0xcUL, 18, 0xc0UL, 0x30UL, 0xc0UL },
        { "rol", 8, 0xbeUL, 3, 0xd5UL, 0xf5UL, 0x8d5UL },
        { "rol", 8, 0x57UL, 7, 0x805UL, 0xabUL, 0x805UL },
        { "ror", 32, 0xbde9c50fUL, 5, 0x45UL, 0x7def4e28UL, 0x44UL },
        { "ror", 32, 0x3d8d115bUL, 25, 0x80UL, 0xc688ad9eUL, 0x881UL },
        { "ror", 32, 0x80af70a4UL, 5, 0x801UL, 0x24057b85UL, 0x800UL },
        { "ror", 32, 0x98276b00UL, 22, 0x95UL, 0x9dac0260UL, 0x895UL },
        { "ror", 32, 0x6f06b16bUL, 9, 0x84UL, 0xb5b78358UL, 0x885UL },
        { "ror", 32, 0x8b3867daUL, 21, 0x894UL, 0xc33ed459UL, 0x895UL },
        { "ror", 8, 0x5dUL, 25, 0x854UL, 0xaeUL, 0x855UL },
        { "ror", 8, 0xc3UL, 8, 0x805UL, 0xc3UL, 0x5UL },
        { "ror", 8, 0xf9UL, 2, 0x80UL, 0x7eUL, 0x80UL },
        { "ror", 8, 0x5UL, 3, 0x814UL, 0xa0UL, 0x815UL },
        { "ror", 8, 0xaaUL, 29, 0x50UL, 0x55UL, 0x850UL },
        { "ror", 8, 0x41UL, 11, 0x8c4UL, 0x28UL, 0x8c4UL },
        { "sar", 32, 0xf5843eeaUL, 23, 0x845UL, 0xffffffebUL, 0x84UL },
        { "sar", 32, 0xceefe20eUL, 10, 0x14UL, 0xfff3bbf8UL, 0x81UL },
        { "sar", 32, 0x641e7984UL, 23, 0xd5UL, 0xc8UL, 0x0UL },
        { "sar", 32, 0xab8bb4c4UL, 13, 0x8c0UL, 0xfffd5c5dUL, 0x81UL },
        { "sar", 32, 0xfca55280UL, 5, 0x15UL, 0xffe52a94UL, 0x80UL },
        { "sar", 32, 0xb1690f26UL, 24, 0x11UL, 0xffffffb1UL, 0x84UL },
        { "sar", 8, 0x93UL, 18, 0x8d5UL, 0xffUL, 0x85UL },
        { "sar", 8, 0x1aUL, 18, 0x884UL, 0x0UL, 0x44UL },
        { "sar", 8, 0x30UL, 20, 0x851UL, 0x0UL, 0x44UL },
        { "sar", 8, 0x75UL, 15, 0x801UL, 0x0UL, 0x44UL },
        { "sar", 8, 0x81UL, 22, 0x1UL, 0xffUL, 0x85UL },
        { "sar", 8, 0x8fUL, 26, 0x5UL, 0xffUL, 0x85UL },
        { "shl", 32, 0xf51da88cUL, 29, 0x8d4UL, 0x80000000UL, 0x85UL },
        { "shl", 32, 0xb0510b05UL, 19, 0x1UL, 0x58280000UL, 0x804UL },
        { "shl", 32, 0x896340c9UL, 8, 0x0UL, 0x6340c900UL, 0x805UL },
        { "shl", 32, 0x16e0881aUL, 10, 0x815UL, 0x82206800UL, 0x85UL },
        { "shl", 32, 0x64c57d22UL, 24, 0x84UL, 0x22000000UL, 0x805UL },
        { "shl", 32, 0x59cff92dUL, 31, 0x844UL, 0x80000000UL, 0x884UL },
        { "shl", 8, 0x4dUL, 23, 0x8d0UL, 0x0UL, 0x844UL },
        { "shl", 8, 0x29UL, 23, 0x44UL, 0x0UL, 0x44UL },
        { "shl", 8, 0xe2UL, 31, 0x8d0UL, 0x0UL, 0x44UL },
        { "shl", 8, 0xaaUL, 23, 0x40UL, 0x0UL, 0x844UL },
        { "shl", 8, 0x92UL, 3, 0x80UL, 0x90UL, 0x884UL },
        { "shl", 8, 0xe8UL, 1, 0x80UL, 0xd0UL, 0x81UL },
        { "shr", 32, 0xfbf3535aUL, 28, 0x810UL, 0xfUL, 0x805UL },
        { "shr", 32, 0x7f65da10UL, 4, 0x85UL, 0x7f65da1UL, 0x0UL },
        { "shr", 32, 0x3d96e9cUL, 1, 0xd5UL, 0x1ecb74eUL, 0x4UL },
        { "shr", 32, 0x79a3cd32UL, 8, 0x4UL, 0x79a3cdUL, 0x0UL },
        { "shr", 32, 0x6805c463UL, 11, 0x85UL, 0xd00b8UL, 0x5UL },
        { "shr", 32, 0xe456674fUL, 1, 0xd1UL, 0x722b33a7UL, 0x801UL },
        { "shr", 8, 0xdaUL, 15, 0x44UL, 0x0UL, 0x844UL },
        { "shr", 8, 0x2UL, 18, 0x804UL, 0x0UL, 0x44UL },
        { "shr", 8, 0xb3UL, 10, 0xd5UL, 0x0UL, 0x844UL },
        { "shr", 8, 0x53UL, 25, 0x8c1UL, 0x0UL, 0x44UL },
        { "shr", 8, 0x72UL, 4, 0x51UL, 0x7UL, 0x0UL },
        { "shr", 8, 0x6cUL, 8, 0x840UL, 0x0UL, 0x44UL },
    };

    [Theory]
    [MemberData(nameof(HostShifts))]
    public void ShiftsAndRotatesByClMatchHost(string op, int width, ulong value, int count, ulong flagsIn, ulong result, ulong flagsOut)
    {
        using var s = Snip.Run(a =>
        {
            Emit(a, op, width);
            a.int3();
        }, c => { c.R(Reg.Rax) = value; c.R(Reg.Rcx) = (ulong)count; c.SetRflags(0x202 | flagsIn); });
        s.AssertInt3();
        ulong mask = width == 8 ? 0xFF : 0xFFFFFFFF;
        Assert.Equal(result, s.R(Reg.Rax) & mask);
        Assert.Equal(flagsOut, s.Flags);
    }

    private static void Emit(Assembler a, string op, int width)
    {
        if (width == 8)
        {
            switch (op)
            {
                case "shl": a.shl(al, cl); break;
                case "shr": a.shr(al, cl); break;
                case "sar": a.sar(al, cl); break;
                case "rol": a.rol(al, cl); break;
                case "ror": a.ror(al, cl); break;
                case "rcl": a.rcl(al, cl); break;
                default: a.rcr(al, cl); break;
            }
        }
        else
        {
            switch (op)
            {
                case "shl": a.shl(eax, cl); break;
                case "shr": a.shr(eax, cl); break;
                case "sar": a.sar(eax, cl); break;
                case "rol": a.rol(eax, cl); break;
                case "ror": a.ror(eax, cl); break;
                case "rcl": a.rcl(eax, cl); break;
                default: a.rcr(eax, cl); break;
            }
        }
    }

    /// <summary>SHLD/SHRD samples from the same Intel host: op, dest, src, CL, flags in, result, flags out (16-bit counts above 16 included).</summary>
    public static TheoryData<string, ulong, ulong, int, ulong, ulong, ulong> HostDouble => new()
    {
        { "shld16", 0x3f4eeb99UL, 0x85e5b00eUL, 14, 0x815UL, 0x3f4e6c03UL, 0x4UL },
        { "shld16", 0x59ec770fUL, 0xf6e18c21UL, 25, 0x8d5UL, 0x59ec42eeUL, 0x804UL },
        { "shld16", 0xbb499a8fUL, 0x45fc4a7aUL, 14, 0x814UL, 0xbb49d29eUL, 0x881UL },
        { "shld16", 0x4e3db63cUL, 0x5dabc250UL, 20, 0xd5UL, 0x4e3d250bUL, 0x800UL },
        { "shld16", 0xe3fa4927UL, 0xe7611475UL, 29, 0x81UL, 0xe3faa924UL, 0x884UL },
        { "shld16", 0x65713982UL, 0x3427fb71UL, 7, 0x894UL, 0x6571c17dUL, 0x84UL },
        { "shld16", 0xb6f80f8aUL, 0x604d5d15UL, 15, 0x40UL, 0xb6f82e8aUL, 0x1UL },
        { "shld16", 0x3d2f4b9UL, 0xbbdf5f10UL, 14, 0x845UL, 0x3d257c4UL, 0x0UL },
        { "shrd16", 0x415f0c36UL, 0x1ac47faeUL, 17, 0x800UL, 0x415f3fd7UL, 0x4UL },
        { "shrd16", 0xd556d1ccUL, 0x81af8f6fUL, 17, 0x4UL, 0xd55647b7UL, 0x5UL },
        { "shrd16", 0xd778edb7UL, 0x7e0391acUL, 15, 0x894UL, 0xd7782359UL, 0x805UL },
        { "shrd16", 0x74eadb43UL, 0xe5b7be35UL, 9, 0x91UL, 0x74ea1aedUL, 0x5UL },
        { "shrd16", 0x1dd786beUL, 0x16bc4633UL, 31, 0x811UL, 0x1dd70d7cUL, 0x1UL },
        { "shrd16", 0xdc354b4eUL, 0x1b063258UL, 28, 0x844UL, 0xdc35b4e3UL, 0x80UL },
        { "shrd16", 0x63c1809fUL, 0x8bc9c45eUL, 22, 0xd4UL, 0x63c17f11UL, 0x804UL },
        { "shrd16", 0xcbc7f195UL, 0x19f2bb36UL, 0, 0x45UL, 0xcbc7f195UL, 0x45UL },
        { "shld32", 0xc0d95f2cUL, 0x11cea692UL, 31, 0x801UL, 0x8e75349UL, 0x0UL },
        { "shld32", 0xa788f946UL, 0x11b97934UL, 6, 0x8c1UL, 0xe23e5184UL, 0x885UL },
        { "shld32", 0x78d158b2UL, 0x4a669683UL, 14, 0xd0UL, 0x562c9299UL, 0x804UL },
        { "shld32", 0x420ce151UL, 0x5e3c8cd3UL, 10, 0x8c0UL, 0x33854578UL, 0x804UL },
        { "shld32", 0x67ffa10aUL, 0x17695cc8UL, 17, 0x41UL, 0x42142ed2UL, 0x805UL },
        { "shld32", 0xeb7c3c1aUL, 0x33e282e2UL, 7, 0x8d1UL, 0xbe1e0d19UL, 0x81UL },
        { "shld32", 0x38dfee5bUL, 0x4610a747UL, 9, 0x8c4UL, 0xbfdcb68cUL, 0x81UL },
        { "shld32", 0xfe74edf0UL, 0xb5b782bUL, 27, 0x91UL, 0x805adbc1UL, 0x81UL },
        { "shrd32", 0x7e38a5dfUL, 0x34fe4354UL, 18, 0x885UL, 0x90d51f8eUL, 0x84UL },
        { "shrd32", 0xc541eba0UL, 0x152b8077UL, 23, 0x0UL, 0x5700ef8aUL, 0x1UL },
        { "shrd32", 0x969a9406UL, 0x2ece60aeUL, 15, 0x800UL, 0xc15d2d35UL, 0x884UL },
        { "shrd32", 0xa49f7d8bUL, 0xb4d841b0UL, 19, 0xc1UL, 0x8361493UL, 0x805UL },
        { "shrd32", 0xfa1c8ffaUL, 0x2dfe0865UL, 21, 0xc5UL, 0xf0432fd0UL, 0x81UL },
        { "shrd32", 0xd54d8789UL, 0x4afbdec6UL, 27, 0x880UL, 0x5f7bd8daUL, 0x801UL },
        { "shrd32", 0x73059e4UL, 0x24bac057UL, 23, 0x855UL, 0x7580ae0eUL, 0x800UL },
        { "shrd32", 0x3871ea16UL, 0x1dbd4c42UL, 26, 0x14UL, 0x6f53108eUL, 0x4UL },
    };

    [Theory]
    [MemberData(nameof(HostDouble))]
    public void ShldShrdMatchHost(string op, ulong dest, ulong src, int count, ulong flagsIn, ulong result, ulong flagsOut)
    {
        using var s = Snip.Run(a =>
        {
            switch (op)
            {
                case "shld16": a.shld(ax, dx, cl); break;
                case "shrd16": a.shrd(ax, dx, cl); break;
                case "shld32": a.shld(eax, edx, cl); break;
                default: a.shrd(eax, edx, cl); break;
            }
            a.int3();
        }, c => { c.R(Reg.Rax) = dest; c.R(Reg.Rdx) = src; c.R(Reg.Rcx) = (ulong)count; c.SetRflags(0x202 | flagsIn); });
        s.AssertInt3();
        ulong mask = op.EndsWith("16") ? 0xFFFF : 0xFFFFFFFF;
        Assert.Equal(result & mask, s.R(Reg.Rax) & mask);
        Assert.Equal(flagsOut, s.Flags);
        if (mask == 0xFFFF) Assert.Equal(dest & ~0xFFFFUL, s.R(Reg.Rax) & ~0xFFFFUL);
    }

    [Fact]
    public void CountZeroChangesNothingAndCountIsMaskedToFiveBits()
    {
        using var s = Snip.Run(a => { a.stc(); a.shl(eax, cl); a.int3(); }, c => { c.R(Reg.Rax) = 0xFFFFFFFF00000001; c.R(Reg.Rcx) = 32; });
        // Count 32 masks to 0: the value and the flags are unchanged, but the 32-bit destination is
        // still written, so the upper half is cleared (observed on the host by the differential tester).
        Assert.Equal(0x0000000000000001UL, s.R(Reg.Rax));
        Assert.Equal(F.CF, s.Flags & F.CF);
        using var t = Snip.Run(a => { a.shl(rax, cl); a.int3(); }, c => { c.R(Reg.Rax) = 3; c.R(Reg.Rcx) = 65; });
        Assert.Equal(6UL, t.R(Reg.Rax)); // 64-bit counts mask to six bits
    }

    [Fact]
    public void ShiftByOneSetsOfFromDefinition()
    {
        using var s = Snip.Run(a => { a.shl(rax, 1); a.int3(); }, c => c.R(Reg.Rax) = 0x4000000000000000);
        Assert.Equal(0x8000000000000000UL, s.R(Reg.Rax));
        Assert.Equal(F.OF | F.SF | F.PF, s.Flags);
        using var r = Snip.Run(a => { a.sar(rax, 1); a.int3(); }, c => c.R(Reg.Rax) = 0x8000000000000001);
        Assert.Equal(0xC000000000000000UL, r.R(Reg.Rax));
        Assert.Equal(F.CF | F.SF | F.PF, r.Flags);
        using var u = Snip.Run(a => { a.shr(rax, 63); a.int3(); }, c => c.R(Reg.Rax) = 0x8000000000000000);
        Assert.Equal(1UL, u.R(Reg.Rax));
        Assert.Equal(F.OF, u.Flags & (F.CF | F.OF)); // CF = bit 62, the last one shifted out
    }

    [Fact]
    public void RclRcr64ThroughCarry()
    {
        using var s = Snip.Run(a => { a.stc(); a.rcl(rax, 1); a.int3(); }, c => c.R(Reg.Rax) = 0x8000000000000000);
        Assert.Equal(1UL, s.R(Reg.Rax));
        Assert.Equal(F.CF, s.Flags & F.CF);
        using var t = Snip.Run(a => { a.stc(); a.rcr(rax, 4); a.int3(); }, c => c.R(Reg.Rax) = 0x18);
        // 65-bit rotate right by 4: CF:0x18 → low bits 1000 shifted out, CF=1 enters bit 60.
        Assert.Equal(0x1000000000000001UL, t.R(Reg.Rax));
        Assert.Equal(1UL, s.Flags & F.CF);
        Assert.Equal(1UL, t.Flags & F.CF);
        using var u = Snip.Run(a => { a.clc(); a.rcl(__dword_ptr[(long)Snip.Scratch], 31); a.int3(); },
            c => c.Memory.Write(Snip.Scratch, 4, 0x3));
        Assert.Equal(0x80000000UL, u.Mem(Snip.Scratch, 4));
        Assert.Equal(F.CF, u.Flags & F.CF);
    }

    [Fact]
    public void RotateByWidthMultipleStillUpdatesCarry()
    {
        using var s = Snip.Run(a => { a.clc(); a.rol(al, 8); a.int3(); }, c => c.R(Reg.Rax) = 0x81);
        Assert.Equal(0x81UL, s.R(Reg.Rax));
        Assert.Equal(F.CF | F.OF, s.Flags & (F.CF | F.OF));
    }

    [Fact]
    public void Shld64AndShrdMemory()
    {
        using var s = Snip.Run(a => { a.shld(rax, rbx, 8); a.shrd(__qword_ptr[(long)Snip.Scratch], rbx, 4); a.int3(); },
            c => { c.R(Reg.Rax) = 0x0123456789ABCDEF; c.R(Reg.Rbx) = 0xFEDCBA9876543210; c.Memory.Write(Snip.Scratch, 8, 0x1111111111111118); });
        Assert.Equal(0x23456789ABCDEFFEUL, s.R(Reg.Rax));
        Assert.Equal(0x0111111111111111UL, s.Mem64(Snip.Scratch));
        Assert.Equal(F.CF, s.Flags & F.CF);
    }

    [Fact]
    public void Bmi2ShiftsIgnoreFlagsAndMaskCounts()
    {
        using var s = Snip.Run(a =>
        {
            a.stc();
            a.shlx(rax, rbx, rcx);
            a.sarx(edx, ebx, ecx);
            a.shrx(rsi, rbx, rcx);
            a.rorx(rdi, rbx, 4);
            a.int3();
        }, c => { c.R(Reg.Rbx) = 0x80000000000000F0; c.R(Reg.Rcx) = 68; });
        Assert.Equal(0x0000000000000F00UL, s.R(Reg.Rax));
        Assert.Equal(0x0000000FUL, s.R(Reg.Rdx)); // 32-bit: 0xF0 >> 4 (sign bit of ebx is 0)
        Assert.Equal(0x080000000000000FUL, s.R(Reg.Rsi));
        Assert.Equal(0x080000000000000FUL, s.R(Reg.Rdi));
        Assert.Equal(F.CF, s.Flags & F.CF);
    }

    [Fact]
    public void ShiftByOperandWidth()
    {
        // 8- and 16-bit operands are not masked to their width: shifting by the width empties them,
        // and CF is the last bit shifted out (bit 0 for SHL, the top bit for SHR).
        using var s = Snip.Run(a => { a.shl(al, 8); a.setc(bl); a.shr(cx, 16); a.setc(bh); a.sar(dx, 16); a.int3(); },
            c => { c.R(Reg.Rax) = 0xAA01; c.R(Reg.Rcx) = 0x8000; c.R(Reg.Rdx) = 0x8000; });
        Assert.Equal(0xAA00UL, s.R(Reg.Rax));
        Assert.Equal(1UL, s.R(Reg.Rbx) & 0xFF);
        Assert.Equal(0UL, s.R(Reg.Rcx));
        Assert.Equal(1UL, (s.R(Reg.Rbx) >> 8) & 0xFF);
        Assert.Equal(0xFFFFUL, s.R(Reg.Rdx));
        Assert.Equal(F.CF | F.SF | F.PF, s.Flags);
        using var t = Snip.Run(a => { a.shl(rax, 63); a.int3(); }, c => c.R(Reg.Rax) = 3);
        Assert.Equal(0x8000000000000000UL, t.R(Reg.Rax));
        Assert.Equal(F.CF | F.SF | F.PF, t.Flags & (F.CF | F.SF | F.PF | F.ZF));
    }

    [Fact]
    public void ShiftsRunTheSameAtCpl0()
    {
        using var s = Snip.Run(a => { a.stc(); a.rcr(__byte_ptr[(long)Snip.Scratch], 1); a.int3(); },
            c => c.Memory.Write(Snip.Scratch, 1, 0x02), user: false);
        s.AssertInt3();
        Assert.Equal(0x81UL, s.Mem(Snip.Scratch, 1));
        Assert.Equal(0UL, s.Flags & F.CF);
    }
}
