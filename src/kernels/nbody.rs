//! All-pairs softened gravity and the leapfrog sub-step that moves bodies:
//! the two kernels of an N-body step.
//!
//! Bodies live in structure-of-arrays buffers (all x, then all y, all z, all
//! masses), so the GPU reads neighbouring bodies from neighbouring addresses
//! and the CPU twins read SIMD lanes straight from the buffers, with no
//! per-step transposition.
//!
//! The force twin is the hot loop of every N-body program, so it is compiled
//! three times: for AVX-512, for AVX2 + FMA, and for the baseline target, and
//! the best the CPU supports is chosen at run time (`accel_block`, the
//! module's one `unsafe` call). All three compute the same sums in the same
//! order.

use std::sync::OnceLock;

use bytemuck::{Pod, Zeroable};
use rayon::prelude::*;

use super::{builtin, runs_serially, PARALLEL_MIN_ELEMENTS};
use crate::cpu::CpuArgs;
use crate::kernel::Kernel;
use crate::{Error, Result};

pub(crate) const ACCEL_SOURCE: &str = include_str!("../../shaders/nbody_accel.wgsl");
pub(crate) const KICK_DRIFT_SOURCE: &str = include_str!("../../shaders/nbody_kick_drift.wgsl");
pub(crate) const ACCEL_FROM_SOURCE: &str = include_str!("../../shaders/nbody_accel_from.wgsl");

/// The uniform of [`nbody_accel`]; matches `shaders/nbody_accel.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct NbodyParams {
    /// Bodies: the buffers hold `4 n` (bodies) and `3 n` (accelerations)
    /// floats, or more.
    pub n: u32,
    /// Softening length squared (ε²); must be > 0.
    pub softening2: f32,
    /// Padding to WGSL's 16-byte uniform layout.
    pub _pad0: u32,
    /// Padding to WGSL's 16-byte uniform layout.
    pub _pad1: u32,
}

/// The uniform of [`nbody_accel_from`]; matches
/// `shaders/nbody_accel_from.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct NbodyFromParams {
    /// Bodies accelerated: `targets` holds `4 targets` floats and `accel`
    /// `3 targets`, or more.
    pub targets: u32,
    /// Bodies pulling: `sources` holds `4 sources` floats, or more.
    pub sources: u32,
    /// Softening length squared (ε²); must be > 0 when the sources may be
    /// the targets themselves.
    pub softening2: f32,
    /// 1: add to `accel`; 0: replace it.
    pub accumulate: u32,
}

/// The uniform of [`nbody_kick_drift`]; matches
/// `shaders/nbody_kick_drift.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct KickDriftParams {
    /// Bodies.
    pub n: u32,
    /// Time over which accelerations change velocities: `v += a · kick`.
    pub kick: f32,
    /// Time over which the new velocities move bodies: `x += v · drift`.
    pub drift: f32,
    /// Padding to WGSL's 16-byte uniform layout.
    pub _pad: u32,
}

/// Accelerations of all bodies under softened gravity (G = 1). Arguments:
/// uniform [`NbodyParams`], `.read(bodies)` with `bodies = [x.., y.., z..,
/// m..]` (a `Buffer<f32>` of `4 n`), `.overwrite(accel)` with `accel =
/// [ax.., ay.., az..]` (`3 n`), `.invocations(n)`. Work is `n²`
/// interactions.
///
/// # Errors
/// On the CPU, [`Error::CpuArgument`](crate::Error::CpuArgument) when a buffer is shorter than `n`
/// bodies need; the shader then writes nothing.
pub fn nbody_accel() -> Kernel {
    static KERNEL: OnceLock<Kernel> = OnceLock::new();
    builtin(&KERNEL, || {
        Ok(Kernel::wgsl("nbody_accel", ACCEL_SOURCE, "main")?
            .cpu(accel_twin)
            .serial_below(SERIAL_BODIES as u64)
            // All pairs: n invocations do n² interactions.
            .work_size(|[n, _, _]| u64::from(n).pow(2)))
    })
}

