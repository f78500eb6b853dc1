//! The lowered form of a WGSL entry point: a tree of nodes over numbered
//! lane registers, what `lower` writes and `exec` runs.
//!
//! A register holds one 32-bit word per lane of a batch. Every WGSL value is
//! flattened into its scalar leaves (a `vec3<f32>` is three registers, a
//! struct its members' registers in order), so every operation here is a
//! loop over lanes of one scalar type: that loop, not the tree walk, is where
//! the time goes, and it vectorises.
//!
//! Invariants: a register is written by exactly one operation of the
//! program (naga's expressions are SSA; a variable's registers are written
//! only by masked copies and scatters); constant registers are
//! written once per batch scratch, by the executor, and never again.

/// A lane register's number.
pub(crate) type Reg = u32;

/// The scalar type an operation works on. A 32-bit scalar fills one
/// register, and so does an `F16`, held as the `f32` of the same value
/// (operations on it round their result to `f16`, see `half`); a 64-bit one (`I64`, `U64`, `F64`) fills two, its low word
/// first, and only [`Op::Wide`] computes on it (data movement goes word by
/// word, so loads, stores, copies, selects and indexing need nothing new).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Scalar {
    F32,
    I32,
    U32,
    /// 0 or 1.
    Bool,
    I64,
    U64,
    F64,
    F16,
}

impl Scalar {
    /// Registers (32-bit words) per value.
    pub(crate) fn words(self) -> usize {
        if self.is_wide() {
            2
        } else {
            1
        }
    }

    pub(crate) fn is_wide(self) -> bool {
        matches!(self, Scalar::I64 | Scalar::U64 | Scalar::F64)
    }
}

/// What an [`Op::Wide`] computes; each names its operands' scalar type
/// (a conversion, its source's and its result's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum WideOp {
    Unary(UnaryOp, Scalar),
    /// Comparisons yield `Bool`; a shift's amount is an unsigned integer
    /// of either width.
    Binary(BinaryOp, Scalar),
    Math(MathOp, Scalar),
    Ternary(TernaryOp, Scalar),
    Convert {
        from: Scalar,
        to: Scalar,
    },
}

/// Where a memory access goes. Function and private variables are not
/// here: they live in registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Space {
    /// The launch's storage buffer argument `n` (its buffer argument order).
    Storage(u32),
    /// The launch's uniform `n`.
    Uniform(u32),
    /// The workgroup's `var<workgroup>` memory, all variables laid out one
    /// after another.
    Workgroup,
}

/// Operations of one operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum UnaryOp {
    Negate,
    LogicalNot,
    BitNot,
}

/// Operations of two operands of one scalar type. Comparisons yield `Bool`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum BinaryOp {
    Add,
    Subtract,
    Multiply,
    Divide,
    Modulo,
    Equal,
    NotEqual,
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
    And,
    ExclusiveOr,
    InclusiveOr,
    ShiftLeft,
    ShiftRight,
    Min,
    Max,
    /// `atan2(a, b)`.
    Atan2,
    /// `pow(a, b)`.
    Pow,
    /// `step(edge = a, x = b)`.
    Step,
    /// `ldexp(a, b)`, `b` an `i32`.
    Ldexp,
    /// `dot4I8Packed(a, b)`.
    Dot4I8,
    /// `dot4U8Packed(a, b)`.
    Dot4U8,
}

/// Per-component math functions of one operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum MathOp {
    Abs,
    Sign,
    Floor,
    Ceil,
    Round,
    Trunc,
    Fract,
    Sqrt,
    InverseSqrt,
    Exp,
    Exp2,
    Log,
    Log2,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Tanh,
    Asinh,
    Acosh,
    Atanh,
    Radians,
    Degrees,
    Saturate,
    CountOneBits,
    CountLeadingZeros,
    CountTrailingZeros,
    ReverseBits,
    FirstLeadingBit,
    FirstTrailingBit,
    QuantizeToF16,
    /// `frexp(x).fract`.
    FrexpFraction,
    /// `frexp(x).exp`, an `i32`.
    FrexpExponent,
}

/// What an atomic operation does to the word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum AtomicOp {
    Add,
    Subtract,
    And,
    InclusiveOr,
    ExclusiveOr,
    Min,
    Max,
    Exchange,
    /// Writes `value` only if the word equals `compare`.
    CompareExchange,
}

/// The packing built-ins, `pack4x8snorm` to `pack4xU8Clamp`, and their
/// `unpack` inverses (which have no clamping variants).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Packing {
    Snorm4x8,
    Unorm4x8,
    Snorm2x16,
    Unorm2x16,
    Float2x16,
    I8x4,
    U8x4,
    I8x4Clamp,
    U8x4Clamp,
}

