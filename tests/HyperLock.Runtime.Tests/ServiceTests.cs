using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using HyperLock.Abi;
using HyperLock.Emulator.Builders;
using HyperLock.Emulator.Vmx;
using HyperLock.Runtime.Services;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using F = HyperLock.Emulator.Vmx.VmcsField;

namespace HyperLock.Runtime.Tests;

/// <summary>The services' argument checks, through the gate and as properties over arguments.</summary>
public class ServiceTests
{
    private const int Slots = 0x300;

    private static void Call(Assembler a, RuntimeService s, int slot)
    {
        a.mov(r11d, (uint)s);
        a.@int(ServiceRegisters.GateVector);
        a.mov(__qword_ptr[r15 + Slots + slot * 8], rax);
    }

    /// <summary>A hypervisor that, at its first exit, calls services with good and bad arguments and records each RAX.</summary>
    internal static Loading.HypervisorImage Probe() => TestHypervisors.Build(a =>
    {
        a.mov(r15, rsi);
        a.mov(ecx, 0xC0000080); a.xor(eax, eax); a.xor(edx, edx);
        Call(a, RuntimeService.WriteMsr, 0);                    // EFER: not on the list
        a.mov(ecx, MsrAllowList.Lstar); a.mov(eax, 0x1000); a.mov(edx, 0xFFFF8000);
        Call(a, RuntimeService.WriteMsr, 1);
        a.mov(ecx, MsrAllowList.Lstar); a.xor(eax, eax); a.xor(edx, edx);
        Call(a, RuntimeService.ReadMsr, 2);
        a.mov(__qword_ptr[r15 + Slots + 3 * 8], rdx);
        a.mov(edi, 0x200);
        Call(a, RuntimeService.MapGfnToPfn, 4);                 // one past the guest's last page
        a.mov(edi, 0x90);
        Call(a, RuntimeService.MapGfnToPfn, 5);
        a.mov(__qword_ptr[rax + 0x100], 0x1234);                 // through the window into guest memory
        a.mov(edi, 0x1000); a.mov(esi, 8); a.mov(edx, 1);
        Call(a, RuntimeService.EptUpdate, 6);                   // permission bit 3: refused
        a.mov(edi, F.EptPointer); a.xor(esi, esi);
        Call(a, RuntimeService.ControlWrite, 7);                // EPTP belongs to the runtime
        a.mov(edi, F.ExceptionBitmap); a.mov(esi, 0x40);
        Call(a, RuntimeService.ControlWrite, 8);
        a.mov(edi, 2);
        Call(a, RuntimeService.SetXcr0, 9);                     // no x87 bit
        a.mov(edi, 3);
        Call(a, RuntimeService.SetXcr0, 10);
        a.mov(r11d, 999);
        a.@int(ServiceRegisters.GateVector);
        a.mov(__qword_ptr[r15 + Slots + 11 * 8], rax);
        a.mov(__dword_ptr[r15 + 0x280], 0x216968);             // "hi!"
        a.lea(rdi, __qword_ptr[r15 + 0x280]); a.mov(esi, 3);
        Call(a, RuntimeService.Report, 12);
        a.lea(rdi, __qword_ptr[r15 + 0x280]); a.xor(esi, esi);
        Call(a, RuntimeService.Report, 13);                     // empty
        a.lea(rdi, __qword_ptr[r15 + 0x3FFF]); a.mov(esi, 2);
        Call(a, RuntimeService.Report, 14);                     // runs past the data area
        a.mov(edi, 0x1000); a.mov(esi, 2);
        Call(a, RuntimeService.Report, 15);                     // not in the data area
        a.xor(edi, edi);
        a.mov(r11d, (uint)RuntimeService.Exit);
        a.@int(ServiceRegisters.GateVector);
        TestHypervisors.Hang(a);
    });

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ServicesThroughTheGateCheckTheirArguments(bool confined)
    {
        using var rt = new IsolationRuntime();
        var inst = rt.AddGuest(TestGuests.CpuidAndIo(), rt.Load(Probe()), confined);
        rt.Run(2_000_000);
        Assert.True(inst.State == InstanceState.Finished, inst.Report?.ToString());
        long Slot(int k) => (long)rt.Board.Memory.Read(inst.DataFrames[0] + Slots + (ulong)k * 8, 8);
        Assert.Equal((long)RuntimeStatus.MsrNotAllowed, Slot(0));
        Assert.Equal(0, Slot(1));
        Assert.Equal(0x1000, Slot(2));
        Assert.Equal(0xFFFF8000, Slot(3));
        Assert.Equal(0xFFFF8000_00001000UL, inst.CpuState.Msrs[MsrAllowList.Lstar]);
        Assert.Equal((long)RuntimeStatus.OutOfRange, Slot(4));
        Assert.Equal((long)(ConfinedLayout.GuestWindow + 0x90 * 0x1000), Slot(5));
        Assert.Equal(0x1234UL, rt.Board.Memory.Read(inst.GuestBase + 0x90100, 8));
        Assert.Equal((long)RuntimeStatus.BadPermissions, Slot(6));
        Assert.Equal((long)RuntimeStatus.FieldNotAllowed, Slot(7));
        Assert.Equal(0, Slot(8));
        Assert.Equal(0x40UL, rt.Board.Cpu.ReadVmcsField(F.ExceptionBitmap));
        Assert.Equal((long)RuntimeStatus.InvalidValue, Slot(9));
        Assert.Equal(0, Slot(10));
        Assert.Equal(3UL, inst.CpuState.Xcr0);
        Assert.Equal((long)RuntimeStatus.UnknownService, Slot(11));
        Assert.Equal(0, Slot(12));
        Assert.Equal((long)RuntimeStatus.OutOfRange, Slot(13));
        Assert.Equal((long)RuntimeStatus.OutOfRange, Slot(14));
        Assert.Equal((long)RuntimeStatus.OutOfRange, Slot(15));
        Assert.Equal("hi!", System.Text.Encoding.ASCII.GetString(Assert.Single(inst.Reported)));
        Assert.Equal(rt.Board.Cpu.ReadVmcsField(F.EptPointer), inst.Ept.Pointer());
    }

