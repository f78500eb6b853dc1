//! Steps 1–2 of a launch, shared by `run` and `submit`: the arguments made
//! ready and checked, the target decided, and what the dispatcher predicted;
//! and, after execution, what the launch teaches the dispatcher.
//!
//! [`route`] waits for the submitted CPU launches each argument conflicts
//! with (and re-runs work a lost device took with it), checks the
//! arguments, settles the target and, for `Auto`, asks the learned
//! dispatcher. The [`Routed`] launch it returns holds the report as far as
//! it is known before execution.
//!
//! Invariant: nothing here moves data or changes a buffer; an error leaves
//! every buffer as it was.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::check::check_launch;
use super::plan::{gpu_plan, GpuPlan, GridPlan};
use super::{Arg, Args, Launch, LaunchReport};
use crate::buffer::residency::{Transfer, Use};
use crate::device::TransferStats;
use crate::dispatch::{
    decide, earliest_finish, ChoiceInput, Decision, DecisionInput, Direction, Exploration,
    GpuStatus, NeededTransfer, Outcome, Predictions, Queues, RequestSource, Resolution, Target,
};
use crate::error::Result;
use crate::kernel::Kernel;
use crate::shared::RuntimeShared;
use crate::sync::lock;

/// A launch checked and given a target, not yet executed.
pub(super) struct Routed<'a> {
    pub shared: &'a Arc<RuntimeShared>,
    pub kernel: &'a Kernel,
    pub buffers: Args<'a>,
    pub uniforms: Vec<Vec<u8>>,
    pub invocations: [u32; 3],
    /// What the caller asked for (Auto may fall back to the CPU).
    pub requested: Target,
    /// How the launch fits this GPU, when there is one.
    pub plan: std::result::Result<GpuPlan, String>,
    pub work: u64,
    pub predictions: Predictions,
    pub exploration: Option<Exploration>,
    pub deadline: Option<Duration>,
    /// The report so far: target, reason, predictions; execution fills in
    /// the rest.
    pub report: LaunchReport,
    pub started: Instant,
    /// The runtime's transfer counters before execution.
    pub transfers_before: TransferStats,
    /// When the GPU is predicted to finish writing the data a CPU run would
    /// download first, if it is still being written.
    pub cpu_data_ready: Option<Instant>,
    /// The sequence it is recorded into, whose reports it joins (its GPU
    /// work is only recorded).
    pub sequence: Option<&'a mut Vec<LaunchReport>>,
}

