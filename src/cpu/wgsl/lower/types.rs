//! WGSL types as the executor holds them: a list of scalar leaves in
//! registers, and the byte offset of each leaf in buffer memory.
//!
//! A value's leaves are its scalars' words in declaration order: vector
//! components, matrix columns (each its rows), array elements, struct
//! members; a 64-bit scalar is two leaves, its low word first. In memory
//! each leaf sits where WGSL's layout rules put it (struct member offsets
//! and array strides from naga, matrix columns at the column vector's
//! alignment), so one description serves loads, stores and indexing.

use naga::{ArraySize, Handle, Module, ScalarKind, Type, TypeInner, VectorSize};

use crate::cpu::wgsl::program::Scalar;

/// A refusal, before it gets the kernel's name and the line.
pub(crate) type Refusal = String;

pub(crate) fn scalar_of(scalar: naga::Scalar) -> Result<Scalar, Refusal> {
    match (scalar.kind, scalar.width) {
        (ScalarKind::Float, 4) => Ok(Scalar::F32),
        (ScalarKind::Sint, 4) => Ok(Scalar::I32),
        (ScalarKind::Uint, 4) => Ok(Scalar::U32),
        (ScalarKind::Bool, _) => Ok(Scalar::Bool),
        (ScalarKind::Float, 8) => Ok(Scalar::F64),
        (ScalarKind::Float, 2) => Ok(Scalar::F16),
        (ScalarKind::Sint, 8) => Ok(Scalar::I64),
        (ScalarKind::Uint, 8) => Ok(Scalar::U64),
        (kind, width) => Err(format!("{}-bit {kind:?} values", u32::from(width) * 8)),
    }
}

pub(crate) fn vector_len(size: VectorSize) -> u32 {
    size as u32
}

/// How one level of indexing into a composite type works.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Elements {
    /// Element count; `None` for a runtime-sized array.
    pub count: Option<u32>,
    /// Leaves of one element.
    pub leaves: u32,
    /// Bytes between elements in buffer memory.
    pub stride: u32,
}

/// The leaves, and memory layout, of types in one module.
pub(crate) struct Types<'m> {
    pub module: &'m Module,
}