    private static IsolationRuntime Fresh(out Instance inst)
    {
        var rt = new IsolationRuntime();
        inst = rt.AddGuest(TestGuests.CpuidAndIo(), rt.Load(TestHypervisors.CpuidAndIo()));
        return rt;
    }

    private static Arbitrary<ulong> Gfns() =>
        Gen.OneOf(Gen.Choose(0, 1100).Select(i => (ulong)i), ArbMap.Default.GeneratorFor<ulong>()).ToArbitrary();

    [Property(MaxTest = 100)]
    public Property MapGfnToPfnNeverMapsOutsideTheInstancesGuest() => Prop.ForAll(Gfns(), gfn =>
    {
        using var rt = Fresh(out var inst);
        var before = inst.Space.Mappings();
        ulong result = ServiceTable.MapGfnToPfn(inst, gfn);
        var after = inst.Space.Mappings();
        var added = after.Where(m => !before.Contains(m)).ToList();
        if (gfn >= inst.GuestPages)
            return result == ServiceTable.St(RuntimeStatus.OutOfRange) && added.Count == 0 && after.Count == before.Count;
        return result == ConfinedLayout.GuestWindow + gfn * 0x1000 && added.Count == 1 && after.Count == before.Count + 1
            && added[0].Linear == result && added[0].Physical == inst.GuestBase + gfn * 0x1000 && added[0].NoExecute && added[0].Writable;
    });

