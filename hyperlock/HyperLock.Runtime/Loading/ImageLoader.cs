using HyperLock.Abi;
using HyperLock.Emulator.Builders;
using HyperLock.Emulator.Memory;
using HyperLock.Verifier;

namespace HyperLock.Runtime.Loading;

/// <summary>
/// Verify, then load (SPEC §5, §6): an image is verified with its manifest's entries declared;
/// a rejected image is refused with the findings; an accepted one is copied into code frames
/// once, the last frame's tail filled with INT3. Every entry must be a bundle-aligned validated
/// instruction start.
/// </summary>
public static class ImageLoader
{
    /// <summary>What fills the last code frame past the end of the image (INT3).</summary>
    public const byte TailPadding = 0xCC;

    /// <summary>Verifies <paramref name="image"/> without loading it; throws <see cref="ImageRejectedException"/> when it may not run.</summary>
    public static VerificationResult Check(HypervisorImage image)
    {
        var entries = image.Manifest.AllEntries().ToList();
        var result = ImageVerifier.Verify(image.Code, new VerifierOptions { EntryPoints = entries, GateVector = ServiceRegisters.GateVector });
        if (!result.Accepted)
            throw new ImageRejectedException(
                $"hypervisor image rejected: {result.Findings.Count} finding(s), first: {result.Findings[0]}", result);
        foreach (long e in entries)
            if (e % VerifierOptions.BundleSize != 0 || !result.ValidatedStarts.Contains(e))
                throw new ImageRejectedException($"hypervisor image rejected: entry 0x{e:x} is not a bundle-aligned validated instruction start", result);
        if (image.Manifest.DataSize < ConfinedLayout.GuestRegistersSize || image.Manifest.StackSize == 0)
            throw new ImageRejectedException("hypervisor image rejected: data or stack size too small", result);
        return result;
    }

    /// <summary>Checks the image and copies its code into frames from <paramref name="frames"/> (one copy, whatever the number of instances).</summary>
    public static LoadedImage Load(HypervisorImage image, PhysicalMemory memory, FrameAllocator frames)
    {
        var result = Check(image);
        int pages = (int)(((ulong)image.Code.Length + FrameAllocator.FrameSize - 1) / FrameAllocator.FrameSize);
        var codeFrames = new ulong[pages];
        for (int p = 0; p < pages; p++)
        {
            codeFrames[p] = frames.Allocate();
            int from = p * (int)FrameAllocator.FrameSize;
            int len = Math.Min((int)FrameAllocator.FrameSize, image.Code.Length - from);
            memory.WriteBytes(codeFrames[p], image.Code.AsSpan(from, len));
        }
        // The rest of the last frame is executable too: INT3 there, so a masked jump past the end
        // of the image traps (#BP, contained) instead of running bytes the verifier never saw.
        int tail = (int)((ulong)pages * FrameAllocator.FrameSize - (ulong)image.Code.Length);
        if (tail > 0)
        {
            Span<byte> pad = stackalloc byte[tail];
            pad.Fill(TailPadding);
            memory.WriteBytes(codeFrames[^1] + (FrameAllocator.FrameSize - (ulong)tail), pad);
        }
        return new LoadedImage(image, result, codeFrames);
    }
}
