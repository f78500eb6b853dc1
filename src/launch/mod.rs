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
//!    stale), run the twin in the pool.
//! 4. **Record** the new residency of written buffers, feed the measured time
//!    back to the dispatcher, and return a [`LaunchReport`].
//!
//! An `Auto` launch whose GPU run fails (device lost, out of memory, a driver
//! error) is re-run on the CPU from the buffers' valid host copies; the GPU
//! is then marked unhealthy and `Auto` avoids it, with one warning. GPU
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

mod replay;

pub(crate) use replay::{settle_device_loss, ReplayEntry};

use std::hash::{Hash, Hasher};
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant};

use bytemuck::Pod;

use crate::buffer::residency::{Transfer, Use};
use crate::buffer::transfer::BufferState;
use crate::buffer::{Buffer, RawBuffer, TransferStats};
use crate::device::{lock, BindGroupKey, BoundBuffer, GpuContext};
use crate::dispatch::{
    decide, plan_grid, workgroups_for, ChoiceInput, Decision, DecisionInput, Direction, GpuStatus,
    NeededTransfer, Outcome, Reason, RequestSource, Resolution, Target,
};
use crate::error::{Access, Error, Result};
use crate::kernel::{CpuArgs, CpuSlot, Kernel, WgslKernel};
use crate::pipeline::{
    build_gpu_pipeline, pipeline_key, split, BindingInfo, BindingShape, CacheOutcome, GpuPipeline,
};
use crate::runtime::RuntimeShared;
use replay::ReplayArgument;

/// What a launch did: where it ran, why, and what it cost.
#[derive(Clone, Debug, PartialEq)]
pub struct LaunchReport {
    /// The kernel's name.
    pub kernel: String,
    /// Where it ran: [`Target::Gpu`] or [`Target::Cpu`], never `Auto`.
    pub target: Target,
    /// Why it ran there, e.g. `"cpu: predicted 0.210 ms vs gpu 3.40 ms (gpu:
    /// 2.90 ms upload of `pos`)"`, `"cpu: adapter lacks SHADER_F64"` or
    /// `"gpu: pinned"`. Written out when first read.
    pub reason: Reason,
    /// The dispatcher's predicted time on the target that ran (measured
    /// history, or its prior before there is any).
    pub predicted: Option<Duration>,
    /// For `Auto` launches that either target could run: the other target
    /// and its predicted time.
    pub alternative: Option<(Target, Duration)>,
    /// Sent to the target predicted slower, to measure it.
    pub explored: bool,
    /// The global size `[x, y, z]`.
    pub invocations: [u32; 3],
    /// The workgroup grid dispatched (GPU only); a grid over the adapter's
    /// per-dispatch limit is run as several dispatches of this total.
    pub workgroups: Option<[u32; 3]>,
    /// Whether the pipeline was already built (GPU only).
    pub pipeline: Option<CacheOutcome>,
    /// Bytes copied host → device for this launch.
    pub bytes_uploaded: u64,
    /// Bytes copied device → host for this launch.
    pub bytes_downloaded: u64,
    /// Wall time from `run()` to return. Inside a sequence a GPU launch is only
    /// recorded, so this excludes its execution (see [`SequenceReport::wall`]).
    pub wall: Duration,
}

impl std::fmt::Display for LaunchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} on {} in {:.3} ms ({}); up {} B, down {} B",
            self.kernel,
            self.target,
            self.wall.as_secs_f64() * 1e3,
            self.reason,
            self.bytes_uploaded,
            self.bytes_downloaded
        )?;
        if let Some(outcome) = self.pipeline {
            write!(f, "; pipeline {outcome:?}")?;
        }
        if let Some(predicted) = self.predicted {
            write!(f, "; predicted {:.3} ms", predicted.as_secs_f64() * 1e3)?;
        }
        Ok(())
    }
}

