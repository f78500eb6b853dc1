//! Operations on 64-bit values (`i64`, `u64`, `f64`): what a GPU without
//! `SHADER_INT64` or `SHADER_F64` cannot run, so the kernels that most need
//! the CPU.
//!
//! A 64-bit value lives in two lane registers, its low word first; each
//! operation here reads its operands' words lane by lane into `u64`s,
//! evaluates one scalar rule and writes the result's words back. That is a
//! plain per-lane loop with the operation matched in it, several times
//! slower than the 32-bit lane loops, which is the trade chosen: these
//! kernels are rare, and data movement (loads, stores, copies, selects,
//! indexing) already goes word by word at full speed.
//!
//! The rules are WGSL's integer rules at 64 bits (wrapping arithmetic,
//! `x / 0 = x`, `x % 0 = 0`, shift amounts modulo 64) and IEEE binary64
//! arithmetic. Conversions follow naga's constant evaluator, so a
//! conversion folded at compile time and one done at run time agree: a
//! float saturates at the largest float the integer type holds, and
//! between integers of different widths the value is Rust's `as` (sign
//! extension from `i32`, zero extension from `u32`).
//!
//! Invariant: `dst` never names an operand's register (lowering writes
//! fresh registers), and nothing here panics on any bit pattern.

use std::mem::take;

use super::program::{BinaryOp, MathOp, Reg, Scalar, TernaryOp, UnaryOp, WideOp};
use super::semantics::quantize_to_f16;

/// Runs `op` over every lane: `args` are the operands' registers, one per
/// word, `dst` the result's.
pub(crate) fn run(op: WideOp, dst: &[Reg], args: &[Vec<Reg>], registers: &mut [Vec<u32>]) {
    let Some(&low_reg) = dst.first() else { return };
    let mut low = take(&mut registers[low_reg as usize]);
    let mut high = dst.get(1).map(|&h| take(&mut registers[h as usize]));
    let operand = |k: usize, lane: usize| -> u64 {
        let Some(words) = args.get(k) else { return 0 };
        let word = |i: usize| {
            words
                .get(i)
                .map_or(0, |&r| u64::from(registers[r as usize][lane]))
        };
        word(0) | (word(1) << 32)
    };
    for lane in 0..low.len() {
        let operands = [operand(0, lane), operand(1, lane), operand(2, lane)];
        let result = eval(op, operands).unwrap_or(0);
        low[lane] = result as u32;
        if let Some(high) = &mut high {
            high[lane] = (result >> 32) as u32;
        }
    }
    registers[low_reg as usize] = low;
    if let (Some(high), Some(&h)) = (high, dst.get(1)) {
        registers[h as usize] = high;
    }
}

/// Whether the executor computes `op` (lowering refuses the rest).
pub(crate) fn supports(op: WideOp) -> bool {
    eval(op, [0; 3]).is_some()
}

fn f(bits: u64) -> f64 {
    f64::from_bits(bits)
}

fn bits(x: f64) -> u64 {
    x.to_bits()
}

fn truth(x: bool) -> u64 {
    u64::from(x)
}

/// `op` on one lane's operands, each widened to 64 bits (a 32-bit operand
/// zero-extended); the result's bits, or `None` when `op` is not one the
/// executor computes.
fn eval(op: WideOp, x: [u64; 3]) -> Option<u64> {
    match op {
        WideOp::Unary(op, ty) => unary(op, ty, x[0]),
        WideOp::Binary(op, Scalar::F64) => float_binary(op, f(x[0]), f(x[1]), x[1]),
        WideOp::Binary(op, Scalar::I64) => signed_binary(op, x[0] as i64, x[1] as i64),
        WideOp::Binary(op, Scalar::U64) => unsigned_binary(op, x[0], x[1]),
        WideOp::Math(op, Scalar::F64) => float_math(op, f(x[0])).map(bits),
        WideOp::Math(op, ty @ (Scalar::I64 | Scalar::U64)) => integer_math(op, ty, x[0]),
        WideOp::Ternary(op, ty) => ternary(op, ty, x),
        // Through `f32`, an `f64` would be rounded twice on its way to
        // `f16`; every other source is exact in `f32` where `f16` is finite.
        WideOp::Convert {
            from: Scalar::F64,
            to: Scalar::F16,
        } => None,
        WideOp::Convert { from, to } => Some(convert(read(x[0], from), from, to)),
        _ => None,
    }
}

