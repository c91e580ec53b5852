namespace HyperLock.Emulator; internal static class Placeholder { }
