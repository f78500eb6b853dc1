//! WGSL's built-in functions and matrix products, as per-leaf operations.
//!
//! Component-wise built-ins map to one lane operation per leaf; the
//! geometric ones (`dot`, `cross`, `length`, `normalize`, `reflect`, …) and
//! matrix products are written out as sums of products, left to right. The
//! GPU may contract those into fused multiply-adds, so results agree within
//! the few ulps WGSL allows, not always bit for bit.

use naga::{Expression, Handle, MathFunction, TypeInner};

use super::expr::{fold, per_leaf, scalar_type, type_of};
use super::types::vector_len;
use super::{Lowered, Lowerer, Lowering, Refused, Scope};
use crate::cpu::wgsl::program::{
    BinaryOp, MathOp, Node, Op, Packing, Reg, Scalar, TernaryOp, UnaryOp,
};

/// Lowers `fun(args…)`.
pub(super) fn math(
    l: &mut Lowerer<'_>,
    scope: &mut Scope<'_>,
    fun: MathFunction,
    args: [Option<Handle<Expression>>; 4],
    out: &mut Vec<Node>,
) -> Lowering<Lowered> {
    use MathFunction as F;
    let first = args[0].ok_or_else(|| Refused::from("a built-in without arguments".to_string()))?;
    let ty = scalar_type(l, scope, first)?;
    let first_type = type_of(l, scope, first).clone();
    let mut values: Vec<Vec<Reg>> = Vec::new();
    let mut scalars = Vec::new();
    for handle in args.into_iter().flatten() {
        scalars.push(scalar_type(l, scope, handle)?);
        values.push(l.value(scope, handle, out)?);
    }
    if fun == F::Transpose {
        return transpose(&first_type, ty, &values[0]).map(Lowered::Value);
    }
    if scalars.iter().any(|s| s.is_wide()) {
        return super::wide::math(l, fun, &values, &scalars, out).map(Lowered::Value);
    }
    let arg = |i: usize| values.get(i).cloned().unwrap_or_default();
    let one = |l: &mut Lowerer<'_>, op: MathOp, out: &mut Vec<Node>| -> Vec<Reg> {
        arg(0)
            .iter()
            .map(|&a| {
                let dst = l.register();
                out.push(Node::Op(Op::Math { op, ty, dst, a }));
                dst
            })
            .collect()
    };
    if let Some(op) = component_op(fun) {
        return Ok(Lowered::Value(one(l, op, out)));
    }
    let registers = match fun {
        F::Min => per_leaf(l, BinaryOp::Min, ty, &arg(0), &arg(1), out),
        F::Max => per_leaf(l, BinaryOp::Max, ty, &arg(0), &arg(1), out),
        F::Atan2 => per_leaf(l, BinaryOp::Atan2, ty, &arg(0), &arg(1), out),
        F::Pow => per_leaf(l, BinaryOp::Pow, ty, &arg(0), &arg(1), out),
        F::Step => per_leaf(l, BinaryOp::Step, ty, &arg(0), &arg(1), out),
        F::Ldexp => per_leaf(l, BinaryOp::Ldexp, ty, &arg(0), &arg(1), out),
        F::Fma => ternary(l, TernaryOp::Fma, ty, [arg(0), arg(1), arg(2)], out),
        F::Clamp => ternary(l, TernaryOp::Clamp, ty, [arg(0), arg(1), arg(2)], out),
        F::Mix => ternary(l, TernaryOp::Mix, ty, [arg(0), arg(1), arg(2)], out),
        F::SmoothStep => ternary(l, TernaryOp::SmoothStep, ty, [arg(0), arg(1), arg(2)], out),
        F::ExtractBits => ternary(l, TernaryOp::ExtractBits, ty, [arg(0), arg(1), arg(2)], out),
        F::InsertBits => {
            let [e, newbits, offset, count] = [arg(0), arg(1), arg(2), arg(3)];
            e.iter()
                .zip(&newbits)
                .map(|(&e, &n)| {
                    let dst = l.register();
                    out.push(Node::Op(Op::InsertBits {
                        dst,
                        args: [e, n, offset[0], count[0]],
                    }));
                    dst
                })
                .collect()
        }
        F::Dot => vec![dot(l, ty, &arg(0), &arg(1), out)],
        F::Cross => {
            let (a, b) = (arg(0), arg(1));
            let component = |l: &mut Lowerer<'_>, i: usize, j: usize, out: &mut Vec<Node>| {
                let ab = per_leaf(l, BinaryOp::Multiply, ty, &[a[i]], &[b[j]], out);
                let ba = per_leaf(l, BinaryOp::Multiply, ty, &[a[j]], &[b[i]], out);
                per_leaf(l, BinaryOp::Subtract, ty, &ab, &ba, out)[0]
            };
            vec![
                component(l, 1, 2, out),
                component(l, 2, 0, out),
                component(l, 0, 1, out),
            ]
        }
        F::Length => vec![length(l, ty, &arg(0), out)],
        F::Distance => {
            let difference = per_leaf(l, BinaryOp::Subtract, ty, &arg(0), &arg(1), out);
            vec![length(l, ty, &difference, out)]
        }
        F::Normalize => {
            let len = length(l, ty, &arg(0), out);
            per_leaf(l, BinaryOp::Divide, ty, &arg(0), &[len], out)
        }
        F::FaceForward => {
            // faceForward(n, i, nref) = dot(nref, i) < 0 ? n : -n
            let d = dot(l, ty, &arg(2), &arg(1), out);
            let zero = l.constant(0);
            let less = per_leaf(l, BinaryOp::Less, ty, &[d], &[zero], out)[0];
            arg(0)
                .iter()
                .map(|&n| {
                    let negated = l.register();
                    out.push(Node::Op(Op::Unary {
                        op: UnaryOp::Negate,
                        ty,
                        dst: negated,
                        a: n,
                    }));
                    let dst = l.register();
                    out.push(Node::Op(Op::Select {
                        dst,
                        cond: less,
                        accept: n,
                        reject: negated,
                    }));
                    dst
                })
                .collect()
        }
        F::Reflect => {
            // reflect(i, n) = i - 2 * dot(n, i) * n
            let (i, n) = (arg(0), arg(1));
            let d = dot(l, ty, &n, &i, out);
            let two = l.constant(2.0f32.to_bits());
            let twice = per_leaf(l, BinaryOp::Multiply, ty, &[two], &[d], out);
            let scaled = per_leaf(l, BinaryOp::Multiply, ty, &twice, &n, out);
            per_leaf(l, BinaryOp::Subtract, ty, &i, &scaled, out)
        }
        F::Transpose => transpose(&first_type, ty, &arg(0))?,
        F::Determinant => vec![determinant(l, ty, &first_type, &arg(0), out)?],
        F::QuantizeToF16 => one(l, MathOp::QuantizeToF16, out),
        F::Modf => {
            // The result struct's leaves: every `fract`, then every `whole`.
            let whole = one(l, MathOp::Trunc, out);
            let fract = per_leaf(l, BinaryOp::Subtract, ty, &arg(0), &whole, out);
            fract.into_iter().chain(whole).collect()
        }
        F::Frexp => {
            let fraction = one(l, MathOp::FrexpFraction, out);
            let exponent = one(l, MathOp::FrexpExponent, out);
            fraction.into_iter().chain(exponent).collect()
        }
        F::Dot4I8Packed => per_leaf(l, BinaryOp::Dot4I8, Scalar::U32, &arg(0), &arg(1), out),
        F::Dot4U8Packed => per_leaf(l, BinaryOp::Dot4U8, Scalar::U32, &arg(0), &arg(1), out),
        F::Refract => refract(l, ty, &arg(0), &arg(1), arg(2)[0], out),
        F::Pack4x8snorm => vec![pack(l, Packing::Snorm4x8, arg(0), out)],
        F::Pack4x8unorm => vec![pack(l, Packing::Unorm4x8, arg(0), out)],
        F::Pack2x16snorm => vec![pack(l, Packing::Snorm2x16, arg(0), out)],
        F::Pack2x16unorm => vec![pack(l, Packing::Unorm2x16, arg(0), out)],
        F::Pack2x16float => vec![pack(l, Packing::Float2x16, arg(0), out)],
        F::Pack4xI8 => vec![pack(l, Packing::I8x4, arg(0), out)],
        F::Pack4xU8 => vec![pack(l, Packing::U8x4, arg(0), out)],
        F::Pack4xI8Clamp => vec![pack(l, Packing::I8x4Clamp, arg(0), out)],
        F::Pack4xU8Clamp => vec![pack(l, Packing::U8x4Clamp, arg(0), out)],
        F::Unpack4x8snorm => unpack(l, Packing::Snorm4x8, 4, arg(0)[0], out),
        F::Unpack4x8unorm => unpack(l, Packing::Unorm4x8, 4, arg(0)[0], out),
        F::Unpack2x16snorm => unpack(l, Packing::Snorm2x16, 2, arg(0)[0], out),
        F::Unpack2x16unorm => unpack(l, Packing::Unorm2x16, 2, arg(0)[0], out),
        F::Unpack2x16float => unpack(l, Packing::Float2x16, 2, arg(0)[0], out),
        F::Unpack4xI8 => unpack(l, Packing::I8x4, 4, arg(0)[0], out),
        F::Unpack4xU8 => unpack(l, Packing::U8x4, 4, arg(0)[0], out),
        other => return Err(Refused::from(format!("the built-in function {other:?}"))),
    };
    Ok(Lowered::Value(registers))
}

