//! The built-in kernels as benchmark workloads, each runnable three ways on
//! the same input: through switchyard on a target, through wgpu by hand
//! ([`raw_wgpu`](super::raw_wgpu)), and as the rayon code a competent user
//! would write instead (plus, for N-body, the textbook scalar loop).
//!
//! Sizes count work: elements for saxpy and reduce_sum, grid cells for
//! jacobi2d (a `2^⌊k/2⌋ × 2^⌈k/2⌉` grid for `2^k`), body pairs for nbody_accel
//! (so its body count is the square root).
//!
//! Shared by the criterion benches and the report examples (included with
//! `#[path]`; a file that includes this one includes `raw_wgpu.rs` and
//! `timing.rs` as sibling modules named `raw_wgpu` and `timing`).
#![allow(dead_code)]

use std::time::Instant;

use rayon::prelude::*;
use switchyard::kernels::{self, Jacobi2dParams, NbodyParams, ReduceParams, SaxpyParams};
use switchyard::{wgpu, Buffer, Kernel, Runtime, Target};

use super::raw_wgpu::{fold_groups, RawGpu, RawLaunch};
use super::timing::{median, Blocks, Contender};

/// The built-in kernels, in report order.
pub const KERNELS: [&str; 4] = ["saxpy", "reduce_sum", "jacobi2d", "nbody_accel"];

pub const SAXPY_A: f32 = 1e-3;
pub const JACOBI_ALPHA: f32 = 0.2;
pub const SOFTENING2: f32 = 1e-4;

/// A kernel with an override constant, for pipeline-cache measurements:
/// each new value of `factor` is a pipeline that no cache holds yet.
pub const SCALE_WGSL: &str = r#"
override factor: f32 = 2.0;
@group(0) @binding(0) var<storage, read_write> v: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x < arrayLength(&v) { v[id.x] = factor * v[id.x]; }
}"#;

/// What one kernel works on at one size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Shape {
    /// saxpy and reduce_sum: `n` elements.
    Elements(usize),
    /// jacobi2d: a `width × height` grid.
    Grid { width: usize, height: usize },
    /// nbody_accel: `count` bodies.
    Bodies(usize),
}

/// One kernel's input at one work size, in host memory.
pub struct Problem {
    pub kernel: &'static str,
    /// Work as the dispatcher counts it.
    pub work: u64,
    pub shape: Shape,
    /// saxpy: `x` (and `y` starts at zero); reduce_sum: the input;
    /// jacobi2d: the grid; nbody_accel: `[x.., y.., z.., m..]`.
    pub input: Vec<f32>,
    /// Run as a kernel without a twin: CPU launches run its WGSL on the
    /// executor, and a reduction is one pass (see [`Problem::twinless`]).
    pub twinless: bool,
}

fn wave(i: usize) -> f32 {
    ((i % 1000) as f32 * 0.001).sin()
}

impl Problem {
    /// `kernel` (one of [`KERNELS`]) at work `2^log2`.
    pub fn new(kernel: &'static str, log2: u32) -> Problem {
        let n = 1usize << log2;
        let (shape, input) = match kernel {
            "saxpy" | "reduce_sum" => (Shape::Elements(n), (0..n).map(wave).collect()),
            "jacobi2d" => (
                Shape::Grid {
                    width: 1 << (log2 / 2),
                    height: 1 << (log2 - log2 / 2),
                },
                (0..n).map(wave).collect(),
            ),
            "nbody_accel" => {
                let count = (n as f64).sqrt().round() as usize;
                (Shape::Bodies(count), nbody_bodies(count))
            }
            other => panic!("no workload for kernel `{other}`"),
        };
        Problem {
            kernel,
            work: n as u64,
            shape,
            input,
            twinless: false,
        }
    }

    /// The same problem for the kernel as if it had no twin: its cases run
    /// the WGSL on the CPU executor, and a reduction is one pass (a whole
    /// sum goes through `kernels::sum`, which uses the built-in with its twin).
    pub fn twinless(mut self) -> Problem {
        self.twinless = true;
        self
    }
}

/// `count` bodies, `[x.., y.., z.., m..]`, deterministic, total mass 1.
pub fn nbody_bodies(count: usize) -> Vec<f32> {
    [0, 333, 666]
        .iter()
        .flat_map(|&offset| (0..count).map(move |i| wave(i + offset)))
        .chain(std::iter::repeat_n(1.0 / count as f32, count))
        .collect()
}

