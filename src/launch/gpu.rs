//! Step 3 on the GPU: pipeline, device copies, bind groups, one compute pass.
//!
//! [`run_gpu`] fetches or builds the pipeline (content-keyed cache; the
//! grid-offset variant for split grids), makes each argument's device copy
//! current (uploading only stale data), binds cached uniform buffers and
//! bind groups (one set per slice of a sliced launch), and records one
//! compute pass with a dispatch per slice and grid piece into the pending
//! encoder. A standalone launch then submits and waits; a launch inside a
//! sequence stays recorded and is logged for replay (see `replay`).
//!
//! Invariant: written buffers' residency changes only after the work was
//! recorded (and, standalone, finished), so an error leaves each buffer's
//! previous valid copy in place.

use std::sync::Arc;

use smallvec::SmallVec;

use super::plan::{GpuPlan, GridPlan};
use super::replay::{ReplayArgument, ReplayArguments};
use super::{Arg, INLINE_ARGS};
use crate::device::{BindGroupKey, BoundBuffer, GpuContext};
use crate::dispatch::Target;
use crate::error::{Error, Result};
use crate::kernel::Kernel;
use crate::pipeline::{
    build_gpu_pipeline, pipeline_key, split, CacheOutcome, GpuPipeline, WgslKernel,
};
use crate::shared::RuntimeShared;
use crate::sync::lock;

/// What [`run_gpu`] dispatches.
pub(super) struct GpuLaunch<'a> {
    pub wgsl: &'a WgslKernel,
    pub uniforms: &'a [Vec<u8>],
    pub invocations: [u32; 3],
    pub plan: &'a GpuPlan,
    /// Submit and wait (a launch of its own), or only record (in a sequence).
    pub wait: bool,
}