/// How a subgroup reduction or scan combines values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Reduction {
    Add,
    Mul,
    Min,
    Max,
    And,
    Or,
    Xor,
    /// Of booleans: every active lane's is true.
    All,
    /// Of booleans: some active lane's is true.
    Any,
}

/// An operation over the active lanes of each subgroup (see `subgroup`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum SubgroupOp {
    Reduce(Reduction),
    Scan {
        operation: Reduction,
        inclusive: bool,
    },
    /// The first word of `subgroupBallot`: bit `i` for active lane `i`
    /// whose value is true.
    Ballot,
    BroadcastFirst,
    /// `subgroupBroadcast` and `subgroupShuffle`: the value of lane `arg`.
    Gather,
    ShuffleDown,
    ShuffleUp,
    ShuffleXor,
}

/// Per-component functions of three operands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum TernaryOp {
    /// `fma(a, b, c)`, fused.
    Fma,
    /// `clamp(e, low, high)` = `min(max(e, low), high)`.
    Clamp,
    /// `mix(a, b, t)` = `a * (1 - t) + b * t`.
    Mix,
    /// `smoothstep(low, high, x)`.
    SmoothStep,
    /// `extractBits(e, offset, count)`.
    ExtractBits,
}

/// One term of a byte offset: `index * stride`, the index first clamped to
/// `clamp_to - 1` when it indexes a fixed-size array outside a buffer
/// (naga's `Restrict` policy, which wgpu's native backends use there).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct OffsetTerm {
    pub index: Reg,
    pub signed: bool,
    pub stride: u32,
    pub clamp_to: Option<u32>,
}

/// A straight-line operation over every lane of the batch. Only stores,
/// masked copies and scatters look at the active-lane mask; everything else
/// computes inactive lanes too (WGSL's arithmetic is total, so that is safe,
/// and it keeps the loops branch-free).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Op {
    Copy {
        dst: Reg,
        src: Reg,
    },
    /// `dst = src` in active lanes: a store to a variable.
    MaskedCopy {
        dst: Reg,
        src: Reg,
    },
    Unary {
        op: UnaryOp,
        ty: Scalar,
        dst: Reg,
        a: Reg,
    },
    Binary {
        op: BinaryOp,
        ty: Scalar,
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    Math {
        op: MathOp,
        ty: Scalar,
        dst: Reg,
        a: Reg,
    },
    Ternary {
        op: TernaryOp,
        ty: Scalar,
        dst: Reg,
        args: [Reg; 3],
    },
    /// `insertBits(e, newbits, offset, count)`.
    InsertBits {
        dst: Reg,
        args: [Reg; 4],
    },
    /// `dst = pack…(args)`: the components of a vector into one word.
    Pack {
        packing: Packing,
        dst: Reg,
        args: Vec<Reg>,
    },
    /// `dst = unpack…(src)[component]`.
    Unpack {
        packing: Packing,
        component: u32,
        dst: Reg,
        src: Reg,
    },
    /// A subgroup operation on one component; `arg` is the lane index,
    /// delta or mask of a gather or shuffle.
    Subgroup {
        op: SubgroupOp,
        ty: Scalar,
        dst: Reg,
        src: Reg,
        arg: Option<Reg>,
    },
    /// `dst = cond ? accept : reject`, per lane.
    Select {
        dst: Reg,
        cond: Reg,
        accept: Reg,
        reject: Reg,
    },
    /// A value conversion (`f32(i)`, `u32(x)`: saturating from floats).
    Convert {
        dst: Reg,
        src: Reg,
        from: Scalar,
        to: Scalar,
    },
    /// `dst = base + Σ terms`, a byte offset; `u32::MAX` when the sum is
    /// negative or does not fit (so every access through it is out of
    /// bounds).
    Offset {
        dst: Reg,
        base: u32,
        dynamic_base: Option<Reg>,
        terms: Vec<OffsetTerm>,
    },
    /// `dst = word at offset + delta`, 0 when out of bounds; with `half`,
    /// the `f16` at that byte offset, widened to `f32`.
    Load {
        space: Space,
        offset: Option<Reg>,
        delta: u32,
        dst: Reg,
        half: bool,
    },
    /// The word at `offset + delta` = `src` in active lanes; dropped when out
    /// of bounds. With `half`, `src` (an `f16` value held as `f32`) goes to
    /// the two bytes there.
    Store {
        space: Space,
        offset: Option<Reg>,
        delta: u32,
        src: Reg,
        half: bool,
    },
    /// `dst = choices[min(index, len - 1)]`, per lane: a dynamic index into
    /// a value or a variable held in registers.
    Gather {
        dst: Reg,
        index: Reg,
        choices: Vec<Reg>,
    },
    /// `targets[min(index, len - 1)] = src` in active lanes.
    Scatter {
        index: Reg,
        targets: Vec<Reg>,
        src: Reg,
    },
    /// An atomic read-modify-write of the word at `offset + delta`, lane
    /// after lane in the active lanes; `dst` = the word before. Storage
    /// words are shared with other threads' workgroups, so there it is a
    /// real atomic; workgroup memory belongs to this batch alone.
    Atomic {
        space: Space,
        offset: Option<Reg>,
        delta: u32,
        op: AtomicOp,
        /// Min and max compare as `i32`.
        signed: bool,
        value: Reg,
        /// The expected value of a compare-exchange.
        compare: Option<Reg>,
        dst: Reg,
    },
    /// `dst = (bytes of storage argument - header) / stride`.
    ArrayLength {
        dst: Reg,
        binding: u32,
        header: u32,
        stride: u32,
    },
    /// An operation where an operand or the result is a 64-bit scalar:
    /// each operand, and the result, is one register per word (two for a
    /// 64-bit value, low word first).
    Wide {
        op: WideOp,
        dst: Vec<Reg>,
        args: Vec<Vec<Reg>>,
    },
}

