//! Places: what pointer expressions lower to, and the loads and stores
//! through them.
//!
//! A pointer into a function or private variable is a set of registers
//! (with a per-lane index when the variable is indexed dynamically: each
//! access then picks, lane by lane, among the candidates). A pointer into a
//! buffer or workgroup memory is a space and a byte offset, a constant plus
//! a per-lane register; indexing adds `index × stride`. Fixed-size arrays
//! outside buffers clamp their index (naga's `Restrict` policy, what wgpu's
//! native backends ask for there); inside buffers the index is unchecked
//! and the buffer's own bounds apply, as with robust buffer access.

use naga::{Expression, Handle, ScalarKind, TypeInner};

use super::expr::{const_bits, pointee, type_of};
use super::types::Refusal;
use super::{Lowered, Lowerer, Lowering, Place, Refused, Scope};
use crate::cpu::wgsl::program::{BinaryOp, Node, OffsetTerm, Op, Reg, Scalar, Space};
use crate::pipeline::BindingShape;

fn refuse<T>(what: impl Into<String>) -> Lowering<T> {
    Err(Refused::from(what.into()))
}

impl Lowerer<'_> {
    /// Reads the `pointee` at `place` into fresh registers.
    pub(super) fn load(
        &mut self,
        place: &Place,
        pointee: &TypeInner,
        out: &mut Vec<Node>,
    ) -> Lowering<Vec<Reg>> {
        match place {
            Place::Memory {
                space,
                offset,
                constant,
            } => {
                let leaves = self.types.memory_leaves(pointee)?;
                let mut registers = Vec::with_capacity(leaves.len());
                for (scalar, at) in leaves {
                    let dst = self.register();
                    out.push(Node::Op(Op::Load {
                        space: *space,
                        offset: *offset,
                        delta: constant + at,
                        dst,
                        half: scalar == Scalar::F16,
                    }));
                    registers.push(dst);
                }
                Ok(registers)
            }
            Place::Registers { index, candidates } => {
                let count = candidates.first().map_or(0, Vec::len);
                let mut registers = Vec::with_capacity(count);
                for leaf in 0..count {
                    let dst = self.register();
                    out.push(Node::Op(match index {
                        None => Op::Copy {
                            dst,
                            src: candidates[0][leaf],
                        },
                        Some(index) => Op::Gather {
                            dst,
                            index: *index,
                            choices: candidates.iter().map(|c| c[leaf]).collect(),
                        },
                    }));
                    registers.push(dst);
                }
                Ok(registers)
            }
        }
    }

    /// Writes `value` (the leaves of a `pointee`) to `place`, in the active
    /// lanes.
    pub(super) fn store(
        &mut self,
        place: &Place,
        pointee: &TypeInner,
        value: &[Reg],
        out: &mut Vec<Node>,
    ) -> Lowering<()> {
        match place {
            Place::Memory {
                space,
                offset,
                constant,
            } => {
                let leaves = self.types.memory_leaves(pointee)?;
                for (&(scalar, at), &src) in leaves.iter().zip(value) {
                    out.push(Node::Op(Op::Store {
                        space: *space,
                        offset: *offset,
                        delta: constant + at,
                        src,
                        half: scalar == Scalar::F16,
                    }));
                }
            }
            Place::Registers { index, candidates } => {
                for (leaf, &src) in value.iter().enumerate() {
                    out.push(Node::Op(match index {
                        None => Op::MaskedCopy {
                            dst: candidates[0][leaf],
                            src,
                        },
                        Some(index) => Op::Scatter {
                            index: *index,
                            targets: candidates.iter().map(|c| c[leaf]).collect(),
                            src,
                        },
                    }));
                }
            }
        }
        Ok(())
    }
}