    [Property(MaxTest = 100)]
    public Property EptUpdateIsAllOrNothing() => Prop.ForAll(
        Gen.OneOf(Gen.Choose(0, 600).Select(i => (ulong)i * 0x1000), Gen.Choose(0, 0x300000).Select(i => (ulong)i), ArbMap.Default.GeneratorFor<ulong>()).ToArbitrary(),
        Gen.Choose(0, 15).Select(i => (ulong)i).ToArbitrary(),
        Gen.OneOf(Gen.Choose(0, 600).Select(i => (ulong)i), ArbMap.Default.GeneratorFor<ulong>()).ToArbitrary(),
        (gpa, perms, pages) =>
        {
            using var rt = Fresh(out var inst);
            var before = inst.Ept.Mappings();
            var status = ServiceTable.EptUpdate(inst, gpa, perms, pages);
            var after = inst.Ept.Mappings();
            if (status != RuntimeStatus.Ok) return after.SequenceEqual(before);
            // Applied: no new guest page, the same frames; exactly the range changed (permissions 0 = not present).
            var b = before.ToDictionary(m => m.GuestPhysical);
            var a = after.ToDictionary(m => m.GuestPhysical);
            if (a.Keys.Any(k => !b.ContainsKey(k))) return false;
            foreach (var (g, m) in b)
            {
                bool inRange = g >= gpa && g < gpa + pages * 0x1000;
                if (inRange && perms == 0) { if (a.ContainsKey(g)) return false; continue; }
                if (!a.TryGetValue(g, out var n) || n.HostPhysical != m.HostPhysical) return false;
                if (n.HostPhysical < inst.GuestBase || n.HostPhysical >= inst.GuestBase + inst.GuestSize) return false;
                if (inRange ? n.Permissions != (EptPermissions)perms : n.Permissions != m.Permissions) return false;
            }
            return true;
        });

    [Property(MaxTest = 100)]
    public Property ReportReadsOnlyTheInstancesDataAreaOrNothing() => Prop.ForAll(
        Gen.OneOf(Gen.Choose(-0x100, 0x1100).Select(i => ConfinedLayout.Data + (ulong)(long)i), ArbMap.Default.GeneratorFor<ulong>()).ToArbitrary(),
        Gen.OneOf(Gen.Choose(0, 300).Select(i => (ulong)i), ArbMap.Default.GeneratorFor<ulong>()).ToArbitrary(),
        (buffer, length) =>
        {
            using var rt = Fresh(out var inst);
            ulong dataSize = (ulong)inst.DataFrames.Length * 0x1000;
            for (ulong k = 0; k < dataSize; k++) rt.Board.Memory.Write(inst.DataFrames[k / 0x1000] + k % 0x1000, 1, (k * 7 + 3) & 0xFF);
            var table = new ServiceTable(rt);
            var status = table.Report(inst, buffer, length);
            bool inside = length is >= 1 and <= ServiceTable.MaxReportLength && buffer >= ConfinedLayout.Data
                && buffer - ConfinedLayout.Data <= dataSize && buffer - ConfinedLayout.Data + length <= dataSize;
            if (!inside) return status == RuntimeStatus.OutOfRange && inst.Reported.Count == 0;
            if (status != RuntimeStatus.Ok || inst.Reported.Count != 1 || (ulong)inst.Reported[0].Length != length) return false;
            ulong off = buffer - ConfinedLayout.Data;
            for (ulong k = 0; k < length; k++)
                if (inst.Reported[0][k] != (byte)(((off + k) * 7 + 3) & 0xFF)) return false;
            return true;
        });

    private static readonly uint[] ControlFields =
    [
        F.ProcControls, F.PinControls, F.ExceptionBitmap, F.Cr0GuestHostMask, F.Cr4ReadShadow, F.PreemptionTimerValue,
        F.EptPointer, F.IoBitmapA, F.MsrBitmap, F.HostRip, F.HostCr3, F.ProcControls2, F.VmcsLinkPointer, F.ExitControls, F.GuestRip,
    ];

