namespace HyperLock.Toolchain;

/// <summary>A position in the assembled image, bound with <see cref="BundleAssembler.Bind"/>.</summary>
public readonly record struct Label(int Id);
