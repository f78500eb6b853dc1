//! Step 3 on the CPU: host copies made current, the kernel run on the pool
//! (its twin, or its WGSL on the executor).
//!
//! [`run_cpu`] downloads each argument's host copy only if the GPU holds
//! newer data, locks every distinct buffer once, in buffer-id order, and
//! hands the twin typed slices ([`CpuArgs`]) inside the runtime's pool.
//!
//! Invariant: buffers are always locked in id order, here and in a replay
//! after device loss, so two launches (or a launch and a replay) that name
//! the same buffers in different orders cannot deadlock.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::Arg;
use crate::buffer::residency::Use;
use crate::buffer::transfer::BufferState;
use crate::cpu::wgsl;
use crate::cpu::{CpuArgs, CpuPool, CpuSlot};
use crate::dispatch::Target;
use crate::error::{Error, Result};
use crate::kernel::{CpuPath, Kernel};
use crate::shared::RuntimeShared;
use crate::sync::lock;
use crate::target::CpuImplementation;

/// One buffer argument as [`run_cpu`] sees it: the shared state, which a
/// blocking launch borrows from its buffer and a submitted one owns a hold
/// on.
pub(super) struct CpuArgument<'a> {
    pub id: u64,
    pub state: &'a Mutex<BufferState>,
    pub usage: Use,
}

impl<'a> CpuArgument<'a> {
    pub fn of(arg: &'a Arg<'_>) -> Self {
        CpuArgument {
            id: arg.raw().id,
            state: &arg.raw().state,
            usage: arg.usage(),
        }
    }
}

/// What [`run_cpu`] did: the run time (readbacks excluded), what ran, and
/// the bytes it downloaded first.
pub(super) struct CpuRun {
    pub seconds: f64,
    pub implementation: CpuImplementation,
    pub bytes_downloaded: u64,
}