/// Where a global variable lives.
pub(super) fn global_place(
    l: &mut Lowerer<'_>,
    handle: Handle<naga::GlobalVariable>,
) -> Lowering<Place> {
    let global = &l.module.global_variables[handle];
    let binding_index = |list: &[crate::pipeline::BindingInfo]| {
        let binding = global.binding.as_ref()?;
        list.iter()
            .position(|b| b.group == binding.group && b.binding == binding.binding)
            .map(|i| i as u32)
    };
    let memory = |space| {
        Ok(Place::Memory {
            space,
            offset: None,
            constant: 0,
        })
    };
    match global.space {
        naga::AddressSpace::Storage { .. } => match binding_index(&l.layout.buffers) {
            Some(index) => memory(Space::Storage(index)),
            None => refuse("a storage variable the kernel's layout does not list"),
        },
        naga::AddressSpace::Uniform => match binding_index(&l.layout.uniforms) {
            Some(index) => memory(Space::Uniform(index)),
            None => refuse("a uniform variable the kernel's layout does not list"),
        },
        naga::AddressSpace::WorkGroup => {
            let start = match l.workgroup.get(&handle) {
                Some(&start) => start,
                None => {
                    let size = l.types.inner(global.ty).size(l.module.to_ctx());
                    let start = l.workgroup_bytes.next_multiple_of(16);
                    l.workgroup_bytes = start + size;
                    l.workgroup.insert(handle, start);
                    start
                }
            };
            Ok(Place::Memory {
                space: Space::Workgroup,
                offset: None,
                constant: start,
            })
        }
        naga::AddressSpace::Private => {
            let registers = match l.private.get(&handle) {
                Some(registers) => registers.clone(),
                None => private_variable(l, handle)?,
            };
            Ok(Place::Registers {
                index: None,
                candidates: vec![registers],
            })
        }
        other => refuse(format!("variables in the {other:?} address space")),
    }
}

/// Registers for a `var<private>`, set to its initial value in the
/// prologue of every batch.
fn private_variable(
    l: &mut Lowerer<'_>,
    handle: Handle<naga::GlobalVariable>,
) -> Lowering<Vec<Reg>> {
    let global = &l.module.global_variables[handle];
    let count = l.types.leaves(l.types.inner(global.ty))?.len();
    let bits = match global.init {
        Some(init) => const_bits(l, &l.module.global_expressions, init)?,
        None => vec![0; count],
    };
    let registers = l.registers_for(count);
    for (&dst, bits) in registers.iter().zip(bits) {
        let src = l.constant(bits);
        l.prologue.push(Node::Op(Op::Copy { dst, src }));
    }
    l.private.insert(handle, registers.clone());
    Ok(registers)
}

pub(super) fn access_index(
    l: &mut Lowerer<'_>,
    scope: &mut Scope<'_>,
    base: Handle<Expression>,
    index: u32,
    out: &mut Vec<Node>,
) -> Lowering<Lowered> {
    let container = pointee(l, scope, base);
    // (first leaf, leaf count, byte offset) of the part selected.
    let (first, bytes) = match l.types.member(&container, index)? {
        Some((first, bytes)) => (first, bytes),
        None => match l.types.elements(&container)? {
            Some(elements) => (index * elements.leaves, index * elements.stride),
            None => return refuse("indexing into a type that has no parts"),
        },
    };
    match l.get(scope, base, out)? {
        Lowered::Value(registers) => value_slice(
            &registers,
            first as usize,
            part_leaves(l, &container, index)?,
        ),
        Lowered::Pointer(Place::Memory {
            space,
            offset,
            constant,
        }) => Ok(Lowered::Pointer(Place::Memory {
            space,
            offset,
            constant: constant + bytes,
        })),
        Lowered::Pointer(Place::Registers {
            index: dynamic,
            candidates,
        }) => {
            let part_len = part_leaves(l, &container, index)?;
            let start = first as usize;
            let candidates = candidates
                .iter()
                .map(|c| c.get(start..start + part_len).map(<[Reg]>::to_vec))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| Refused::from("an index past a variable's leaves".to_string()))?;
            Ok(Lowered::Pointer(Place::Registers {
                index: dynamic,
                candidates,
            }))
        }
    }
}

/// The number of leaves of part `index` of `container`.
fn part_leaves(l: &Lowerer<'_>, container: &TypeInner, index: u32) -> Lowering<usize> {
    if let TypeInner::Struct { members, .. } = container {
        let member = members
            .get(index as usize)
            .ok_or_else(|| Refused::from("a struct member that does not exist".to_string()))?;
        return Ok(l.types.leaves(l.types.inner(member.ty))?.len());
    }
    match l.types.elements(container)? {
        Some(elements) => Ok(elements.leaves as usize),
        None => refuse("indexing into a type that has no parts"),
    }
}

fn value_slice(registers: &[Reg], start: usize, len: usize) -> Lowering<Lowered> {
    registers
        .get(start..start + len)
        .map(|part| Lowered::Value(part.to_vec()))
        .ok_or_else(|| Refusal::from("an index past a value's leaves").into())
}