/// Accelerations of one set of bodies due to another, added to `accel` or
/// replacing it: the kernel of a decomposed N-body step, where each process
/// sums the pull of each block of bodies as the blocks come round.
/// Arguments: uniform [`NbodyFromParams`], `.read(targets)` (`4 nt` floats,
/// `[x.., y.., z.., m..]` as for [`nbody_accel`]; masses unused),
/// `.read(sources)` (`4 ns`), `.write(accel)` (`3 nt`, `[ax.., ay..,
/// az..]`), `.invocations(nt)`. Work is `nt · ns` interactions: tell the
/// dispatcher with `.work(nt · ns)` on the launch.
///
/// With `accumulate` the new sum is added to what `accel` holds, after the
/// block's own sum, in the same order on the CPU and the GPU.
///
/// # Errors
/// On the CPU, [`Error::CpuArgument`](crate::Error::CpuArgument) when a buffer is shorter than the
/// counts need; the shader then writes nothing.
pub fn nbody_accel_from() -> Kernel {
    static KERNEL: OnceLock<Kernel> = OnceLock::new();
    builtin(&KERNEL, || {
        Ok(Kernel::wgsl("nbody_accel_from", ACCEL_FROM_SOURCE, "main")?
            .cpu(accel_from_twin)
            .serial_below(SERIAL_BODIES as u64))
    })
}

/// One leapfrog sub-step: `v += a · kick`, then `x += v · drift`, per body.
/// Arguments: uniform [`KickDriftParams`], `.read(accel)` (`3 n` floats),
/// `.write(vel)` (`3 n`), `.write(bodies)` (`4 n`, as for [`nbody_accel`];
/// masses are not touched), `.invocations(n)`.
///
/// Kick-drift-kick leapfrog for a step `dt` is this kernel with `(dt/2,
/// dt)`, then [`nbody_accel`], then this kernel with `(dt/2, 0)`.
///
/// # Errors
/// As [`nbody_accel`].
pub fn nbody_kick_drift() -> Kernel {
    static KERNEL: OnceLock<Kernel> = OnceLock::new();
    builtin(&KERNEL, || {
        Ok(Kernel::wgsl("nbody_kick_drift", KICK_DRIFT_SOURCE, "main")?
            .cpu(kick_drift_twin)
            .serial_below(PARALLEL_MIN_ELEMENTS as u64))
    })
}

/// Independent accumulators per body: the compiler keeps them in SIMD
/// registers and vectorizes the j loop (float adds are not reordered
/// otherwise). 16 fills one AVX-512 register, two AVX2 ones.
const LANES: usize = 16;
/// Bodies per parallel task: enough work (64 × n interactions) to amortize
/// rayon's scheduling.
const BODIES_PER_TASK: usize = 64;
/// Fewer bodies than this (under 16 384 interactions, about 10 µs) are
/// computed serially.
const SERIAL_BODIES: usize = 2 * BODIES_PER_TASK;

/// Checks that each `(name, len, per_body)` buffer holds `n` bodies.
fn check_lengths(kernel: &str, n: usize, buffers: &[(&str, usize, usize)]) -> Result<()> {
    for &(name, len, per_body) in buffers {
        if len / per_body < n {
            return Err(Error::CpuArgument {
                kernel: kernel.into(),
                message: format!(
                    "`{name}` holds {len} floats, but {n} bodies need {per_body} × {n} = {}",
                    per_body * n
                ),
            });
        }
    }
    Ok(())
}

/// Positions and masses of a set of bodies, one slice per component.
#[derive(Clone, Copy)]
struct Bodies<'a> {
    xs: &'a [f32],
    ys: &'a [f32],
    zs: &'a [f32],
    ms: &'a [f32],
}

impl<'a> Bodies<'a> {
    /// The first `n` bodies of a `[x.., y.., z.., m..]` buffer of `4 n`
    /// floats or more.
    fn split(buffer: &'a [f32], n: usize) -> Self {
        let (xs, rest) = buffer.split_at(n);
        let (ys, rest) = rest.split_at(n);
        let (zs, rest) = rest.split_at(n);
        Bodies {
            xs,
            ys,
            zs,
            ms: &rest[..n],
        }
    }
}

/// Who pulls on whom: accelerations of `targets` (their masses unused) due
/// to `sources`.
struct Interaction<'a> {
    targets: Bodies<'a>,
    sources: Bodies<'a>,
    eps2: f32,
    /// Add to the accelerations already there instead of replacing them.
    accumulate: bool,
}

/// One task's share of the x, y and z accelerations.
type AccelChunks<'a> = ((&'a mut [f32], &'a mut [f32]), &'a mut [f32]);

