using HyperLock.Abi;
using HyperLock.Emulator.Builders;
using HyperLock.Emulator.Processor;
using HyperLock.Runtime.Spaces;

namespace HyperLock.Runtime.Services;

/// <summary>
/// The runtime services behind <c>int 0x82</c> (docs/runtime.md, "Services"). Each reads its
/// arguments from the trampoline's save frame, checks them against the calling instance's own
/// resources, and either refuses (a negative <see cref="RuntimeStatus"/> in RAX, nothing
/// changed) or applies the whole request.
/// </summary>
internal sealed class ServiceTable(IsolationRuntime runtime)
{
    private const ulong Page = FrameAllocator.FrameSize;

    /// <summary>A status as RAX holds it (sign-extended).</summary>
    internal static ulong St(RuntimeStatus s) => unchecked((ulong)(long)s);

    public ServiceOutcome Call(Cpu cpu, Instance inst, FrameRegisters r)
    {
        var service = (RuntimeService)(uint)r[Reg.R11];
        switch (service)
        {
            case RuntimeService.EnterGuest:
                return ServiceOutcome.EnterGuest;
            case RuntimeService.MapGfnToPfn:
                r[Reg.Rax] = MapGfnToPfn(inst, r[Reg.Rdi]);
                break;
            case RuntimeService.EptUpdate:
                r[Reg.Rax] = St(EptUpdate(inst, r[Reg.Rdi], r[Reg.Rsi], r[Reg.Rdx]));
                break;
            case RuntimeService.ReadMsr:
            {
                uint msr = (uint)r[Reg.Rcx];
                if (!MsrAllowList.Contains(msr)) { r[Reg.Rax] = St(RuntimeStatus.MsrNotAllowed); r[Reg.Rdx] = 0; break; }
                uint field = MsrAllowList.GuestField(msr);
                ulong v = field != 0 ? cpu.ReadVmcsField(field) : inst.CpuState.Msrs.GetValueOrDefault(msr);
                r[Reg.Rax] = (uint)v;
                r[Reg.Rdx] = v >> 32;
                break;
            }
            case RuntimeService.WriteMsr:
            {
                uint msr = (uint)r[Reg.Rcx];
                ulong v = ((r[Reg.Rdx] & 0xFFFFFFFF) << 32) | (r[Reg.Rax] & 0xFFFFFFFF);
                if (!MsrAllowList.Contains(msr)) r[Reg.Rax] = St(RuntimeStatus.MsrNotAllowed);
                else if (!MsrAllowList.IsValid(msr, v)) r[Reg.Rax] = St(RuntimeStatus.InvalidValue);
                else
                {
                    inst.CpuState.Msrs[msr] = v;
                    uint field = MsrAllowList.GuestField(msr);
                    if (field != 0) cpu.WriteVmcsField(field, v); // the instance's VMCS is current
                    r[Reg.Rax] = 0;
                }
                break;
            }
            case RuntimeService.ControlWrite:
                r[Reg.Rax] = St(ControlWrite(cpu, (uint)r[Reg.Rdi], r[Reg.Rsi]));
                break;
            case RuntimeService.SetXcr0:
                r[Reg.Rax] = St(SetXcr0(cpu, inst, r[Reg.Rdi]));
                break;
            case RuntimeService.Cpuid:
            {
                var leaf = cpu.Cpuid.Get((uint)r[Reg.Rax], (uint)r[Reg.Rcx]);
                r[Reg.Rax] = leaf.Eax;
                r[Reg.Rbx] = leaf.Ebx;
                r[Reg.Rcx] = leaf.Ecx;
                r[Reg.Rdx] = leaf.Edx;
                break;
            }
            case RuntimeService.ReadTsc:
                r[Reg.Rax] = (uint)cpu.Tsc;
                r[Reg.Rdx] = cpu.Tsc >> 32;
                break;
            case RuntimeService.DeviceRpc:
                r[Reg.Rax] = St(DeviceRpc(inst, r[Reg.Rdi], r[Reg.Rsi]));
                break;
            case RuntimeService.InvalidateEpt:
            case RuntimeService.InvalidateVpid:
                inst.EptFlushPending = true; // the guest's translations (its VPID, its EPTP) go before its next entry
                r[Reg.Rax] = 0;
                break;
            case RuntimeService.Halt:
                inst.YieldRequested = true; // returns at once; the CPU goes to the next instance at this one's next EnterGuest
                r[Reg.Rax] = 0;
                break;
            case RuntimeService.Print:
                inst.Output.Add((byte)r[Reg.Rdi]);
                r[Reg.Rax] = 0;
                break;
            case RuntimeService.Report:
                r[Reg.Rax] = St(Report(inst, r[Reg.Rdi], r[Reg.Rsi]));
                break;
            case RuntimeService.Exit:
                runtime.MarkFinished(inst, (int)r[Reg.Rdi]);
                return ServiceOutcome.Stopped;
            case RuntimeService.Abort:
                runtime.MarkContained(inst, $"hypervisor aborted (code {r[Reg.Rdi]})", ServiceRegisters.GateVector, 0, 0, 0);
                return ServiceOutcome.Stopped;
            default:
                r[Reg.Rax] = St(RuntimeStatus.UnknownService);
                break;
        }
        return ServiceOutcome.Resume;
    }