    [Property(MaxTest = 60)]
    public Property ControlWriteChangesOnlyMaskedBitsOfCoveredFieldsOrNothing() => Prop.ForAll(
        Gen.Elements(ControlFields).ToArbitrary(),
        Gen.Choose(0, 31).ToArbitrary(),
        Gen.Elements(true, false).ToArbitrary(),
        (field, bit, flipOnly) =>
        {
            using var rt = new IsolationRuntime();
            var inst = rt.AddGuest(TestGuests.CpuidAndIo(), rt.Load(TestHypervisors.CpuidAndIo()), deviceModel: new CountingDevice());
            rt.Run(5_000_000); // leaves the instance's VMCS current
            var cpu = rt.Board.Cpu;
            var before = VmcsFields.All.Select(f => cpu.ReadVmcsField(f.Encoding)).ToArray();
            ulong old = cpu.ReadVmcsField(field);
            ulong value = flipOnly ? old ^ (1UL << bit) : ~old;
            var status = ServiceTable.ControlWrite(cpu, field, value);
            var after = VmcsFields.All.Select(f => cpu.ReadVmcsField(f.Encoding)).ToArray();
            ulong? mask = ControlWritePolicy.MaskOf(field);
            if (status != RuntimeStatus.Ok) return before.SequenceEqual(after);
            if (mask is null || cpu.ReadVmcsField(field) != ((old & ~mask.Value) | (value & mask.Value))) return false;
            for (int k = 0; k < before.Length; k++)
                if (VmcsFields.All[k].Encoding != field && before[k] != after[k]) return false;
            return true;
        });

    [Fact]
    public void TheControlWriteMasksNeverCoverWhatTheRuntimeOwns()
    {
        Assert.Equal(0UL, ControlWritePolicy.MaskOf(F.ProcControls)!.Value & (VmxControls.ProcUncondIo | VmxControls.ProcIoBitmaps
            | VmxControls.ProcMsrBitmaps | VmxControls.ProcSecondary));
        Assert.Equal(0UL, ControlWritePolicy.MaskOf(F.PinControls)!.Value & VmxControls.PinExtIntExiting);
        foreach (uint f in new[] { F.EptPointer, F.IoBitmapA, F.IoBitmapB, F.MsrBitmap, F.VmcsLinkPointer, F.HostRip, F.HostCr3, F.HostRsp,
                     F.ExitControls, F.EntryControls, F.ProcControls2 })
            Assert.Null(ControlWritePolicy.MaskOf(f));
    }

    [Fact]
    public void TheMsrBitmapIsTheRuntimesAndPassesThroughOnlyTheSwitchedMsrs()
    {
        using var rt = new IsolationRuntime();
        var inst = rt.AddGuest(TestGuests.CpuidAndIo(), rt.Load(TestHypervisors.CpuidAndIo()), deviceModel: new CountingDevice());
        rt.Run(5_000_000); // leaves the instance's VMCS current
        var cpu = rt.Board.Cpu;
        Assert.NotEqual(0UL, cpu.ReadVmcsField(F.ProcControls) & VmxControls.ProcMsrBitmaps);
        Assert.Equal(inst.MsrBitmapFrame, cpu.ReadVmcsField(F.MsrBitmap));
        // The hypervisor can neither move the bitmap nor turn it off.
        Assert.NotEqual(RuntimeStatus.Ok, ServiceTable.ControlWrite(cpu, F.MsrBitmap, ConfinedLayout.Data));
        ServiceTable.ControlWrite(cpu, F.ProcControls, 0);
        Assert.NotEqual(0UL, cpu.ReadVmcsField(F.ProcControls) & VmxControls.ProcMsrBitmaps);
        Assert.Equal(inst.MsrBitmapFrame, cpu.ReadVmcsField(F.MsrBitmap));
        // Exactly the read and write bits of the passed-through MSRs are clear.
        var clear = new List<string>();
        for (int b = 0; b < 4096 * 8; b++)
        {
            if (((rt.Board.Memory.Read(inst.MsrBitmapFrame + (ulong)(b >> 3), 1) >> (b & 7)) & 1) != 0) continue;
            uint msr = (uint)(b & 0x1FFF) + ((b >> 13) % 2 == 1 ? 0xC0000000u : 0);
            clear.Add($"{(b >= 2048 * 8 ? "write" : "read")} {msr:x}");
        }
        var expected = MsrBitmap.PassedThrough.SelectMany(m => new[] { $"read {m:x}", $"write {m:x}" });
        Assert.Equal(expected.Order(), clear.Order());
        foreach (uint msr in MsrBitmap.PassedThrough)
            Assert.True(MsrAllowList.SwitchedAtEntry.Contains(msr) || MsrAllowList.SwitchedByVmcs.Contains(msr) || msr is 0xC0000100 or 0xC0000101);
    }
}
