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
mod pending;
mod plan;
mod replay;
mod report;
mod route;
mod sequence;
mod split;
mod submit;
mod twin_check;

pub(crate) use gpu::prepare_pipeline;
pub use pending::PendingLaunch;
pub use report::{LaunchReport, SplitParts};
pub use sequence::{Sequence, SequenceReport};
pub use twin_check::{OutputDifference, TwinCheck};

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytemuck::Pod;
use smallvec::SmallVec;

use crate::buffer::residency::Use;
use crate::buffer::{Buffer, RawBuffer};
use crate::device::{GpuContext, TransferStats};
use crate::dispatch::{Predictions, Reason, Target};
use crate::error::{Access, Error, Result};
use crate::kernel::Kernel;
use crate::pipeline::CacheOutcome;
use crate::shared::RuntimeShared;
use cpu::{run_cpu, CpuArgument};
use gpu::{run_gpu, GpuLaunch, GpuRun};
use replay::replay_entry;
use route::{learn, route, Finished, Routed};
use split::{auto_split_pays, run_split};
use submit::submit_routed;

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
    /// See [`split`](Self::split): `Some(None)` chooses the point,
    /// `Some(Some(k))` gives the CPU elements `0..k`.
    split: Option<Option<u64>>,
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
            split: None,
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

    /// Runs an [elementwise](Kernel::elementwise) 1-D launch as two parts at
    /// once: elements `0..k` on the CPU (over the host copies) and the rest
    /// on the GPU (over binding slices), `k` chosen from the dispatcher's
    /// learned costs of both targets, transfers included, and learned again
    /// from how long each part took. The results are those of a run on one
    /// target. The GPU part's results are read back into the host copy,
    /// which holds the whole result afterwards.
    ///
    /// A launch that cannot be split (the kernel is not elementwise or has
    /// no CPU path, there is no usable GPU, the launch is not 1-D, or it is
    /// inside a [`Sequence`]) runs on one target as without `split`, and its
    /// reason says why it was not split. [`LaunchReport::split`] says how it
    /// was shared.
    ///
    /// An `Auto` launch of an elementwise kernel over at least 2^16
    /// elements splits by itself when both targets are measured and the
    /// split is predicted at least 20% faster than the better one (its two
    /// parts at once, the read-back and a fixed 0.1 ms), and its reason
    /// says so.
    pub fn split(mut self) -> Self {
        self.split = Some(None);
        self
    }

    /// As [`split`](Self::split), with elements `0..cpu_elements` on the CPU
    /// and the rest on the GPU (clamped to the launch's size; 0 runs it all
    /// on the GPU, the whole size all on the CPU).
    pub fn split_at(mut self, cpu_elements: u64) -> Self {
        self.split = Some(Some(cpu_elements));
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
        match self.split {
            Some(at) if self.sequence.is_none() => {
                run_split(route(self, Instant::now(), false)?, at, None)
            }
            _ => {
                let routed = route(self, Instant::now(), false)?;
                match auto_split_pays(&routed) {
                    Some((at, why)) => run_split(routed, Some(at), Some(why)),
                    None => run_routed(routed),
                }
            }
        }
    }

    /// Starts the launch and returns without waiting for it to finish.
    ///
    /// A GPU launch is recorded and submitted; a CPU launch is spawned on
    /// the runtime's pool. The caller's borrows of the buffers end here, so
    /// it can go on (submit more launches, compute on the host, read other
    /// buffers) while this one runs, on either target. Any later use of a
    /// buffer this launch uses waits for it where the two conflict: a host
    /// read, or a launch that reads it, waits for this launch's write; a
    /// write waits for every use. So the result is the same as with
    /// [`run`](Self::run), whatever order things are then done in.
    ///
    /// The returned [`PendingLaunch`] gives the report through
    /// [`wait`](PendingLaunch::wait) or `.await`; dropping it, or leaking
    /// it with `mem::forget`, is safe, since the buffers, not that value,
    /// keep the order (see [`PendingLaunch`]).
    ///
    /// Inside a [`Sequence`], the launch is recorded into it as with `run`,
    /// and the pending launch is ready at once; so is a [split](Self::split)
    /// launch, which keeps both targets busy by itself and runs to its end
    /// inside `submit`.
    ///
    /// A CPU launch holds the lock of each buffer it uses while it runs, so
    /// a GPU launch that reads the same buffer waits for it even though
    /// both only read (submit the GPU one first to overlap them).
    ///
    /// ```
    /// # use switchyard::{Runtime, kernels};
    /// # fn main() -> switchyard::Result<()> {
    /// let rt = Runtime::new()?;
    /// let x = rt.buffer_from_slice(&[1.0f32; 4096])?;
    /// let mut y = rt.buffer_from_slice(&[2.0f32; 4096])?;
    /// let params = kernels::SaxpyParams { a: 3.0, n: 4096 };
    /// let pending = rt.launch(&kernels::saxpy())
    ///     .uniform(&params).read(&x).write(&mut y).invocations(4096)
    ///     .submit()?;
    /// let host_work: f32 = (0..1000).map(|i| i as f32).sum(); // runs meanwhile
    /// let report = pending.wait()?;
    /// assert_eq!(y.to_vec()?[0], 5.0);
    /// # let _ = (host_work, report); Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The argument and target errors of [`run`](Self::run) come back
    /// here, before anything ran, as do errors recording GPU work (an
    /// `Auto` launch is then submitted to the CPU instead, as `run` re-runs
    /// it); execution errors come back from `wait`. Buffers keep their
    /// previous contents on every error.
    pub fn submit(self) -> Result<PendingLaunch> {
        if let (Some(at), None) = (self.split, &self.sequence) {
            // Both targets work on it at once already: it runs here.
            let name = self.kernel.name().to_string();
            let report = run_split(route(self, Instant::now(), false)?, at, None)?;
            return Ok(PendingLaunch::ready(&name, Ok(report)));
        }
        submit_routed(route(self, Instant::now(), true)?)
    }
}

