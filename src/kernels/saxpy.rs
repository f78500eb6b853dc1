//! `y = a·x + y`, the smallest useful kernel.

use std::sync::OnceLock;

use bytemuck::{Pod, Zeroable};
use rayon::prelude::*;

use super::{builtin, runs_serially, PARALLEL_MIN_ELEMENTS};
use crate::cpu::CpuArgs;
use crate::kernel::Kernel;
use crate::Result;

pub(crate) const SOURCE: &str = include_str!("../../shaders/saxpy.wgsl");

/// The uniform of [`saxpy`]; matches `SaxpyParams` in `shaders/saxpy.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct SaxpyParams {
    /// The scale `a`.
    pub a: f32,
    /// Elements to update; capped at both buffers' lengths.
    pub n: u32,
}

/// `y[i] = a * x[i] + y[i]`. Arguments: uniform [`SaxpyParams`], `.read(x)`,
/// `.write(y)`, `.invocations(n)`.
pub fn saxpy() -> Kernel {
    static KERNEL: OnceLock<Kernel> = OnceLock::new();
    builtin(&KERNEL, || {
        Ok(Kernel::wgsl("saxpy", SOURCE, "main")?
            .cpu(saxpy_twin)
            .serial_below(PARALLEL_MIN_ELEMENTS as u64)
            .elementwise())
    })
}

fn saxpy_twin(args: &mut CpuArgs<'_>) -> Result<()> {
    let params: SaxpyParams = args.uniform(0)?;
    let invocations = args.invocations();
    let x = args.input::<f32>(0)?;
    let y = args.output::<f32>(1)?;
    let n = (params.n as usize).min(x.len()).min(y.len());
    let a = params.a;
    // An unfused multiply and add (not mul_add), as WGSL's `a * x + y` means.
    let update = |(y, x): (&mut [f32], &[f32])| {
        for (y, &x) in y.iter_mut().zip(x) {
            *y += a * x;
        }
    };
    if runs_serially(invocations, n, PARALLEL_MIN_ELEMENTS) {
        update((&mut y[..n], &x[..n]));
    } else {
        y[..n]
            .par_chunks_mut(PARALLEL_MIN_ELEMENTS)
            .zip(x[..n].par_chunks(PARALLEL_MIN_ELEMENTS))
            .for_each(update);
    }
    Ok(())
}
