//! The lane loops: each arithmetic operation of a program over every lane
//! of a batch, on registers of 32-bit words.
//!
//! Each function matches the operation once and then runs one plain loop
//! over the lanes with the scalar rule inlined, so the compiler turns the
//! common operations (float arithmetic, integer arithmetic, comparisons,
//! selects, masked copies) into vector instructions. Floats live in the
//! registers as their bit patterns: `from_bits`/`to_bits` cost nothing.
//!
//! Every function here is `#[inline(always)]`, so that [`widest`], which
//! the executor runs each operation through, compiles its own copy of
//! each loop for AVX-512, for AVX2 and for the baseline target, and picks
//! one by what the CPU has.
//!
//! Invariant: every slice handed in has the batch's lane count; nothing
//! here looks at the active-lane mask except [`masked_copy`] and
//! [`scatter_into`], which write only active lanes.

use super::half;
use super::program::{
    BinaryOp, MathOp, OffsetTerm, Packing, Scalar, SwitchCase, TernaryOp, UnaryOp,
};
use super::semantics;

/// Runs `work` compiled for the widest vector instructions this CPU has.
#[allow(unsafe_code)]
#[inline(always)]
pub(crate) fn widest<R>(work: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        // Cached by std after the first call: one load and a branch.
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU was just checked to have AVX-512F, the only
            // feature `with_avx512` enables.
            return unsafe { with_avx512(work) };
        }
        if is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU was just checked to have AVX2, the only
            // feature `with_avx2` enables.
            return unsafe { with_avx2(work) };
        }
    }
    work()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn with_avx512<R>(work: impl FnOnce() -> R) -> R {
    work()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn with_avx2<R>(work: impl FnOnce() -> R) -> R {
    work()
}

#[inline(always)]
fn f(bits: u32) -> f32 {
    f32::from_bits(bits)
}

#[inline(always)]
fn map1(dst: &mut [u32], a: &[u32], rule: impl Fn(u32) -> u32) {
    for (d, &x) in dst.iter_mut().zip(a) {
        *d = rule(x);
    }
}

#[inline(always)]
fn map2(dst: &mut [u32], a: &[u32], b: &[u32], rule: impl Fn(u32, u32) -> u32) {
    for ((d, &x), &y) in dst.iter_mut().zip(a).zip(b) {
        *d = rule(x, y);
    }
}

#[inline(always)]
fn map3(dst: &mut [u32], [a, b, c]: [&[u32]; 3], rule: impl Fn(u32, u32, u32) -> u32) {
    for (((d, &x), &y), &z) in dst.iter_mut().zip(a).zip(b).zip(c) {
        *d = rule(x, y, z);
    }
}

#[inline(always)]
fn float1(dst: &mut [u32], a: &[u32], rule: impl Fn(f32) -> f32) {
    map1(dst, a, |x| rule(f(x)).to_bits());
}

#[inline(always)]
fn float2(dst: &mut [u32], a: &[u32], b: &[u32], rule: impl Fn(f32, f32) -> f32) {
    map2(dst, a, b, |x, y| rule(f(x), f(y)).to_bits());
}

#[inline(always)]
fn float_compare(dst: &mut [u32], a: &[u32], b: &[u32], rule: impl Fn(f32, f32) -> bool) {
    map2(dst, a, b, |x, y| u32::from(rule(f(x), f(y))));
}

#[inline(always)]
fn int2(dst: &mut [u32], a: &[u32], b: &[u32], rule: impl Fn(i32, i32) -> i32) {
    map2(dst, a, b, |x, y| rule(x as i32, y as i32) as u32);
}

#[inline(always)]
fn int_compare(dst: &mut [u32], a: &[u32], b: &[u32], rule: impl Fn(i32, i32) -> bool) {
    map2(dst, a, b, |x, y| u32::from(rule(x as i32, y as i32)));
}

#[inline(always)]
fn uint_compare(dst: &mut [u32], a: &[u32], b: &[u32], rule: impl Fn(u32, u32) -> bool) {
    map2(dst, a, b, |x, y| u32::from(rule(x, y)));
}

/// `dst = src`.
#[inline(always)]
pub(crate) fn copy(dst: &mut [u32], src: &[u32]) {
    dst.copy_from_slice(src);
}

/// `dst = src` where `mask` is set (masks hold 0 or 1).
#[inline(always)]
pub(crate) fn masked_copy(dst: &mut [u32], src: &[u32], mask: &[u32]) {
    for ((d, &s), &m) in dst.iter_mut().zip(src).zip(mask) {
        // Bitwise, not `if`: a conditional store does not vectorise.
        let take = m.wrapping_neg();
        *d = (s & take) | (*d & !take);
    }
}

/// A unary operator.
#[inline(always)]
pub(crate) fn unary(op: UnaryOp, ty: Scalar, dst: &mut [u32], a: &[u32]) {
    match (op, ty) {
        (UnaryOp::Negate, Scalar::F32 | Scalar::F16) => float1(dst, a, |x| -x),
        (UnaryOp::Negate, _) => map1(dst, a, u32::wrapping_neg),
        (UnaryOp::LogicalNot, _) => map1(dst, a, |x| u32::from(x == 0)),
        (UnaryOp::BitNot, _) => map1(dst, a, |x| !x),
    }
}

/// A binary operator or two-operand built-in; `ty` is the operands' type.
#[inline(always)]
pub(crate) fn binary(op: BinaryOp, ty: Scalar, dst: &mut [u32], a: &[u32], b: &[u32]) {
    use BinaryOp as B;
    match ty {
        Scalar::F32 => float_binary(op, dst, a, b),
        Scalar::F16 => {
            float_binary(op, dst, a, b);
            let comparison = matches!(
                op,
                B::Equal | B::NotEqual | B::Less | B::LessEqual | B::Greater | B::GreaterEqual
            );
            if !comparison {
                half::round_in_place(dst);
            }
        }
        Scalar::I32 => match op {
            B::Add => map2(dst, a, b, u32::wrapping_add),
            B::Subtract => map2(dst, a, b, u32::wrapping_sub),
            B::Multiply => map2(dst, a, b, u32::wrapping_mul),
            B::Divide => int2(dst, a, b, semantics::div_i32),
            B::Modulo => int2(dst, a, b, semantics::rem_i32),
            B::Min => int2(dst, a, b, i32::min),
            B::Max => int2(dst, a, b, i32::max),
            B::ShiftLeft => map2(dst, a, b, |x, s| x << (s & 31)),
            B::ShiftRight => int2(dst, a, b, |x, s| x >> (s & 31)),
            B::Less => int_compare(dst, a, b, |x, y| x < y),
            B::LessEqual => int_compare(dst, a, b, |x, y| x <= y),
            B::Greater => int_compare(dst, a, b, |x, y| x > y),
            B::GreaterEqual => int_compare(dst, a, b, |x, y| x >= y),
            _ => bits(op, dst, a, b),
        },
        Scalar::U32 | Scalar::Bool => match op {
            B::Add => map2(dst, a, b, u32::wrapping_add),
            B::Subtract => map2(dst, a, b, u32::wrapping_sub),
            B::Multiply => map2(dst, a, b, u32::wrapping_mul),
            B::Divide => map2(dst, a, b, semantics::div_u32),
            B::Modulo => map2(dst, a, b, semantics::rem_u32),
            B::Min => map2(dst, a, b, u32::min),
            B::Max => map2(dst, a, b, u32::max),
            B::ShiftLeft => map2(dst, a, b, |x, s| x << (s & 31)),
            B::ShiftRight => map2(dst, a, b, |x, s| x >> (s & 31)),
            B::Less => uint_compare(dst, a, b, |x, y| x < y),
            B::LessEqual => uint_compare(dst, a, b, |x, y| x <= y),
            B::Greater => uint_compare(dst, a, b, |x, y| x > y),
            B::GreaterEqual => uint_compare(dst, a, b, |x, y| x >= y),
            _ => bits(op, dst, a, b),
        },
        // 64-bit values are computed by `wide`, never here (lowering
        // checks every operation it writes).
        Scalar::I64 | Scalar::U64 | Scalar::F64 => dst.fill(0),
    }
}

/// A binary operator on `f32` lanes.
#[inline(always)]
fn float_binary(op: BinaryOp, dst: &mut [u32], a: &[u32], b: &[u32]) {
    use BinaryOp as B;
    match op {
        B::Add => float2(dst, a, b, |x, y| x + y),
        B::Subtract => float2(dst, a, b, |x, y| x - y),
        B::Multiply => float2(dst, a, b, |x, y| x * y),
        B::Divide => float2(dst, a, b, |x, y| x / y),
        B::Modulo => float2(dst, a, b, |x, y| x % y),
        B::Min => float2(dst, a, b, f32::min),
        B::Max => float2(dst, a, b, f32::max),
        B::Atan2 => float2(dst, a, b, f32::atan2),
        B::Pow => float2(dst, a, b, f32::powf),
        B::Step => float2(dst, a, b, |edge, x| if x >= edge { 1.0 } else { 0.0 }),
        B::Equal => float_compare(dst, a, b, |x, y| x == y),
        B::NotEqual => float_compare(dst, a, b, |x, y| x != y),
        B::Less => float_compare(dst, a, b, |x, y| x < y),
        B::LessEqual => float_compare(dst, a, b, |x, y| x <= y),
        B::Greater => float_compare(dst, a, b, |x, y| x > y),
        B::GreaterEqual => float_compare(dst, a, b, |x, y| x >= y),
        // `ldexp(e1: f32, e2: i32)`: `b` holds integers.
        B::Ldexp => map2(dst, a, b, |x, e| {
            semantics::ldexp_f32(f(x), e as i32).to_bits()
        }),
        // Integer-only (naga's validator).
        B::Dot4I8 | B::Dot4U8 => dst.fill(0),
        // Bitwise operators and shifts do not apply to floats; naga's
        // validator refuses them before a program is lowered.
        B::And | B::ExclusiveOr | B::InclusiveOr | B::ShiftLeft | B::ShiftRight => dst.fill(0),
    }
}

/// The operators that only look at bit patterns, the same for every
/// integer type and `bool`.
#[inline(always)]
fn bits(op: BinaryOp, dst: &mut [u32], a: &[u32], b: &[u32]) {
    match op {
        BinaryOp::Dot4I8 => map2(dst, a, b, |x, y| semantics::dot4_i8(x, y) as u32),
        BinaryOp::Dot4U8 => map2(dst, a, b, semantics::dot4_u8),
        BinaryOp::Equal => uint_compare(dst, a, b, |x, y| x == y),
        BinaryOp::NotEqual => uint_compare(dst, a, b, |x, y| x != y),
        BinaryOp::And => map2(dst, a, b, |x, y| x & y),
        BinaryOp::InclusiveOr => map2(dst, a, b, |x, y| x | y),
        BinaryOp::ExclusiveOr => map2(dst, a, b, |x, y| x ^ y),
        // Float-only built-ins never reach an integer type (naga's
        // validator), and the integer operators are matched before here.
        _ => dst.fill(0),
    }
}

/// A one-operand math built-in, per component.
#[inline(always)]
pub(crate) fn math(op: MathOp, ty: Scalar, dst: &mut [u32], a: &[u32]) {
    use MathOp as M;
    match ty {
        Scalar::F32 => float_math(op, dst, a),
        Scalar::F16 => {
            float_math(op, dst, a);
            if op != M::FrexpExponent {
                half::round_in_place(dst);
            }
        }
        Scalar::I32 => match op {
            M::Abs => map1(dst, a, |x| (x as i32).wrapping_abs() as u32),
            M::Sign => map1(dst, a, |x| (x as i32).signum() as u32),
            M::FirstLeadingBit => map1(dst, a, |x| {
                semantics::first_leading_bit_i32(x as i32) as u32
            }),
            _ => integer_bits(op, dst, a),
        },
        Scalar::U32 | Scalar::Bool => match op {
            M::Abs => copy(dst, a),
            M::Sign => map1(dst, a, |x| u32::from(x != 0)),
            M::FirstLeadingBit => map1(dst, a, semantics::first_leading_bit_u32),
            _ => integer_bits(op, dst, a),
        },
        // See `binary`.
        Scalar::I64 | Scalar::U64 | Scalar::F64 => dst.fill(0),
    }
}

/// A one-operand math built-in on `f32` lanes.
#[inline(always)]
fn float_math(op: MathOp, dst: &mut [u32], a: &[u32]) {
    use MathOp as M;
    match op {
        M::Abs => float1(dst, a, f32::abs),
        M::Sign => float1(dst, a, semantics::sign_f32),
        M::Floor => float1(dst, a, f32::floor),
        M::Ceil => float1(dst, a, f32::ceil),
        M::Round => float1(dst, a, f32::round_ties_even),
        M::Trunc => float1(dst, a, f32::trunc),
        M::Fract => float1(dst, a, |x| x - x.floor()),
        M::Sqrt => float1(dst, a, f32::sqrt),
        M::InverseSqrt => float1(dst, a, |x| 1.0 / x.sqrt()),
        M::Exp => float1(dst, a, f32::exp),
        M::Exp2 => float1(dst, a, f32::exp2),
        M::Log => float1(dst, a, f32::ln),
        M::Log2 => float1(dst, a, f32::log2),
        M::Sin => float1(dst, a, f32::sin),
        M::Cos => float1(dst, a, f32::cos),
        M::Tan => float1(dst, a, f32::tan),
        M::Asin => float1(dst, a, f32::asin),
        M::Acos => float1(dst, a, f32::acos),
        M::Atan => float1(dst, a, f32::atan),
        M::Sinh => float1(dst, a, f32::sinh),
        M::Cosh => float1(dst, a, f32::cosh),
        M::Tanh => float1(dst, a, f32::tanh),
        M::Asinh => float1(dst, a, f32::asinh),
        M::Acosh => float1(dst, a, f32::acosh),
        M::Atanh => float1(dst, a, f32::atanh),
        M::Radians => float1(dst, a, f32::to_radians),
        M::Degrees => float1(dst, a, f32::to_degrees),
        M::Saturate => float1(dst, a, |x| x.clamp(0.0, 1.0)),
        M::QuantizeToF16 => float1(dst, a, semantics::quantize_to_f16),
        M::FrexpFraction => float1(dst, a, semantics::frexp_fraction),
        M::FrexpExponent => map1(dst, a, |x| semantics::frexp_exponent(f(x)) as u32),
        // Bit built-ins take integers only (naga's validator).
        _ => dst.fill(0),
    }
}

#[inline(always)]
fn integer_bits(op: MathOp, dst: &mut [u32], a: &[u32]) {
    match op {
        MathOp::CountOneBits => map1(dst, a, u32::count_ones),
        MathOp::CountLeadingZeros => map1(dst, a, u32::leading_zeros),
        MathOp::CountTrailingZeros => map1(dst, a, u32::trailing_zeros),
        MathOp::ReverseBits => map1(dst, a, u32::reverse_bits),
        MathOp::FirstTrailingBit => map1(dst, a, semantics::first_trailing_bit),
        // Float-only built-ins never reach an integer type (naga's validator).
        _ => dst.fill(0),
    }
}

/// A three-operand built-in, per component.
#[inline(always)]
pub(crate) fn ternary(op: TernaryOp, ty: Scalar, dst: &mut [u32], args: [&[u32]; 3]) {
    if ty == Scalar::F16 {
        narrow_ternary(op, Scalar::F32, dst, args);
        half::round_in_place(dst);
    } else {
        narrow_ternary(op, ty, dst, args);
    }
}

#[inline(always)]
fn narrow_ternary(op: TernaryOp, ty: Scalar, dst: &mut [u32], args: [&[u32]; 3]) {
    match (op, ty) {
        (TernaryOp::Fma, _) => map3(dst, args, |x, y, z| f(x).mul_add(f(y), f(z)).to_bits()),
        (TernaryOp::Mix, _) => map3(dst, args, |x, y, t| {
            (f(x) * (1.0 - f(t)) + f(y) * f(t)).to_bits()
        }),
        (TernaryOp::SmoothStep, _) => map3(dst, args, |low, high, x| {
            semantics::smooth_step(f(low), f(high), f(x)).to_bits()
        }),
        (TernaryOp::Clamp, Scalar::F32) => map3(dst, args, |e, low, high| {
            f(e).max(f(low)).min(f(high)).to_bits()
        }),
        (TernaryOp::Clamp, Scalar::I32) => map3(dst, args, |e, low, high| {
            (e as i32).max(low as i32).min(high as i32) as u32
        }),
        (TernaryOp::Clamp, _) => map3(dst, args, |e, low, high| e.max(low).min(high)),
        (TernaryOp::ExtractBits, Scalar::I32) => map3(dst, args, |e, offset, count| {
            semantics::extract_bits_i32(e as i32, offset, count) as u32
        }),
        (TernaryOp::ExtractBits, _) => map3(dst, args, semantics::extract_bits_u32),
    }
}

/// `insertBits(e, newbits, offset, count)`, per component.
#[inline(always)]
pub(crate) fn insert_bits(dst: &mut [u32], [e, newbits, offset, count]: [&[u32]; 4]) {
    for (lane, d) in dst.iter_mut().enumerate() {
        *d = semantics::insert_bits(e[lane], newbits[lane], offset[lane], count[lane]);
    }
}

/// `dst = cond ? accept : reject`.
#[inline(always)]
pub(crate) fn select(dst: &mut [u32], cond: &[u32], accept: &[u32], reject: &[u32]) {
    map3(
        dst,
        [cond, accept, reject],
        |c, a, r| if c != 0 { a } else { r },
    );
}

/// A value conversion between scalar types (floats to integers saturate,
/// see [`semantics::f32_to_i32`]).
#[inline(always)]
pub(crate) fn convert(dst: &mut [u32], src: &[u32], from: Scalar, to: Scalar) {
    use Scalar as S;
    match (from, to) {
        (S::F32, S::I32) => map1(dst, src, |x| semantics::f32_to_i32(f(x)) as u32),
        (S::F32, S::U32) => map1(dst, src, |x| semantics::f32_to_u32(f(x))),
        (S::F32 | S::F16, S::Bool) => map1(dst, src, |x| u32::from(f(x) != 0.0)),
        (S::F16, S::F32) => copy(dst, src),
        // Every `f16` is within ±65504, naga's clamp for these.
        (S::F16, S::I32) => map1(dst, src, |x| f(x).clamp(-65504.0, 65504.0) as i32 as u32),
        (S::F16, S::U32) => map1(dst, src, |x| f(x).clamp(0.0, 65504.0) as u32),
        // Integers that are finite in `f16` are exact in `f32`: one rounding.
        (S::F32 | S::I32 | S::U32 | S::Bool | S::F16, S::F16) => {
            convert(dst, src, from, S::F32);
            half::round_in_place(dst);
        }
        (S::I32, S::F32) => map1(dst, src, |x| (x as i32 as f32).to_bits()),
        (S::U32 | S::Bool, S::F32) => map1(dst, src, |x| (x as f32).to_bits()),
        (S::I32 | S::U32 | S::Bool, S::Bool) => map1(dst, src, |x| u32::from(x != 0)),
        // Between 32-bit integers (and from bool) the bits carry over.
        (S::I32 | S::U32 | S::Bool, S::I32 | S::U32) | (S::F32, S::F32) => copy(dst, src),
        // See `binary`.
        (S::I64 | S::U64 | S::F64, _) | (_, S::I64 | S::U64 | S::F64) => dst.fill(0),
    }
}

/// `dst = choices[min(index, len - 1)]`, lane by lane.
#[inline(always)]
pub(crate) fn gather(dst: &mut [u32], index: &[u32], choices: &[&[u32]]) {
    let last = choices.len().saturating_sub(1);
    for (lane, d) in dst.iter_mut().enumerate() {
        let chosen = (index[lane] as usize).min(last);
        *d = choices.get(chosen).map_or(0, |c| c[lane]);
    }
}

/// The lanes of `targets[k]` that a scatter of `index` writes: active and
/// `min(index, len - 1) == k`.
#[inline(always)]
pub(crate) fn scatter_into(
    target: &mut [u32],
    k: usize,
    len: usize,
    index: &[u32],
    src: &[u32],
    mask: &[u32],
) {
    let last = len.saturating_sub(1);
    for lane in 0..target.len() {
        if mask[lane] != 0 && (index[lane] as usize).min(last) == k {
            target[lane] = src[lane];
        }
    }
}

/// `dst = base + dynamic`, the start of a byte offset; `u32::MAX` (out of
/// bounds for every access) stays so.
#[inline(always)]
pub(crate) fn offset_start(dst: &mut [u32], base: u32, dynamic: Option<&[u32]>) {
    match dynamic {
        None => dst.fill(base),
        Some(dynamic) => map1(dst, dynamic, |x| {
            if x == u32::MAX {
                u32::MAX
            } else {
                x.saturating_add(base)
            }
        }),
    }
}

/// `dst += index × stride`, saturating at `u32::MAX`; a negative signed
/// index makes the offset `u32::MAX`, a clamped one is first limited to
/// the array's last element.
#[inline(always)]
pub(crate) fn offset_add(dst: &mut [u32], index: &[u32], term: &OffsetTerm) {
    let stride = u64::from(term.stride);
    let add = |o: u32, i: u32| {
        let sum = u64::from(o) + u64::from(i) * stride;
        if o == u32::MAX || sum >= u64::from(u32::MAX) {
            u32::MAX
        } else {
            sum as u32
        }
    };
    match (term.clamp_to, term.signed) {
        (Some(len), _) => {
            let last = len.saturating_sub(1);
            for (o, &i) in dst.iter_mut().zip(index) {
                *o = add(*o, i.min(last));
            }
        }
        (None, true) => {
            for (o, &i) in dst.iter_mut().zip(index) {
                *o = if (i as i32) < 0 { u32::MAX } else { add(*o, i) };
            }
        }
        (None, false) => {
            for (o, &i) in dst.iter_mut().zip(index) {
                *o = add(*o, i);
            }
        }
    }
}

/// `dst = pack…(args)`, per lane.
#[inline(always)]
pub(crate) fn pack(packing: Packing, dst: &mut [u32], args: &[&[u32]]) {
    for (lane, d) in dst.iter_mut().enumerate() {
        let component = |k: usize| args.get(k).map_or(0, |a| a[lane]);
        *d = semantics::pack(
            packing,
            [component(0), component(1), component(2), component(3)],
        );
    }
}

/// `dst = unpack…(src)[component]`, per lane.
#[inline(always)]
pub(crate) fn unpack(packing: Packing, component: u32, dst: &mut [u32], src: &[u32]) {
    map1(dst, src, |x| semantics::unpack(packing, x, component));
}

/// `into |= lanes`, the lanes of two masks.
pub(crate) fn or_into(into: &mut [u32], lanes: &[u32]) {
    widest(
        #[inline(always)]
        || {
            for (a, &b) in into.iter_mut().zip(lanes) {
                *a |= b;
            }
        },
    );
}

/// Splits the active lanes by `condition`: those where it is false move
/// from `mask` to `rejected` (which the caller gives zeroed).
pub(crate) fn split_mask(mask: &mut [u32], rejected: &mut [u32], condition: &[u32]) {
    widest(
        #[inline(always)]
        || {
            for ((m, r), &c) in mask.iter_mut().zip(rejected).zip(condition) {
                let keep = u32::from(c != 0);
                *r = *m & (keep ^ 1);
                *m &= keep;
            }
        },
    );
}

/// Moves the active lanes where `condition` holds from `mask` to `exited`
/// (a loop's `break if`).
pub(crate) fn leave_where(mask: &mut [u32], exited: &mut [u32], condition: &[u32]) {
    widest(
        #[inline(always)]
        || {
            for ((m, x), &c) in mask.iter_mut().zip(exited).zip(condition) {
                let leaving = *m & u32::from(c != 0);
                *x |= leaving;
                *m &= !leaving;
            }
        },
    );
}

/// Whether any lane of `mask` is set: an OR over chunks of 64 lanes, so
/// that each chunk is a few vector instructions and the scan still stops
/// early (a plain `any` tests one lane per cycle, and a batch whose lanes
/// all returned scans every one).
pub(crate) fn any_set(mask: &[u32]) -> bool {
    widest(
        #[inline(always)]
        || {
            mask.chunks(64)
                .any(|chunk| chunk.iter().fold(0, |acc, &m| acc | m) != 0)
        },
    )
}

/// The lanes whose selector picks `case` (for `default`: no other case).
pub(crate) fn case_lanes(case: &SwitchCase, cases: &[SwitchCase], selector: &[u32]) -> Vec<u32> {
    selector
        .iter()
        .map(|s| {
            let hit = if case.default {
                !cases.iter().any(|c| c.values.contains(s))
            } else {
                case.values.contains(s)
            };
            u32::from(hit)
        })
        .collect()
}
