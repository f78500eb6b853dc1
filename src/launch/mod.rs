//! One launch, from the builder a user writes to the report it returns, and
//! sequences of launches submitted together.
//!
//! The path of a launch ([`Launch::run`]):
//! 1. **Check** every argument against the kernel's reflected layout (count,
//!    access, element and total size, owning runtime) before any data moves.
//! 2. **Decide** the target: [`dispatch::decide`](crate::dispatch) settles
//!    explicit targets and what the GPU cannot run; `Auto` launches that both
//!    targets can run go to the learned dispatcher, which predicts each
//!    target's cost including the transfers the arguments' residency needs.
//! 3. **GPU**: fetch or build the pipeline (cache), make each argument's device
//!    copy current (upload only if stale), record the dispatch into the pending
//!    command encoder, then submit and wait, unless inside a [`Sequence`].
//!    **CPU**: make each argument's host copy current (download only if
//!    stale), run the twin in the pool, or the kernel's WGSL on the
//!    executor (`cpu::wgsl`) when it has no twin.
//! 4. **Record** the new residency of written buffers, feed the measured time
//!    back to the dispatcher, and return a [`LaunchReport`].
//!
//! An `Auto` launch whose GPU run fails (device lost, out of memory, a driver
//! error) is re-run on the CPU from the buffers' valid host copies; the GPU
//! is then marked unhealthy and `Auto` avoids it, with one warning. One
//! whose shader the GPU's compiler fails on is re-run the same way, the
//! device left healthy. GPU
//! launches of a sequence that the device takes with it are re-run on the
//! CPU by [`replay`] before anything else uses their buffers.
//!
//! A launch too large for one dispatch is still one launch: a grid over the
//! per-dispatch workgroup limit runs the kernel's grid-offset variant in
//! pieces (`pipeline::split`), and buffers over the storage binding limit are
//! bound in slices when the kernel is [elementwise](Kernel::elementwise).
//!
//! Invariant: an error in steps 1–2 leaves every buffer untouched; an error in
//! step 3 leaves each written buffer's previous valid copy in place.

//! The rooms, in the order a launch passes through them: `check` (arguments
//! against the reflected layout), `plan` (grids, splits and binding slices
//! on this device), then `gpu` or `cpu` (execution), `report` (what the
//! caller gets back); `sequence` batches launches, `replay` builds the entry
//! that re-runs a logged GPU launch on the CPU after device loss,
//! `twin_check` runs a launch with the twin and with the WGSL executor and
//! compares.

mod check;
mod cpu;
mod gpu;
mod plan;
mod replay;
mod report;
mod sequence;
mod twin_check;

pub(crate) use gpu::prepare_pipeline;
pub use report::LaunchReport;
pub use sequence::{Sequence, SequenceReport};
pub use twin_check::{OutputDifference, TwinCheck};

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytemuck::Pod;
use smallvec::SmallVec;

use crate::buffer::residency::{Transfer, Use};
use crate::buffer::{Buffer, RawBuffer};
use crate::device::TransferStats;
use crate::dispatch::{
    decide, ChoiceInput, Decision, DecisionInput, Direction, GpuStatus, NeededTransfer, Outcome,
    Reason, RequestSource, Resolution, Target,
};
use crate::error::{Access, Error, Result};
use crate::kernel::Kernel;
use crate::pipeline::CacheOutcome;
use crate::shared::RuntimeShared;
use crate::sync::lock;
use check::check_launch;
use cpu::run_cpu;
use gpu::{run_gpu, GpuLaunch, GpuRun};
use plan::{gpu_plan, GpuPlan, GridPlan};
use replay::replay_entry;

/// A launch's buffer arguments, inline up to a count that covers the
/// kernels one meets (the rest spill to the heap).
pub(super) type Args<'a> = SmallVec<[Arg<'a>; INLINE_ARGS]>;

/// How many buffer arguments a launch keeps without allocating.
pub(super) const INLINE_ARGS: usize = 4;

