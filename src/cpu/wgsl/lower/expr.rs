//! Expressions: each naga expression into lane operations on registers, or
//! into a place when it is a pointer.
//!
//! Expressions that only rearrange leaves (composing, splatting, swizzling,
//! a constant index into a value, a bitcast) write no operations: their
//! result is the operands' registers, reused. Vector and matrix arithmetic
//! becomes one operation per leaf, a scalar operand repeated across a
//! vector's leaves.

use naga::{BinaryOperator, Expression, Handle, TypeInner};

use super::types::Refusal;
use super::{place, Lowered, Lowerer, Lowering, Place, Refused, Scope};
use crate::cpu::wgsl::program::{BinaryOp, Node, Op, Reg, Scalar, UnaryOp, WideOp};

fn refuse<T>(what: impl Into<String>) -> Lowering<T> {
    Err(Refused::from(what.into()))
}

/// The resolved type of `handle`.
pub(super) fn type_of<'a>(
    l: &Lowerer<'a>,
    scope: &'a Scope<'_>,
    handle: Handle<Expression>,
) -> &'a TypeInner {
    scope.info[handle].ty.inner_with(&l.module.types)
}

/// The type a pointer expression points to (the expression's own type when
/// it is not a pointer).
pub(super) fn pointee(l: &Lowerer<'_>, scope: &Scope<'_>, handle: Handle<Expression>) -> TypeInner {
    match *scope.info[handle].ty.inner_with(&l.module.types) {
        TypeInner::Pointer { base, .. } => l.types.inner(base).clone(),
        TypeInner::ValuePointer {
            size: Some(size),
            scalar,
            ..
        } => TypeInner::Vector { size, scalar },
        TypeInner::ValuePointer {
            size: None, scalar, ..
        } => TypeInner::Scalar(scalar),
        ref other => other.clone(),
    }
}

/// The scalar type of `handle`'s leaves (its first leaf's; WGSL's
/// arithmetic types have one scalar type throughout).
pub(super) fn scalar_type(
    l: &Lowerer<'_>,
    scope: &Scope<'_>,
    handle: Handle<Expression>,
) -> Lowering<Scalar> {
    let leaves = l.types.leaves(type_of(l, scope, handle))?;
    leaves
        .first()
        .copied()
        .ok_or_else(|| Refusal::from("an empty value").into())
}