/// `transpose(m)`: column j of the result is row j of `m`, each entry its
/// `ty`'s words.
fn transpose(matrix: &TypeInner, ty: Scalar, m: &[Reg]) -> Lowering<Vec<Reg>> {
    let TypeInner::Matrix { columns, rows, .. } = *matrix else {
        return Err(Refused::from("`transpose` of a non-matrix".to_string()));
    };
    let (c, r, words) = (
        vector_len(columns) as usize,
        vector_len(rows) as usize,
        ty.words(),
    );
    let entry = |i: usize, j: usize| m.get((i * r + j) * words..(i * r + j + 1) * words);
    let mut result = Vec::with_capacity(m.len());
    for j in 0..r {
        for i in 0..c {
            let words = entry(i, j)
                .ok_or_else(|| Refused::from("a matrix with missing entries".to_string()))?;
            result.extend_from_slice(words);
        }
    }
    Ok(result)
}

/// The lane operation of a one-operand, per-component built-in.
pub(super) fn component_op(fun: MathFunction) -> Option<MathOp> {
    use MathFunction as F;
    Some(match fun {
        F::Abs => MathOp::Abs,
        F::Sign => MathOp::Sign,
        F::Floor => MathOp::Floor,
        F::Ceil => MathOp::Ceil,
        F::Round => MathOp::Round,
        F::Trunc => MathOp::Trunc,
        F::Fract => MathOp::Fract,
        F::Sqrt => MathOp::Sqrt,
        F::InverseSqrt => MathOp::InverseSqrt,
        F::Exp => MathOp::Exp,
        F::Exp2 => MathOp::Exp2,
        F::Log => MathOp::Log,
        F::Log2 => MathOp::Log2,
        F::Sin => MathOp::Sin,
        F::Cos => MathOp::Cos,
        F::Tan => MathOp::Tan,
        F::Asin => MathOp::Asin,
        F::Acos => MathOp::Acos,
        F::Atan => MathOp::Atan,
        F::Sinh => MathOp::Sinh,
        F::Cosh => MathOp::Cosh,
        F::Tanh => MathOp::Tanh,
        F::Asinh => MathOp::Asinh,
        F::Acosh => MathOp::Acosh,
        F::Atanh => MathOp::Atanh,
        F::Radians => MathOp::Radians,
        F::Degrees => MathOp::Degrees,
        F::Saturate => MathOp::Saturate,
        F::CountOneBits => MathOp::CountOneBits,
        F::CountLeadingZeros => MathOp::CountLeadingZeros,
        F::CountTrailingZeros => MathOp::CountTrailingZeros,
        F::ReverseBits => MathOp::ReverseBits,
        F::FirstLeadingBit => MathOp::FirstLeadingBit,
        F::FirstTrailingBit => MathOp::FirstTrailingBit,
        _ => return None,
    })
}