/// Runs the kernel on the pool (its twin, or its WGSL on the executor) over
/// host copies made current, waiting for each buffer's lock.
pub(super) fn run_cpu(
    shared: &RuntimeShared,
    kernel: &Kernel,
    arguments: &[CpuArgument<'_>],
    uniforms: &[Vec<u8>],
    invocations: [u32; 3],
    deadline: Option<Duration>,
) -> Result<CpuRun> {
    let distinct = distinct_in_id_order(arguments);
    let guards = distinct
        .iter()
        .map(|argument| (lock(argument.state), argument.usage))
        .collect();
    run_locked(
        shared,
        kernel,
        arguments,
        &distinct,
        guards,
        uniforms,
        invocations,
        deadline,
    )
}

/// As [`run_cpu`], but `None` at once, having run nothing, when a buffer's
/// lock is held elsewhere. A submitted launch's job starts on a pool worker
/// this way: a worker must never block on a buffer's lock, since the one
/// holding it may be a launch below on the same worker's stack, waiting
/// inside its kernel's parallel loop, from which the worker stole this job
/// (see `cpu::jobs`).
pub(super) fn try_run_cpu(
    shared: &RuntimeShared,
    kernel: &Kernel,
    arguments: &[CpuArgument<'_>],
    uniforms: &[Vec<u8>],
    invocations: [u32; 3],
    deadline: Option<Duration>,
) -> Option<Result<CpuRun>> {
    let distinct = distinct_in_id_order(arguments);
    let mut guards = Vec::with_capacity(distinct.len());
    for argument in &distinct {
        let guard = match argument.state.try_lock() {
            Ok(guard) => guard,
            Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        guards.push((guard, argument.usage));
    }
    Some(run_locked(
        shared,
        kernel,
        arguments,
        &distinct,
        guards,
        uniforms,
        invocations,
        deadline,
    ))
}

/// Each distinct buffer once (a read-only one may be passed twice), in the
/// order of buffer ids: two threads (or a thread and a replay after device
/// loss) that lock the same buffers in different argument orders would
/// otherwise each hold one lock and wait for the other's.
fn distinct_in_id_order<'a, 'b>(arguments: &'a [CpuArgument<'b>]) -> Vec<&'a CpuArgument<'b>> {
    let mut distinct: Vec<&CpuArgument<'_>> = arguments.iter().collect();
    distinct.sort_by_key(|argument| argument.id);
    distinct.dedup_by_key(|argument| argument.id);
    distinct
}

/// The rest of [`run_cpu`], once `guards` (one per entry of `distinct`)
/// hold every buffer.
#[allow(clippy::too_many_arguments)]
fn run_locked(
    shared: &RuntimeShared,
    kernel: &Kernel,
    arguments: &[CpuArgument<'_>],
    distinct: &[&CpuArgument<'_>],
    mut guards: Vec<(MutexGuard<'_, BufferState>, Use)>,
    uniforms: &[Vec<u8>],
    invocations: [u32; 3],
    deadline: Option<Duration>,
) -> Result<CpuRun> {
    let path = cpu_path_of(kernel)?;
    let gpu = shared.gpu();
    let mut bytes_downloaded = 0;
    for (guard, usage) in &mut guards {
        bytes_downloaded += guard.prepare_host(gpu, shared.counters(), *usage)?;
    }

    let order: Vec<(u64, Use)> = arguments
        .iter()
        .map(|argument| (argument.id, argument.usage))
        .collect();
    let slots = twin_slots(
        guards
            .iter_mut()
            .zip(distinct)
            .map(|((guard, usage), argument)| (argument.id, &mut **guard, *usage))
            .collect(),
        &order,
    );
    let uniform_slices: Vec<&[u8]> = uniforms.iter().map(Vec::as_slice).collect();
    let twin_started = Instant::now();
    let result = run_on_pool(
        shared.cpu(),
        kernel,
        &path,
        slots,
        uniform_slices,
        invocations,
        deadline,
    );
    let seconds = twin_started.elapsed().as_secs_f64();
    let implementation = result?;
    for (guard, usage) in &mut guards {
        if *usage != Use::Read {
            guard.finish_host(*usage);
        }
    }
    Ok(CpuRun {
        seconds,
        implementation,
        bytes_downloaded,
    })
}

/// How `kernel` runs on the CPU, or the error of a CPU launch it cannot
/// make.
pub(super) fn cpu_path_of(kernel: &Kernel) -> Result<CpuPath<'_>> {
    kernel
        .cpu_path()
        .map_err(|reason| Error::TargetUnavailable {
            kernel: kernel.name().into(),
            target: Target::Cpu,
            reason,
        })
}

/// Whether a CPU launch of `kernel` over `invocations` runs on the calling
/// thread rather than in the pool: its twin below the kernel's
/// `serial_below`, its WGSL below the executor's inline threshold.
pub(super) fn runs_inline(kernel: &Kernel, invocations: [u32; 3]) -> bool {
    match kernel.cpu_path() {
        Ok(CpuPath::Twin(_)) => kernel.twin_runs_inline(invocations),
        Ok(CpuPath::Wgsl(_)) => wgsl::runs_inline(kernel.work(invocations)),
        Err(_) => false,
    }
}

/// Runs `kernel` on the pool the way `path` says, over `slots`: the twin
/// with its typed view, or the WGSL on the executor.
pub(super) fn run_on_pool(
    cpu: &CpuPool,
    kernel: &Kernel,
    path: &CpuPath<'_>,
    slots: Vec<CpuSlot<'_>>,
    uniforms: Vec<&[u8]>,
    invocations: [u32; 3],
    deadline: Option<Duration>,
) -> Result<CpuImplementation> {
    let name = kernel.name();
    match path {
        CpuPath::Twin(twin) => {
            let inline = kernel.twin_runs_inline(invocations);
            cpu.run_twin(name, inline, || {
                let mut args = CpuArgs::new(name, slots, uniforms, invocations, cpu.pool());
                twin(&mut args)
            })?;
            Ok(CpuImplementation::Twin)
        }
        CpuPath::Wgsl(program) => {
            let inline = wgsl::runs_inline(kernel.work(invocations));
            cpu.run_twin(name, inline, || {
                let deadline = deadline.or(cpu.executor_deadline());
                wgsl::run(
                    program,
                    name,
                    slots,
                    &uniforms,
                    invocations,
                    inline,
                    deadline,
                )
            })?;
            Ok(CpuImplementation::Wgsl)
        }
    }
}

/// The twin's view of its arguments, in argument order, over the host
/// copies of `locked`: each distinct buffer once, sorted by id, with how the
/// launch uses it. Buffers only read are shared by the arguments that name
/// them; a written one is named once (it is exclusively borrowed).
pub(super) fn twin_slots<'a>(
    locked: Vec<(u64, &'a mut BufferState, Use)>,
    arguments: &[(u64, Use)],
) -> Vec<CpuSlot<'a>> {
    let ids: Vec<u64> = locked.iter().map(|(id, ..)| *id).collect();
    let views: Vec<HostView<'a>> = locked
        .into_iter()
        .map(|(_, state, usage)| match usage {
            Use::Read => HostView::Shared(state.host.bytes()),
            Use::ReadWrite | Use::Overwrite => HostView::Exclusive(Some(state.host.bytes_mut())),
        })
        .collect();
    slots_from_views(&ids, views, arguments)
}

/// [`twin_slots`] over host bytes already borrowed: `views[i]` is the
/// buffer `ids[i]` (sorted), as the launch uses it.
pub(super) fn slots_from_views<'a>(
    ids: &[u64],
    mut views: Vec<HostView<'a>>,
    arguments: &[(u64, Use)],
) -> Vec<CpuSlot<'a>> {
    arguments
        .iter()
        .map(|&(id, _)| {
            // Present: every argument's buffer is in `ids`.
            match &mut views[ids.binary_search(&id).unwrap_or_default()] {
                HostView::Shared(bytes) => CpuSlot::Read(bytes),
                HostView::Exclusive(bytes) => CpuSlot::Write(bytes.take()),
            }
        })
        .collect()
}

/// A locked host copy as [`twin_slots`] hands it out.
pub(super) enum HostView<'a> {
    Shared(&'a [u8]),
    Exclusive(Option<&'a mut [u8]>),
}
