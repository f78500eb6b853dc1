//! Lowering of arithmetic on 64-bit values (`i64`, `u64`, `f64`).
//!
//! A 64-bit scalar is two leaves (two registers, low word first), so
//! everything that only moves leaves — loads, stores, composing, indexing,
//! selects, copies — lowers exactly as for 32-bit values. What computes is
//! written here instead, as one [`Op::Wide`] per component: its operands
//! are the components' words, and the executor's `wide` module knows the
//! rules. A built-in that `wide` does not compute is refused by name.

use naga::{MathFunction, TypeInner};

use super::math::component_op;
use super::types::vector_len;
use super::{Lowerer, Lowering, Refused};
use crate::cpu::wgsl::program::{BinaryOp, MathOp, Node, Op, Reg, Scalar, TernaryOp, WideOp};
use crate::cpu::wgsl::wide;

/// An operand: its registers and how many of them make one component.
pub(super) type Operand<'a> = (&'a [Reg], usize);

impl Lowerer<'_> {
    /// `op` once per component, its result of type `result`; an operand of
    /// one component is repeated across the others (a scalar with a vector).
    pub(super) fn wide_per_component(
        &mut self,
        op: WideOp,
        result: Scalar,
        operands: &[Operand<'_>],
        out: &mut Vec<Node>,
    ) -> Lowering<Vec<Reg>> {
        if !wide::supports(op) {
            return Err(Refused::from(describe(op)));
        }
        let counts: Vec<usize> = operands
            .iter()
            .map(|&(registers, words)| registers.len() / words.max(1))
            .collect();
        let components = counts.iter().copied().max().unwrap_or(0);
        let mut registers = Vec::with_capacity(components * result.words());
        for i in 0..components {
            let mut args = Vec::with_capacity(operands.len());
            for (&(operand, words), &count) in operands.iter().zip(&counts) {
                let component = i.min(count.saturating_sub(1));
                let words_of = operand.get(component * words..(component + 1) * words);
                let words_of = words_of.ok_or_else(|| {
                    Refused::from("an operand with fewer words than its type".to_string())
                })?;
                args.push(words_of.to_vec());
            }
            let dst = self.registers_for(result.words());
            registers.extend_from_slice(&dst);
            out.push(Node::Op(Op::Wide { op, dst, args }));
        }
        Ok(registers)
    }

    /// A binary operator where an operand is 64-bit: `left` of type `ty`,
    /// `right` of type `right_ty` (a shift amount or `ldexp`'s exponent
    /// may be narrower).
    pub(super) fn wide_binary(
        &mut self,
        op: BinaryOp,
        (ty, left): (Scalar, &[Reg]),
        (right_ty, right): (Scalar, &[Reg]),
        out: &mut Vec<Node>,
    ) -> Lowering<Vec<Reg>> {
        let result = if is_comparison(op) { Scalar::Bool } else { ty };
        let operands = [(left, ty.words()), (right, right_ty.words())];
        self.wide_per_component(WideOp::Binary(op, ty), result, &operands, out)
    }
}

fn is_comparison(op: BinaryOp) -> bool {
    use BinaryOp as B;
    matches!(
        op,
        B::Equal | B::NotEqual | B::Less | B::LessEqual | B::Greater | B::GreaterEqual
    )
}

fn describe(op: WideOp) -> String {
    match op {
        WideOp::Unary(op, ty) => format!("the operator {op:?} on {ty:?} values"),
        WideOp::Binary(op, ty) => format!("the operator {op:?} on {ty:?} values"),
        WideOp::Math(op, ty) => format!("the built-in {op:?} on {ty:?} values"),
        WideOp::Ternary(op, ty) => format!("the built-in {op:?} on {ty:?} values"),
        WideOp::Convert { from, to } => format!("a conversion from {from:?} to {to:?}"),
    }
}

/// `fun(values…)` where an argument is 64-bit; `scalars` are the
/// arguments' scalar types.
pub(super) fn math(
    l: &mut Lowerer<'_>,
    fun: MathFunction,
    values: &[Vec<Reg>],
    scalars: &[Scalar],
    out: &mut Vec<Node>,
) -> Lowering<Vec<Reg>> {
    use MathFunction as F;
    let ty = scalars[0];
    let arg = |i: usize| -> Operand<'_> {
        let registers = values.get(i).map_or(&[][..], Vec::as_slice);
        (registers, scalars.get(i).map_or(1, |s| s.words()))
    };
    if let Some(op) = component_op(fun) {
        return l.wide_per_component(WideOp::Math(op, ty), ty, &[arg(0)], out);
    }
    let binary = |l: &mut Lowerer<'_>, op: BinaryOp, out: &mut Vec<Node>| {
        l.wide_binary(op, (ty, arg(0).0), (scalars[1], arg(1).0), out)
    };
    let ternary = |l: &mut Lowerer<'_>, op: TernaryOp, out: &mut Vec<Node>| {
        l.wide_per_component(WideOp::Ternary(op, ty), ty, &[arg(0), arg(1), arg(2)], out)
    };
    match fun {
        F::Min => binary(l, BinaryOp::Min, out),
        F::Max => binary(l, BinaryOp::Max, out),
        F::Atan2 => binary(l, BinaryOp::Atan2, out),
        F::Pow => binary(l, BinaryOp::Pow, out),
        F::Step => binary(l, BinaryOp::Step, out),
        F::Ldexp => binary(l, BinaryOp::Ldexp, out),
        F::Fma => ternary(l, TernaryOp::Fma, out),
        F::Clamp => ternary(l, TernaryOp::Clamp, out),
        F::Mix => ternary(l, TernaryOp::Mix, out),
        F::SmoothStep => ternary(l, TernaryOp::SmoothStep, out),
        F::Dot => dot(l, ty, arg(0).0, arg(1).0, out),
        F::Length => length(l, ty, arg(0).0, out),
        F::Distance => {
            let difference = binary(l, BinaryOp::Subtract, out)?;
            length(l, ty, &difference, out)
        }
        other => Err(Refused::from(format!(
            "the built-in function {other:?} on {ty:?} values"
        ))),
    }
}