/// Step 3 and 4 of a blocking launch: execution on the routed target (an
/// `Auto` GPU run that fails re-run on the CPU), then the report and what
/// the dispatcher learns.
fn run_routed(routed: Routed<'_>) -> Result<LaunchReport> {
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
        cpu_data_ready: _,
        sequence,
    } = routed;
    let exec_seconds: Option<f64>;
    let mut cold_pipeline = false;
    match (report.target, shared.gpu(), kernel.wgsl_part(), plan) {
        (Target::Gpu, Some(gpu), Some(wgsl), Ok(plan)) => {
            let wait = sequence.is_none();
            // Only a launch that waits measures its execution; a recorded
            // one saves reading the clock.
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
                            None,
                        ));
                    }
                    report.pipeline = Some(outcome);
                    report.workgroups =
                        Some(plan.workgroups(invocations, wgsl.layout.workgroup_size));
                    cold_pipeline = outcome == CacheOutcome::Miss;
                    // Uploads included: the dispatcher splits them off.
                    exec_seconds = gpu_started.map(|started| started.elapsed().as_secs_f64());
                }
                Err(error) if falls_back_to_cpu(requested, kernel, &error) => {
                    fall_back_to_cpu(gpu, kernel, &error, &mut report, &predictions);
                    exploration = None;
                    // If the device was lost, the unfinished work before
                    // this launch is re-run first.
                    shared.handle().settle_device_loss();
                    let arguments: Vec<CpuArgument<'_>> =
                        buffers.iter().map(CpuArgument::of).collect();
                    let ran =
                        run_cpu(shared, kernel, &arguments, &uniforms, invocations, deadline)?;
                    exec_seconds = Some(ran.seconds);
                    report.cpu_implementation = Some(ran.implementation);
                }
                Err(error) => return Err(error),
            }
        }
        _ => {
            let arguments: Vec<CpuArgument<'_>> = buffers.iter().map(CpuArgument::of).collect();
            let ran = run_cpu(shared, kernel, &arguments, &uniforms, invocations, deadline)?;
            exec_seconds = Some(ran.seconds);
            report.cpu_implementation = Some(ran.implementation);
        }
    }
    let moved: TransferStats = shared.counters().snapshot() - transfers_before;
    report.bytes_uploaded = moved.bytes_uploaded;
    report.bytes_downloaded = moved.bytes_downloaded;
    report.wall = started.elapsed();
    learn(
        shared,
        &Finished {
            key: kernel.dispatch_key(),
            work,
            report: &report,
            predictions: &predictions,
            exploration,
            exec_seconds,
            cold_pipeline,
        },
    );
    if let Some(log) = sequence {
        log.push(report.clone());
    }
    Ok(report)
}

/// Whether a failed GPU run of an `Auto` launch is re-run on the CPU: the
/// GPU itself failed, or its compiler refused the shader, and the kernel
/// has a CPU path.
fn falls_back_to_cpu(requested: Target, kernel: &Kernel, error: &Error) -> bool {
    requested == Target::Auto
        && kernel.has_cpu()
        && (is_gpu_fault(error) || matches!(error, Error::UnsupportedKernel { .. }))
}

/// Marks the GPU unhealthy after a fault (warning once) and rewrites the
/// report for the CPU re-run.
fn fall_back_to_cpu(
    gpu: &GpuContext,
    kernel: &Kernel,
    error: &Error,
    report: &mut LaunchReport,
    predictions: &Predictions,
) {
    let why = error.to_string();
    // A shader the GPU's compiler fails on says nothing about the device; a
    // fault does.
    if is_gpu_fault(error) && gpu.mark_unhealthy(why.clone()) {
        log::warn!(
            "switchyard: the GPU launch of `{}` failed ({why}); it was re-run on the CPU, and \
             Auto launches use the CPU from now on",
            kernel.name()
        );
    }
    report.target = Target::Cpu;
    report.reason = Reason::settled(
        Target::Cpu,
        format!("the GPU launch failed ({why}); re-ran on the CPU from the host copies"),
    );
    report.predicted = Some(Duration::from_secs_f64(predictions.cpu));
    report.alternative = None;
    report.explored = false;
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