/// Steps 1–2 of `launch`; see the module docs. `submitted`: for
/// `Launch::submit`, which does not wait.
///
/// # Errors
/// The argument errors of [`Launch::run`] and [`Error::TargetUnavailable`](crate::Error::TargetUnavailable).
pub(super) fn route<'a>(
    launch: Launch<'a>,
    started: Instant,
    submitted: bool,
) -> Result<Routed<'a>> {
    let Launch {
        shared,
        kernel,
        buffers,
        uniforms,
        invocations,
        target,
        work,
        deadline,
        sequence,
        split: _,
    } = launch;
    let name = kernel.name();
    // Work the device took with it is re-run first, so this launch sees its
    // results (and learns the GPU is gone); submitted CPU launches still
    // using these buffers in conflicting ways are waited for.
    for arg in &buffers {
        arg.raw().ready_for(arg.usage());
    }
    shared.handle().settle_device_loss();
    let invocations = check_launch(shared, kernel, &buffers, &uniforms, invocations)?;
    let (requested, source) = match target {
        Some(target) => (target, RequestSource::Launch),
        None => match shared.pin_of(name) {
            Some(pinned) => (pinned, RequestSource::Pin),
            None => (shared.default_target(), RequestSource::Default),
        },
    };
    let gpu = shared.gpu();
    let gpu_status = match gpu {
        None => GpuStatus::Absent(shared.gpu_absent_reason().to_string()),
        Some(gpu) if gpu.is_lost() => GpuStatus::Lost,
        Some(gpu) => match gpu.unhealthy_reason() {
            Some(why) => GpuStatus::Unhealthy(why),
            None => GpuStatus::Ready {
                hardware: gpu.info.kind.is_hardware(),
            },
        },
    };
    let plan = match (gpu, kernel.wgsl_part()) {
        (Some(gpu), Some(wgsl)) => gpu_plan(gpu, kernel, wgsl, &buffers, &uniforms, invocations),
        _ => Ok(GpuPlan {
            grid: GridPlan::Single([0; 3]),
            slices: None,
        }),
    };
    let resolution = decide(&DecisionInput {
        kernel: name,
        requested,
        source,
        has_wgsl: kernel.has_gpu(),
        cpu: kernel.cpu_path().map(|_| ()),
        gpu: gpu_status,
        missing_features: gpu.map_or(wgpu::Features::empty(), |gpu| {
            kernel.required_features().difference(gpu.features)
        }),
        fits_gpu: plan.as_ref().map(|_| ()).map_err(Clone::clone),
    })?;

    let key = kernel.dispatch_key();
    let work = work.unwrap_or_else(|| kernel.work(invocations));
    let (gpu_transfers, cpu_transfers, cpu_data_ready) = needed_transfers(&buffers);
    let choice_input = ChoiceInput {
        key,
        work,
        gpu_transfers: &gpu_transfers,
        cpu_transfers: &cpu_transfers,
        argument_names: kernel.wgsl_part().map(|wgsl| &wgsl.argument_names),
        // A GPU launch recorded into a sequence is never timed, and a
        // submitted one seldom (only when nothing else is in flight and its
        // waiter blocks on it): exploring the GPU with them learns nothing.
        gpu_measurable: sequence.is_none() && !submitted,
        repeats_previous: shared.repeats_previous_launch(launch_signature(key, &buffers)),
    };
    let (decision, predictions, learned, exploration) = match resolution {
        Resolution::Fixed(decision) => {
            let predictions = shared.dispatcher().predict(&choice_input);
            (decision, predictions, false, None)
        }
        Resolution::Learned => {
            if let Some(gpu) = gpu {
                shared.probe_transfers_once(gpu);
            }
            let choice = shared.dispatcher().choose(&choice_input);
            let exploration = choice.exploration();
            let mut decision = Decision {
                target: choice.target,
                reason: choice.reason,
            };
            // The dispatcher compares idle targets; submitted launches may
            // keep one busy. A blocking launch with nothing submitted in
            // flight skips this (one short lock).
            let anything_in_flight = || {
                let load = shared.load();
                load.in_flight(Target::Gpu) + load.in_flight(Target::Cpu) > 0
            };
            if exploration.is_none() && (submitted || anything_in_flight()) {
                let now = Instant::now();
                if let Some(gpu) = gpu.filter(|_| shared.load().in_flight(Target::Gpu) > 0) {
                    // Lets wgpu report finished submissions, so the GPU's
                    // queue is not overestimated.
                    gpu.poll_without_waiting();
                }
                let in_burst = submitted && shared.outstanding_launches() > 0;
                let queues = {
                    let mut load = shared.load();
                    if !in_burst {
                        load.end_burst();
                    }
                    Queues {
                        burst_assigned: load.burst_assigned(),
                        gpu_blocks_submitter: load.gpu_blocks_submitter(),
                        in_burst,
                        gpu: load.queued_seconds(Target::Gpu),
                        cpu: load.queued_seconds(Target::Cpu),
                        cpu_data_ready_in: cpu_data_ready.map_or(0.0, |ready| {
                            ready.saturating_duration_since(now).as_secs_f64()
                        }),
                    }
                };
                if let Some((target, reason)) =
                    earliest_finish(decision.target, &choice.predictions, queues)
                {
                    decision = Decision { target, reason };
                }
            }
            (decision, choice.predictions, true, exploration)
        }
    };
    log::debug!("switchyard: {name}: {}", decision.reason);

    let mut report = LaunchReport {
        kernel: name.into(),
        target: decision.target,
        reason: decision.reason,
        predicted: Some(Duration::from_secs_f64(predictions.of(decision.target))),
        alternative: None,
        explored: exploration.is_some(),
        invocations,
        workgroups: None,
        pipeline: None,
        cpu_implementation: None,
        split: None,
        bytes_uploaded: 0,
        bytes_downloaded: 0,
        wall: Duration::ZERO,
    };
    if learned {
        let other = decision.target.other();
        report.alternative = Some((other, Duration::from_secs_f64(predictions.of(other))));
    }
    Ok(Routed {
        shared,
        kernel,
        buffers,
        uniforms,
        invocations,
        requested,
        plan,
        work,
        predictions,
        exploration,
        deadline,
        report,
        started,
        transfers_before: shared.counters().snapshot(),
        cpu_data_ready,
        sequence,
    })
}