    /// <summary>Maps guest page <paramref name="gfn"/> into the window; returns its confined linear address or <see cref="RuntimeStatus.OutOfRange"/>.</summary>
    internal static ulong MapGfnToPfn(Instance inst, ulong gfn)
    {
        if (gfn >= inst.GuestPages) return St(RuntimeStatus.OutOfRange);
        ulong linear = ConfinedLayout.GuestWindow + gfn * Page;
        if (inst.Space.Walk(linear) is null)
        {
            SpaceBuilder.MapGuestPage(inst.Space, inst, gfn);
            inst.TlbFlushPending = true; // new tables: drop whatever the instance's PCID holds at its next entry
        }
        return linear;
    }

    /// <summary>Sets the EPT permissions of <paramref name="pages"/> guest pages from <paramref name="gpa"/>: all or nothing.</summary>
    internal static RuntimeStatus EptUpdate(Instance inst, ulong gpa, ulong permissions, ulong pages)
    {
        if ((gpa & (Page - 1)) != 0 || pages == 0 || pages > inst.GuestPages || gpa >= inst.GuestSize
            || gpa / Page + pages > inst.GuestPages) return RuntimeStatus.OutOfRange;
        if ((permissions & ~7UL) != 0) return RuntimeStatus.BadPermissions;
        var p = (EptPermissions)permissions;
        // Write without read is an EPT misconfiguration (SDM 29.3.3.1): refuse rather than plant one.
        if ((permissions & 2) != 0 && (permissions & 1) == 0) return RuntimeStatus.BadPermissions;
        for (ulong k = 0; k < pages; k++)
        {
            ulong g = gpa + k * Page;
            inst.Ept.Map(g, inst.GuestBase + g, p);
        }
        inst.EptFlushPending = true;
        return RuntimeStatus.Ok;
    }

    internal static RuntimeStatus ControlWrite(Cpu cpu, uint field, ulong value)
    {
        ulong? mask = ControlWritePolicy.MaskOf(field);
        if (mask is null) return RuntimeStatus.FieldNotAllowed;
        // Only the masked bits are taken from the request; the rest stay the runtime's (the hypervisor
        // cannot VMREAD control fields, so it cannot know them).
        ulong current = cpu.ReadVmcsField(field);
        ulong merged = (current & ~mask.Value) | (value & mask.Value);
        return cpu.WriteVmcsField(field, merged) ? RuntimeStatus.Ok : RuntimeStatus.FieldNotAllowed;
    }

    internal static RuntimeStatus SetXcr0(Cpu cpu, Instance inst, ulong value)
    {
        var leaf = cpu.Cpuid.Get(0xD, 0);
        ulong supported = leaf.Eax | ((ulong)leaf.Edx << 32);
        if ((value & 1) == 0 || (value & ~supported) != 0 || ((value & 4) != 0 && (value & 2) == 0)) return RuntimeStatus.InvalidValue;
        inst.CpuState.Xcr0 = value;
        return RuntimeStatus.Ok;
    }

    /// <summary>The longest message <see cref="RuntimeService.Report"/> accepts.</summary>
    public const ulong MaxReportLength = 256;

    /// <summary>Copies a message of <paramref name="length"/> bytes at <paramref name="buffer"/> (inside the instance's data area) into its reports.</summary>
    internal RuntimeStatus Report(Instance inst, ulong buffer, ulong length)
    {
        ulong dataSize = (ulong)inst.DataFrames.Length * Page;
        if (length == 0 || length > MaxReportLength || buffer < ConfinedLayout.Data || buffer - ConfinedLayout.Data > dataSize - length)
            return RuntimeStatus.OutOfRange;
        var message = new byte[length];
        ulong off = buffer - ConfinedLayout.Data;
        for (ulong k = 0; k < length; k++)
        {
            ulong o = off + k; // the data frames need not be contiguous
            message[k] = (byte)runtime.Board.Memory.Read(inst.DataFrames[o / Page] + o % Page, 1);
        }
        inst.Reported.Add(message);
        return RuntimeStatus.Ok;
    }

    /// <summary>Request layout (16 bytes in the instance data): u16 port, u8 direction (1 = IN), u8 size, u32 reserved, u64 value; the reply replaces the value.</summary>
    internal const ulong RpcRequestSize = 16;

    internal RuntimeStatus DeviceRpc(Instance inst, ulong buffer, ulong length)
    {
        ulong dataSize = (ulong)inst.DataFrames.Length * Page;
        if (length != RpcRequestSize || buffer < ConfinedLayout.Data || buffer - ConfinedLayout.Data > dataSize - RpcRequestSize
            || (buffer & 7) != 0) return RuntimeStatus.OutOfRange;
        if (inst.DeviceModel is null) return RuntimeStatus.DeviceError;
        var mem = runtime.Board.Memory;
        ulong off = buffer - ConfinedLayout.Data;
        ulong phys = inst.DataFrames[off / Page] + off % Page; // 8-aligned, 16 bytes: within one frame
        ushort port = (ushort)mem.Read(phys, 2);
        bool isIn = mem.Read(phys + 2, 1) == 1;
        int size = (int)mem.Read(phys + 3, 1);
        if (size is not (1 or 2 or 4)) return RuntimeStatus.InvalidValue;
        ulong? reply = inst.DeviceModel.PortIo(port, isIn, size, mem.Read(phys + 8, 8));
        if (reply is null) return RuntimeStatus.DeviceError;
        mem.Write(phys + 8, 8, reply.Value);
        return RuntimeStatus.Ok;
    }
}