/// Lowers `handle` (evaluated here) to registers or a place.
pub(super) fn lower(
    l: &mut Lowerer<'_>,
    scope: &mut Scope<'_>,
    handle: Handle<Expression>,
    out: &mut Vec<Node>,
) -> Lowering<Lowered> {
    let expression = &scope.function.expressions[handle];
    let value = |registers| Ok(Lowered::Value(registers));
    match *expression {
        Expression::Literal(literal) => {
            let words = literal_words(literal)?;
            value(words.into_iter().map(|w| l.constant(w)).collect())
        }
        Expression::Constant(constant) => {
            let init = l.module.constants[constant].init;
            let bits = const_bits(l, &l.module.global_expressions, init)?;
            value(bits.into_iter().map(|b| l.constant(b)).collect())
        }
        Expression::ZeroValue(ty) => {
            let count = l.types.leaves(l.types.inner(ty))?.len();
            value(vec![l.constant(0); count])
        }
        Expression::Compose { ref components, .. } => {
            let mut registers = Vec::new();
            for &component in components {
                registers.extend(l.value(scope, component, out)?);
            }
            value(registers)
        }
        Expression::Splat { size, value: v } => {
            let scalar = l.value(scope, v, out)?;
            value(scalar.repeat(size as usize))
        }
        Expression::Swizzle {
            size,
            vector,
            pattern,
        } => {
            let words = scalar_type(l, scope, vector)?.words();
            let registers = l.value(scope, vector, out)?;
            let last = (registers.len() / words).saturating_sub(1);
            value(
                pattern[..size as usize]
                    .iter()
                    .flat_map(|&c| {
                        let start = (c as usize).min(last) * words;
                        registers[start..start + words].iter().copied()
                    })
                    .collect(),
            )
        }
        Expression::FunctionArgument(index) => scope
            .arguments
            .get(index as usize)
            .cloned()
            .ok_or_else(|| Refusal::from("a missing function argument").into()),
        Expression::GlobalVariable(global) => place::global_place(l, global).map(Lowered::Pointer),
        Expression::LocalVariable(local) => Ok(Lowered::Pointer(Place::Registers {
            index: None,
            candidates: vec![scope.locals[local.index()].clone()],
        })),
        Expression::Load { pointer } => {
            let place = l.pointer(scope, pointer, out)?;
            let pointee = pointee(l, scope, pointer);
            l.load(&place, &pointee, out).map(Lowered::Value)
        }
        Expression::AccessIndex { base, index } => place::access_index(l, scope, base, index, out),
        Expression::Access { base, index } => place::access(l, scope, base, index, out),
        Expression::Unary { op, expr } => {
            let ty = scalar_type(l, scope, expr)?;
            let op = match op {
                naga::UnaryOperator::Negate => UnaryOp::Negate,
                naga::UnaryOperator::LogicalNot => UnaryOp::LogicalNot,
                naga::UnaryOperator::BitwiseNot => UnaryOp::BitNot,
            };
            let operand = l.value(scope, expr, out)?;
            if ty.is_wide() {
                let operands = [(operand.as_slice(), ty.words())];
                return value(l.wide_per_component(WideOp::Unary(op, ty), ty, &operands, out)?);
            }
            let registers = operand
                .iter()
                .map(|&a| {
                    let dst = l.register();
                    out.push(Node::Op(Op::Unary { op, ty, dst, a }));
                    dst
                })
                .collect();
            value(registers)
        }
        Expression::Binary { op, left, right } => {
            binary(l, scope, op, left, right, out).map(Lowered::Value)
        }
        Expression::Select {
            condition,
            accept,
            reject,
        } => {
            // Word by word; a 64-bit component's two words share a condition.
            let words = scalar_type(l, scope, accept)?.words();
            let cond = l.value(scope, condition, out)?;
            let a = l.value(scope, accept, out)?;
            let r = l.value(scope, reject, out)?;
            let registers = (0..a.len())
                .map(|i| {
                    let dst = l.register();
                    out.push(Node::Op(Op::Select {
                        dst,
                        cond: cond[(i / words).min(cond.len() - 1)],
                        accept: a[i],
                        reject: r[i],
                    }));
                    dst
                })
                .collect();
            value(registers)
        }
        Expression::Relational { fun, argument } => {
            let combine = match fun {
                naga::RelationalFunction::All => BinaryOp::And,
                naga::RelationalFunction::Any => BinaryOp::InclusiveOr,
                other => return refuse(format!("the relational function {other:?}")),
            };
            let leaves = l.value(scope, argument, out)?;
            value(vec![fold(l, combine, Scalar::Bool, &leaves, out)])
        }
        Expression::Math {
            fun,
            arg,
            arg1,
            arg2,
            arg3,
        } => super::math::math(l, scope, fun, [Some(arg), arg1, arg2, arg3], out),
        Expression::As {
            expr,
            kind,
            convert,
        } => {
            let from = scalar_type(l, scope, expr)?;
            let operand = l.value(scope, expr, out)?;
            let Some(width) = convert else {
                // A bitcast between types of one width: the same words,
                // except that an `f16` register does not hold its bits.
                let to = type_of(l, scope, handle)
                    .scalar()
                    .map(super::types::scalar_of);
                if from == Scalar::F16 || matches!(to, Some(Ok(Scalar::F16))) {
                    return refuse("a bitcast to or from f16 values");
                }
                return value(operand);
            };
            let to = super::types::scalar_of(naga::Scalar { kind, width })?;
            if from == to {
                return value(operand);
            }
            if from.is_wide() || to.is_wide() {
                let operands = [(operand.as_slice(), from.words())];
                let op = WideOp::Convert { from, to };
                return value(l.wide_per_component(op, to, &operands, out)?);
            }
            let registers = operand
                .iter()
                .map(|&src| {
                    let dst = l.register();
                    out.push(Node::Op(Op::Convert { dst, src, from, to }));
                    dst
                })
                .collect();
            value(registers)
        }
        Expression::ArrayLength(pointer) => place::array_length(l, scope, pointer, out),
        Expression::CallResult(_)
        | Expression::AtomicResult { .. }
        | Expression::WorkGroupUniformLoadResult { .. } => {
            refuse("a call or atomic result used before its statement")
        }
        Expression::Override(_) => refuse("an override constant without a value"),
        Expression::ImageSample { .. }
        | Expression::ImageLoad { .. }
        | Expression::ImageQuery { .. } => refuse("textures"),
        Expression::Derivative { .. } => refuse("derivatives"),
        Expression::SubgroupBallotResult | Expression::SubgroupOperationResult { .. } => {
            refuse("subgroup operations")
        }
        _ => refuse("ray queries or cooperative matrices"),
    }
}

/// The words of a literal (two, low first, for a 64-bit one).
fn literal_words(literal: naga::Literal) -> Lowering<Vec<u32>> {
    use naga::Literal as L;
    let split = |bits: u64| vec![bits as u32, (bits >> 32) as u32];
    Ok(match literal {
        L::F32(v) => vec![v.to_bits()],
        L::I32(v) => vec![v as u32],
        L::U32(v) => vec![v],
        L::Bool(v) => vec![u32::from(v)],
        L::F64(v) => split(v.to_bits()),
        // An `f16` register holds the `f32` of its value.
        L::F16(v) => vec![v.to_f32().to_bits()],
        L::I64(v) => split(v as u64),
        L::U64(v) => split(v),
        other => return refuse(format!("the literal {other:?}")),
    })
}

