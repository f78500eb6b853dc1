//! Built-in kernels: each a WGSL file in `shaders/` and a Rust twin.
//!
//! The twins are written to be fast on the CPU, not as reference loops:
//! parallel over the runtime's pool above a size where the fork-join cost
//! (about 10 µs on two cores) pays for itself, and shaped so the compiler can
//! vectorize the inner loops. Every WGSL file here is validated by naga and
//! compared against its twin in the test suite.

mod jacobi2d;
mod nbody;
mod reduce;
mod saxpy;

pub use jacobi2d::{jacobi2d, Jacobi2dParams};
pub use nbody::{
    nbody_accel, nbody_accel_from, nbody_kick_drift, KickDriftParams, NbodyFromParams, NbodyParams,
};
pub use reduce::{reduce_sum, sum, ReduceParams, REDUCE_ITEMS_PER_GROUP};
pub use saxpy::{saxpy, SaxpyParams};

use std::sync::OnceLock;

use crate::kernel::Kernel;

/// Work below which a twin runs sequentially: under ~30 µs of work the pool's
/// wake-up and fork-join cost more than they save.
pub(crate) const PARALLEL_MIN_ELEMENTS: usize = 1 << 15;

/// Whether a twin loops serially: `items` is too little work for the pool,
/// or the launch has fewer than `threshold` invocations. The kernel declares
/// the same threshold with [`Kernel::serial_below`], so such launches run on
/// the calling thread, where the twin must not use rayon.
pub(crate) fn runs_serially(invocations: [u32; 3], items: usize, threshold: usize) -> bool {
    let launched: u64 = invocations.iter().map(|&d| u64::from(d)).product();
    items < threshold || launched < threshold as u64
}

/// Parses a built-in kernel once per process. Built-in shaders are validated
/// by the test suite, so failure here is a bug in switchyard, not user input.
pub(crate) fn builtin(
    cell: &'static OnceLock<Kernel>,
    make: impl FnOnce() -> crate::Result<Kernel>,
) -> Kernel {
    cell.get_or_init(|| match make() {
        Ok(kernel) => kernel,
        Err(e) => panic!("switchyard bug: built-in kernel failed validation: {e}"),
    })
    .clone()
}

/// Every built-in kernel's name, WGSL source and entry point, for validation tests.
pub fn builtin_sources() -> [(&'static str, &'static str, &'static str); 6] {
    [
        ("saxpy", saxpy::SOURCE, "main"),
        ("reduce_sum", reduce::SOURCE, "main"),
        ("nbody_accel", nbody::ACCEL_SOURCE, "main"),
        ("nbody_kick_drift", nbody::KICK_DRIFT_SOURCE, "main"),
        ("nbody_accel_from", nbody::ACCEL_FROM_SOURCE, "main"),
        ("jacobi2d", jacobi2d::SOURCE, "main"),
    ]
}