fn accel_twin(args: &mut CpuArgs<'_>) -> Result<()> {
    let params: NbodyParams = args.uniform(0)?;
    let invocations = args.invocations();
    let bodies = args.input::<f32>(0)?;
    let accel = args.output::<f32>(1)?;
    let n = params.n as usize;
    check_lengths(
        args.kernel_name(),
        n,
        &[("bodies", bodies.len(), 4), ("accel", accel.len(), 3)],
    )?;
    let bodies = Bodies::split(bodies, n);
    let interaction = Interaction {
        targets: bodies,
        sources: bodies,
        eps2: params.softening2,
        accumulate: false,
    };
    accelerations(
        &interaction,
        accel,
        runs_serially(invocations, n, SERIAL_BODIES),
    );
    Ok(())
}

fn accel_from_twin(args: &mut CpuArgs<'_>) -> Result<()> {
    let params: NbodyFromParams = args.uniform(0)?;
    let invocations = args.invocations();
    let targets = args.input::<f32>(0)?;
    let sources = args.input::<f32>(1)?;
    let accel = args.output::<f32>(2)?;
    let (nt, ns) = (params.targets as usize, params.sources as usize);
    let kernel = args.kernel_name();
    check_lengths(
        kernel,
        nt,
        &[("targets", targets.len(), 4), ("accel", accel.len(), 3)],
    )?;
    check_lengths(kernel, ns, &[("sources", sources.len(), 4)])?;
    let interaction = Interaction {
        targets: Bodies::split(targets, nt),
        sources: Bodies::split(sources, ns),
        eps2: params.softening2,
        accumulate: params.accumulate != 0,
    };
    // Few targets, or few interactions in all (a small block of sources).
    let serial = runs_serially(invocations, nt, SERIAL_BODIES)
        || nt.saturating_mul(ns) < SERIAL_BODIES * SERIAL_BODIES;
    accelerations(&interaction, accel, serial);
    Ok(())
}

/// Fills `accel` (`[ax.., ay.., az..]` for the targets) in tasks of
/// [`BODIES_PER_TASK`] targets, on the calling thread when `serial`.
fn accelerations(interaction: &Interaction<'_>, accel: &mut [f32], serial: bool) {
    let n = interaction.targets.xs.len();
    let (axs, rest) = accel.split_at_mut(n);
    let (ays, rest) = rest.split_at_mut(n);
    let azs = &mut rest[..n];
    let task = |(chunk, ((ax, ay), az)): (usize, AccelChunks<'_>)| {
        accel_block(interaction, chunk * BODIES_PER_TASK, ax, ay, az);
    };
    if serial {
        axs.chunks_mut(BODIES_PER_TASK)
            .zip(ays.chunks_mut(BODIES_PER_TASK))
            .zip(azs.chunks_mut(BODIES_PER_TASK))
            .enumerate()
            .for_each(task);
    } else {
        axs.par_chunks_mut(BODIES_PER_TASK)
            .zip(ays.par_chunks_mut(BODIES_PER_TASK))
            .zip(azs.par_chunks_mut(BODIES_PER_TASK))
            .enumerate()
            .for_each(task);
    }
}