/// The leaves of a constant expression in `arena`, as bit patterns.
pub(super) fn const_bits(
    l: &Lowerer<'_>,
    arena: &naga::Arena<Expression>,
    handle: Handle<Expression>,
) -> Lowering<Vec<u32>> {
    Ok(match arena[handle] {
        Expression::Literal(literal) => literal_words(literal)?,
        Expression::Constant(constant) => {
            let init = l.module.constants[constant].init;
            const_bits(l, &l.module.global_expressions, init)?
        }
        Expression::ZeroValue(ty) => vec![0; l.types.leaves(l.types.inner(ty))?.len()],
        Expression::Compose { ref components, .. } => {
            let mut bits = Vec::new();
            for &component in components {
                bits.extend(const_bits(l, arena, component)?);
            }
            bits
        }
        Expression::Splat { size, value } => const_bits(l, arena, value)?.repeat(size as usize),
        _ => return refuse("a constant expression of this form"),
    })
}

/// Combines `leaves` left to right with `op`.
pub(super) fn fold(
    l: &mut Lowerer<'_>,
    op: BinaryOp,
    ty: Scalar,
    leaves: &[Reg],
    out: &mut Vec<Node>,
) -> Reg {
    let mut acc = leaves[0];
    for &next in &leaves[1..] {
        let dst = l.register();
        out.push(Node::Op(Op::Binary {
            op,
            ty,
            dst,
            a: acc,
            b: next,
        }));
        acc = dst;
    }
    acc
}

/// One operation per leaf; an operand with one leaf is repeated.
pub(super) fn per_leaf(
    l: &mut Lowerer<'_>,
    op: BinaryOp,
    ty: Scalar,
    a: &[Reg],
    b: &[Reg],
    out: &mut Vec<Node>,
) -> Vec<Reg> {
    let n = a.len().max(b.len());
    (0..n)
        .map(|i| {
            let dst = l.register();
            out.push(Node::Op(Op::Binary {
                op,
                ty,
                dst,
                a: a[i.min(a.len() - 1)],
                b: b[i.min(b.len() - 1)],
            }));
            dst
        })
        .collect()
}

fn binary(
    l: &mut Lowerer<'_>,
    scope: &mut Scope<'_>,
    op: BinaryOperator,
    left: Handle<Expression>,
    right: Handle<Expression>,
    out: &mut Vec<Node>,
) -> Lowering<Vec<Reg>> {
    let ty = scalar_type(l, scope, left)?;
    let right_ty = scalar_type(l, scope, right)?;
    let left_type = type_of(l, scope, left).clone();
    let right_type = type_of(l, scope, right).clone();
    let a = l.value(scope, left, out)?;
    let b = l.value(scope, right, out)?;
    let wide = ty.is_wide() || right_ty.is_wide();
    let matrices = matches!(left_type, TypeInner::Matrix { .. })
        || matches!(right_type, TypeInner::Matrix { .. });
    if wide && matrices && op == BinaryOperator::Multiply {
        let (left, right) = ((&left_type, a.as_slice()), (&right_type, b.as_slice()));
        return super::wide::multiply(l, ty, left, right, out);
    }
    if op == BinaryOperator::Multiply {
        if let Some(product) = super::math::multiply(l, ty, &left_type, &a, &right_type, &b, out) {
            return Ok(product);
        }
    }
    let op = match op {
        BinaryOperator::Add => BinaryOp::Add,
        BinaryOperator::Subtract => BinaryOp::Subtract,
        BinaryOperator::Multiply => BinaryOp::Multiply,
        BinaryOperator::Divide => BinaryOp::Divide,
        BinaryOperator::Modulo => BinaryOp::Modulo,
        BinaryOperator::Equal => BinaryOp::Equal,
        BinaryOperator::NotEqual => BinaryOp::NotEqual,
        BinaryOperator::Less => BinaryOp::Less,
        BinaryOperator::LessEqual => BinaryOp::LessEqual,
        BinaryOperator::Greater => BinaryOp::Greater,
        BinaryOperator::GreaterEqual => BinaryOp::GreaterEqual,
        BinaryOperator::And | BinaryOperator::LogicalAnd => BinaryOp::And,
        BinaryOperator::ExclusiveOr => BinaryOp::ExclusiveOr,
        BinaryOperator::InclusiveOr | BinaryOperator::LogicalOr => BinaryOp::InclusiveOr,
        BinaryOperator::ShiftLeft => BinaryOp::ShiftLeft,
        BinaryOperator::ShiftRight => BinaryOp::ShiftRight,
    };
    if wide {
        return l.wide_binary(op, (ty, &a), (right_ty, &b), out);
    }
    Ok(per_leaf(l, op, ty, &a, &b, out))
}
