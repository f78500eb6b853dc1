//! All-pairs softened gravity: the O(n²) heart of an N-body step.

use std::sync::OnceLock;

use bytemuck::{Pod, Zeroable};
use rayon::prelude::*;

use super::{builtin, runs_serially};
use crate::kernel::{CpuArgs, Kernel};
use crate::Result;

pub(crate) const SOURCE: &str = include_str!("../../shaders/nbody_accel.wgsl");

/// The uniform of [`nbody_accel`]; matches `shaders/nbody_accel.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct NbodyParams {
    /// Bodies; capped at the buffers' lengths.
    pub n: u32,
    /// Softening length squared (ε²); must be > 0.
    pub softening2: f32,
    /// Padding to WGSL's 16-byte uniform layout.
    pub _pad0: u32,
    /// Padding to WGSL's 16-byte uniform layout.
    pub _pad1: u32,
}

/// Accelerations of all bodies under softened gravity (G = 1). Arguments:
/// uniform [`NbodyParams`], `.read(bodies)` as `[x, y, z, mass]`,
/// `.overwrite(accel)` as `[ax, ay, az, 0]` (both `Buffer<[f32; 4]>`),
/// `.invocations(n)`.
pub fn nbody_accel() -> Kernel {
    static KERNEL: OnceLock<Kernel> = OnceLock::new();
    builtin(&KERNEL, || {
        Ok(Kernel::wgsl("nbody_accel", SOURCE, "main")?
            .cpu(nbody_twin)
            .serial_below(SERIAL_BODIES as u64)
            // All pairs: n invocations do n² interactions.
            .work_size(|[n, _, _]| u64::from(n).pow(2)))
    })
}

/// Independent accumulators per body: the compiler keeps them in one SIMD
/// register each and vectorizes the j loop (float adds are not reordered
/// otherwise).
const LANES: usize = 16;
/// Bodies per parallel task: enough work (64 × n interactions) to amortize
/// rayon's scheduling.
const BODIES_PER_TASK: usize = 64;
/// Fewer bodies than this (under 16 384 interactions, about 10 µs) are
/// computed serially.
const SERIAL_BODIES: usize = 2 * BODIES_PER_TASK;

fn nbody_twin(args: &mut CpuArgs<'_>) -> Result<()> {
    let params: NbodyParams = args.uniform(0)?;
    let invocations = args.invocations();
    let bodies = args.input::<[f32; 4]>(0)?;
    let accel = args.output::<[f32; 4]>(1)?;
    let n = (params.n as usize).min(bodies.len()).min(accel.len());
    // Structure of arrays, padded with massless bodies to a whole number of lanes.
    let padded = n.next_multiple_of(LANES);
    let mut soa = vec![0.0f32; 4 * padded];
    let (xs, rest) = soa.split_at_mut(padded);
    let (ys, rest) = rest.split_at_mut(padded);
    let (zs, ms) = rest.split_at_mut(padded);
    for (j, body) in bodies[..n].iter().enumerate() {
        (xs[j], ys[j], zs[j], ms[j]) = (body[0], body[1], body[2], body[3]);
    }
    let (xs, ys, zs, ms) = (&*xs, &*ys, &*zs, &*ms);
    let eps2 = params.softening2;
    let task = |(chunk, out): (usize, &mut [[f32; 4]])| {
        for (k, a) in out.iter_mut().enumerate() {
            let i = chunk * BODIES_PER_TASK + k;
            let [ax, ay, az] = accel_on(xs[i], ys[i], zs[i], xs, ys, zs, ms, eps2);
            *a = [ax, ay, az, 0.0];
        }
    };
    if runs_serially(invocations, n, SERIAL_BODIES) {
        accel[..n]
            .chunks_mut(BODIES_PER_TASK)
            .enumerate()
            .for_each(task);
    } else {
        accel[..n]
            .par_chunks_mut(BODIES_PER_TASK)
            .enumerate()
            .for_each(task);
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
#[inline]
fn accel_on(
    px: f32,
    py: f32,
    pz: f32,
    xs: &[f32],
    ys: &[f32],
    zs: &[f32],
    ms: &[f32],
    eps2: f32,
) -> [f32; 3] {
    let mut ax = [0.0f32; LANES];
    let mut ay = [0.0f32; LANES];
    let mut az = [0.0f32; LANES];
    let chunks = xs
        .chunks_exact(LANES)
        .zip(ys.chunks_exact(LANES))
        .zip(zs.chunks_exact(LANES).zip(ms.chunks_exact(LANES)));
    for ((x, y), (z, m)) in chunks {
        for l in 0..LANES {
            let dx = x[l] - px;
            let dy = y[l] - py;
            let dz = z[l] - pz;
            let r2 = dx * dx + dy * dy + dz * dz + eps2;
            let inv_r = 1.0 / r2.sqrt();
            let s = m[l] * inv_r * inv_r * inv_r;
            ax[l] += dx * s;
            ay[l] += dy * s;
            az[l] += dz * s;
        }
    }
    [ax.iter().sum(), ay.iter().sum(), az.iter().sum()]
}