/// `Σ a_i b_i`, left to right.
fn dot(
    l: &mut Lowerer<'_>,
    ty: Scalar,
    a: &[Reg],
    b: &[Reg],
    out: &mut Vec<Node>,
) -> Lowering<Vec<Reg>> {
    let products = l.wide_binary(BinaryOp::Multiply, (ty, a), (ty, b), out)?;
    let words = ty.words();
    let mut sum = products.get(..words).unwrap_or_default().to_vec();
    for term in products.chunks(words).skip(1) {
        sum = l.wide_binary(BinaryOp::Add, (ty, &sum), (ty, term), out)?;
    }
    Ok(sum)
}

/// `sqrt(dot(v, v))`; `abs(v)` for a scalar.
fn length(l: &mut Lowerer<'_>, ty: Scalar, v: &[Reg], out: &mut Vec<Node>) -> Lowering<Vec<Reg>> {
    if v.len() == ty.words() {
        return l.wide_per_component(WideOp::Math(MathOp::Abs, ty), ty, &[(v, ty.words())], out);
    }
    let squares = dot(l, ty, v, v, out)?;
    l.wide_per_component(
        WideOp::Math(MathOp::Sqrt, ty),
        ty,
        &[(&squares, ty.words())],
        out,
    )
}

/// Checks that no 32-bit lane operation was given a 64-bit type: a lowering
/// path that forgot [`Op::Wide`] is refused rather than computed wrong.
pub(super) fn check_lane_ops(nodes: &[Node]) -> Lowering<()> {
    for node in nodes {
        let children: Vec<&[Node]> = match node {
            Node::Op(op) => {
                let narrow_wide = match *op {
                    Op::Unary { ty, .. }
                    | Op::Binary { ty, .. }
                    | Op::Math { ty, .. }
                    | Op::Ternary { ty, .. }
                    | Op::Subgroup { ty, .. } => ty.is_wide(),
                    Op::Convert { from, to, .. } => from.is_wide() || to.is_wide(),
                    _ => false,
                };
                if narrow_wide {
                    return Err(Refused::from(format!("64-bit values in {op:?}")));
                }
                Vec::new()
            }
            Node::If { accept, reject, .. } => vec![accept, reject],
            Node::Loop {
                body, continuing, ..
            } => vec![body, continuing],
            Node::Switch { cases, .. } => cases.iter().map(|c| c.body.as_slice()).collect(),
            Node::Function { body } => vec![body],
            Node::Break | Node::Continue | Node::Return => Vec::new(),
        };
        for child in children {
            check_lane_ops(child)?;
        }
    }
    Ok(())
}

/// A matrix product of 64-bit floats (matrix × vector, vector × matrix,
/// matrix × matrix; a scalar factor is per component), each entry a
/// left-to-right dot product as for 32-bit matrices.
pub(super) fn multiply(
    l: &mut Lowerer<'_>,
    ty: Scalar,
    (left, a): (&TypeInner, &[Reg]),
    (right, b): (&TypeInner, &[Reg]),
    out: &mut Vec<Node>,
) -> Lowering<Vec<Reg>> {
    let words = ty.words();
    // Component `k` of a value, as its words.
    let part = |value: &[Reg], k: usize| -> Vec<Reg> {
        value
            .get(k * words..(k + 1) * words)
            .unwrap_or_default()
            .to_vec()
    };
    let mut product = Vec::new();
    let mut entry = |l: &mut Lowerer<'_>, xs: Vec<Vec<Reg>>, ys: Vec<Vec<Reg>>| {
        let sum = dot(l, ty, &xs.concat(), &ys.concat(), out)?;
        product.extend(sum);
        Lowering::Ok(())
    };
    match (left, right) {
        (TypeInner::Matrix { columns, rows, .. }, TypeInner::Vector { .. }) => {
            let (c, r) = (vector_len(*columns) as usize, vector_len(*rows) as usize);
            for row in 0..r {
                let terms = (0..c).map(|k| part(a, k * r + row)).collect();
                entry(l, terms, (0..c).map(|k| part(b, k)).collect())?;
            }
        }
        (TypeInner::Vector { .. }, TypeInner::Matrix { columns, rows, .. }) => {
            let (c, r) = (vector_len(*columns) as usize, vector_len(*rows) as usize);
            for column in 0..c {
                let terms = (0..r).map(|i| part(b, column * r + i)).collect();
                entry(l, (0..r).map(|i| part(a, i)).collect(), terms)?;
            }
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
            for column in 0..c {
                for row in 0..r {
                    let left_row = (0..k).map(|i| part(a, i * r + row)).collect();
                    let right_column = (0..k).map(|i| part(b, column * k + i)).collect();
                    entry(l, left_row, right_column)?;
                }
            }
        }
        _ => return l.wide_binary(BinaryOp::Multiply, (ty, a), (ty, b), out),
    }
    Ok(product)
}
