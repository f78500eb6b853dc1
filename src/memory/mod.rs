//! Host memory and the generic allocation pool, below both the device and
//! the buffer layers.
//!
//! - [`host`]: cache-line aligned host copies ([`HostBytes`]), staggered
//!   within the page when large, and the copy helpers that move large
//!   byte ranges on the runtime's pool (uploads into staging memory,
//!   readbacks out of it, host copies of buffers).
//! - [`pool`]: [`SizeClassPool`], size classes with a bound on idle bytes,
//!   generic over the allocation so its policy is tested without a GPU; the
//!   device instantiates it with `wgpu::Buffer`.
//!
//! Nothing here knows about GPUs, buffers or launches.

pub(crate) mod host;
pub(crate) mod pool;

pub(crate) use host::{
    copy_bytes, copy_bytes_twice, try_zeroed_vec, HostBytes, COPY_CHUNK_BYTES,
    PARALLEL_COPY_MIN_BYTES,
};
pub use pool::PoolStats;
pub(crate) use pool::SizeClassPool;