fn pack(l: &mut Lowerer<'_>, packing: Packing, args: Vec<Reg>, out: &mut Vec<Node>) -> Reg {
    let dst = l.register();
    out.push(Node::Op(Op::Pack { packing, dst, args }));
    dst
}

fn unpack(
    l: &mut Lowerer<'_>,
    packing: Packing,
    components: u32,
    src: Reg,
    out: &mut Vec<Node>,
) -> Vec<Reg> {
    (0..components)
        .map(|component| {
            let dst = l.register();
            out.push(Node::Op(Op::Unpack {
                packing,
                component,
                dst,
                src,
            }));
            dst
        })
        .collect()
}

/// `refract(e1, e2, eta)`: with `k = 1 - eta² (1 - dot(e2, e1)²)`, 0 when
/// `k < 0`, else `eta e1 - (eta dot(e2, e1) + sqrt(k)) e2`.
fn refract(
    l: &mut Lowerer<'_>,
    ty: Scalar,
    e1: &[Reg],
    e2: &[Reg],
    eta: Reg,
    out: &mut Vec<Node>,
) -> Vec<Reg> {
    let d = dot(l, ty, e2, e1, out);
    let one = l.constant(1.0f32.to_bits());
    let zero = l.constant(0);
    let d2 = per_leaf(l, BinaryOp::Multiply, ty, &[d], &[d], out);
    let rest = per_leaf(l, BinaryOp::Subtract, ty, &[one], &d2, out);
    let eta2 = per_leaf(l, BinaryOp::Multiply, ty, &[eta], &[eta], out);
    let scaled = per_leaf(l, BinaryOp::Multiply, ty, &eta2, &rest, out);
    let k = per_leaf(l, BinaryOp::Subtract, ty, &[one], &scaled, out)[0];
    let negative = per_leaf(l, BinaryOp::Less, ty, &[k], &[zero], out)[0];
    let root = l.register();
    out.push(Node::Op(Op::Math {
        op: MathOp::Sqrt,
        ty,
        dst: root,
        a: k,
    }));
    let eta_d = per_leaf(l, BinaryOp::Multiply, ty, &[eta], &[d], out);
    let factor = per_leaf(l, BinaryOp::Add, ty, &eta_d, &[root], out);
    let left = per_leaf(l, BinaryOp::Multiply, ty, &[eta], e1, out);
    let right = per_leaf(l, BinaryOp::Multiply, ty, &factor, e2, out);
    let refracted = per_leaf(l, BinaryOp::Subtract, ty, &left, &right, out);
    refracted
        .into_iter()
        .map(|value| {
            let dst = l.register();
            out.push(Node::Op(Op::Select {
                dst,
                cond: negative,
                accept: zero,
                reject: value,
            }));
            dst
        })
        .collect()
}