/// Records (and unless `!wait`, submits and waits for) one dispatch. A
/// recorded-only launch is logged for replay on the CPU should the device be
/// lost before it finishes (see `replay`).
pub(super) fn run_gpu(
    shared: &Arc<RuntimeShared>,
    gpu: &Arc<GpuContext>,
    launch: &GpuLaunch<'_>,
    buffers: &mut [Arg<'_>],
) -> Result<GpuRun> {
    let GpuLaunch {
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
    let key = pipeline_key(compiled);
    let (pipeline, outcome) = shared
        .pipelines()
        .get_or_build(key, || build_gpu_pipeline(gpu, compiled))?;

    let mut device_buffers: SmallVec<[wgpu::Buffer; INLINE_ARGS]> = SmallVec::new();
    let mut logged = ReplayArguments::new();
    for (index, arg) in buffers.iter().enumerate() {
        let usage = arg.usage();
        let raw = arg.raw();
        // Sliced from an element on (a split's GPU part): the bytes before
        // it are neither read nor written here.
        let from = plan.slices.as_ref().map_or(0, |slices| {
            (slices.first.min(u64::from(invocations[0])) * slices.strides[index]) as usize
        });
        let mut state = lock(&raw.state);
        let (buffer, _) = state.prepare_device_from(gpu, shared.counters(), usage, from)?;
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

    // One dispatch group (bind groups and grid pieces) unless the buffers
    // are sliced; ranges are (offset, bytes) of each buffer it binds. The
    // common case allocates no list of groups.
    match &plan.slices {
        None => {
            let bytes = |index: usize| buffers[index].raw().byte_len();
            let bind_groups = gpu.recent_bind_set_or(
                &pipeline.pipeline,
                &device_buffers,
                bytes,
                uniforms,
                || {
                    let whole = |index: usize| (0, bytes(index));
                    kernel_bind_groups(gpu, &pipeline, wgsl, &device_buffers, whole, uniforms)
                        .map(Arc::from)
                },
            )?;
            let pieces = dispatch_pieces(gpu, &pipeline, wgsl, plan.grid)?;
            record_pass(gpu, &pipeline, wgsl, &[(bind_groups, pieces)]);
        }
        Some(slices) => {
            let total = u64::from(invocations[0]);
            let mut dispatches = Vec::new();
            let first = slices.first.min(total);
            for k in 0..(total - first).div_ceil(slices.per_slice) {
                let start = first + k * slices.per_slice;
                let len = slices.per_slice.min(total - start);
                let range = |index: usize| {
                    let stride = slices.strides[index];
                    (start * stride, len * stride)
                };
                let grid = plan
                    .grid
                    .resized(gpu, wgsl, [len as u32, 1, 1])
                    .map_err(launch_size)?;
                let bind_groups: Arc<[wgpu::BindGroup]> =
                    kernel_bind_groups(gpu, &pipeline, wgsl, &device_buffers, range, uniforms)?
                        .into();
                dispatches.push((bind_groups, dispatch_pieces(gpu, &pipeline, wgsl, grid)?));
            }
            record_pass(gpu, &pipeline, wgsl, &dispatches);
        }
    }
    gpu.check_healthy()?;
    if wait {
        gpu.flush_and_wait(&format!("launch of kernel `{}`", wgsl.name))?;
    }
    for arg in buffers.iter_mut() {
        if let Arg::Write(raw, usage) = arg {
            lock(&raw.state).finish_device(*usage);
        }
    }
    Ok(GpuRun {
        outcome,
        logged: (!wait).then_some(logged),
    })
}

/// Records every dispatch group's bind groups and dispatches into the
/// pending encoder's open compute pass (see `device::queue`).
///
/// Recording needs no error scope of its own: wgpu keeps a pass's errors in
/// the encoder and reports them when it is finished, inside the submission's
/// scopes. What it would reject (grid and binding sizes, access modes) was
/// checked before this point.
fn record_pass(
    gpu: &GpuContext,
    pipeline: &GpuPipeline,
    wgsl: &WgslKernel,
    dispatches: &[(Arc<[wgpu::BindGroup]>, Pieces)],
) {
    gpu.record_compute(|pass| {
        pass.set_pipeline(&pipeline.pipeline);
        for (bind_groups, pieces) in dispatches {
            pass.set_bind_groups(bind_groups);
            for (offset, workgroups) in pieces.iter() {
                if let Some(offset) = offset {
                    pass.set_extra_bind_group(wgsl.layout.group_count(), offset);
                }
                pass.dispatch_workgroups(*workgroups);
            }
        }
    });
}

/// What [`run_gpu`] did: whether the pipeline was cached, and for a launch
/// only recorded, its arguments as the replay log needs them (the caller
/// logs it, handing over the uniforms it no longer needs).
pub(super) struct GpuRun {
    pub outcome: CacheOutcome,
    pub logged: Option<ReplayArguments>,
}

/// The bind groups of the kernel's own groups, binding `range(i)` (offset
/// and length) of buffer `i` and the uniforms, from the cache where possible.
fn kernel_bind_groups(
    gpu: &GpuContext,
    pipeline: &GpuPipeline,
    wgsl: &WgslKernel,
    buffers: &[wgpu::Buffer],
    range: impl Fn(usize) -> (u64, u64),
    uniforms: &[Vec<u8>],
) -> Result<Vec<wgpu::BindGroup>> {
    let layout = &wgsl.layout;
    let mut bind_groups = Vec::with_capacity(layout.group_count() as usize);
    for (group, group_layout) in pipeline
        .group_layouts
        .iter()
        .take(layout.group_count() as usize)
        .enumerate()
    {
        let group = group as u32;
        let mut entries = Vec::with_capacity(layout.buffers.len() + layout.uniforms.len());
        for (index, info) in layout.buffers.iter().enumerate() {
            if info.group == group {
                let (offset, bytes) = range(index);
                entries.push(BoundBuffer {
                    binding: info.binding,
                    buffer: buffers[index].clone(),
                    offset,
                    bytes,
                });
            }
        }
        for (info, value) in layout.uniforms.iter().zip(uniforms) {
            if info.group == group {
                entries.push(BoundBuffer {
                    binding: info.binding,
                    buffer: gpu.uniform_buffer(value)?,
                    offset: 0,
                    bytes: value.len() as u64,
                });
            }
        }
        let key = BindGroupKey {
            layout: group_layout.clone(),
            entries,
        };
        bind_groups.push(gpu.bind_group(key, &wgsl.name)?);
    }
    Ok(bind_groups)
}

/// The dispatches of `grid`, each with the bind group of its grid offset
/// when the grid is split.
fn dispatch_pieces(
    gpu: &GpuContext,
    pipeline: &GpuPipeline,
    wgsl: &WgslKernel,
    grid: GridPlan,
) -> Result<Pieces> {
    let (workgroups, max_per_dimension) = match grid {
        GridPlan::Single(workgroups) => return Ok(Pieces::One([(None, workgroups)])),
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
        .collect::<Result<_>>()
        .map(Pieces::Split)
}

/// A dispatch group's dispatches, each with the bind group of its grid
/// offset when the grid is split; one dispatch needs no allocation.
enum Pieces {
    One([(Option<wgpu::BindGroup>, [u32; 3]); 1]),
    Split(Vec<(Option<wgpu::BindGroup>, [u32; 3])>),
}

impl Pieces {
    fn iter(&self) -> std::slice::Iter<'_, (Option<wgpu::BindGroup>, [u32; 3])> {
        match self {
            Pieces::One(one) => one.iter(),
            Pieces::Split(pieces) => pieces.iter(),
        }
    }
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
    let key = pipeline_key(wgsl);
    let (_, outcome) = shared
        .pipelines()
        .get_or_build(key, || build_gpu_pipeline(gpu, wgsl))?;
    Ok(outcome)
}