/// A problem in switchyard buffers, and how to run it on the CPU.
pub struct SwitchyardCase {
    buffers: CaseBuffers,
    /// Made once: a kernel lowers its WGSL for the executor on its first
    /// CPU launch and keeps the result.
    kernel: Kernel,
    /// A reduction runs one pass (one launch) instead of a whole sum.
    single_pass: bool,
}

enum CaseBuffers {
    Saxpy {
        x: Buffer<f32>,
        y: Buffer<f32>,
    },
    Reduce {
        input: Buffer<f32>,
        partial: Buffer<f32>,
    },
    Jacobi {
        src: Buffer<f32>,
        dst: Buffer<f32>,
        width: u32,
        height: u32,
    },
    Nbody {
        bodies: Buffer<f32>,
        accel: Buffer<f32>,
        count: u32,
    },
}

impl SwitchyardCase {
    pub fn new(rt: &Runtime, problem: &Problem) -> switchyard::Result<SwitchyardCase> {
        let buffers = match problem.shape {
            Shape::Elements(n) if problem.kernel == "saxpy" => CaseBuffers::Saxpy {
                x: rt.buffer_from_slice(&problem.input)?,
                y: rt.buffer_zeroed(n)?,
            },
            Shape::Elements(n) => CaseBuffers::Reduce {
                input: rt.buffer_from_slice(&problem.input)?,
                partial: rt.buffer_zeroed(n.div_ceil(kernels::REDUCE_ITEMS_PER_GROUP))?,
            },
            Shape::Grid { width, height } => CaseBuffers::Jacobi {
                src: rt.buffer_from_slice(&problem.input)?,
                dst: rt.buffer_zeroed(width * height)?,
                width: width as u32,
                height: height as u32,
            },
            Shape::Bodies(count) => CaseBuffers::Nbody {
                bodies: rt.buffer_from_slice(&problem.input)?,
                accel: rt.buffer_zeroed(3 * count)?,
                count: count as u32,
            },
        };
        let kernel = match &buffers {
            CaseBuffers::Saxpy { .. } => kernels::saxpy(),
            CaseBuffers::Reduce { .. } => kernels::reduce_sum(),
            CaseBuffers::Jacobi { .. } => kernels::jacobi2d(),
            CaseBuffers::Nbody { .. } => kernels::nbody_accel(),
        };
        let case = SwitchyardCase {
            buffers,
            kernel,
            single_pass: false,
        };
        Ok(if problem.twinless {
            case.wgsl_on_cpu().single_pass()
        } else {
            case
        })
    }

    /// CPU launches run the kernel's WGSL on switchyard's executor.
    pub fn wgsl_on_cpu(mut self) -> SwitchyardCase {
        self.kernel = self.kernel.prefer_wgsl_on_cpu();
        self
    }

    /// A reduction is one launch (its first pass), not a whole sum.
    pub fn single_pass(mut self) -> SwitchyardCase {
        self.single_pass = true;
        self
    }

    /// The buffer a saxpy case writes (`y`); `None` for the other kernels.
    pub fn output(&self) -> Option<&Buffer<f32>> {
        match &self.buffers {
            CaseBuffers::Saxpy { y, .. } => Some(y),
            _ => None,
        }
    }