/// A three-operand built-in per leaf; one-leaf operands are repeated.
fn ternary(
    l: &mut Lowerer<'_>,
    op: TernaryOp,
    ty: Scalar,
    args: [Vec<Reg>; 3],
    out: &mut Vec<Node>,
) -> Vec<Reg> {
    let n = args.iter().map(Vec::len).max().unwrap_or(0);
    (0..n)
        .map(|i| {
            let dst = l.register();
            let pick = |v: &Vec<Reg>| v[i.min(v.len() - 1)];
            out.push(Node::Op(Op::Ternary {
                op,
                ty,
                dst,
                args: [pick(&args[0]), pick(&args[1]), pick(&args[2])],
            }));
            dst
        })
        .collect()
}

/// `Σ a_i b_i`, left to right.
fn dot(l: &mut Lowerer<'_>, ty: Scalar, a: &[Reg], b: &[Reg], out: &mut Vec<Node>) -> Reg {
    let products = per_leaf(l, BinaryOp::Multiply, ty, a, b, out);
    fold(l, BinaryOp::Add, ty, &products, out)
}

/// `sqrt(dot(v, v))`; `abs(v)` for a scalar, as WGSL defines it.
fn length(l: &mut Lowerer<'_>, ty: Scalar, v: &[Reg], out: &mut Vec<Node>) -> Reg {
    let dst = l.register();
    if v.len() == 1 {
        out.push(Node::Op(Op::Math {
            op: MathOp::Abs,
            ty,
            dst,
            a: v[0],
        }));
        return dst;
    }
    let squares = dot(l, ty, v, v, out);
    out.push(Node::Op(Op::Math {
        op: MathOp::Sqrt,
        ty,
        dst,
        a: squares,
    }));
    dst
}

