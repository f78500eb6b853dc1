//! # switchyard
//!
//! Run compute kernels wherever they finish first. A kernel is a WGSL compute
//! shader, optionally with a Rust twin; a [`Runtime`] launches it on the GPU
//! through wgpu or on its own rayon pool (the twin there, else the shader
//! itself on switchyard's WGSL executor), moving data between host and
//! device only when the copy on the other side is stale.
//!
//! ```
//! use switchyard::{kernels, Runtime, Target};
//!
//! # fn main() -> switchyard::Result<()> {
//! let rt = Runtime::new()?; // best adapter, else software Vulkan, else CPU-only
//! let n = 4096u32;
//! let x = rt.buffer_from_slice(&vec![1.0f32; n as usize])?;
//! let mut y = rt.buffer_from_slice(&vec![0.5f32; n as usize])?;
//! let report = rt
//!     .launch(&kernels::saxpy())
//!     .uniform(&kernels::SaxpyParams { a: 2.0, n })
//!     .read(&x)
//!     .write(&mut y)
//!     .invocations(n)
//!     .on(Target::Auto)
//!     .run()?;
//! println!("{report}"); // where it ran, why, how long, bytes moved
//! assert_eq!(y.to_vec()?[0], 2.5);
//! # Ok(()) }
//! ```
//!
//! The modules are layers, each importing only from those listed before it
//! (`ARCHITECTURE.md` draws them; `tests/layers.rs` enforces the order):
//! `target`, `error` and `sync` · `memory` (host copies, the generic pool) ·
//! `cache_file` · `recovery` (the replay log and settling after device loss)
//! · `device` (adapter, wgpu device, queue, transfers) · `handle` (what a
//! buffer needs from its runtime) · `buffer` (residency and transfers of
//! typed data) · `pipeline` (reflection, validated WGSL, the pipeline cache)
//! · `dispatch` (the target policy) · `cpu` (the rayon pool, the WGSL
//! executor, the twin's view) · `kernel` · `shared` (what a runtime shares
//! with its launches) ·
//! `launch` (the launch path and sequences) · `runtime`
//! · `kernels` (built-in kernels, over the public API).

#![deny(unsafe_code)]
#![warn(missing_docs)]

// The layer order is in the crate docs and ARCHITECTURE.md (rustfmt sorts
// these lines); tests/layers.rs enforces it.
mod buffer;
mod cache_file;
mod cpu;
mod device;
mod dispatch;
mod error;
mod handle;
mod kernel;
pub mod kernels;
mod launch;
mod memory;
mod pipeline;
mod recovery;
mod runtime;
mod shared;
mod sync;
mod target;

pub use buffer::{Buffer, Residency, MAX_ELEMENT_ALIGN};
pub use cpu::{CpuArgs, CpuTwin};
pub use device::{AdapterKind, BackendChoice, BindGroupCacheStats, GpuInfo, TransferStats};
pub use dispatch::{CostLine, DispatchReport, KernelReport, Reason, Target};
pub use error::{Access, Error, Result};
pub use kernel::{Kernel, WorkMeasure};
pub use launch::{
    Launch, LaunchReport, OutputDifference, PendingLaunch, Sequence, SequenceReport, SplitParts,
    TwinCheck,
};
pub use memory::PoolStats;
pub use pipeline::{
    BindingInfo, BindingKind, BindingShape, CacheOutcome, KernelLayout, PipelineCacheStats,
};
pub use runtime::{MemoryReport, Runtime, RuntimeConfig};
pub use target::CpuImplementation;
/// The wgpu version switchyard is built on, for its types in this API.
pub use wgpu;

/// Validates a WGSL source with naga the way [`Kernel::wgsl`] does, returning
/// its reflected layout. Useful in tests of one's own shaders.
///
/// # Errors
/// As [`Kernel::wgsl`].
pub fn validate_wgsl(name: &str, source: &str, entry_point: &str) -> Result<KernelLayout> {
    pipeline::reflect::reflect(name, source, entry_point).map(|(_, layout)| layout)
}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