    /// Runs the case once on `target`; returns the seconds it took and where
    /// it ran (`Auto` for a sum whose passes ran on both).
    pub fn run(&mut self, rt: &Runtime, target: Target) -> switchyard::Result<(f64, Target)> {
        let started = Instant::now();
        let kernel = self.kernel.clone();
        let single_pass = self.single_pass;
        let ran = match &mut self.buffers {
            CaseBuffers::Saxpy { x, y } => {
                let n = x.len() as u32;
                rt.launch(&kernel)
                    .uniform(&SaxpyParams { a: SAXPY_A, n })
                    .read(x)
                    .write(y)
                    .invocations(n)
                    .on(target)
                    .run()?
                    .target
            }
            CaseBuffers::Reduce { input, partial } if single_pass => {
                let n = input.len() as u32;
                let invocations = (partial.len() * 256) as u32;
                rt.launch(&kernel)
                    .uniform(&ReduceParams { n })
                    .read(input)
                    .overwrite(partial)
                    .invocations(invocations)
                    .on(target)
                    .run()?
                    .target
            }
            CaseBuffers::Reduce { input, .. } => {
                // A sum is several launches in one sequence; where they ran
                // is read from the dispatcher's counts, after the clock stops.
                let counts = |rt: &Runtime| {
                    rt.report()
                        .kernels
                        .iter()
                        .find(|k| k.kernel == "reduce_sum")
                        .map_or((0, 0), |k| (k.cpu_launches, k.gpu_launches))
                };
                let before = counts(rt);
                let started = Instant::now();
                kernels::sum(rt, input, target)?;
                let seconds = started.elapsed().as_secs_f64();
                let after = counts(rt);
                let ran = match (after.0 - before.0, after.1 - before.1) {
                    (_, 0) => Target::Cpu,
                    (0, _) => Target::Gpu,
                    _ => Target::Auto,
                };
                return Ok((seconds, ran));
            }
            CaseBuffers::Jacobi {
                src,
                dst,
                width,
                height,
            } => {
                rt.launch(&kernel)
                    .uniform(&Jacobi2dParams {
                        width: *width,
                        height: *height,
                        alpha: JACOBI_ALPHA,
                        _pad: 0,
                    })
                    .read(src)
                    .overwrite(dst)
                    .grid([*width, *height, 1])
                    .on(target)
                    .run()?
                    .target
            }
            CaseBuffers::Nbody {
                bodies,
                accel,
                count,
            } => {
                rt.launch(&kernel)
                    .uniform(&nbody_params(*count))
                    .read(bodies)
                    .overwrite(accel)
                    .invocations(*count)
                    .on(target)
                    .run()?
                    .target
            }
        };
        Ok((started.elapsed().as_secs_f64(), ran))
    }
}

pub fn nbody_params(count: u32) -> NbodyParams {
    NbodyParams {
        n: count,
        softening2: SOFTENING2,
        _pad0: 0,
        _pad1: 0,
    }
}

/// The WGSL source of a built-in kernel.
pub fn wgsl_source(kernel: &str) -> &'static str {
    kernels::builtin_sources()
        .into_iter()
        .find(|(name, _, _)| *name == kernel)
        .map(|(_, source, _)| source)
        .expect("built-in kernel")
}

/// A problem in wgpu buffers of a hand-written program: pipeline and bind
/// groups built once. A sum reads its one value back, as `kernels::sum`
/// does.
pub struct RawCase {
    passes: Vec<RawLaunch>,
    /// The sum's last partial buffer and its staging buffer.
    sum_readback: Option<(wgpu::Buffer, wgpu::Buffer)>,
    /// Every buffer bound, kept alive.
    _buffers: Vec<wgpu::Buffer>,
}

impl RawCase {
    pub fn new(gpu: &RawGpu, problem: &Problem) -> RawCase {
        let pipeline = gpu.pipeline(problem.kernel, wgsl_source(problem.kernel));
        let mut passes = Vec::new();
        let mut buffers = Vec::new();
        let mut sum_readback = None;
        match problem.shape {
            Shape::Elements(n) if problem.kernel == "saxpy" => {
                let params = gpu.uniform(&SaxpyParams {
                    a: SAXPY_A,
                    n: n as u32,
                });
                let x = gpu.storage(&problem.input);
                let y = gpu.storage(&vec![0.0; n]);
                let groups = fold_groups((n as u32).div_ceil(256));
                passes.push(RawLaunch::new(gpu, &pipeline, &[&params, &x, &y], groups));
                buffers.extend([params, x, y]);
            }
            Shape::Elements(n) => {
                let items = kernels::REDUCE_ITEMS_PER_GROUP;
                let mut current = gpu.storage(&problem.input);
                let mut len = n;
                loop {
                    let groups = len.div_ceil(items);
                    let params = gpu.uniform(&ReduceParams { n: len as u32 });
                    let partial = gpu.storage(&vec![0.0; groups]);
                    passes.push(RawLaunch::new(
                        gpu,
                        &pipeline,
                        &[&params, &current, &partial],
                        fold_groups(groups as u32),
                    ));
                    buffers.extend([params, current]);
                    current = partial;
                    len = groups;
                    if groups == 1 {
                        break;
                    }
                }
                sum_readback = Some((current, gpu.staging(4)));
            }
            Shape::Grid { width, height } => {
                let params = gpu.uniform(&Jacobi2dParams {
                    width: width as u32,
                    height: height as u32,
                    alpha: JACOBI_ALPHA,
                    _pad: 0,
                });
                let src = gpu.storage(&problem.input);
                let dst = gpu.storage(&vec![0.0; width * height]);
                let groups = [(width as u32).div_ceil(16), (height as u32).div_ceil(16), 1];
                passes.push(RawLaunch::new(
                    gpu,
                    &pipeline,
                    &[&params, &src, &dst],
                    groups,
                ));
                buffers.extend([params, src, dst]);
            }
            Shape::Bodies(count) => {
                let params = gpu.uniform(&nbody_params(count as u32));
                let bodies = gpu.storage(&problem.input);
                let accel = gpu.storage(&vec![0.0; 3 * count]);
                let groups = fold_groups((count as u32).div_ceil(128));
                passes.push(RawLaunch::new(
                    gpu,
                    &pipeline,
                    &[&params, &bodies, &accel],
                    groups,
                ));
                buffers.extend([params, bodies, accel]);
            }
        }
        RawCase {
            passes,
            sum_readback,
            _buffers: buffers,
        }
    }