fn determinant(
    l: &mut Lowerer<'_>,
    ty: Scalar,
    matrix: &TypeInner,
    m: &[Reg],
    out: &mut Vec<Node>,
) -> Lowering<Reg> {
    let TypeInner::Matrix { columns, .. } = *matrix else {
        return Err(Refused::from("`determinant` of a non-matrix".to_string()));
    };
    let n = vector_len(columns) as usize;
    let all: Vec<usize> = (0..n).collect();
    Ok(minor(l, ty, m, n, &all, &all, out))
}

/// The determinant of `m` (`n` rows per column) restricted to `columns`
/// and `rows`, expanded along its first column, terms added left to right
/// with alternating signs (for 2x2: `a d - b c`).
fn minor(
    l: &mut Lowerer<'_>,
    ty: Scalar,
    m: &[Reg],
    n: usize,
    columns: &[usize],
    rows: &[usize],
    out: &mut Vec<Node>,
) -> Reg {
    let at = |c: usize, r: usize| m[c * n + r];
    let mul = |l: &mut Lowerer<'_>, a: Reg, b: Reg, out: &mut Vec<Node>| {
        per_leaf(l, BinaryOp::Multiply, ty, &[a], &[b], out)[0]
    };
    if let ([c0, c1], [r0, r1]) = (columns, rows) {
        let ad = mul(l, at(*c0, *r0), at(*c1, *r1), out);
        let bc = mul(l, at(*c1, *r0), at(*c0, *r1), out);
        return per_leaf(l, BinaryOp::Subtract, ty, &[ad], &[bc], out)[0];
    }
    let mut sum = None;
    for (k, &row) in rows.iter().enumerate() {
        let others: Vec<usize> = rows.iter().copied().filter(|&r| r != row).collect();
        let sub = minor(l, ty, m, n, &columns[1..], &others, out);
        let term = mul(l, at(columns[0], row), sub, out);
        sum = Some(match sum {
            None => term,
            Some(acc) => {
                let op = if k % 2 == 1 {
                    BinaryOp::Subtract
                } else {
                    BinaryOp::Add
                };
                per_leaf(l, op, ty, &[acc], &[term], out)[0]
            }
        });
    }
    sum.unwrap_or_else(|| l.constant(0))
}

/// A matrix product, when one operand is a matrix and the other a vector
/// or matrix; `None` leaves it to the per-leaf rule (a matrix times a
/// scalar, or no matrix at all).
pub(super) fn multiply(
    l: &mut Lowerer<'_>,
    ty: Scalar,
    left: &TypeInner,
    a: &[Reg],
    right: &TypeInner,
    b: &[Reg],
    out: &mut Vec<Node>,
) -> Option<Vec<Reg>> {
    match (left, right) {
        (TypeInner::Matrix { columns, rows, .. }, TypeInner::Vector { .. }) => {
            let (c, r) = (vector_len(*columns) as usize, vector_len(*rows) as usize);
            Some(
                (0..r)
                    .map(|row| {
                        let terms: Vec<Reg> = (0..c).map(|k| a[k * r + row]).collect();
                        dot(l, ty, &terms, &b[..c], out)
                    })
                    .collect(),
            )
        }
        (TypeInner::Vector { .. }, TypeInner::Matrix { columns, rows, .. }) => {
            let (c, r) = (vector_len(*columns) as usize, vector_len(*rows) as usize);
            Some(
                (0..c)
                    .map(|column| dot(l, ty, &a[..r], &b[column * r..(column + 1) * r], out))
                    .collect(),
            )
        }
        (
            TypeInner::Matrix {
                columns: inner,
                rows,
                ..
            },
            TypeInner::Matrix { columns, .. },
        ) => {
            let (k, r, c) = (
                vector_len(*inner) as usize,
                vector_len(*rows) as usize,
                vector_len(*columns) as usize,
            );
            let mut product = Vec::with_capacity(c * r);
            for column in 0..c {
                for row in 0..r {
                    let left_row: Vec<Reg> = (0..k).map(|i| a[i * r + row]).collect();
                    product.push(dot(l, ty, &left_row, &b[column * k..(column + 1) * k], out));
                }
            }
            Some(product)
        }
        _ => None,
    }
}
