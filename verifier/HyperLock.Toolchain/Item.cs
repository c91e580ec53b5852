using Iced.Intel;

namespace HyperLock.Toolchain;

internal enum ItemKind : byte { Code, Branch, LabelDef, Align }

/// <summary>Short (rel8), near (rel32), or for loop/jrcxz out of rel8 range: <c>loop T; jmp S; T: jmp L; S:</c>.</summary>
internal enum BranchForm : byte { Short, Near, ShortViaTrampoline }

/// <summary>One unit of layout: instructions that stay together in one bundle, a branch, a label or an alignment.</summary>
internal sealed class Item
{
    public ItemKind Kind;
    public Instruction[] Parts = [];
    public bool EndsBundle;
    /// <summary>LabelDef: the label; Branch: the target label.</summary>
    public int Label = -1;
    /// <summary>Code: label whose position the (single) RIP-relative operand points at, or -1.</summary>
    public int RipLabel = -1;
    public int CodeSize;
    public Code ShortCode, NearCode;
    public BranchForm Form;
    public bool IsCall;
    /// <summary>Layout: padding before the item, its start and its size.</summary>
    public int Pad, Pos, Size;
}
