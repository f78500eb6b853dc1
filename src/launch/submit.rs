//! Step 3 without waiting: a routed launch handed to its target, returned
//! as a [`PendingLaunch`].
//!
//! - **GPU**: recorded as in a sequence (device copies made current, one
//!   compute pass), logged for replay on the CPU should the device be lost,
//!   and submitted; nothing waits. Written buffers are marked as the device
//!   holding their latest data right away: the queue orders later GPU work
//!   after this launch, and a host read downloads, so waits, first.
//! - **CPU**: a launch small enough that `run` would run it on the calling
//!   thread runs there now, and the pending launch is ready at once.
//!   Otherwise each buffer gets this launch's fence (see `buffer::in_flight`)
//!   and the job, owning a share of each buffer's state, is spawned on the
//!   runtime's pool; it locks its buffers, runs its kernel, stores its
//!   report, lets go of the buffers, then finishes the fence. A pool worker
//!   never waits for a buffer's lock: a job that finds one held moves to
//!   the job threads beside the pool, which may wait (see `cpu::jobs`).
//!
//! Each submitted launch is counted in the runtime's `Load` until it ends,
//! which is what lets `Auto` see a busy target.
//!
//! Invariant: the caller's borrows end when `submit` returns; from then on,
//! only the buffers' fences and the GPU queue order uses of their data.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::cpu::{run_cpu, runs_inline, try_run_cpu, CpuArgument, CpuRun};
use super::gpu::{run_gpu, GpuLaunch, GpuRun};
use super::pending::{Completion, GpuDone, GpuPending, PendingLaunch};
use super::replay::{replay_entry, ReplayFate};
use super::route::{learn, Finished, Routed};
use super::{fall_back_to_cpu, falls_back_to_cpu, run_routed, Arg, LaunchReport};
use crate::buffer::in_flight::Fence;
use crate::buffer::residency::Use;
use crate::buffer::transfer::BufferState;
use crate::device::TransferStats;
use crate::dispatch::{Exploration, Predictions, Target};
use crate::error::{panic_message, Error, Result};
use crate::kernel::Kernel;
use crate::pipeline::CacheOutcome;
use crate::shared::RuntimeShared;
use crate::sync::lock;