/// What one finished launch teaches the dispatcher: where it ran, for how
/// long, and what it moved.
pub(super) struct Finished<'a> {
    pub key: &'a str,
    pub work: u64,
    pub report: &'a LaunchReport,
    pub predictions: &'a Predictions,
    pub exploration: Option<Exploration>,
    pub exec_seconds: Option<f64>,
    pub cold_pipeline: bool,
}

/// Feeds a finished launch back to the dispatcher.
pub(super) fn learn(shared: &RuntimeShared, finished: &Finished<'_>) {
    let report = finished.report;
    let mut dispatcher = shared.dispatcher();
    if let Some(implementation) = report.cpu_implementation {
        dispatcher.note_cpu_implementation(finished.key, implementation);
    }
    dispatcher.observe(
        finished.key,
        &Outcome {
            target: report.target,
            work: finished.work,
            exec_seconds: finished.exec_seconds,
            wall_seconds: report.wall.as_secs_f64(),
            predicted: finished
                .predictions
                .measured(report.target)
                .then(|| finished.predictions.of(report.target)),
            explored: finished.exploration,
            bytes_uploaded: report.bytes_uploaded,
            bytes_downloaded: report.bytes_downloaded,
            cold_pipeline: finished.cold_pipeline,
        },
    );
}

/// A hash of the kernel and of which buffers it gets, and how.
fn launch_signature(key: &str, buffers: &[Arg<'_>]) -> u64 {
    let mut hasher = rustc_hash::FxHasher::default();
    key.hash(&mut hasher);
    for arg in buffers {
        arg.raw().id.hash(&mut hasher);
        matches!(arg, Arg::Read(_)).hash(&mut hasher);
    }
    hasher.finish()
}

/// The transfers each target would need, from the arguments' residency:
/// uploads of stale device copies (and readbacks of results the host has been
/// reading) for the GPU, downloads of stale host copies for the CPU; and when
/// the GPU is predicted to be done writing the latest of those downloads.
fn needed_transfers(
    buffers: &[Arg<'_>],
) -> (Vec<NeededTransfer>, Vec<NeededTransfer>, Option<Instant>) {
    let mut gpu = Vec::new();
    let mut cpu = Vec::new();
    let mut cpu_data_ready: Option<Instant> = None;
    for (argument, arg) in buffers.iter().enumerate() {
        let usage = arg.usage();
        let raw = arg.raw();
        let transfer = |direction, bytes: usize| NeededTransfer {
            argument,
            bytes: bytes as u64,
            direction,
        };
        let state = lock(&raw.state);
        let len = raw.byte_len() as usize;
        if state.residency.before_gpu(usage) == Transfer::Upload {
            let stale = state.residency.stale_on_device(len);
            gpu.push(transfer(Direction::Upload, stale.len()));
        }
        if usage != Use::Read && state.host_reads_gpu_results {
            gpu.push(transfer(Direction::Download, len));
        }
        if state.residency.before_host(usage) == Transfer::Download {
            let stale = state.residency.stale_on_host(len);
            cpu.push(transfer(Direction::Download, stale.len()));
            cpu_data_ready = cpu_data_ready.max(state.gpu_write_done_at);
        }
    }
    (gpu, cpu, cpu_data_ready)
}