pub(super) fn access(
    l: &mut Lowerer<'_>,
    scope: &mut Scope<'_>,
    base: Handle<Expression>,
    index: Handle<Expression>,
    out: &mut Vec<Node>,
) -> Lowering<Lowered> {
    let container = pointee(l, scope, base);
    let Some(elements) = l.types.elements(&container)? else {
        return refuse("indexing into a type that has no elements");
    };
    let signed = matches!(
        type_of(l, scope, index),
        TypeInner::Scalar(naga::Scalar {
            kind: ScalarKind::Sint,
            ..
        })
    );
    if super::expr::scalar_type(l, scope, index)?.is_wide() {
        return refuse("a 64-bit index");
    }
    let index_reg = l.value(scope, index, out)?[0];
    let leaves = elements.leaves as usize;
    match l.get(scope, base, out)? {
        Lowered::Value(registers) => {
            let count = elements.count.unwrap_or(1) as usize;
            let mut result = Vec::with_capacity(leaves);
            for leaf in 0..leaves {
                let dst = l.register();
                out.push(Node::Op(Op::Gather {
                    dst,
                    index: index_reg,
                    choices: (0..count).map(|e| registers[e * leaves + leaf]).collect(),
                }));
                result.push(dst);
            }
            Ok(Lowered::Value(result))
        }
        Lowered::Pointer(Place::Memory {
            space,
            offset,
            constant,
        }) => {
            let dst = l.register();
            let clamp_to = match space {
                Space::Workgroup => elements.count,
                Space::Storage(_) | Space::Uniform(_) => None,
            };
            out.push(Node::Op(Op::Offset {
                dst,
                base: constant,
                dynamic_base: offset,
                terms: vec![OffsetTerm {
                    index: index_reg,
                    signed,
                    stride: elements.stride,
                    clamp_to,
                }],
            }));
            Ok(Lowered::Pointer(Place::Memory {
                space,
                offset: Some(dst),
                constant: 0,
            }))
        }
        Lowered::Pointer(Place::Registers {
            index: outer,
            candidates,
        }) => {
            let count = elements.count.unwrap_or(1);
            let last = l.constant(count - 1);
            let clamped = l.register();
            out.push(Node::Op(Op::Binary {
                op: BinaryOp::Min,
                ty: Scalar::U32,
                dst: clamped,
                a: index_reg,
                b: last,
            }));
            let combined = match outer {
                None => clamped,
                Some(outer) => {
                    let scale = l.constant(count);
                    let scaled = l.register();
                    let sum = l.register();
                    out.push(Node::Op(Op::Binary {
                        op: BinaryOp::Multiply,
                        ty: Scalar::U32,
                        dst: scaled,
                        a: outer,
                        b: scale,
                    }));
                    out.push(Node::Op(Op::Binary {
                        op: BinaryOp::Add,
                        ty: Scalar::U32,
                        dst: sum,
                        a: scaled,
                        b: clamped,
                    }));
                    sum
                }
            };
            let mut narrowed = Vec::with_capacity(candidates.len() * count as usize);
            for candidate in &candidates {
                for e in 0..count as usize {
                    let part = candidate.get(e * leaves..(e + 1) * leaves).ok_or_else(|| {
                        Refused::from("an index past a variable's leaves".to_string())
                    })?;
                    narrowed.push(part.to_vec());
                }
            }
            Ok(Lowered::Pointer(Place::Registers {
                index: Some(combined),
                candidates: narrowed,
            }))
        }
    }
}

/// `arrayLength(p)`: `p` is a storage variable or its struct's last member.
pub(super) fn array_length(
    l: &mut Lowerer<'_>,
    scope: &Scope<'_>,
    pointer: Handle<Expression>,
    out: &mut Vec<Node>,
) -> Lowering<Lowered> {
    let global = match scope.function.expressions[pointer] {
        Expression::GlobalVariable(global) => Some(global),
        Expression::AccessIndex { base, .. } => match scope.function.expressions[base] {
            Expression::GlobalVariable(global) => Some(global),
            _ => None,
        },
        _ => None,
    };
    let Some(Place::Memory {
        space: Space::Storage(binding),
        ..
    }) = global.map(|g| global_place(l, g)).transpose()?
    else {
        return refuse("`arrayLength` of something other than a storage variable");
    };
    let BindingShape::Runtime {
        header_bytes,
        stride,
    } = l.layout.buffers[binding as usize].shape
    else {
        return refuse("`arrayLength` of a fixed-size binding");
    };
    let dst = l.register();
    out.push(Node::Op(Op::ArrayLength {
        dst,
        binding,
        header: header_bytes as u32,
        stride: stride as u32,
    }));
    Ok(Lowered::Value(vec![dst]))
}