/// Accelerations of targets `first .. first + ax.len()`, with the widest
/// SIMD this CPU has.
#[allow(unsafe_code)]
fn accel_block(
    interaction: &Interaction<'_>,
    first: usize,
    ax: &mut [f32],
    ay: &mut [f32],
    az: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    {
        // The checks are cached atomics: cheap next to a block's 64 × n
        // interactions.
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU was just checked to have AVX-512F, the only
            // feature `accel_block_avx512` enables.
            return unsafe { accel_block_avx512(interaction, first, ax, ay, az) };
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the CPU was just checked to have AVX2 and FMA, the
            // features `accel_block_avx2` enables.
            return unsafe { accel_block_avx2(interaction, first, ax, ay, az) };
        }
    }
    accel_block_portable(interaction, first, ax, ay, az);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn accel_block_avx512(
    interaction: &Interaction<'_>,
    first: usize,
    ax: &mut [f32],
    ay: &mut [f32],
    az: &mut [f32],
) {
    accel_block_portable(interaction, first, ax, ay, az);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn accel_block_avx2(
    interaction: &Interaction<'_>,
    first: usize,
    ax: &mut [f32],
    ay: &mut [f32],
    az: &mut [f32],
) {
    accel_block_portable(interaction, first, ax, ay, az);
}

/// Always inlined, so each `target_feature` wrapper above compiles its own
/// copy with its own instruction set.
#[inline(always)]
fn accel_block_portable(
    interaction: &Interaction<'_>,
    first: usize,
    ax: &mut [f32],
    ay: &mut [f32],
    az: &mut [f32],
) {
    let Bodies { xs, ys, zs, ms } = interaction.sources;
    let targets = interaction.targets;
    let eps2 = interaction.eps2;
    // Fixed-size lane arrays, so the lane loop compiles to whole vectors
    // with the accumulators in registers.
    let (x_lanes, x_tail) = xs.as_chunks::<LANES>();
    let (y_lanes, y_tail) = ys.as_chunks::<LANES>();
    let (z_lanes, z_tail) = zs.as_chunks::<LANES>();
    let (m_lanes, m_tail) = ms.as_chunks::<LANES>();
    for (k, ((ax, ay), az)) in ax.iter_mut().zip(ay).zip(az).enumerate() {
        let i = first + k;
        let (px, py, pz) = (targets.xs[i], targets.ys[i], targets.zs[i]);
        let mut sx = [0.0f32; LANES];
        let mut sy = [0.0f32; LANES];
        let mut sz = [0.0f32; LANES];
        let lanes = x_lanes.iter().zip(y_lanes).zip(z_lanes.iter().zip(m_lanes));
        for ((x, y), (z, m)) in lanes {
            for l in 0..LANES {
                let [dx, dy, dz, s] = pair_term(x[l] - px, y[l] - py, z[l] - pz, m[l], eps2);
                sx[l] += dx * s;
                sy[l] += dy * s;
                sz[l] += dz * s;
            }
        }
        let mut tail = [0.0f32; 3];
        let tails = x_tail.iter().zip(y_tail).zip(z_tail.iter().zip(m_tail));
        for ((x, y), (z, m)) in tails {
            let [dx, dy, dz, s] = pair_term(x - px, y - py, z - pz, *m, eps2);
            tail[0] += dx * s;
            tail[1] += dy * s;
            tail[2] += dz * s;
        }
        let sums = [
            sx.iter().sum::<f32>() + tail[0],
            sy.iter().sum::<f32>() + tail[1],
            sz.iter().sum::<f32>() + tail[2],
        ];
        for (out, sum) in [ax, ay, az].into_iter().zip(sums) {
            // The shader adds the old value after the block's own sum.
            *out = if interaction.accumulate {
                sum + *out
            } else {
                sum
            };
        }
    }
}

/// The offset and `m / (r² + ε²)^(3/2)` of one pair.
#[inline(always)]
fn pair_term(dx: f32, dy: f32, dz: f32, m: f32, eps2: f32) -> [f32; 4] {
    let r2 = dx * dx + dy * dy + dz * dz + eps2;
    let inv_r = 1.0 / r2.sqrt();
    [dx, dy, dz, m * inv_r * inv_r * inv_r]
}

fn kick_drift_twin(args: &mut CpuArgs<'_>) -> Result<()> {
    let params: KickDriftParams = args.uniform(0)?;
    let invocations = args.invocations();
    let accel = args.input::<f32>(0)?;
    let vel = args.output::<f32>(1)?;
    let bodies = args.output::<f32>(2)?;
    let n = params.n as usize;
    check_lengths(
        args.kernel_name(),
        n,
        &[
            ("accel", accel.len(), 3),
            ("vel", vel.len(), 3),
            ("bodies", bodies.len(), 4),
        ],
    )?;
    let (kick, drift) = (params.kick, params.drift);
    // Unfused multiply-adds, as the WGSL is written. The three components are
    // the first 3n floats of each buffer, in the same order.
    let update = |((v, x), a): ((&mut [f32], &mut [f32]), &[f32])| {
        for ((v, x), &a) in v.iter_mut().zip(x).zip(a) {
            *v += a * kick;
            *x += *v * drift;
        }
    };
    let (vel, positions, accel) = (&mut vel[..3 * n], &mut bodies[..3 * n], &accel[..3 * n]);
    if runs_serially(invocations, n, PARALLEL_MIN_ELEMENTS) {
        update(((vel, positions), accel));
    } else {
        vel.par_chunks_mut(PARALLEL_MIN_ELEMENTS)
            .zip(positions.par_chunks_mut(PARALLEL_MIN_ELEMENTS))
            .zip(accel.par_chunks(PARALLEL_MIN_ELEMENTS))
            .for_each(update);
    }
    Ok(())
}