    /// One launch (a sum: all its passes in one submission, then the
    /// readback of its value); returns the seconds it took.
    pub fn run(&self, gpu: &RawGpu) -> f64 {
        let started = Instant::now();
        let mut encoder = gpu.encoder();
        self.record_into(&mut encoder);
        match &self.sum_readback {
            None => gpu.submit_and_wait(encoder),
            Some((partial, staging)) => {
                gpu.queue.submit([encoder.finish()]);
                let mut value = [0u8; 4];
                gpu.readback(partial, staging, &mut value);
            }
        }
        started.elapsed().as_secs_f64()
    }
}

impl RawCase {
    /// The buffer the launch writes (the last one bound).
    pub fn output(&self) -> &wgpu::Buffer {
        self._buffers.last().expect("a case binds buffers")
    }

    /// Records one launch's passes into `encoder`.
    pub fn record_into(&self, encoder: &mut wgpu::CommandEncoder) {
        for pass in &self.passes {
            pass.record(encoder);
        }
    }

    /// `count` launches recorded into one submission, then wait; returns the
    /// seconds it took. Only for single-pass kernels (not the sum).
    pub fn run_batch(&self, gpu: &RawGpu, count: usize) -> f64 {
        assert!(
            self.sum_readback.is_none(),
            "run_batch is for single-pass kernels"
        );
        let started = Instant::now();
        let mut encoder = gpu.encoder();
        for _ in 0..count {
            self.record_into(&mut encoder);
        }
        gpu.submit_and_wait(encoder);
        started.elapsed().as_secs_f64()
    }
}

/// A problem as hand-written rayon code sees it: plain vectors.
pub struct RayonCase {
    shape: Shape,
    input: Vec<f32>,
    output: Vec<f32>,
}

impl RayonCase {
    pub fn new(problem: &Problem) -> RayonCase {
        let output = match problem.shape {
            Shape::Elements(n) if problem.kernel == "saxpy" => vec![0.0; n],
            Shape::Elements(_) => Vec::new(),
            Shape::Grid { width, height } => vec![0.0; width * height],
            Shape::Bodies(count) => vec![0.0; 3 * count],
        };
        RayonCase {
            shape: problem.shape,
            input: problem.input.clone(),
            output,
        }
    }

    /// One launch on `pool`; returns the seconds it took.
    pub fn run(&mut self, pool: &rayon::ThreadPool) -> f64 {
        let started = Instant::now();
        match self.shape {
            Shape::Elements(_) if !self.output.is_empty() => {
                rayon_saxpy(pool, SAXPY_A, &self.input, &mut self.output)
            }
            Shape::Elements(_) => {
                std::hint::black_box(rayon_sum(pool, &self.input));
            }
            Shape::Grid { width, .. } => {
                rayon_jacobi(pool, width, JACOBI_ALPHA, &self.input, &mut self.output)
            }
            Shape::Bodies(_) => rayon_nbody(pool, &self.input, &mut self.output),
        }
        started.elapsed().as_secs_f64()
    }
}

/// `y = a·x + y`, element-wise in parallel.
pub fn rayon_saxpy(pool: &rayon::ThreadPool, a: f32, x: &[f32], y: &mut [f32]) {
    pool.install(|| {
        y.par_iter_mut()
            .zip(x.par_iter())
            .for_each(|(y, &x)| *y += a * x)
    });
}

/// The sum of `x`, rayon's parallel `sum`.
pub fn rayon_sum(pool: &rayon::ThreadPool, x: &[f32]) -> f32 {
    pool.install(|| x.par_iter().sum())
}