/// Hands `routed` to its target without waiting; see the module docs.
///
/// # Errors
/// Errors found while recording or submitting GPU work (an `Auto` launch
/// whose GPU run fails there is submitted to the CPU instead).
pub(super) fn submit_routed(routed: Routed<'_>) -> Result<PendingLaunch> {
    let name = routed.kernel.name().to_string();
    let on_gpu = routed.report.target == Target::Gpu
        && routed.shared.gpu().is_some()
        && routed.kernel.wgsl_part().is_some()
        && routed.plan.is_ok();
    // A sequence's launches are recorded into it and reported by it; a CPU
    // launch too small to hand to the pool runs here, as `run` would run
    // it (handing it over would cost more than it computes).
    if routed.sequence.is_some() || (!on_gpu && runs_inline(routed.kernel, routed.invocations)) {
        return run_routed(routed).map(|report| PendingLaunch::ready(&name, Ok(report)));
    }
    let Routed {
        shared,
        kernel,
        mut buffers,
        uniforms,
        invocations,
        requested,
        plan,
        work,
        predictions,
        mut exploration,
        deadline,
        mut report,
        started,
        transfers_before,
        cpu_data_ready,
        sequence: _,
    } = routed;
    if let (Target::Gpu, Some(gpu), Some(wgsl), Ok(plan)) =
        (report.target, shared.gpu(), kernel.wgsl_part(), &plan)
    {
        gpu.poll_without_waiting();
        let idle = shared.load().in_flight(Target::Gpu) == 0;
        let launch = GpuLaunch {
            wgsl,
            uniforms: &uniforms,
            invocations,
            plan,
            wait: false,
        };
        let gpu_started = Instant::now();
        let recorded = run_gpu(shared, gpu, &launch, &mut buffers);
        match recorded {
            Ok(GpuRun { outcome, logged }) => {
                let fate = Arc::new(ReplayFate::new());
                if let Some(arguments) = logged {
                    gpu.log_for_replay(replay_entry(
                        kernel.clone(),
                        uniforms,
                        invocations,
                        arguments,
                        shared.cpu().clone(),
                        Some(Arc::clone(&fate)),
                    ));
                }
                let operation = format!("submitted launch of kernel `{name}`");
                let submit_called = Instant::now();
                let submission = gpu.submit_for_later(&operation)?;
                let submitted_at = Instant::now();
                let predicted_seconds = predictions.exec(Target::Gpu);
                let predicted_end = {
                    let mut load = shared.load();
                    load.assign_in_burst(Target::Gpu, predictions.of(Target::Gpu));
                    load.started(Target::Gpu, predicted_seconds, submitted_at, None)
                };
                for arg in buffers.iter().filter(|arg| arg.usage() != Use::Read) {
                    lock(&arg.raw().state).gpu_write_done_at = Some(predicted_end);
                }
                let done = Arc::new(GpuDone::default());
                {
                    let done = Arc::clone(&done);
                    let shared = Arc::downgrade(shared);
                    gpu.when_submitted_work_done(move || {
                        done.set();
                        if let Some(shared) = shared.upgrade() {
                            shared.load().finished(Target::Gpu, predicted_seconds);
                        }
                    });
                }
                // A submit call that took most of the launch's predicted time
                // held this thread while the GPU ran it (lavapipe does: its
                // submissions are done, or nearly, when the call returns).
                let call = (submitted_at - submit_called).as_secs_f64();
                let held = call >= 0.5 * predicted_seconds;
                let holds_submitter = {
                    let mut load = shared.load();
                    load.note_gpu_submission(held);
                    load.gpu_blocks_submitter()
                };
                let moved: TransferStats = shared.counters().snapshot() - transfers_before;
                report.bytes_uploaded = moved.bytes_uploaded;
                report.pipeline = Some(outcome);
                report.workgroups = Some(plan.workgroups(invocations, wgsl.layout.workgroup_size));
                // Where submissions run on this thread, the call timed the
                // launch, under whatever else runs now (the CPU part of a
                // burst): learned now, which is what Auto must predict for
                // the next launches of the burst.
                let learned = held && holds_submitter;
                if learned {
                    report.wall = started.elapsed();
                    learn(
                        shared,
                        &Finished {
                            key: kernel.dispatch_key(),
                            work,
                            report: &report,
                            predictions: &predictions,
                            exploration,
                            exec_seconds: Some((submitted_at - gpu_started).as_secs_f64()),
                            cold_pipeline: outcome == CacheOutcome::Miss,
                        },
                    );
                }
                return Ok(PendingLaunch::gpu(
                    &name,
                    GpuPending {
                        shared: Arc::clone(shared),
                        gpu: Arc::clone(gpu),
                        kernel: kernel.clone(),
                        submission,
                        done,
                        report,
                        work,
                        predictions,
                        exploration,
                        cold_pipeline: outcome == CacheOutcome::Miss,
                        timed_from: idle.then_some(submitted_at),
                        started,
                        fate,
                        helper_started: false,
                        learned,
                    },
                    shared.count_outstanding(),
                ));
            }
            Err(error) if falls_back_to_cpu(requested, kernel, &error) => {
                fall_back_to_cpu(gpu, kernel, &error, &mut report, &predictions);
                exploration = None;
                shared.handle().settle_device_loss();
            }
            Err(error) => return Err(error),
        }
    }

    // The CPU: fences first, so that any use of these buffers from here on
    // waits for the job.
    let fence = Fence::new();
    let arguments: Vec<OwnedArgument> = buffers
        .iter()
        .map(|arg: &Arg<'_>| {
            let raw = arg.raw();
            lock(&raw.in_flight).add(arg.usage(), Arc::clone(&fence));
            OwnedArgument {
                id: raw.id,
                state: Arc::clone(&raw.state),
                usage: arg.usage(),
            }
        })
        .collect();
    drop(buffers);
    let completion = Arc::new(Completion::default());
    let job = CpuJob {
        shared: Arc::clone(shared),
        kernel: kernel.clone(),
        arguments,
        uniforms,
        invocations,
        deadline,
        report,
        work,
        predictions,
        exploration,
        started,
        fence,
        completion: Arc::clone(&completion),
    };
    {
        let mut load = shared.load();
        load.assign_in_burst(Target::Cpu, predictions.of(Target::Cpu));
        load.started(
            Target::Cpu,
            predictions.exec(Target::Cpu),
            Instant::now(),
            cpu_data_ready,
        );
    }
    shared.cpu().pool().spawn(move || job.start());
    Ok(PendingLaunch::cpu(
        &name,
        completion,
        shared.count_outstanding(),
    ))
}

