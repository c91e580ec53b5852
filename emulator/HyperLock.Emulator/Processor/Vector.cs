namespace HyperLock.Emulator.Processor;

/// <summary>Exception vectors by mnemonic.</summary>
public static class Vector
{
    public const int DE = 0, DB = 1, NMI = 2, BP = 3, OF = 4, BR = 5, UD = 6, NM = 7, DF = 8,
        TS = 10, NP = 11, SS = 12, GP = 13, PF = 14, MF = 16, AC = 17, MC = 18, XM = 19, VE = 20, CP = 21;

    private static readonly string[] Mnemonics =
    [
        "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "#09", "#TS", "#NP", "#SS", "#GP", "#PF", "#15",
        "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
    ];

    /// <summary>"#GP", "#PF", …; "INT 0x80" style for other vectors.</summary>
    public static string Name(int vector) => vector < Mnemonics.Length ? Mnemonics[vector] : $"INT 0x{vector:x2}";

    /// <summary>True for the exceptions that push an error code.</summary>
    public static bool HasErrorCode(int vector) =>
        vector is DF or TS or NP or SS or GP or PF or AC or CP;

    /// <summary>Class used for double-fault decisions (SDM "Interrupt 8").</summary>
    public static bool IsContributory(int vector) => vector is DE or TS or NP or SS or GP;

    /// <summary>
    /// Fault-class exceptions, whose pushed RFLAGS image has RF set (SDM 18.3.1.1) so that the
    /// return does not re-trigger an instruction breakpoint. #DB faults are excluded.
    /// </summary>
    public static bool SetsResumeFlag(int vector) => vector is DE or BR or UD or NM or TS or NP or SS or GP or PF or MF or AC or XM or VE or CP;
}
