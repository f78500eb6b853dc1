//! The CPU side of the runtime: the runtime's own rayon pool and the view a
//! Rust twin gets of its arguments.
//!
//! - `pool`: [`CpuPool`], the pool twins run in, with panic capture.
//! - `jobs`: plain threads beside the pool for submitted CPU launches that
//!   must wait for a buffer's lock, which no pool worker may do.
//! - `twin`: [`CpuArgs`], the twin's typed view of a launch's host copies.
//!
//! Nothing here knows where the bytes came from: the launch layer above
//! makes each buffer's host copy current and hands the slices down.

mod jobs;
mod pool;
mod twin;
pub(crate) mod wgsl;

pub(crate) use pool::CpuPool;
pub(crate) use twin::CpuSlot;
pub use twin::{CpuArgs, CpuTwin};