/// A buffer argument of a launch.
pub(super) enum Arg<'a> {
    Read(&'a RawBuffer),
    Write(&'a mut RawBuffer, Use),
}

impl Arg<'_> {
    pub(super) fn raw(&self) -> &RawBuffer {
        match self {
            Arg::Read(raw) => raw,
            Arg::Write(raw, _) => raw,
        }
    }

    pub(super) fn usage(&self) -> Use {
        match self {
            Arg::Read(_) => Use::Read,
            Arg::Write(_, usage) => *usage,
        }
    }

    pub(super) fn access(&self) -> Access {
        match self {
            Arg::Read(_) => Access::Read,
            Arg::Write(..) => Access::ReadWrite,
        }
    }
}

/// A launch being described; made by [`Runtime::launch`](crate::Runtime::launch)
/// or [`Sequence::launch`], executed by [`run`](Self::run).
///
/// Buffer arguments are matched, in call order, to the kernel's storage
/// bindings in `(group, binding)` order; uniforms likewise to its uniform
/// bindings.
#[must_use = "a launch does nothing until `.run()`"]
pub struct Launch<'a> {
    shared: &'a Arc<RuntimeShared>,
    kernel: &'a Kernel,
    buffers: Args<'a>,
    uniforms: Vec<Vec<u8>>,
    invocations: Option<[u32; 3]>,
    /// `None`: the kernel's pin, else the runtime's default.
    target: Option<Target>,
    work: Option<u64>,
    /// See [`deadline`](Self::deadline).
    deadline: Option<Duration>,
    sequence: Option<&'a mut Vec<LaunchReport>>,
}

impl<'a> Launch<'a> {
    pub(crate) fn new(
        shared: &'a Arc<RuntimeShared>,
        kernel: &'a Kernel,
        target: Option<Target>,
        sequence: Option<&'a mut Vec<LaunchReport>>,
    ) -> Self {
        Launch {
            shared,
            kernel,
            buffers: SmallVec::new(),
            uniforms: Vec::new(),
            invocations: None,
            target,
            work: None,
            deadline: None,
            sequence,
        }
    }

    /// Binds `buffer` to the next storage binding, which must be `read`.
    pub fn read<T: Pod>(mut self, buffer: &'a Buffer<T>) -> Self {
        self.buffers.push(Arg::Read(buffer.raw()));
        self
    }

    /// Binds `buffer` to the next storage binding, which must be `read_write`.
    /// The kernel sees the buffer's current contents.
    pub fn write<T: Pod>(mut self, buffer: &'a mut Buffer<T>) -> Self {
        self.buffers
            .push(Arg::Write(buffer.raw_mut(), Use::ReadWrite));
        self
    }

    /// Like [`write`](Self::write), for a kernel that overwrites every
    /// element: the old contents are not transferred to where it runs.
    /// Elements the kernel does not write are unspecified afterwards.
    pub fn overwrite<T: Pod>(mut self, buffer: &'a mut Buffer<T>) -> Self {
        self.buffers
            .push(Arg::Write(buffer.raw_mut(), Use::Overwrite));
        self
    }

    /// Binds a copy of `value` to the next uniform binding.
    pub fn uniform<P: Pod>(mut self, value: &P) -> Self {
        self.uniforms.push(bytemuck::bytes_of(value).to_vec());
        self
    }

    /// A one-dimensional launch of `n` invocations.
    pub fn invocations(mut self, n: u32) -> Self {
        self.invocations = Some([n, 1, 1]);
        self
    }

    /// A launch over a `[x, y, z]` grid of invocations.
    pub fn grid(mut self, size: [u32; 3]) -> Self {
        self.invocations = Some(size);
        self
    }

    /// Where to run. Without it: the sequence's target, else the kernel's
    /// [pin](crate::Runtime::pin), else the runtime's default (`Auto` unless
    /// `SWITCHYARD_TARGET` or the config say otherwise).
    pub fn on(mut self, target: Target) -> Self {
        self.target = Some(target);
        self
    }

    /// The amount of work this launch does, for the dispatcher's cost model,
    /// when it is not what the kernel's [`work_size`](Kernel::work_size) (or
    /// the invocation count) says.
    pub fn work(mut self, work: u64) -> Self {
        self.work = Some(work);
        self
    }

