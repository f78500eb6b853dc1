//! The ensemble behind `examples/ensemble` and `coexec_report`: a sweep of
//! independent heat problems, one per diffusion number, every step of every
//! member submitted without waiting (`Launch::submit`), so the runtime can
//! spread them over the GPU and the CPU pool at once.
//!
//! Each member is the stencil demo's problem (`examples/stencil/sim.rs`),
//! whose exact discrete solution checks every member at the end.

#![allow(dead_code)] // each includer uses its own part

use std::time::{Duration, Instant};

use switchyard::kernels::{self, Jacobi2dParams};
use switchyard::{Buffer, Kernel, PendingLaunch, Runtime, Target};

#[path = "../stencil/sim.rs"]
mod sim;

/// What to run.
#[derive(Clone, Debug)]
pub struct Sweep {
    pub members: usize,
    pub size: usize,
    pub steps: usize,
    pub target: Target,
    /// CPU launches run the kernel's WGSL on the executor, not its twin.
    pub wgsl_on_cpu: bool,
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct SweepOutcome {
    /// From the first submission until every member's field is on the host.
    pub makespan: Duration,
    pub launches: usize,
    pub gpu_launches: usize,
    pub cpu_launches: usize,
    /// The largest of each member's error against its exact solution over
    /// the rounding bound: at most 1 when every member is right.
    pub worst_error_ratio: f64,
    /// One reason per target that ran, as examples of why.
    pub reasons: Vec<(Target, String)>,
}

/// The diffusion numbers of the sweep, spread over the stable range.
pub fn alphas(members: usize) -> Vec<f32> {
    (0..members)
        .map(|m| 0.05 + 0.2 * m as f32 / members.max(2).saturating_sub(1) as f32)
        .collect()
}

/// The step kernel, its CPU part the twin or the WGSL executor.
pub fn step_kernel(wgsl_on_cpu: bool) -> Kernel {
    let kernel = kernels::jacobi2d();
    if wgsl_on_cpu {
        kernel.prefer_wgsl_on_cpu()
    } else {
        kernel
    }
}

fn params(size: usize, alpha: f32) -> Jacobi2dParams {
    Jacobi2dParams {
        width: size as u32,
        height: size as u32,
        alpha,
        _pad: 0,
    }
}

/// A few blocking launches on each target that can run, on a scratch
/// grid, so the dispatcher has measured both before the sweep.
pub fn warm_up(rt: &Runtime, kernel: &Kernel, size: usize) -> Result<(), String> {
    let field = sim::initial_field(size);
    let mut a = rt.buffer_from_slice(&field).map_err(|e| e.to_string())?;
    let mut b = rt
        .buffer_zeroed::<f32>(size * size)
        .map_err(|e| e.to_string())?;
    let mut targets = vec![Target::Cpu];
    if rt.gpu_available() {
        targets.push(Target::Gpu);
    }
    for target in targets {
        for _ in 0..3 {
            rt.launch(kernel)
                .uniform(&params(size, 0.1))
                .read(&a)
                .write(&mut b)
                .grid([size as u32, size as u32, 1])
                .on(target)
                .run()
                .map_err(|e| e.to_string())?;
            std::mem::swap(&mut a, &mut b);
        }
    }
    Ok(())
}

/// Runs the sweep; `progress` is told how many launches have finished.
pub fn run_sweep(
    rt: &Runtime,
    kernel: &Kernel,
    sweep: &Sweep,
    progress: impl Fn(usize),
) -> Result<SweepOutcome, String> {
    let size = sweep.size;
    let alphas = alphas(sweep.members);
    let field = sim::initial_field(size);
    let mut grids: Vec<(Buffer<f32>, Buffer<f32>)> = Vec::with_capacity(sweep.members);
    for _ in 0..sweep.members {
        let current = rt.buffer_from_slice(&field).map_err(|e| e.to_string())?;
        let next = rt
            .buffer_zeroed::<f32>(size * size)
            .map_err(|e| e.to_string())?;
        grids.push((current, next));
    }
    let started = Instant::now();
    let mut pending: Vec<PendingLaunch> = Vec::with_capacity(sweep.members * sweep.steps);
    // Step by step over all members: a member's next step depends on its
    // last one, the members on nothing.
    for _ in 0..sweep.steps {
        for ((current, next), &alpha) in grids.iter_mut().zip(&alphas) {
            let launch = rt
                .launch(kernel)
                .uniform(&params(size, alpha))
                .read(current)
                .write(next)
                .grid([size as u32, size as u32, 1])
                .on(sweep.target)
                .submit()
                .map_err(|e| e.to_string())?;
            pending.push(launch);
            std::mem::swap(current, next);
        }
    }
    let mut outcome = SweepOutcome {
        makespan: Duration::ZERO,
        launches: pending.len(),
        gpu_launches: 0,
        cpu_launches: 0,
        worst_error_ratio: 0.0,
        reasons: Vec::new(),
    };
    for (finished, launch) in pending.into_iter().enumerate() {
        let report = launch.wait().map_err(|e| e.to_string())?;
        progress(finished + 1);
        match report.target {
            Target::Gpu => outcome.gpu_launches += 1,
            _ => outcome.cpu_launches += 1,
        }
        if !outcome
            .reasons
            .iter()
            .any(|(target, _)| *target == report.target)
        {
            outcome
                .reasons
                .push((report.target, report.reason.to_string()));
        }
    }
    let mut fields = Vec::with_capacity(grids.len());
    for (current, _) in &grids {
        fields.push(current.to_vec().map_err(|e| e.to_string())?);
    }
    outcome.makespan = started.elapsed();
    let bound = sim::error_bound(sweep.steps);
    for (field, &alpha) in fields.iter().zip(&alphas) {
        let error = sim::max_error(field, size, sweep.steps, f64::from(alpha));
        outcome.worst_error_ratio = outcome.worst_error_ratio.max(error / bound);
    }
    Ok(outcome)
}
