namespace HyperLock.Verifier; internal static class Placeholder { }