/// One heat step on a row-major grid `width` wide, rows in parallel,
/// boundaries copied.
pub fn rayon_jacobi(
    pool: &rayon::ThreadPool,
    width: usize,
    alpha: f32,
    src: &[f32],
    dst: &mut [f32],
) {
    let height = src.len() / width;
    pool.install(|| {
        dst.par_chunks_mut(width).enumerate().for_each(|(y, row)| {
            let centre = &src[y * width..(y + 1) * width];
            if y == 0 || y == height - 1 {
                row.copy_from_slice(centre);
                return;
            }
            let up = &src[(y - 1) * width..y * width];
            let down = &src[(y + 1) * width..(y + 2) * width];
            row[0] = centre[0];
            row[width - 1] = centre[width - 1];
            for x in 1..width - 1 {
                let c = centre[x];
                row[x] =
                    c + alpha * ((centre[x - 1] + centre[x + 1]) + (up[x] + down[x]) - 4.0 * c);
            }
        })
    });
}

/// All-pairs accelerations, `[ax.., ay.., az..]` from `[x.., y.., z.., m..]`:
/// blocks of 64 bodies in parallel; per other body, one element-wise pass
/// over the block, which LLVM vectorizes for the default target without help.
pub fn rayon_nbody(pool: &rayon::ThreadPool, soa: &[f32], accel: &mut [f32]) {
    let n = soa.len() / 4;
    let (xs, ys, zs, ms) = (&soa[..n], &soa[n..2 * n], &soa[2 * n..3 * n], &soa[3 * n..]);
    let (ax, rest) = accel.split_at_mut(n);
    let (ay, az) = rest.split_at_mut(n);
    pool.install(|| {
        ax.par_chunks_mut(64)
            .zip(ay.par_chunks_mut(64))
            .zip(az.par_chunks_mut(64))
            .enumerate()
            .for_each(|(block, ((ax, ay), az))| {
                let first = block * 64;
                let len = ax.len();
                let (px, py, pz) = (
                    &xs[first..first + len],
                    &ys[first..first + len],
                    &zs[first..first + len],
                );
                ax.fill(0.0);
                ay.fill(0.0);
                az.fill(0.0);
                for j in 0..n {
                    let (qx, qy, qz, m) = (xs[j], ys[j], zs[j], ms[j]);
                    for i in 0..len {
                        let dx = qx - px[i];
                        let dy = qy - py[i];
                        let dz = qz - pz[i];
                        let r2 = dx * dx + dy * dy + dz * dz + SOFTENING2;
                        let inv_r = 1.0 / r2.sqrt();
                        let s = m * inv_r * inv_r * inv_r;
                        ax[i] += dx * s;
                        ay[i] += dy * s;
                        az[i] += dz * s;
                    }
                }
            });
    });
}

/// The textbook double loop over `[x, y, z, m]` bodies, on one thread.
pub fn textbook_nbody(aos: &[[f32; 4]], accel: &mut [[f32; 3]]) {
    for (i, a) in accel.iter_mut().enumerate() {
        let mut sum = [0.0f32; 3];
        for body in aos {
            let d = [
                body[0] - aos[i][0],
                body[1] - aos[i][1],
                body[2] - aos[i][2],
            ];
            let r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2] + SOFTENING2;
            let r3 = r2 * r2.sqrt();
            for c in 0..3 {
                sum[c] += body[3] * d[c] / r3;
            }
        }
        *a = sum;
    }
}

/// `[x.., y.., z.., m..]` as `[x, y, z, m]` per body.
pub fn to_aos(soa: &[f32]) -> Vec<[f32; 4]> {
    let n = soa.len() / 4;
    (0..n)
        .map(|i| [soa[i], soa[n + i], soa[2 * n + i], soa[3 * n + i]])
        .collect()
}

/// Steady-state launch times of one problem on Cpu, Gpu and Auto, side by side.
pub struct TargetTimes {
    pub cpu_s: f64,
    /// NaN without a GPU.
    pub gpu_s: f64,
    pub auto_s: f64,
    /// Where Auto's timed launches ran: `cpu`, `gpu`, or the counts.
    pub auto_target: String,
    /// Auto's timed launches, and how many of them ran on the CPU and on
    /// the GPU (the rest ran on both, in pieces).
    pub auto_launches: usize,
    pub auto_on_cpu: usize,
    pub auto_on_gpu: usize,
    /// `auto / min(cpu, gpu)`, paired by round (see `Comparison::ratio`).
    pub auto_over_best: f64,
    /// The per-round ratios it is the median of.
    pub round_ratios: Vec<f64>,
}