impl<'m> Types<'m> {
    pub(crate) fn inner(&self, ty: Handle<Type>) -> &'m TypeInner {
        &self.module.types[ty].inner
    }

    /// The leaves of a value of type `inner`, in order: its memory leaves
    /// without their offsets (registers hold the same leaves in the same
    /// order as buffer memory).
    pub(crate) fn leaves(&self, inner: &TypeInner) -> Result<Vec<Scalar>, Refusal> {
        Ok(self
            .memory_leaves(inner)?
            .into_iter()
            .map(|(scalar, _)| scalar)
            .collect())
    }

    /// Each leaf's scalar type and byte offset within a value of type
    /// `inner` held in buffer or workgroup memory.
    pub(crate) fn memory_leaves(&self, inner: &TypeInner) -> Result<Vec<(Scalar, u32)>, Refusal> {
        let mut out = Vec::new();
        self.push_memory_leaves(inner, 0, &mut out)?;
        Ok(out)
    }

    fn push_memory_leaves(
        &self,
        inner: &TypeInner,
        at: u32,
        out: &mut Vec<(Scalar, u32)>,
    ) -> Result<(), Refusal> {
        match *inner {
            TypeInner::Scalar(s) | TypeInner::Atomic(s) => push_words(scalar_of(s)?, at, out),
            TypeInner::Vector { size, scalar } => {
                let s = scalar_of(scalar)?;
                for i in 0..vector_len(size) {
                    push_words(s, at + i * u32::from(scalar.width), out);
                }
            }
            TypeInner::Matrix {
                columns,
                rows,
                scalar,
            } => {
                let s = scalar_of(scalar)?;
                let stride = column_stride(rows, scalar);
                for c in 0..vector_len(columns) {
                    for r in 0..vector_len(rows) {
                        push_words(s, at + c * stride + r * u32::from(scalar.width), out);
                    }
                }
            }
            TypeInner::Array { base, size, stride } => {
                for i in 0..fixed_count(size)? {
                    self.push_memory_leaves(self.inner(base), at + i * stride, out)?;
                }
            }
            TypeInner::Struct { ref members, .. } => {
                for member in members {
                    self.push_memory_leaves(self.inner(member.ty), at + member.offset, out)?;
                }
            }
            ref other => return Err(format!("values of type {}", type_name(other))),
        }
        Ok(())
    }

    /// How indexing into `inner` works, or `None` when it is not indexable.
    pub(crate) fn elements(&self, inner: &TypeInner) -> Result<Option<Elements>, Refusal> {
        Ok(Some(match *inner {
            TypeInner::Vector { size, scalar } => Elements {
                count: Some(vector_len(size)),
                leaves: scalar_of(scalar)?.words() as u32,
                stride: u32::from(scalar.width),
            },
            TypeInner::Matrix {
                columns,
                rows,
                scalar,
            } => Elements {
                count: Some(vector_len(columns)),
                leaves: vector_len(rows) * scalar_of(scalar)?.words() as u32,
                stride: column_stride(rows, scalar),
            },
            TypeInner::Array { base, size, stride } => {
                let base_inner = self.inner(base);
                let count = match size {
                    ArraySize::Dynamic => None,
                    other => Some(fixed_count(other)?),
                };
                let leaves = match count {
                    // Runtime-sized arrays live only in buffers, never in
                    // registers, so their elements' leaf count is unused.
                    None => 0,
                    Some(_) => self.leaves(base_inner)?.len() as u32,
                };
                Elements {
                    count,
                    leaves,
                    stride,
                }
            }
            _ => return Ok(None),
        }))
    }

    /// The leaf offset (in registers) and byte offset of struct member
    /// `index`.
    pub(crate) fn member(
        &self,
        inner: &TypeInner,
        index: u32,
    ) -> Result<Option<(u32, u32)>, Refusal> {
        let TypeInner::Struct { members, .. } = inner else {
            return Ok(None);
        };
        let mut leaves = 0;
        for (i, member) in members.iter().enumerate() {
            let member_inner = self.inner(member.ty);
            if i as u32 == index {
                return Ok(Some((leaves, member.offset)));
            }
            if !matches!(
                member_inner,
                TypeInner::Array {
                    size: ArraySize::Dynamic,
                    ..
                }
            ) {
                leaves += self.leaves(member_inner)?.len() as u32;
            }
        }
        Ok(None)
    }
}

/// A scalar's words: one leaf, or two (low word first) for a 64-bit one.
fn push_words(scalar: Scalar, at: u32, out: &mut Vec<(Scalar, u32)>) {
    out.push((scalar, at));
    if scalar.is_wide() {
        out.push((scalar, at + 4));
    }
}

/// Bytes between a matrix's columns: the column vector's alignment.
fn column_stride(rows: VectorSize, scalar: naga::Scalar) -> u32 {
    let width = u32::from(scalar.width);
    match rows {
        VectorSize::Bi => 2 * width,
        VectorSize::Tri | VectorSize::Quad => 4 * width,
    }
}

pub(crate) fn fixed_count(size: ArraySize) -> Result<u32, Refusal> {
    match size {
        ArraySize::Constant(n) => Ok(n.get()),
        ArraySize::Pending(_) => Err("an array sized by an override constant".into()),
        ArraySize::Dynamic => Err("a runtime-sized array used as a value".into()),
    }
}

pub(crate) fn type_name(inner: &TypeInner) -> &'static str {
    match inner {
        TypeInner::Scalar(_) => "scalar",
        TypeInner::Vector { .. } => "vector",
        TypeInner::Matrix { .. } => "matrix",
        TypeInner::CooperativeMatrix { .. } => "cooperative matrix",
        TypeInner::Atomic(_) => "atomic",
        TypeInner::Pointer { .. } | TypeInner::ValuePointer { .. } => "pointer",
        TypeInner::Array { .. } => "array",
        TypeInner::Struct { .. } => "struct",
        TypeInner::Image { .. } => "texture",
        TypeInner::Sampler { .. } => "sampler",
        TypeInner::AccelerationStructure { .. } => "acceleration structure",
        TypeInner::RayQuery { .. } => "ray query",
        TypeInner::BindingArray { .. } => "binding array",
    }
}