fn unary(op: UnaryOp, ty: Scalar, x: u64) -> Option<u64> {
    Some(match (op, ty) {
        (UnaryOp::Negate, Scalar::F64) => bits(-f(x)),
        (UnaryOp::Negate, Scalar::I64 | Scalar::U64) => x.wrapping_neg(),
        (UnaryOp::BitNot, Scalar::I64 | Scalar::U64) => !x,
        _ => return None,
    })
}

/// `raw_y` is the second operand's bits: `ldexp`'s exponent is an `i32`.
fn float_binary(op: BinaryOp, x: f64, y: f64, raw_y: u64) -> Option<u64> {
    use BinaryOp as B;
    Some(match op {
        B::Add => bits(x + y),
        B::Subtract => bits(x - y),
        B::Multiply => bits(x * y),
        B::Divide => bits(x / y),
        B::Modulo => bits(x % y),
        B::Min => bits(x.min(y)),
        B::Max => bits(x.max(y)),
        B::Atan2 => bits(x.atan2(y)),
        B::Pow => bits(x.powf(y)),
        // `step(edge = x, y)`.
        B::Step => bits(if y >= x { 1.0 } else { 0.0 }),
        B::Ldexp => bits(ldexp(x, raw_y as u32 as i32)),
        B::Equal => truth(x == y),
        B::NotEqual => truth(x != y),
        B::Less => truth(x < y),
        B::LessEqual => truth(x <= y),
        B::Greater => truth(x > y),
        B::GreaterEqual => truth(x >= y),
        _ => return None,
    })
}

/// The operators whose bits do not depend on signedness.
fn integer_binary(op: BinaryOp, x: u64, y: u64) -> Option<u64> {
    use BinaryOp as B;
    Some(match op {
        B::Add => x.wrapping_add(y),
        B::Subtract => x.wrapping_sub(y),
        B::Multiply => x.wrapping_mul(y),
        B::And => x & y,
        B::InclusiveOr => x | y,
        B::ExclusiveOr => x ^ y,
        B::ShiftLeft => x << (y & 63),
        B::Equal => truth(x == y),
        B::NotEqual => truth(x != y),
        _ => return None,
    })
}

fn signed_binary(op: BinaryOp, x: i64, y: i64) -> Option<u64> {
    use BinaryOp as B;
    Some(match op {
        B::Divide if y == 0 => x as u64,
        B::Divide => x.wrapping_div(y) as u64,
        B::Modulo if y == 0 => 0,
        B::Modulo => x.wrapping_rem(y) as u64,
        B::Min => x.min(y) as u64,
        B::Max => x.max(y) as u64,
        B::ShiftRight => (x >> (y & 63)) as u64,
        B::Less => truth(x < y),
        B::LessEqual => truth(x <= y),
        B::Greater => truth(x > y),
        B::GreaterEqual => truth(x >= y),
        other => return integer_binary(other, x as u64, y as u64),
    })
}

fn unsigned_binary(op: BinaryOp, x: u64, y: u64) -> Option<u64> {
    use BinaryOp as B;
    Some(match op {
        B::Divide => x.checked_div(y).unwrap_or(x),
        B::Modulo => x.checked_rem(y).unwrap_or(0),
        B::Min => x.min(y),
        B::Max => x.max(y),
        B::ShiftRight => x >> (y & 63),
        B::Less => truth(x < y),
        B::LessEqual => truth(x <= y),
        B::Greater => truth(x > y),
        B::GreaterEqual => truth(x >= y),
        other => return integer_binary(other, x, y),
    })
}

fn float_math(op: MathOp, x: f64) -> Option<f64> {
    use MathOp as M;
    Some(match op {
        M::Abs => x.abs(),
        // 0, -0 and NaN keep their value, as `sign_f32` does.
        M::Sign if x > 0.0 => 1.0,
        M::Sign if x < 0.0 => -1.0,
        M::Sign => x,
        M::Floor => x.floor(),
        M::Ceil => x.ceil(),
        M::Round => x.round_ties_even(),
        M::Trunc => x.trunc(),
        M::Fract => x - x.floor(),
        M::Sqrt => x.sqrt(),
        M::InverseSqrt => 1.0 / x.sqrt(),
        M::Exp => x.exp(),
        M::Exp2 => x.exp2(),
        M::Log => x.ln(),
        M::Log2 => x.log2(),
        M::Sin => x.sin(),
        M::Cos => x.cos(),
        M::Tan => x.tan(),
        M::Asin => x.asin(),
        M::Acos => x.acos(),
        M::Atan => x.atan(),
        M::Sinh => x.sinh(),
        M::Cosh => x.cosh(),
        M::Tanh => x.tanh(),
        M::Asinh => x.asinh(),
        M::Acosh => x.acosh(),
        M::Atanh => x.atanh(),
        M::Radians => x.to_radians(),
        M::Degrees => x.to_degrees(),
        M::Saturate => x.clamp(0.0, 1.0),
        _ => return None,
    })
}

