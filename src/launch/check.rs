//! Step 1 of a launch: the arguments against the kernel, before any data
//! moves.
//!
//! Every buffer must belong to the launching runtime; the launch needs a
//! size with no zero in it; and for a kernel with WGSL, the count, access
//! (`read` vs `read_write`), element stride and total size of every buffer,
//! and the size of every uniform, must match what naga reflected. Each
//! mismatch is a typed error naming the kernel, the argument and the sizes.
//!
//! Invariant: nothing here changes a buffer, so an error leaves every
//! argument exactly as the caller had it.

use std::sync::Arc;

use super::Arg;
use crate::error::{Error, Result};
use crate::kernel::Kernel;
use crate::pipeline::{BindingInfo, BindingKind, BindingShape, WgslKernel};
use crate::shared::RuntimeShared;

/// Checks a launch's arguments and size; returns the size.
///
/// # Errors
/// [`Error::ForeignBuffer`](crate::Error::ForeignBuffer), [`Error::LaunchSize`](crate::Error::LaunchSize), and those of
/// [`check_arguments`].
pub(super) fn check_launch(
    shared: &RuntimeShared,
    kernel: &Kernel,
    buffers: &[Arg<'_>],
    uniforms: &[Vec<u8>],
    invocations: Option<[u32; 3]>,
) -> Result<[u32; 3]> {
    let name = kernel.name();
    for (index, arg) in buffers.iter().enumerate() {
        if !Arc::ptr_eq(&arg.raw().home, shared.handle()) {
            return Err(Error::ForeignBuffer {
                kernel: name.into(),
                index,
            });
        }
    }
    let invocations = invocations.ok_or_else(|| Error::LaunchSize {
        kernel: name.into(),
        message: "no size given; call `.invocations(n)` or `.grid([x, y, z])`".into(),
    })?;
    if invocations.contains(&0) {
        return Err(Error::LaunchSize {
            kernel: name.into(),
            message: format!("zero invocations in {invocations:?}"),
        });
    }
    if let Some(wgsl) = kernel.wgsl_part() {
        check_arguments(wgsl, buffers, uniforms)?;
    }
    Ok(invocations)
}

/// Checks count, access and sizes of every argument against the layout.
fn check_arguments(wgsl: &WgslKernel, buffers: &[Arg<'_>], uniforms: &[Vec<u8>]) -> Result<()> {
    let layout = &wgsl.layout;
    let kernel = || wgsl.name.clone();
    if buffers.len() != layout.buffers.len() {
        return Err(Error::ArgumentCount {
            kernel: kernel(),
            kind: "buffer",
            expected: layout.buffers.len(),
            given: buffers.len(),
        });
    }
    if uniforms.len() != layout.uniforms.len() {
        return Err(Error::ArgumentCount {
            kernel: kernel(),
            kind: "uniform",
            expected: layout.uniforms.len(),
            given: uniforms.len(),
        });
    }
    let size_error = |info: &BindingInfo, message: String| Error::ArgumentSize {
        kernel: kernel(),
        name: info.name.clone(),
        group: info.group,
        binding: info.binding,
        message,
    };
    for (index, (arg, info)) in buffers.iter().zip(&layout.buffers).enumerate() {
        let BindingKind::Storage(declared) = info.kind else {
            unreachable!("layout.buffers holds storage bindings only")
        };
        if declared != arg.access() {
            return Err(Error::AccessMismatch {
                kernel: kernel(),
                index,
                group: info.group,
                binding: info.binding,
                name: info.name.clone(),
                declared,
                passed: arg.access(),
            });
        }
        let raw = arg.raw();
        let bytes = raw.byte_len();
        if bytes == 0 {
            return Err(size_error(
                info,
                format!("argument {index} is an empty buffer"),
            ));
        }
        match info.shape {
            BindingShape::Runtime {
                header_bytes: 0,
                stride,
            } => {
                if raw.elem_size as u64 != stride {
                    return Err(size_error(
                        info,
                        format!(
                            "argument {index} has {}-byte elements (`{}`), the shader's array stride is {stride} bytes",
                            raw.elem_size, raw.type_name
                        ),
                    ));
                }
            }
            BindingShape::Runtime {
                header_bytes,
                stride,
            } => {
                if bytes < header_bytes + stride || (bytes - header_bytes) % stride != 0 {
                    return Err(size_error(
                        info,
                        format!(
                            "argument {index} has {bytes} bytes; the shader expects {header_bytes} + k × {stride}"
                        ),
                    ));
                }
            }
            BindingShape::Sized { bytes: expected } => {
                if bytes != expected {
                    return Err(size_error(
                        info,
                        format!(
                            "argument {index} has {bytes} bytes, the shader's type has {expected}"
                        ),
                    ));
                }
            }
        }
    }
    for (index, (value, info)) in uniforms.iter().zip(&layout.uniforms).enumerate() {
        if let BindingShape::Sized { bytes: expected } = info.shape {
            if value.len() as u64 != expected {
                return Err(size_error(
                    info,
                    format!(
                        "uniform {index} has {} bytes, the shader's type has {expected} (WGSL pads structs to their alignment)",
                        value.len()
                    ),
                ));
            }
        }
    }
    Ok(())
}