impl Op {
    /// The register the operation writes; `None` for stores, scatters and
    /// 64-bit operations, which write memory or several registers.
    pub(crate) fn destination(&self) -> Option<Reg> {
        match *self {
            Op::Copy { dst, .. }
            | Op::MaskedCopy { dst, .. }
            | Op::Unary { dst, .. }
            | Op::Binary { dst, .. }
            | Op::Math { dst, .. }
            | Op::Ternary { dst, .. }
            | Op::InsertBits { dst, .. }
            | Op::Pack { dst, .. }
            | Op::Subgroup { dst, .. }
            | Op::Unpack { dst, .. }
            | Op::Select { dst, .. }
            | Op::Convert { dst, .. }
            | Op::Offset { dst, .. }
            | Op::Load { dst, .. }
            | Op::Atomic { dst, .. }
            | Op::Gather { dst, .. }
            | Op::ArrayLength { dst, .. } => Some(dst),
            Op::Store { .. } | Op::Scatter { .. } | Op::Wide { .. } => None,
        }
    }
}

/// A node of a lowered block.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Node {
    Op(Op),
    If {
        condition: Reg,
        accept: Vec<Node>,
        reject: Vec<Node>,
    },
    /// `loop { body; continuing { continuing; break if break_if } }`; the
    /// `break if` condition is computed inside `continuing`.
    Loop {
        body: Vec<Node>,
        continuing: Vec<Node>,
        break_if: Option<Reg>,
    },
    Switch {
        selector: Reg,
        cases: Vec<SwitchCase>,
    },
    /// Leaves the innermost loop or switch, in the active lanes.
    Break,
    /// Goes on with the innermost loop's `continuing`, in the active lanes.
    Continue,
    /// Leaves the innermost [`Node::Function`], in the active lanes.
    Return,
    /// A function body (the entry point's, or an inlined call's): where
    /// `Return` goes to.
    Function {
        body: Vec<Node>,
    },
}

/// One case of a switch; `values` empty with `default` set is `default`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SwitchCase {
    /// The selector's bit patterns that choose this case.
    pub values: Vec<u32>,
    pub default: bool,
    pub body: Vec<Node>,
    pub fall_through: bool,
}

/// Which per-lane built-in value a register receives before the program runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BuiltinValue {
    GlobalId(usize),
    LocalId(usize),
    LocalIndex,
    WorkgroupId(usize),
    NumWorkgroups(usize),
    SubgroupSize,
    SubgroupInvocationId,
    SubgroupId,
    NumSubgroups,
}

/// A lowered entry point.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Program {
    /// How many registers a batch needs.
    pub registers: u32,
    /// Registers that hold one value in every lane, filled once per batch
    /// scratch.
    pub constants: Vec<(Reg, u32)>,
    /// Registers filled with built-in values before the body runs.
    pub builtins: Vec<(Reg, BuiltinValue)>,
    /// Operations whose values are the same in every lane of every batch of
    /// a launch (they read only constants, the grid size, uniforms and
    /// buffer lengths): run once per batch scratch and launch, before any
    /// batch, instead of in every batch (see `optimize`). Their registers
    /// are written nowhere else.
    pub prologue: Vec<Op>,
    pub body: Vec<Node>,
    pub workgroup_size: [u32; 3],
    /// Bytes of workgroup memory (zeroed for each workgroup).
    pub workgroup_bytes: u32,
}