fn integer_math(op: MathOp, ty: Scalar, x: u64) -> Option<u64> {
    use MathOp as M;
    let signed = ty == Scalar::I64;
    Some(match op {
        M::Abs if signed => (x as i64).wrapping_abs() as u64,
        M::Abs => x,
        M::Sign if signed => (x as i64).signum() as u64,
        M::Sign => truth(x != 0),
        M::CountOneBits => u64::from(x.count_ones()),
        M::CountLeadingZeros => u64::from(x.leading_zeros()),
        M::CountTrailingZeros => u64::from(x.trailing_zeros()),
        M::ReverseBits => x.reverse_bits(),
        // As the 32-bit rules: the highest bit that differs from the sign
        // bit (signed) or is set (unsigned); all ones when there is none.
        M::FirstLeadingBit if signed && (x as i64) < 0 => leading_bit(!x),
        M::FirstLeadingBit => leading_bit(x),
        M::FirstTrailingBit if x == 0 => u64::MAX,
        M::FirstTrailingBit => u64::from(x.trailing_zeros()),
        _ => return None,
    })
}

fn leading_bit(x: u64) -> u64 {
    x.checked_ilog2().map_or(u64::MAX, u64::from)
}

fn ternary(op: TernaryOp, ty: Scalar, [a, b, c]: [u64; 3]) -> Option<u64> {
    Some(match (op, ty) {
        (TernaryOp::Fma, Scalar::F64) => bits(f(a).mul_add(f(b), f(c))),
        (TernaryOp::Mix, Scalar::F64) => bits(f(a) * (1.0 - f(c)) + f(b) * f(c)),
        (TernaryOp::SmoothStep, Scalar::F64) => {
            let (low, high, x) = (f(a), f(b), f(c));
            let t = ((x - low) / (high - low)).clamp(0.0, 1.0);
            bits(t * t * (3.0 - 2.0 * t))
        }
        (TernaryOp::Clamp, Scalar::F64) => bits(f(a).max(f(b)).min(f(c))),
        (TernaryOp::Clamp, Scalar::I64) => (a as i64).max(b as i64).min(c as i64) as u64,
        (TernaryOp::Clamp, Scalar::U64) => a.max(b).min(c),
        _ => return None,
    })
}

/// `e * 2^exponent`, in steps so each factor is representable.
fn ldexp(e: f64, exponent: i32) -> f64 {
    let mut result = e;
    let mut left = exponent.clamp(-2200, 2200);
    while left != 0 {
        let step = left.clamp(-1000, 1000);
        result *= 2f64.powi(step);
        left -= step;
    }
    result
}

/// A value read as the scalar type it is.
#[derive(Clone, Copy)]
enum Value {
    Float(f64),
    Signed(i64),
    Unsigned(u64),
}

fn read(bits: u64, ty: Scalar) -> Value {
    match ty {
        // An `f16` register holds the `f32` of its value.
        Scalar::F32 | Scalar::F16 => Value::Float(f64::from(f32::from_bits(bits as u32))),
        Scalar::F64 => Value::Float(f(bits)),
        Scalar::I32 => Value::Signed(i64::from(bits as u32 as i32)),
        Scalar::I64 => Value::Signed(bits as i64),
        Scalar::U32 | Scalar::Bool | Scalar::U64 => Value::Unsigned(bits),
    }
}

