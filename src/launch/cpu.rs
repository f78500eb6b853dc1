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

use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant};

use super::Args;
use crate::buffer::residency::Use;
use crate::buffer::transfer::BufferState;
use crate::buffer::RawBuffer;
use crate::cpu::wgsl;
use crate::cpu::{CpuArgs, CpuPool, CpuSlot};
use crate::dispatch::Target;
use crate::error::{Error, Result};
use crate::kernel::{CpuPath, Kernel};
use crate::shared::RuntimeShared;
use crate::sync::lock;
use crate::target::CpuImplementation;

/// Runs the kernel on the pool (its twin, or its WGSL on the executor) over
/// host copies made current; returns the run time (readbacks excluded) and
/// what ran.
pub(super) fn run_cpu(
    shared: &Arc<RuntimeShared>,
    kernel: &Kernel,
    buffers: Args<'_>,
    uniforms: &[Vec<u8>],
    invocations: [u32; 3],
    deadline: Option<Duration>,
) -> Result<(f64, CpuImplementation)> {
    let path = kernel
        .cpu_path()
        .map_err(|reason| Error::TargetUnavailable {
            kernel: kernel.name().into(),
            target: Target::Cpu,
            reason,
        })?;
    let gpu = shared.gpu();

    // Each distinct buffer is locked once (a read-only one may be passed
    // twice), in the order of buffer ids: two threads (or a thread and a
    // replay after device loss) that lock the same buffers in different
    // argument orders would otherwise each hold one lock and wait for the
    // other's.
    let mut distinct: Vec<(&RawBuffer, Use)> =
        buffers.iter().map(|arg| (arg.raw(), arg.usage())).collect();
    distinct.sort_by_key(|(raw, _)| raw.id);
    distinct.dedup_by_key(|(raw, _)| raw.id);
    let mut guards: Vec<(MutexGuard<'_, BufferState>, Use)> = Vec::with_capacity(distinct.len());
    for &(raw, usage) in &distinct {
        let mut guard = lock(&raw.state);
        guard.prepare_host(gpu, shared.counters(), usage)?;
        guards.push((guard, usage));
    }

    let arguments: Vec<(u64, Use)> = buffers
        .iter()
        .map(|arg| (arg.raw().id, arg.usage()))
        .collect();
    let slots = twin_slots(
        guards
            .iter_mut()
            .zip(&distinct)
            .map(|((guard, usage), (raw, _))| (raw.id, &mut **guard, *usage))
            .collect(),
        &arguments,
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
    let twin_seconds = twin_started.elapsed().as_secs_f64();
    let implementation = result?;
    for (guard, usage) in &mut guards {
        if *usage != Use::Read {
            guard.finish_host(*usage);
        }
    }
    Ok((twin_seconds, implementation))
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
    let mut views: Vec<HostView<'a>> = locked
        .into_iter()
        .map(|(_, state, usage)| match usage {
            Use::Read => HostView::Shared(state.host.bytes()),
            Use::ReadWrite | Use::Overwrite => HostView::Exclusive(Some(state.host.bytes_mut())),
        })
        .collect();
    arguments
        .iter()
        .map(|&(id, _)| {
            // Present: every argument's buffer is in `locked`.
            match &mut views[ids.binary_search(&id).unwrap_or_default()] {
                HostView::Shared(bytes) => CpuSlot::Read(bytes),
                HostView::Exclusive(bytes) => CpuSlot::Write(bytes.take()),
            }
        })
        .collect()
}

/// A locked host copy as [`twin_slots`] hands it out.
enum HostView<'a> {
    Shared(&'a [u8]),
    Exclusive(Option<&'a mut [u8]>),
}