/// A buffer argument of a launch.
enum Arg<'a> {
    Read(&'a RawBuffer),
    Write(&'a mut RawBuffer, Use),
}

impl Arg<'_> {
    fn raw(&self) -> &RawBuffer {
        match self {
            Arg::Read(raw) => raw,
            Arg::Write(raw, _) => raw,
        }
    }

    fn usage(&self) -> Use {
        match self {
            Arg::Read(_) => Use::Read,
            Arg::Write(_, usage) => *usage,
        }
    }

    fn access(&self) -> Access {
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
    buffers: Vec<Arg<'a>>,
    uniforms: Vec<Vec<u8>>,
    invocations: Option<[u32; 3]>,
    /// `None`: the kernel's pin, else the runtime's default.
    target: Option<Target>,
    work: Option<u64>,
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
            buffers: Vec::new(),
            uniforms: Vec::new(),
            invocations: None,
            target,
            work: None,
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

    /// Runs the launch.
    ///
    /// # Errors
    /// - [`Error::ArgumentCount`], [`Error::AccessMismatch`],
    ///   [`Error::ArgumentSize`], [`Error::LaunchSize`],
    ///   [`Error::ForeignBuffer`]: the arguments do not fit the kernel.
    /// - [`Error::TargetUnavailable`]: the requested target cannot run it.
    /// - GPU errors ([`Error::Gpu`], [`Error::GpuOutOfMemory`],
    ///   [`Error::DeviceLost`], …) and CPU twin errors from execution.
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
            sequence,
        } = self;
        let name = kernel.name();
        // Work the device took with it is re-run first, so this launch sees
        // its results (and learns the GPU is gone).
        settle_device_loss(shared);
        for (index, arg) in buffers.iter().enumerate() {
            if !Arc::ptr_eq(&arg.raw().shared, shared) {
                return Err(Error::ForeignBuffer {
                    kernel: name.into(),
                    index,
                });
            }
        }
        let invocations = invocations.ok_or_else(|| Error::LaunchSize {
            kernel: name.into(),
            message: "no size given; call `.invocations(n)` or `.grid([x, y, z])`".into(),
        })?;
        if invocations.contains(&0) {
            return Err(Error::LaunchSize {
                kernel: name.into(),
                message: format!("zero invocations in {invocations:?}"),
            });
        }
        if let Some(wgsl) = kernel.wgsl_part() {
            check_arguments(wgsl, &buffers, &uniforms)?;
        }
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
            has_twin: kernel.has_cpu(),
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

        let before = shared.counters.snapshot();
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
            bytes_uploaded: 0,
            bytes_downloaded: 0,
            wall: Duration::ZERO,
        };
        if learned {
            let other = decision.target.other();
            report.alternative = Some((other, Duration::from_secs_f64(predictions.of(other))));
        }
        let mut exec_seconds = None;
        let mut cold_pipeline = false;
        match (decision.target, gpu, kernel.wgsl_part(), grid) {
            (Target::Gpu, Some(gpu), Some(wgsl), Ok(plan)) => {
                let wait = sequence.is_none();
                let gpu_started = Instant::now();
                let gpu_launch = GpuLaunch {
                    kernel,
                    wgsl,
                    uniforms: &uniforms,
                    invocations,
                    plan: &plan,
                    wait,
                };
                match run_gpu(shared, gpu, &gpu_launch, &mut buffers) {
                    Ok(outcome) => {
                        report.pipeline = Some(outcome);
                        report.workgroups =
                            Some(plan.workgroups(invocations, wgsl.layout.workgroup_size));
                        cold_pipeline = outcome == CacheOutcome::Miss;
                        if wait {
                            // Uploads included: the dispatcher splits them off.
                            exec_seconds = Some(gpu_started.elapsed().as_secs_f64());
                        }
                    }
                    Err(error)
                        if requested == Target::Auto
                            && kernel.has_cpu()
                            && is_gpu_fault(&error) =>
                    {
                        let why = error.to_string();
                        if gpu.mark_unhealthy(why.clone()) {
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
                        settle_device_loss(shared);
                        exec_seconds =
                            Some(run_cpu(shared, kernel, buffers, &uniforms, invocations)?);
                    }
                    Err(error) => return Err(error),
                }
            }
            _ => exec_seconds = Some(run_cpu(shared, kernel, buffers, &uniforms, invocations)?),
        }
        let moved: TransferStats = shared.counters.snapshot() - before;
        report.bytes_uploaded = moved.bytes_uploaded;
        report.bytes_downloaded = moved.bytes_downloaded;
        report.wall = started.elapsed();
        shared.dispatcher().observe(
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

/// Checks count, access and sizes of every argument against the layout.
fn check_arguments(wgsl: &WgslKernel, buffers: &[Arg<'_>], uniforms: &[Vec<u8>]) -> Result<()> {
    let layout = &wgsl.layout;
    let kernel = || wgsl.name.clone();
    if buffers.len() != layout.buffers.len() {
        return Err(Error::ArgumentCount {
            kernel: kernel(),
            kind: "buffer",
            expected: layout.buffers.len(),
            given: buffers.len(),
        });
    }
    if uniforms.len() != layout.uniforms.len() {
        return Err(Error::ArgumentCount {
            kernel: kernel(),
            kind: "uniform",
            expected: layout.uniforms.len(),
            given: uniforms.len(),
        });
    }
    let size_error = |info: &BindingInfo, message: String| Error::ArgumentSize {
        kernel: kernel(),
        name: info.name.clone(),
        group: info.group,
        binding: info.binding,
        message,
    };
    for (index, (arg, info)) in buffers.iter().zip(&layout.buffers).enumerate() {
        let crate::pipeline::BindingKind::Storage(declared) = info.kind else {
            unreachable!("layout.buffers holds storage bindings only")
        };
        if declared != arg.access() {
            return Err(Error::AccessMismatch {
                kernel: kernel(),
                index,
                group: info.group,
                binding: info.binding,
                name: info.name.clone(),
                declared,
                passed: arg.access(),
            });
        }
        let raw = arg.raw();
        let bytes = raw.byte_len();
        if bytes == 0 {
            return Err(size_error(
                info,
                format!("argument {index} is an empty buffer"),
            ));
        }
        match info.shape {
            BindingShape::Runtime {
                header_bytes: 0,
                stride,
            } => {
                if raw.elem_size as u64 != stride {
                    return Err(size_error(
                        info,
                        format!(
                            "argument {index} has {}-byte elements (`{}`), the shader's array stride is {stride} bytes",
                            raw.elem_size, raw.type_name
                        ),
                    ));
                }
            }
            BindingShape::Runtime {
                header_bytes,
                stride,
            } => {
                if bytes < header_bytes + stride || (bytes - header_bytes) % stride != 0 {
                    return Err(size_error(
                        info,
                        format!(
                            "argument {index} has {bytes} bytes; the shader expects {header_bytes} + k × {stride}"
                        ),
                    ));
                }
            }
            BindingShape::Sized { bytes: expected } => {
                if bytes != expected {
                    return Err(size_error(
                        info,
                        format!(
                            "argument {index} has {bytes} bytes, the shader's type has {expected}"
                        ),
                    ));
                }
            }
        }
    }
    for (index, (value, info)) in uniforms.iter().zip(&layout.uniforms).enumerate() {
        if let BindingShape::Sized { bytes: expected } = info.shape {
            if value.len() as u64 != expected {
                return Err(size_error(
                    info,
                    format!(
                        "uniform {index} has {} bytes, the shader's type has {expected} (WGSL pads structs to their alignment)",
                        value.len()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// How the launch is dispatched, or why it exceeds the device's limits.
fn gpu_plan(
    gpu: &GpuContext,
    kernel: &Kernel,
    wgsl: &WgslKernel,
    buffers: &[Arg<'_>],
    uniforms: &[Vec<u8>],
    invocations: [u32; 3],
) -> std::result::Result<GpuPlan, String> {
    let limits = &gpu.limits;
    let mut over_binding_limit = None;
    for (arg, info) in buffers.iter().zip(&wgsl.layout.buffers) {
        let bytes = arg.raw().byte_len();
        if bytes > limits.max_buffer_size {
            return Err(format!(
                "argument `{}` has {bytes} bytes, over the adapter's {}-byte buffer size limit",
                info.name, limits.max_buffer_size
            ));
        }
        if bytes > limits.max_storage_buffer_binding_size && over_binding_limit.is_none() {
            over_binding_limit = Some(format!(
                "argument `{}` has {bytes} bytes, over the adapter's {}-byte storage binding limit",
                info.name, limits.max_storage_buffer_binding_size
            ));
        }
        if bytes % wgpu::COPY_BUFFER_ALIGNMENT != 0 {
            return Err(format!(
                "argument `{}` has {bytes} bytes, not a multiple of 4",
                info.name
            ));
        }
    }
    for (value, info) in uniforms.iter().zip(&wgsl.layout.uniforms) {
        if value.len() as u64 > limits.max_uniform_buffer_binding_size {
            return Err(format!(
                "uniform `{}` exceeds the adapter's uniform size limit",
                info.name
            ));
        }
    }
    let [x, y, z] = wgsl.layout.workgroup_size;
    if x * y * z > limits.max_compute_invocations_per_workgroup {
        return Err(format!(
            "workgroup size {x}×{y}×{z} exceeds the adapter's {} invocations",
            limits.max_compute_invocations_per_workgroup
        ));
    }
    if wgsl.layout.workgroup_memory_bytes > u64::from(limits.max_compute_workgroup_storage_size) {
        return Err(format!(
            "{} bytes of workgroup memory exceed the adapter's {}",
            wgsl.layout.workgroup_memory_bytes, limits.max_compute_workgroup_storage_size
        ));
    }
    let slices = match over_binding_limit {
        None => None,
        Some(why) => Some(
            plan_slices(gpu, kernel, wgsl, buffers, invocations)
                .map_err(|refusal| format!("{why}; {refusal}"))?,
        ),
    };
    let dispatched = match &slices {
        Some(slices) => [slices.per_slice.min(u64::from(invocations[0])) as u32, 1, 1],
        None => invocations,
    };
    Ok(GpuPlan {
        grid: plan_dispatch(gpu, wgsl, dispatched)?,
        slices,
    })
}

/// How `invocations` are dispatched: in one dispatch if the grid fits,
/// else in several through the kernel's grid-offset variant (see
/// `pipeline::split`).
fn plan_dispatch(
    gpu: &GpuContext,
    wgsl: &WgslKernel,
    invocations: [u32; 3],
) -> std::result::Result<GridPlan, String> {
    let limits = &gpu.limits;
    let max_per_dimension = limits.max_compute_workgroups_per_dimension;
    let one_dispatch = plan_grid(
        invocations,
        wgsl.layout.workgroup_size,
        max_per_dimension,
        wgsl.layout.reads_num_workgroups,
    );
    let over_limit = match one_dispatch {
        Ok(grid) => return Ok(GridPlan::Single(grid)),
        Err(why) => why,
    };
    let free_group = wgsl.layout.group_count();
    if free_group >= limits.max_bind_groups {
        return Err(format!(
            "{over_limit}; splitting it needs a bind group the kernel does not use, and it \
             uses all {} the adapter has",
            limits.max_bind_groups
        ));
    }
    wgsl.grid_offset_variant()
        .map_err(|why| format!("{over_limit}; splitting it failed: {why}"))?;
    Ok(GridPlan::Split {
        workgroups: workgroups_for(invocations, wgsl.layout.workgroup_size),
        max_per_dimension,
    })
}

/// Slices for a launch whose buffers exceed the storage binding limit, or
/// why it cannot be sliced (see [`Kernel::elementwise`]).
fn plan_slices(
    gpu: &GpuContext,
    kernel: &Kernel,
    wgsl: &WgslKernel,
    buffers: &[Arg<'_>],
    invocations: [u32; 3],
) -> std::result::Result<Slices, String> {
    if !kernel.is_elementwise() {
        return Err(
            "only a kernel declared `Kernel::elementwise` can run over slices of it".into(),
        );
    }
    if invocations[1] != 1 || invocations[2] != 1 {
        return Err(format!(
            "an elementwise kernel is sliced over 1-D launches only, not {invocations:?}"
        ));
    }
    let mut strides = Vec::with_capacity(buffers.len());
    for (arg, info) in buffers.iter().zip(&wgsl.layout.buffers) {
        let BindingShape::Runtime {
            header_bytes: 0,
            stride,
        } = info.shape
        else {
            return Err(format!(
                "argument `{}` is not a plain runtime-sized array, so it cannot be sliced",
                info.name
            ));
        };
        let elements = arg.raw().byte_len() / stride;
        if elements < u64::from(invocations[0]) {
            return Err(format!(
                "argument `{}` has {elements} elements, fewer than the launch's {} invocations",
                info.name, invocations[0]
            ));
        }
        strides.push(stride);
    }
    let limits = &gpu.limits;
    let align = u64::from(limits.min_storage_buffer_offset_alignment).max(1);
    let widest = strides.iter().copied().max().unwrap_or(4).max(1);
    // A multiple of the offset alignment in elements keeps every slice's
    // byte offset aligned, whatever the stride.
    let per_slice = (limits.max_storage_buffer_binding_size / widest) / align * align;
    if per_slice == 0 {
        return Err("an element is wider than the binding limit allows".into());
    }
    Ok(Slices { per_slice, strides })
}

/// How a launch reaches the GPU: its grid, and the slices of its buffers
/// when they exceed the storage binding limit.
#[derive(Clone, Debug)]
struct GpuPlan {
    /// The grid of the largest dispatch (each slice's, when sliced).
    grid: GridPlan,
    slices: Option<Slices>,
}

impl GpuPlan {
    /// The whole launch's grid, in workgroups.
    fn workgroups(&self, invocations: [u32; 3], workgroup_size: [u32; 3]) -> [u32; 3] {
        match self.slices {
            None => self.grid.workgroups(),
            Some(_) => workgroups_for(invocations, workgroup_size),
        }
    }
}

/// An elementwise launch cut into slices of `per_slice` elements; slice `k`
/// binds elements `k·per_slice ..` of every buffer (`strides[i]` bytes each).
#[derive(Clone, Debug)]
struct Slices {
    per_slice: u64,
    strides: Vec<u64>,
}

/// How a launch's grid is dispatched.
#[derive(Clone, Copy, Debug)]
enum GridPlan {
    /// One dispatch of these workgroups.
    Single([u32; 3]),
    /// Several dispatches of the kernel's grid-offset variant, covering
    /// `workgroups`, each at most `max_per_dimension` per dimension.
    Split {
        workgroups: [u32; 3],
        max_per_dimension: u32,
    },
}

impl GridPlan {
    /// The same way of dispatching, for `invocations` (a slice's): a split
    /// plan stays split, since the slices share the variant's pipeline.
    fn resized(
        self,
        gpu: &GpuContext,
        wgsl: &WgslKernel,
        invocations: [u32; 3],
    ) -> std::result::Result<GridPlan, String> {
        Ok(match self {
            GridPlan::Single(_) => GridPlan::Single(plan_grid(
                invocations,
                wgsl.layout.workgroup_size,
                gpu.limits.max_compute_workgroups_per_dimension,
                wgsl.layout.reads_num_workgroups,
            )?),
            GridPlan::Split {
                max_per_dimension, ..
            } => GridPlan::Split {
                workgroups: workgroups_for(invocations, wgsl.layout.workgroup_size),
                max_per_dimension,
            },
        })
    }

    /// The whole grid, in workgroups.
    fn workgroups(self) -> [u32; 3] {
        match self {
            GridPlan::Single(grid) => grid,
            GridPlan::Split { workgroups, .. } => workgroups,
        }
    }
}

/// What [`run_gpu`] dispatches.
struct GpuLaunch<'a> {
    kernel: &'a Kernel,
    wgsl: &'a WgslKernel,
    uniforms: &'a [Vec<u8>],
    invocations: [u32; 3],
    plan: &'a GpuPlan,
    /// Submit and wait (a launch of its own), or only record (in a sequence).
    wait: bool,
}

/// Records (and unless `!wait`, submits and waits for) one dispatch. A
/// recorded-only launch is logged for replay on the CPU should the device be
/// lost before it finishes (see `replay`).
fn run_gpu(
    shared: &Arc<RuntimeShared>,
    gpu: &Arc<GpuContext>,
    launch: &GpuLaunch<'_>,
    buffers: &mut [Arg<'_>],
) -> Result<CacheOutcome> {
    let GpuLaunch {
        kernel,
        wgsl,
        uniforms,
        invocations,
        plan,
        wait,
    } = *launch;
    gpu.check_healthy()?;
    let launch_size = |message: String| Error::LaunchSize {
        kernel: wgsl.name.clone(),
        message,
    };
    // Checked by `gpu_plan`; the error is for a variant gone missing.
    let compiled = match plan.grid {
        GridPlan::Single(_) => wgsl,
        GridPlan::Split { .. } => wgsl
            .grid_offset_variant()
            .map_err(|why| launch_size(why.to_string()))?,
    };
    let key = pipeline_key(compiled, &gpu.info.fingerprint());
    let (pipeline, outcome) = shared
        .pipelines()
        .get_or_build(key, || build_gpu_pipeline(gpu, compiled))?;

    let mut device_buffers = Vec::with_capacity(buffers.len());
    let mut logged = Vec::with_capacity(if wait { 0 } else { buffers.len() });
    for arg in buffers.iter() {
        let usage = arg.usage();
        let raw = arg.raw();
        let mut state = lock(&raw.state);
        let (buffer, _) = state.prepare_device(gpu, &shared.counters, usage)?;
        if !wait {
            logged.push(ReplayArgument {
                id: raw.id,
                state: Arc::clone(&raw.state),
                usage,
                generation: state.generation,
            });
        }
        drop(state);
        device_buffers.push(buffer);
    }
    let uniform_buffers = uniforms
        .iter()
        .map(|value| gpu.uniform_buffer(value))
        .collect::<Result<Vec<_>>>()?;

    // Each dispatch group: the byte range of every buffer it binds, and its
    // grid. One group unless the buffers are sliced.
    let whole: Vec<(u64, u64)> = buffers
        .iter()
        .map(|arg| (0, arg.raw().byte_len()))
        .collect();
    let groups: Vec<(Vec<(u64, u64)>, GridPlan)> = match &plan.slices {
        None => vec![(whole, plan.grid)],
        Some(slices) => {
            let total = u64::from(invocations[0]);
            (0..total.div_ceil(slices.per_slice))
                .map(|k| {
                    let start = k * slices.per_slice;
                    let len = slices.per_slice.min(total - start);
                    let ranges = slices
                        .strides
                        .iter()
                        .map(|stride| (start * stride, len * stride))
                        .collect();
                    let grid = plan
                        .grid
                        .resized(gpu, wgsl, [len as u32, 1, 1])
                        .map_err(launch_size)?;
                    Ok((ranges, grid))
                })
                .collect::<Result<_>>()?
        }
    };
    let mut dispatches = Vec::with_capacity(groups.len());
    for (ranges, grid) in groups {
        let bind_groups = kernel_bind_groups(
            gpu,
            &pipeline,
            wgsl,
            &device_buffers,
            &ranges,
            &uniform_buffers,
            uniforms,
        )?;
        dispatches.push((bind_groups, dispatch_pieces(gpu, &pipeline, wgsl, grid)?));
    }
    // Recording needs no error scope of its own: wgpu keeps a pass's
    // errors in the encoder and reports them when it is finished, inside
    // the submission's scopes. What it would reject (grid and binding
    // sizes, access modes) was checked before this point.
    gpu.record(|encoder| {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some(&wgsl.name),
            timestamp_writes: None,
        });
        pass.set_pipeline(&pipeline.pipeline);
        for (bind_groups, pieces) in &dispatches {
            for (group, bind_group) in bind_groups.iter().enumerate() {
                pass.set_bind_group(group as u32, bind_group, &[]);
            }
            for (offset, workgroups) in pieces {
                if let Some(offset) = offset {
                    pass.set_bind_group(wgsl.layout.group_count(), offset, &[]);
                }
                pass.dispatch_workgroups(workgroups[0], workgroups[1], workgroups[2]);
            }
        }
    });
    gpu.check_healthy()?;
    if wait {
        gpu.flush_and_wait(&format!("launch of kernel `{}`", wgsl.name))?;
    }
    for arg in buffers.iter_mut() {
        if let Arg::Write(raw, usage) = arg {
            lock(&raw.state).finish_device(*usage);
        }
    }
    if !wait {
        gpu.log_for_replay(ReplayEntry::new(
            kernel.clone(),
            uniforms.to_vec(),
            invocations,
            logged,
        ));
    }
    Ok(outcome)
}

/// The bind groups of the kernel's own groups, binding `ranges` (offset and
/// length) of `buffers` and the uniforms, from the cache where possible.
fn kernel_bind_groups(
    gpu: &GpuContext,
    pipeline: &GpuPipeline,
    wgsl: &WgslKernel,
    buffers: &[wgpu::Buffer],
    ranges: &[(u64, u64)],
    uniform_buffers: &[wgpu::Buffer],
    uniforms: &[Vec<u8>],
) -> Result<Vec<wgpu::BindGroup>> {
    let layout = &wgsl.layout;
    let bindings: Vec<(&BindingInfo, &wgpu::Buffer, u64, u64)> = layout
        .buffers
        .iter()
        .zip(buffers)
        .zip(ranges)
        .map(|((info, buffer), &(offset, bytes))| (info, buffer, offset, bytes))
        .chain(
            layout
                .uniforms
                .iter()
                .zip(uniform_buffers)
                .zip(uniforms)
                .map(|((info, buffer), value)| (info, buffer, 0, value.len() as u64)),
        )
        .collect();
    pipeline
        .group_layouts
        .iter()
        .take(layout.group_count() as usize)
        .enumerate()
        .map(|(group, group_layout)| {
            let entries = bindings
                .iter()
                .filter(|(info, ..)| info.group == group as u32)
                .map(|(info, buffer, offset, bytes)| BoundBuffer {
                    binding: info.binding,
                    buffer: (*buffer).clone(),
                    offset: *offset,
                    bytes: *bytes,
                })
                .collect();
            let key = BindGroupKey {
                layout: group_layout.clone(),
                entries,
            };
            gpu.bind_group(key, &wgsl.name)
        })
        .collect()
}

/// The dispatches of `grid`, each with the bind group of its grid offset
/// when the grid is split.
fn dispatch_pieces(
    gpu: &GpuContext,
    pipeline: &GpuPipeline,
    wgsl: &WgslKernel,
    grid: GridPlan,
) -> Result<Vec<(Option<wgpu::BindGroup>, [u32; 3])>> {
    let (workgroups, max_per_dimension) = match grid {
        GridPlan::Single(workgroups) => return Ok(vec![(None, workgroups)]),
        GridPlan::Split {
            workgroups,
            max_per_dimension,
        } => (workgroups, max_per_dimension),
    };
    let group = wgsl.layout.group_count() as usize;
    let offset_layout = pipeline
        .group_layouts
        .get(group)
        .ok_or_else(|| Error::LaunchSize {
            kernel: wgsl.name.clone(),
            message: "the split variant's pipeline lacks its offset group".into(),
        })?;
    split::grid_pieces(workgroups, max_per_dimension)
        .into_iter()
        .map(|(start, size)| {
            let value = split::grid_offset(start, wgsl.layout.workgroup_size, workgroups);
            let buffer = gpu.uniform_buffer(&value)?;
            let key = BindGroupKey {
                layout: offset_layout.clone(),
                entries: vec![BoundBuffer {
                    binding: 0,
                    buffer,
                    offset: 0,
                    bytes: split::GRID_OFFSET_BYTES,
                }],
            };
            Ok((Some(gpu.bind_group(key, &wgsl.name)?), size))
        })
        .collect()
}

/// [`Runtime::prepare_gpu`](crate::Runtime::prepare_gpu): the pipeline lookup
/// of [`run_gpu`], without a launch.
pub(crate) fn prepare_pipeline(
    shared: &Arc<RuntimeShared>,
    kernel: &Kernel,
) -> Result<CacheOutcome> {
    let unavailable = |reason: String| Error::TargetUnavailable {
        kernel: kernel.name().into(),
        target: Target::Gpu,
        reason,
    };
    let gpu = shared
        .gpu()
        .ok_or_else(|| unavailable(shared.gpu_absent_reason().to_string()))?;
    gpu.check_healthy()?;
    let wgsl = kernel
        .wgsl_part()
        .ok_or_else(|| unavailable("the kernel has no WGSL".into()))?;
    let missing = kernel.required_features().difference(gpu.features);
    if !missing.is_empty() {
        return Err(unavailable(format!("the adapter lacks {missing:?}")));
    }
    let key = pipeline_key(wgsl, &gpu.info.fingerprint());
    let (_, outcome) = shared
        .pipelines()
        .get_or_build(key, || build_gpu_pipeline(gpu, wgsl))?;
    Ok(outcome)
}

/// Runs the kernel's twin on the pool over host copies made current; returns
/// the twin's own run time (readbacks excluded).
fn run_cpu(
    shared: &Arc<RuntimeShared>,
    kernel: &Kernel,
    buffers: Vec<Arg<'_>>,
    uniforms: &[Vec<u8>],
    invocations: [u32; 3],
) -> Result<f64> {
    let twin = kernel.twin().ok_or_else(|| Error::TargetUnavailable {
        kernel: kernel.name().into(),
        target: Target::Cpu,
        reason: "the kernel has no CPU twin".into(),
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
        guard.prepare_host(gpu, &shared.counters, usage)?;
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
    let cpu = shared.cpu();
    let twin_started = Instant::now();
    let inline = kernel.twin_runs_inline(invocations);
    let result = cpu.run_twin(kernel.name(), inline, || {
        let mut args = CpuArgs::new(
            kernel.name(),
            slots,
            uniform_slices,
            invocations,
            cpu.pool(),
        );
        twin(&mut args)
    });
    let twin_seconds = twin_started.elapsed().as_secs_f64();
    result?;
    for (guard, usage) in &mut guards {
        if *usage != Use::Read {
            guard.finish_host(*usage);
        }
    }
    Ok(twin_seconds)
}

/// The twin's view of its arguments, in argument order, over the host
/// copies of `locked`: each distinct buffer once, sorted by id, with how the
/// launch uses it. Buffers only read are shared by the arguments that name
/// them; a written one is named once (it is exclusively borrowed).
pub(crate) fn twin_slots<'a>(
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

/// Totals of a finished [`Sequence`].
#[derive(Clone, Debug, PartialEq)]
pub struct SequenceReport {
    /// Every launch's report, in order.
    pub launches: Vec<LaunchReport>,
    /// Launches that ran on the GPU.
    pub gpu_launches: usize,
    /// Launches that ran on the CPU.
    pub cpu_launches: usize,
    /// GPU command submissions made while the sequence was open.
    pub submissions: u64,
    /// Transfers made while the sequence was open.
    pub transfers: TransferStats,
    /// GPU launches lost with the device before they finished and re-run on
    /// the CPU while the sequence was open (this sequence's, and any other
    /// unfinished ones of the runtime). Their entries in `launches` still
    /// say where they were first sent.
    pub replayed_on_cpu: usize,
    /// Wall time from the sequence's start to the end of `finish`, GPU
    /// execution included.
    pub wall: Duration,
}

/// Several launches recorded into one GPU submission.
///
/// GPU launches inside a sequence are recorded, not waited for; the work is
/// submitted by [`finish`](Self::finish) (or earlier, when a host read or a
/// CPU launch needs results). CPU launches run immediately, on the pool, in
/// order. Dropping an unfinished sequence submits its work without waiting.
///
/// ```
/// # use switchyard::{Runtime, Target, kernels};
/// # fn main() -> switchyard::Result<()> {
/// let rt = Runtime::new()?;
/// let (w, h) = (64u32, 64u32);
/// let mut a = rt.buffer_zeroed::<f32>((w * h) as usize)?;
/// let mut b = rt.buffer_zeroed::<f32>((w * h) as usize)?;
/// let step = kernels::jacobi2d();
/// let params = kernels::Jacobi2dParams { width: w, height: h, alpha: 0.2, _pad: 0 };
/// let mut seq = rt.sequence();
/// for _ in 0..10 {
///     seq.launch(&step).uniform(&params).read(&a).write(&mut b).grid([w, h, 1]).run()?;
///     std::mem::swap(&mut a, &mut b);
/// }
/// let report = seq.finish()?;
/// assert_eq!(report.launches.len(), 10);
/// # Ok(()) }
/// ```
pub struct Sequence<'rt> {
    shared: &'rt Arc<RuntimeShared>,
    target: Option<Target>,
    reports: Vec<LaunchReport>,
    started: Instant,
    transfers_before: TransferStats,
    submissions_before: u64,
    replayed_before: u64,
    finished: bool,
}

impl<'rt> Sequence<'rt> {
    pub(crate) fn new(shared: &'rt Arc<RuntimeShared>) -> Self {
        Sequence {
            shared,
            target: None,
            reports: Vec::new(),
            started: Instant::now(),
            transfers_before: shared.counters.snapshot(),
            submissions_before: shared.gpu().map_or(0, |g| g.submissions()),
            replayed_before: shared.replayed_launches.load(Ordering::Relaxed),
            finished: false,
        }
    }

    /// The target of launches in this sequence that do not choose their own.
    pub fn on(mut self, target: Target) -> Self {
        self.target = Some(target);
        self
    }

    /// Describes the next launch of the sequence.
    pub fn launch<'s>(&'s mut self, kernel: &'s Kernel) -> Launch<'s> {
        Launch::new(self.shared, kernel, self.target, Some(&mut self.reports))
    }

    /// Submits the recorded GPU work, waits for it, and reports.
    ///
    /// If the device is lost before the GPU finishes, the lost launches are
    /// re-run on the CPU, in order, from the host copies (see
    /// [`SequenceReport::replayed_on_cpu`]); a launch is re-run only when
    /// that reproduces exactly what the GPU would have computed.
    ///
    /// # Errors
    /// GPU submission or wait failures. After device loss:
    /// [`Error::DeviceLost`] naming the launches that could not be re-run
    /// (an input that only the GPU held when the launch was recorded, a
    /// kernel without twin, a failing twin); the buffers they wrote report
    /// `DeviceLost` too, and every other buffer keeps valid data.
    pub fn finish(mut self) -> Result<SequenceReport> {
        self.finished = true;
        if let Some(gpu) = self.shared.gpu() {
            let waited = if gpu.has_pending() || gpu.has_unfinished_log() {
                gpu.flush_and_wait("sequence")
            } else {
                Ok(())
            };
            if gpu.is_lost() {
                if let Some(error) = settle_device_loss(self.shared).error() {
                    return Err(error);
                }
            } else {
                waited?;
            }
        }
        let reports = std::mem::take(&mut self.reports);
        Ok(SequenceReport {
            replayed_on_cpu: (self.shared.replayed_launches.load(Ordering::Relaxed)
                - self.replayed_before) as usize,
            gpu_launches: reports.iter().filter(|r| r.target == Target::Gpu).count(),
            cpu_launches: reports.iter().filter(|r| r.target == Target::Cpu).count(),
            launches: reports,
            submissions: self.shared.gpu().map_or(0, |g| g.submissions()) - self.submissions_before,
            transfers: self.shared.counters.snapshot() - self.transfers_before,
            wall: self.started.elapsed(),
        })
    }
}

impl Drop for Sequence<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if let Some(gpu) = self.shared.gpu() {
            if let Err(e) = gpu.submit_pending("unfinished sequence") {
                log::warn!("switchyard: submitting an unfinished sequence failed: {e}");
            }
        }
    }
}
