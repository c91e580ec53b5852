using HyperLock.Emulator.Processor;
using HyperLock.Emulator.Processor.Execution;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.Emulator.Tests.Processor;

public class RunLoopTests
{
    [Fact]
    public void CountdownLoopRetiresExactInstructionCount()
    {
        var (env, stop) = SnippetRunner.Run(a =>
        {
            var top = a.CreateLabel();
            a.mov(rcx, 1000);
            a.xor(eax, eax);
            a.Label(ref top);
            a.add(rax, 3);
            a.dec(rcx);
            a.jnz(top);
            a.int3();
        });
        using var _ = env;
        Assert.Equal(StopKind.Exception, stop.Kind);
        Assert.Equal("int3", stop.ToString());
        Assert.Equal(3000UL, env.Cpu.R(Reg.Rax));
        Assert.Equal(0UL, env.Cpu.R(Reg.Rcx));
        // mov, xor, 1000 x (add, dec, jnz), int3
        Assert.Equal(2UL + 3000 + 1, env.Cpu.Retired);
    }

    [Fact]
    public void StoreToCodePageOfRunningBlockIsSeen()
    {
        // The store patches the immediate of the very next instruction, inside the same block.
        // mov rbx, imm64 (10 bytes); mov byte [rbx+15], 0x2A (4 bytes); mov al, 1 (B0 01, imm at offset 15).
        var code = SnippetRunner.Assemble(a =>
        {
            a.mov(rbx, 0x400000L);
            a.mov(__byte_ptr[rbx + 15], 0x2A);
            a.mov(al, 0x01);
            a.int3();
        });
        Assert.Equal(0xB0, code[14]);
        using var env = new Loaders.SnippetEnvironment(code, user: false, writableCode: true);
        var stop = env.Cpu.Run(100);
        Assert.Equal("int3", stop.ToString());
        Assert.Equal(0x2AUL, env.Cpu.R(Reg.Rax) & 0xFF);
    }

    [Fact]
    public void SupervisorReadThenWriteOfCodeIsSeenAndRespectsPermissions()
    {
        // At CPL0 a read fills the read TLB for the code page; the following write must still take
        // the write path (permission check, dirty bit, decode-cache invalidation), not the read entry.
        // mov rbx, imm64 (10); mov cl, [rbx+18] (3); mov byte [rbx+17], 0x2A (4); mov al, 1 (B0 01 at 17); int3
        var code = SnippetRunner.Assemble(a =>
        {
            a.mov(rbx, 0x400000L);
            a.mov(cl, __byte_ptr[rbx + 18]);
            a.mov(__byte_ptr[rbx + 18], 0x2A);
            a.mov(al, 0x01);
            a.int3();
        });
        Assert.Equal(0xB0, code[17]);
        using (var env = new Loaders.SnippetEnvironment(code, user: false, writableCode: true))
        {
            Assert.Equal("int3", env.Cpu.Run(100).ToString());
            Assert.Equal(0x2AUL, env.Cpu.R(Reg.Rax) & 0xFF);
            Assert.Equal(0x01UL, env.Cpu.R(Reg.Rcx) & 0xFF);
        }
        // Same code with read-only code pages and CR0.WP = 1: the write faults even after the read.
        using (var env = new Loaders.SnippetEnvironment(code, user: false, writableCode: false))
        {
            var stop = env.Cpu.Run(100);
            Assert.Equal(Vector.PF, stop.Vector);
            Assert.Equal(Cpu.PfPresent | Cpu.PfWrite, stop.ErrorCode);
        }
    }

    [Theory]
    [InlineData(0x20000000UL, Cpu.PfUser | Cpu.PfFetch)]                        // not present
    [InlineData(0x10000000UL, Cpu.PfPresent | Cpu.PfUser | Cpu.PfFetch)]    // scratch is NX
    public void FetchFaultsReportInstructionFetchWithNx(ulong target, uint expectedError)
    {
        var (env, stop) = SnippetRunner.Run(a =>
        {
            a.mov(rax, (long)target);
            a.jmp(rax);
        });
        using var _ = env;
        Assert.Equal(Vector.PF, stop.Vector);
        Assert.Equal(expectedError, stop.ErrorCode);
        Assert.Equal(target, env.Cpu.Cr2);
        Assert.Equal(target, env.Cpu.Rip);
    }

    [Fact]
    public void InstructionLimitStopsExactly()
    {
        var (env, stop) = SnippetRunner.Run(a =>
        {
            var top = a.CreateLabel();
            a.Label(ref top);
            a.inc(rax);
            a.jmp(top);
        }, maxSteps: 101);
        using var _ = env;
        Assert.Equal(StopKind.InstructionLimit, stop.Kind);
        Assert.Equal(101UL, env.Cpu.Retired);
        Assert.Equal(51UL, env.Cpu.R(Reg.Rax));
    }

    [Fact]
    public void UserWriteToReadOnlyCodeRaisesPageFaultWithErrorCode()
    {
        var (env, stop) = SnippetRunner.Run(a =>
        {
            a.mov(rbx, 0x400000);
            a.mov(__qword_ptr[rbx], rax);
        });
        using var _ = env;
        Assert.Equal(StopKind.Exception, stop.Kind);
        Assert.Equal(Vector.PF, stop.Vector);
        Assert.Equal(Cpu.PfPresent | Cpu.PfWrite | Cpu.PfUser, stop.ErrorCode);
        Assert.Equal(0x400000UL, env.Cpu.Cr2);
        Assert.Equal(0x40000AUL, env.Cpu.Rip); // at the faulting mov
    }
}