/// Each target runs for at least this long per round...
const TARGET_BLOCK_SECONDS: f64 = 5e-3;
/// ...but at most this many launches.
const TARGET_BLOCK_LAUNCHES: usize = 16;

/// Times `problem` on Cpu, Gpu (when there is one) and Auto, each with its
/// own buffers so each stays where its target left them: steady state, not
/// transfers caused by another target. Two warm-up rounds first (cold
/// pipelines, pool wake-up, and the dispatcher's first measurements); then
/// `rounds` rounds of rotating blocks of launches (5 ms or three launches of
/// the fastest target, whichever is longer; at most 16).
pub fn time_targets(
    rt: &Runtime,
    problem: &Problem,
    rounds: usize,
) -> switchyard::Result<TargetTimes> {
    time_targets_placed(rt, problem, rounds, 0)
}

/// [`time_targets`], with the targets' buffers allocated in an order
/// rotated by `placement`: at memory-bound sizes two sets of buffers running
/// the same code differ by up to ±10% on this VM depending on where they
/// landed, so a second measurement should not hand each target the same
/// slot again.
pub fn time_targets_placed(
    rt: &Runtime,
    problem: &Problem,
    rounds: usize,
    placement: usize,
) -> switchyard::Result<TargetTimes> {
    let targets: Vec<Target> = if rt.gpu_available() {
        vec![Target::Cpu, Target::Gpu, Target::Auto]
    } else {
        vec![Target::Cpu, Target::Auto]
    };
    let mut made: Vec<Option<SwitchyardCase>> = (0..targets.len()).map(|_| None).collect();
    for k in 0..targets.len() {
        let index = (k + placement) % targets.len();
        made[index] = Some(SwitchyardCase::new(rt, problem)?);
    }
    // Every slot was filled just above.
    let mut cases: Vec<SwitchyardCase> = made.into_iter().flatten().collect();
    let mut fastest_warm_up = f64::INFINITY;
    for _ in 0..2 {
        for (case, &target) in cases.iter_mut().zip(&targets) {
            fastest_warm_up = fastest_warm_up.min(case.run(rt, target)?.0);
        }
    }
    // A launch right after another target's pays for that switch (the
    // pool's threads fall asleep during a GPU launch, and a software
    // adapter's threads compete for the cores), hence blocks.
    let blocks = Blocks {
        rounds,
        block_seconds: TARGET_BLOCK_SECONDS.max(3.0 * fastest_warm_up),
        min_calls: 1,
        max_calls: TARGET_BLOCK_LAUNCHES,
    };
    let auto_ran = std::cell::RefCell::new(Vec::new());
    let mut contenders: Vec<Contender<'_>> = cases
        .iter_mut()
        .zip(&targets)
        .map(|(case, &target)| {
            let auto_ran = &auto_ran;
            Box::new(move || {
                let (seconds, ran) = case.run(rt, target)?;
                if target == Target::Auto {
                    auto_ran.borrow_mut().push(ran);
                }
                Ok(seconds)
            }) as Contender<'_>
        })
        .collect();
    let comparison = blocks.compare(&mut contenders)?;
    drop(contenders);
    let medians = &comparison.medians;
    let auto = targets.len() - 1;
    let round_ratios = comparison.round_ratios(auto, &(0..auto).collect::<Vec<_>>());
    let auto_over_best = median(&mut round_ratios.clone());
    let auto_ran = auto_ran.into_inner();
    let gpus = auto_ran.iter().filter(|&&t| t == Target::Gpu).count();
    let cpus = auto_ran.iter().filter(|&&t| t == Target::Cpu).count();
    let auto_target = match (cpus, gpus) {
        (_, 0) if cpus > 0 => "cpu".to_string(),
        (0, _) if gpus > 0 => "gpu".to_string(),
        _ => format!(
            "cpu {cpus}, gpu {gpus}, mixed {}",
            auto_ran.len() - cpus - gpus
        ),
    };
    let (gpu_s, auto_s) = if medians.len() == 3 {
        (medians[1], medians[2])
    } else {
        (f64::NAN, medians[1])
    };
    Ok(TargetTimes {
        cpu_s: medians[0],
        gpu_s,
        auto_s,
        auto_target,
        auto_launches: auto_ran.len(),
        auto_on_cpu: cpus,
        auto_on_gpu: gpus,
        auto_over_best,
        round_ratios,
    })
}