/// A CPU job's hold on one argument.
struct OwnedArgument {
    id: u64,
    state: Arc<Mutex<BufferState>>,
    usage: Use,
}

/// A submitted CPU launch, as its job on the pool runs it.
struct CpuJob {
    shared: Arc<RuntimeShared>,
    kernel: Kernel,
    arguments: Vec<OwnedArgument>,
    uniforms: Vec<Vec<u8>>,
    invocations: [u32; 3],
    deadline: Option<Duration>,
    report: LaunchReport,
    work: u64,
    predictions: Predictions,
    exploration: Option<Exploration>,
    started: Instant,
    fence: Arc<Fence>,
    completion: Arc<Completion>,
}

impl CpuJob {
    /// Runs the launch on the pool worker that picked the job up, unless a
    /// buffer's lock is held elsewhere: a worker never waits for one (see
    /// `try_run_cpu`), so the job then moves to the runtime's job threads,
    /// which wait for the locks and hand the kernel back to the pool.
    fn start(self) {
        let attempted = self.guarded(
            |shared, kernel, arguments, uniforms, invocations, deadline| {
                try_run_cpu(shared, kernel, arguments, uniforms, invocations, deadline)
            },
        );
        match attempted {
            Ok(Some(ran)) => self.finish(ran),
            Ok(None) => {
                let cpu = self.shared.cpu().clone();
                cpu.spawn_job(move || {
                    let ran = self.guarded(run_cpu).unwrap_or_else(Err);
                    self.finish(ran);
                });
            }
            Err(panicked) => self.finish(Err(panicked)),
        }
    }

    /// Calls `run` over the job's arguments, a panic becoming the launch's
    /// error.
    fn guarded<R>(
        &self,
        run: impl FnOnce(
            &RuntimeShared,
            &Kernel,
            &[CpuArgument<'_>],
            &[Vec<u8>],
            [u32; 3],
            Option<Duration>,
        ) -> R,
    ) -> std::result::Result<R, Error> {
        catch_unwind(AssertUnwindSafe(|| {
            let borrowed: Vec<CpuArgument<'_>> = self
                .arguments
                .iter()
                .map(|argument| CpuArgument {
                    id: argument.id,
                    state: &argument.state,
                    usage: argument.usage,
                })
                .collect();
            run(
                &self.shared,
                &self.kernel,
                &borrowed,
                &self.uniforms,
                self.invocations,
                self.deadline,
            )
        }))
        .map_err(|payload| Error::CpuKernelPanicked {
            kernel: self.kernel.name().into(),
            message: panic_message(payload.as_ref()),
        })
    }

    /// In this order: lets go of the buffers' state, finishes the fence,
    /// learns, and hands over the result.
    fn finish(self, ran: Result<CpuRun>) {
        let CpuJob {
            shared,
            kernel,
            arguments,
            uniforms: _,
            invocations: _,
            deadline: _,
            mut report,
            work,
            predictions,
            exploration,
            started,
            fence,
            completion,
        } = self;
        drop(arguments);
        fence.finish();
        shared
            .load()
            .finished(Target::Cpu, predictions.exec(Target::Cpu));
        let result = ran.map(|ran| {
            report.cpu_implementation = Some(ran.implementation);
            report.bytes_downloaded = ran.bytes_downloaded;
            report.wall = started.elapsed();
            learn(
                &shared,
                &Finished {
                    key: kernel.dispatch_key(),
                    work,
                    report: &report,
                    predictions: &predictions,
                    exploration,
                    exec_seconds: Some(ran.seconds),
                    cold_pipeline: false,
                },
            );
            report
        });
        completion.complete(result);
    }
}