    /// Stops the launch with [`Error::CpuDeadlineExceeded`] if its WGSL runs
    /// on the CPU executor for longer than `deadline`, every buffer left as
    /// it was (what a GPU driver's watchdog does for a shader that never
    /// ends). Overrides [`RuntimeConfig::cpu_deadline`](crate::RuntimeConfig::cpu_deadline);
    /// Rust twins and GPU launches are not stopped.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Runs the launch.
    ///
    /// # Errors
    /// - [`Error::ArgumentCount`](crate::Error::ArgumentCount), [`Error::AccessMismatch`](crate::Error::AccessMismatch),
    ///   [`Error::ArgumentSize`](crate::Error::ArgumentSize), [`Error::LaunchSize`](crate::Error::LaunchSize),
    ///   [`Error::ForeignBuffer`](crate::Error::ForeignBuffer): the arguments do not fit the kernel.
    /// - [`Error::TargetUnavailable`](crate::Error::TargetUnavailable): the requested target cannot run it.
    /// - GPU errors ([`Error::Gpu`](crate::Error::Gpu), [`Error::GpuOutOfMemory`](crate::Error::GpuOutOfMemory),
    ///   [`Error::DeviceLost`](crate::Error::DeviceLost), …) and CPU twin errors from execution;
    ///   [`Error::CpuDeadlineExceeded`](crate::Error::CpuDeadlineExceeded) when the WGSL executor
    ///   ran past the launch's [`deadline`](Self::deadline).
    ///
    /// Buffers keep a valid copy of their previous contents on every error.
    pub fn run(self) -> Result<LaunchReport> {
        let started = Instant::now();
        let Launch {
            shared,
            kernel,
            mut buffers,
            uniforms,
            invocations,
            target,
            work,
            deadline,
            sequence,
        } = self;
        let name = kernel.name();
        // Work the device took with it is re-run first, so this launch sees
        // its results (and learns the GPU is gone).
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
        let grid = match (gpu, kernel.wgsl_part()) {
            (Some(gpu), Some(wgsl)) => {
                gpu_plan(gpu, kernel, wgsl, &buffers, &uniforms, invocations)
            }
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
            fits_gpu: grid.as_ref().map(|_| ()).map_err(Clone::clone),
        })?;