/// The most a float of type `from` converts to in integer type `to`: the
/// largest float of `from`'s width the integer type holds (naga's
/// `min_max_float_representable_by`).
fn float_ceiling(from: Scalar, to: Scalar) -> f64 {
    let from_f32 = from == Scalar::F32;
    if from == Scalar::F16 {
        return 65504.0;
    }
    match to {
        Scalar::I32 if from_f32 => 2_147_483_520.0,
        Scalar::I32 => 2_147_483_647.0,
        Scalar::U32 if from_f32 => 4_294_967_040.0,
        Scalar::U32 => 4_294_967_295.0,
        Scalar::I64 if from_f32 => 9_223_371_487_098_961_920.0,
        Scalar::I64 => 9_223_372_036_854_774_784.0,
        Scalar::U64 if from_f32 => 18_446_742_974_197_923_840.0,
        _ => 18_446_744_073_709_549_568.0,
    }
}

/// `to(x)` for `x` of type `from`, as its result's bits.
fn convert(x: Value, from: Scalar, to: Scalar) -> u64 {
    let floor = match to {
        Scalar::I32 => -2_147_483_648.0,
        Scalar::I64 => -9_223_372_036_854_775_808.0,
        _ => 0.0,
    };
    // Floats saturate (NaN gives 0: Rust's `as`); integers convert as
    // Rust's `as`, which is naga's constant evaluator's rule.
    let integer = |x: Value| -> i128 {
        match x {
            Value::Float(v) => v.clamp(floor, float_ceiling(from, to)) as i128,
            Value::Signed(v) => i128::from(v),
            Value::Unsigned(v) => i128::from(v),
        }
    };
    let float = |x: Value| -> f64 {
        match x {
            Value::Float(v) => v,
            Value::Signed(v) => v as f64,
            Value::Unsigned(v) => v as f64,
        }
    };
    match to {
        Scalar::Bool => truth(match x {
            Value::Float(v) => v != 0.0,
            Value::Signed(v) => v != 0,
            Value::Unsigned(v) => v != 0,
        }),
        Scalar::F64 => bits(float(x)),
        // Integers round to `f32` once, directly (not through `f64`).
        Scalar::F32 => u64::from(
            match x {
                Value::Float(v) => v as f32,
                Value::Signed(v) => v as f32,
                Value::Unsigned(v) => v as f32,
            }
            .to_bits(),
        ),
        Scalar::F16 => {
            let single = f32::from_bits(convert(x, from, Scalar::F32) as u32);
            u64::from(quantize_to_f16(single).to_bits())
        }
        Scalar::I32 | Scalar::U32 => u64::from(integer(x) as u32),
        Scalar::I64 | Scalar::U64 => integer(x) as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(op: WideOp, x: u64) -> u64 {
        eval(op, [x, 0, 0]).expect("supported")
    }

    fn two(op: WideOp, x: u64, y: u64) -> u64 {
        eval(op, [x, y, 0]).expect("supported")
    }

    #[test]
    fn integer_rules_hold_at_sixty_four_bits() {
        let div = WideOp::Binary(BinaryOp::Divide, Scalar::I64);
        let rem = WideOp::Binary(BinaryOp::Modulo, Scalar::I64);
        let min = i64::MIN as u64;
        assert_eq!(two(div, min, u64::MAX), min, "MIN / -1 = MIN");
        assert_eq!(two(rem, min, u64::MAX), 0);
        assert_eq!(two(div, 77, 0), 77, "x / 0 = x");
        assert_eq!(two(rem, 77, 0), 0, "x % 0 = 0");
        let udiv = WideOp::Binary(BinaryOp::Divide, Scalar::U64);
        assert_eq!(two(udiv, u64::MAX, 0), u64::MAX);
        let shl = WideOp::Binary(BinaryOp::ShiftLeft, Scalar::U64);
        assert_eq!(two(shl, 1, 65), 2, "shift amounts modulo 64");
        let shr = WideOp::Binary(BinaryOp::ShiftRight, Scalar::I64);
        assert_eq!(two(shr, min, 63), u64::MAX, "arithmetic shift");
        let abs = WideOp::Math(MathOp::Abs, Scalar::I64);
        assert_eq!(one(abs, min), min, "abs(MIN) = MIN");
    }

    #[test]
    fn bit_built_ins_count_all_sixty_four_bits() {
        let u = |op| WideOp::Math(op, Scalar::U64);
        let i = |op| WideOp::Math(op, Scalar::I64);
        assert_eq!(one(u(MathOp::CountTrailingZeros), 0), 64);
        assert_eq!(one(u(MathOp::CountTrailingZeros), 1 << 40), 40);
        assert_eq!(one(u(MathOp::CountLeadingZeros), 1), 63);
        assert_eq!(one(u(MathOp::CountOneBits), u64::MAX), 64);
        assert_eq!(one(u(MathOp::ReverseBits), 1), 1 << 63);
        assert_eq!(one(u(MathOp::FirstLeadingBit), 1 << 50), 50);
        assert_eq!(one(u(MathOp::FirstLeadingBit), 0), u64::MAX);
        assert_eq!(one(u(MathOp::FirstTrailingBit), 0), u64::MAX);
        assert_eq!(one(u(MathOp::FirstTrailingBit), 1 << 33), 33);
        assert_eq!(one(i(MathOp::FirstLeadingBit), u64::MAX), u64::MAX, "-1");
        assert_eq!(one(i(MathOp::FirstLeadingBit), (-2i64) as u64), 0);
        assert_eq!(one(i(MathOp::FirstLeadingBit), (-(1i64 << 40)) as u64), 39);
    }

    #[test]
    fn floats_saturate_at_the_largest_float_the_integer_type_holds() {
        let convert = |from, to, x| one(WideOp::Convert { from, to }, x);
        let (f32_, f64_) = (Scalar::F32, Scalar::F64);
        let big64 = 1e30f64.to_bits();
        let big32 = u64::from(1e30f32.to_bits());
        assert_eq!(convert(f64_, Scalar::I64, big64), 9_223_372_036_854_774_784);
        assert_eq!(convert(f32_, Scalar::I64, big32), 9_223_371_487_098_961_920);
        assert_eq!(
            convert(f64_, Scalar::U64, big64),
            18_446_744_073_709_549_568
        );
        assert_eq!(
            convert(f32_, Scalar::U64, big32),
            18_446_742_974_197_923_840
        );
        assert_eq!(convert(f64_, Scalar::I32, big64), 2_147_483_647);
        assert_eq!(convert(f64_, Scalar::U32, (-5.0f64).to_bits()), 0);
        assert_eq!(
            convert(f64_, Scalar::I64, (-1e30f64).to_bits()),
            i64::MIN as u64
        );
        assert_eq!(convert(f64_, Scalar::I64, f64::NAN.to_bits()), 0);
        assert_eq!(
            convert(f64_, Scalar::I64, (-2.75f64).to_bits()),
            (-2i64) as u64
        );
    }

    #[test]
    fn conversions_between_widths_follow_the_constant_evaluator() {
        let convert = |from, to, x| one(WideOp::Convert { from, to }, x);
        // `i32` sign-extends and `u32` zero-extends, whatever the target's
        // signedness (Rust's `as`, naga's constant evaluator).
        assert_eq!(convert(Scalar::I32, Scalar::U64, 0xffff_ffff), u64::MAX);
        assert_eq!(convert(Scalar::U32, Scalar::I64, 0xffff_ffff), 0xffff_ffff);
        assert_eq!(
            convert(Scalar::I64, Scalar::I32, 0x1_8000_0001),
            0x8000_0001
        );
        assert_eq!(convert(Scalar::Bool, Scalar::U64, 1), 1);
        assert_eq!(convert(Scalar::U64, Scalar::Bool, 1 << 40), 1);
        // Rounded once, straight to `f32`: through `f64` this value would
        // land on an `f32` tie first and round down to 2^60.
        let x = (1u64 << 60) + (1 << 36) + 1;
        let to_f32 = convert(Scalar::U64, Scalar::F32, x);
        assert_eq!(
            to_f32,
            u64::from((((1u64 << 60) + (1 << 37)) as f32).to_bits())
        );
        assert_ne!(to_f32, u64::from(((x as f64) as f32).to_bits()));
        let narrowed = convert(Scalar::F64, Scalar::F32, 0.1f64.to_bits());
        assert_eq!(narrowed, u64::from(0.1f32.to_bits()));
        let widened = convert(Scalar::F32, Scalar::F64, u64::from(0.1f32.to_bits()));
        assert_eq!(widened, f64::from(0.1f32).to_bits());
    }

    #[test]
    fn what_is_not_computed_is_not_supported() {
        assert!(!supports(WideOp::Math(MathOp::QuantizeToF16, Scalar::F64)));
        assert!(!supports(WideOp::Unary(UnaryOp::LogicalNot, Scalar::I64)));
        assert!(!supports(WideOp::Binary(BinaryOp::Add, Scalar::U32)));
        assert!(supports(WideOp::Binary(BinaryOp::Add, Scalar::U64)));
    }
}
