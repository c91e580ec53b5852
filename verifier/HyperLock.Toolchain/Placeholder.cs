namespace HyperLock.Toolchain; internal static class Placeholder { }