        let key = kernel.dispatch_key();
        let work = work.unwrap_or_else(|| kernel.work(invocations));
        let (gpu_transfers, cpu_transfers) = needed_transfers(&buffers);
        let choice_input = ChoiceInput {
            key,
            work,
            gpu_transfers: &gpu_transfers,
            cpu_transfers: &cpu_transfers,
            argument_names: kernel.wgsl_part().map(|wgsl| &wgsl.argument_names),
            gpu_measurable: sequence.is_none(),
            repeats_previous: shared.repeats_previous_launch(launch_signature(key, &buffers)),
        };
        let (decision, predictions, learned, mut exploration) = match resolution {
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
                let decision = Decision {
                    target: choice.target,
                    reason: choice.reason,
                };
                (decision, choice.predictions, true, exploration)
            }
        };
        log::debug!("switchyard: {name}: {}", decision.reason);

        let before = shared.counters().snapshot();
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
            bytes_uploaded: 0,
            bytes_downloaded: 0,
            wall: Duration::ZERO,
        };
        if learned {
            let other = decision.target.other();
            report.alternative = Some((other, Duration::from_secs_f64(predictions.of(other))));
        }
        let exec_seconds: Option<f64>;
        let mut cold_pipeline = false;
        match (decision.target, gpu, kernel.wgsl_part(), grid) {
            (Target::Gpu, Some(gpu), Some(wgsl), Ok(plan)) => {
                let wait = sequence.is_none();
                // Only a launch that waits measures its execution; a
                // recorded one saves reading the clock.
                let gpu_started = wait.then(Instant::now);
                let gpu_launch = GpuLaunch {
                    wgsl,
                    uniforms: &uniforms,
                    invocations,
                    plan: &plan,
                    wait,
                };
                match run_gpu(shared, gpu, &gpu_launch, &mut buffers) {
                    Ok(GpuRun { outcome, logged }) => {
                        if let Some(arguments) = logged {
                            gpu.log_for_replay(replay_entry(
                                kernel.clone(),
                                uniforms,
                                invocations,
                                arguments,
                                shared.cpu().clone(),
                            ));
                        }
                        report.pipeline = Some(outcome);
                        report.workgroups =
                            Some(plan.workgroups(invocations, wgsl.layout.workgroup_size));
                        cold_pipeline = outcome == CacheOutcome::Miss;
                        // Uploads included: the dispatcher splits them off.
                        exec_seconds = gpu_started.map(|started| started.elapsed().as_secs_f64());
                    }
                    Err(error)
                        if requested == Target::Auto
                            && kernel.has_cpu()
                            && (is_gpu_fault(&error)
                                || matches!(error, Error::UnsupportedKernel { .. })) =>
                    {
                        let why = error.to_string();
                        // A shader the GPU's compiler fails on says nothing
                        // about the device; a fault does.
                        let fault = is_gpu_fault(&error);
                        if fault && gpu.mark_unhealthy(why.clone()) {
                            log::warn!(
                                "switchyard: the GPU launch of `{name}` failed ({why}); it was re-run \
                                 on the CPU, and Auto launches use the CPU from now on"
                            );
                        }
                        report.target = Target::Cpu;
                        report.reason = Reason::settled(
                            Target::Cpu,
                            format!("the GPU launch failed ({why}); re-ran on the CPU from the host copies"),
                        );
                        report.predicted = Some(Duration::from_secs_f64(predictions.cpu));
                        report.alternative = None;
                        exploration = None;
                        // If the device was lost, the unfinished work before
                        // this launch is re-run first.
                        shared.handle().settle_device_loss();
                        let (seconds, implementation) =
                            run_cpu(shared, kernel, buffers, &uniforms, invocations, deadline)?;
                        exec_seconds = Some(seconds);
                        report.cpu_implementation = Some(implementation);
                    }
                    Err(error) => return Err(error),
                }
            }
            _ => {
                let (seconds, implementation) =
                    run_cpu(shared, kernel, buffers, &uniforms, invocations, deadline)?;
                exec_seconds = Some(seconds);
                report.cpu_implementation = Some(implementation);
            }
        }
        let moved: TransferStats = shared.counters().snapshot() - before;
        report.bytes_uploaded = moved.bytes_uploaded;
        report.bytes_downloaded = moved.bytes_downloaded;
        report.wall = started.elapsed();
        let mut dispatcher = shared.dispatcher();
        if let Some(implementation) = report.cpu_implementation {
            dispatcher.note_cpu_implementation(key, implementation);
        }
        dispatcher.observe(
            key,
            &Outcome {
                target: report.target,
                work,
                exec_seconds,
                wall_seconds: report.wall.as_secs_f64(),
                predicted: predictions
                    .measured(report.target)
                    .then(|| predictions.of(report.target)),
                explored: exploration,
                bytes_uploaded: moved.bytes_uploaded,
                bytes_downloaded: moved.bytes_downloaded,
                cold_pipeline,
            },
        );
        drop(dispatcher);
        if let Some(log) = sequence {
            log.push(report.clone());
        }
        Ok(report)
    }
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

/// Errors of the GPU itself, after which the same launch can run on the CPU.
fn is_gpu_fault(error: &Error) -> bool {
    matches!(
        error,
        Error::Gpu { .. }
            | Error::GpuOutOfMemory { .. }
            | Error::DeviceLost { .. }
            | Error::Poll { .. }
            | Error::Map { .. }
    )
}

/// The transfers each target would need, from the arguments' residency:
/// uploads of stale device copies (and readbacks of results the host has been
/// reading) for the GPU, downloads of stale host copies for the CPU.
fn needed_transfers(buffers: &[Arg<'_>]) -> (Vec<NeededTransfer>, Vec<NeededTransfer>) {
    let mut gpu = Vec::new();
    let mut cpu = Vec::new();
    for (argument, arg) in buffers.iter().enumerate() {
        let usage = arg.usage();
        let raw = arg.raw();
        let transfer = |direction| NeededTransfer {
            argument,
            bytes: raw.byte_len(),
            direction,
        };
        let state = lock(&raw.state);
        if state.residency.before_gpu(usage) == Transfer::Upload {
            gpu.push(transfer(Direction::Upload));
        }
        if usage != Use::Read && state.host_reads_gpu_results {
            gpu.push(transfer(Direction::Download));
        }
        if state.residency.before_host(usage) == Transfer::Download {
            cpu.push(transfer(Direction::Download));
        }
    }
    (gpu, cpu)
}
